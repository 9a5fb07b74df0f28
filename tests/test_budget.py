"""The token budget: estimates, dropping whole oldest turns, keeping system, tool definitions, images, latest turn."""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from lib import client
from lib.budget import (
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    budget_note,
    estimate_tokens,
    fit_messages,
    input_budget,
    split_turns,
)
from lib.config import Settings
from lib.llama_prompt import custom_tools_message
from tests.api_double import ApiDouble, Reply

SYSTEM = {"role": "system", "content": "Environment: ipython\nTools: brave_search\n\nYou are a helpful assistant."}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather now in a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}]
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + "A" * 5000, "detail": "auto"}}
VISION_TEXT = "You are Llama 3.2 Vision answering questions about one image."


def conversation(turns: int, seed: int = 1, tools: bool = True, answer_chars: int = 900) -> list[dict[str, Any]]:
    """A tool-page conversation: system prompt, tool definitions in the first question, tool steps now and then."""
    rnd = random.Random(seed)
    messages: list[dict[str, Any]] = [dict(SYSTEM)]
    for i in range(turns):
        question = f"Question number {i}: " + "why " * rnd.randint(1, 60)
        if i == 0 and tools:
            question = custom_tools_message(TOOLS, question)
        messages.append({"role": "user", "content": question})
        if i % 3 == 1:
            messages.append({"role": "assistant", "content": "", "tool_calls": [
                {"id": f"call_{i}", "type": "function", "function": {"name": "get_weather",
                                                                     "arguments": '{"city": "Paris"}'}}]})
            messages.append({"role": "tool", "tool_call_id": f"call_{i}", "content": "12 °C, cloudy " * 30})
        if i == turns - 1:
            break  # the latest turn is being answered: no assistant answer yet
        messages.append({"role": "assistant", "content": "x" * rnd.randint(50, answer_chars)})
    return messages


def user_texts(messages: list[dict[str, Any]]) -> list[str]:
    out = []
    for m in messages:
        if m["role"] == "user":
            c = m["content"]
            out.append(c if isinstance(c, str) else " ".join(p.get("text", "") for p in c if p.get("type") == "text"))
    return out


def test_estimates() -> None:
    assert estimate_tokens([{"role": "user", "content": "abcd"}]) == MESSAGE_OVERHEAD + 1
    assert estimate_tokens([{"role": "user", "content": "abcde"}]) == MESSAGE_OVERHEAD + 2  # rounded up
    assert estimate_tokens([{"role": "user", "content": [{"type": "text", "text": "abcd"}, IMAGE]}]) == \
        MESSAGE_OVERHEAD + 1 + IMAGE_TOKENS  # an image costs the same whatever its size
    with_call = {"role": "assistant", "content": "", "tool_calls": [{"id": "c", "function": {"name": "f"}}]}
    assert estimate_tokens([with_call]) > MESSAGE_OVERHEAD
    assert estimate_tokens([]) == 0
    assert input_budget(8000, 1024) == 8000 - 1024 - 400
    assert input_budget(1000, 5000) == 0


def test_a_short_conversation_is_sent_as_it_is() -> None:
    messages = conversation(3)
    kept, dropped = fit_messages(messages, 128_000, 1024)
    assert kept == messages and dropped == 0


def test_forty_turns_fit_8k_keeping_system_tool_definitions_and_the_latest_turn() -> None:
    messages = conversation(40)
    original = copy.deepcopy(messages)
    kept, dropped = fit_messages(messages, 8000, 1024)
    assert messages == original  # the caller's list is untouched
    assert estimate_tokens(kept) + 1024 <= 8000
    assert 0 < dropped < 40
    assert kept[0] == SYSTEM
    first_question = next(m for m in kept if m["role"] == "user")["content"]
    assert first_question.startswith("Answer the user's question by making use of the following functions")
    assert '"get_weather"' in first_question
    assert first_question.count("Question: ") == 1
    # The kept turns are the newest ones, whole, in order; the latest one exactly as it was.
    _, turns = split_turns(original)
    _, kept_turns = split_turns(kept)
    assert len(kept_turns) == 40 - dropped
    assert kept_turns[1:] == turns[dropped + 1:]
    assert first_question.endswith(turns[dropped][0]["content"])
    assert kept[-1] == original[-1] and user_texts(kept)[-1] == user_texts(original)[-1]


@hsettings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(turns=st.integers(1, 40), seed=st.integers(0, 10_000), limit=st.sampled_from([4096, 8000, 8192, 16_000]),
       out=st.sampled_from([256, 1024, 2048]), tools=st.booleans(), answer_chars=st.integers(50, 6000))
def test_property_never_over_the_limit_latest_turn_and_system_always_there(
        turns: int, seed: int, limit: int, out: int, tools: bool, answer_chars: int) -> None:
    messages = conversation(turns, seed, tools, answer_chars)
    kept, dropped = fit_messages(messages, limit, out)
    head, all_turns = split_turns(messages)
    essentials = estimate_tokens(head) + estimate_tokens(all_turns[-1]) + estimate_tokens(all_turns[0][:1])
    if essentials <= input_budget(limit, out):
        assert estimate_tokens(kept) + out <= limit
    assert kept[0] == SYSTEM
    assert kept[-len(all_turns[-1]):][1:] == all_turns[-1][1:]  # the latest turn, whole
    assert user_texts(kept)[-1].endswith(user_texts(all_turns[-1])[0])
    assert len(split_turns(kept)[1]) == turns - dropped
    if tools and dropped:
        assert user_texts(kept)[0].startswith("Answer the user's question by making use of the following functions")
    if dropped:  # no turn more than needed: keeping one more (with the definitions moved into it) would not fit
        one_more = copy.deepcopy(all_turns[dropped - 1:])
        first = all_turns[0][0]["content"]
        if dropped > 1 and tools:
            one_more[0][0]["content"] = first[:first.index("Question: ") + 10] + one_more[0][0]["content"]
        assert estimate_tokens(head) + sum(estimate_tokens(t) for t in one_more) > input_budget(limit, out)


def test_vision_image_and_instruction_move_to_the_earliest_kept_question() -> None:
    first = {"role": "user", "content": [{"type": "text", "text": f"{VISION_TEXT}\n\nWhat is in this photo?"},
                                         IMAGE]}
    messages: list[dict[str, Any]] = [first]
    for i in range(30):
        messages.append({"role": "assistant", "content": "It shows " + "a cat " * 60})
        messages.append({"role": "user", "content": f"Follow-up {i}?"})
    kept, dropped = fit_messages(messages, 4096, 1024, first_user_prefix=f"{VISION_TEXT}\n\n")
    assert dropped > 0
    assert estimate_tokens(kept) + 1024 <= 4096
    images = [p for m in kept if isinstance(m["content"], list) for p in m["content"] if p["type"] == "image_url"]
    assert images == [IMAGE]  # still exactly one image
    first_kept = kept[0]
    assert first_kept["role"] == "user" and first_kept["content"][-1] == IMAGE
    assert first_kept["content"][0]["text"].startswith(VISION_TEXT + "\n\nFollow-up")
    assert kept[-1] == messages[-1]
    assert messages[0] is first and first["content"][1] is IMAGE  # nothing changed in place


def test_a_tool_result_sent_as_a_user_message_stays_with_its_turn() -> None:
    messages = [dict(SYSTEM)]
    for i in range(12):
        messages += [
            {"role": "user", "content": f"Weather {i}? " + "please " * 100},
            {"role": "assistant", "content": 'brave_search.call(query="weather")'},
            {"role": "user", "content": "Tool result from brave_search:\n" + "sunny " * 200 +
                                        "\n\nUse this result to answer my question."},
            {"role": "assistant", "content": "It is sunny. " * 40},
        ]
    messages.pop()  # the latest turn waits for its answer after the tool result
    head, turns = split_turns(messages)
    assert len(turns) == 12 and all(len(t) == 3 or len(t) == 4 for t in turns)
    kept, dropped = fit_messages(messages, 4096, 512)
    assert kept[-3:] == messages[-3:]
    assert user_texts(kept)[-2].startswith("Weather 11?")
    assert kept[1]["content"].startswith("Weather") and dropped > 0


def test_when_even_the_latest_turn_is_too_long_everything_else_goes() -> None:
    messages = conversation(6)
    messages[-1] = {"role": "user", "content": "y" * 100_000}
    kept, dropped = fit_messages(messages, 8000, 1024)
    assert dropped == 5 and len(kept) == 2 and kept[0] == SYSTEM
    assert kept[1]["content"].startswith("Answer the user's question")  # definitions still travel with it
    assert kept[1]["content"].endswith("Question: " + "y" * 100_000)


def test_budget_note() -> None:
    assert budget_note(2, 8000) == "2 earlier turns were left out to fit Llama's 8k input."
    assert budget_note(1, 4096) == "1 earlier turn was left out to fit Llama's 4k input."
    assert budget_note(3, 131_072, "Llama 3.3 70B") == "3 earlier turns were left out to fit Llama 3.3 70B's 128k input."
    assert budget_note(0, 8000) == ""


def test_what_reaches_the_double_fits(double: ApiDouble, settings: Settings) -> None:
    double.responder = lambda body: Reply(text="ok")
    messages = conversation(40, seed=7)
    kept, dropped = fit_messages(messages, 8000, 1024)
    assert "".join(client.stream(settings, "meta-llama/Llama-3.3-70B-Instruct", kept, max_tokens=1024)) == "ok"
    sent = double.chat_requests[-1]
    assert sent.body["max_tokens"] == 1024
    assert estimate_tokens(sent.messages) + sent.body["max_tokens"] <= 8000
    assert sent.messages[0]["content"] == SYSTEM["content"]
    assert sent.messages[-1]["content"] == messages[-1]["content"]
    assert len(split_turns(sent.messages)[1]) == 40 - dropped
