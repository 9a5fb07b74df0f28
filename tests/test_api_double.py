"""The API double does what the real server software does (tests/api_double.py's presets with a `server`):

what vLLM 0.32, LiteLLM's proxy 1.108 and llama.cpp's llama-server answer (read off the real servers, see
tests/test_double_parity.py), and Ollama's documented behaviour (shared FACTS.md). Each test drives the double with
plain HTTP or through the app's client, and asserts what a client sees and, where the app reacts, what `explain()`
makes of it.
"""

from __future__ import annotations

import http.client as httpclient
import json
import socket
import threading
import time
from typing import Any, Iterator

import pytest

from lib import client
from lib.hosts.budget import estimate_tokens
from lib.hosts.catalog import parse_models
from lib.hosts.config import Settings, load_settings
from lib.hosts.errors import ErrorKind, UserError, explain
from tests.api_double import PRESETS, ApiDouble, Reply, render_llama31
from tests.real_servers import http

VLLM_TEXT = "meta-llama/Llama-3.1-405B-Instruct-FP8"
VLLM_VISION = "meta-llama/Llama-3.2-90B-Vision-Instruct"
LITELLM_MODEL = "meta-llama/Llama-3.1-405B-Instruct"
LLAMACPP_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
PNG_1PX = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
           "AAAABJRU5ErkJggg==")
LONG = [{"role": "user", "content": "word " * 3000}]  # about 3000 tokens
IMAGE = [{"role": "user", "content": [{"type": "text", "text": "What is in this picture?"},
                                      {"type": "image_url", "image_url": {"url": PNG_1PX}}]}]
TOOL_SYSTEM = "Environment: ipython\nTools: brave_search, wolfram_alpha\n\nYou are a helpful assistant."

# The bodies as the real servers wrote them (vLLM 0.32, llama.cpp's llama-server, LiteLLM 1.108 in front of vLLM).
VLLM_OVERFLOW = ('{"error":{"message":"This model\'s maximum context length is 2048 tokens. However, your prompt '
                 'contains at least 2049 input tokens, which exceeds this limit even without any output tokens. Please '
                 'reduce the length of the input prompt. (parameter=input_tokens, value=2049)",'
                 '"type":"BadRequestError","param":"input_tokens","code":400}}')
LLAMACPP_OVERFLOW = ('{"error":{"code":400,"message":"the request exceeds the available context size, try increasing '
                     'it","type":"exceed_context_size_error","n_prompt_tokens":2049,"n_ctx":2048}}')
LITELLM_OVERFLOW = (
    '{"error":{"message":"litellm.ContextWindowExceededError: litellm.BadRequestError: ContextWindowExceededError: '
    'Hosted_vllmException - {\\"error\\":{\\"message\\":\\"This model\'s maximum context length is 2048 tokens. '
    'However, your prompt contains at least 2049 input tokens, which exceeds this limit even without any output '
    'tokens. Please reduce the length of the input prompt. (parameter=input_tokens, value=2049)\\",\\"type\\":'
    '\\"BadRequestError\\",\\"param\\":\\"input_tokens\\",\\"code\\":400}}\\nmodel=meta-llama/Llama-3.1-405B-Instruct. '
    'context_window_fallbacks=None. fallbacks=None.\\n\\nSet \'context_window_fallback\' - '
    'https://docs.litellm.ai/docs/routing#fallbacks\\n\\nLiteLLM: model group \'meta-llama/Llama-3.1-405B-Instruct\' '
    'failed with the error above. No fallback was attempted.","type":"invalid_request_error","param":null,'
    '"code":"400"}}')
VLLM_NOT_MULTIMODAL = ('{"error":{"message":"meta-llama/Llama-3.1-405B-Instruct is not a multimodal model",'
                       '"type":"BadRequestError","param":null,"code":400}}')
LLAMACPP_NO_IMAGES = ('{"error":{"code":500,"message":"image input is not supported - hint: if this is unexpected, you '
                      'may need to provide the mmproj","type":"server_error"}}')
MLLAMA = ("llama-server process has terminated: exit status 1: error loading model: unknown model architecture: "
          "'mllama'")


@pytest.fixture(autouse=True)
def _fresh_listings() -> Iterator[None]:
    client.clear_models_cache()
    yield
    client.clear_models_cache()


def _settings(endpoint: str, key: str | None = None) -> Settings:
    # No test here is about the deadline: 30 s, since a CI run once starved the double for 5 s while a vLLM of the
    # real-server tier started beside it ("no text for 5 s" on a one-line answer).
    environ = {"MODELS_PROVIDER": "custom", "MODELS_ENDPOINT": endpoint, "REQUEST_TIMEOUT_S": "30"}
    if key:
        environ["MODELS_API_KEY"] = key
    return load_settings(environ=environ, probe=lambda url: False)


def _chat(double: ApiDouble, preset: str, model: str, messages: list[dict[str, Any]], **extra: Any
          ) -> tuple[int, Any]:
    return http("POST", double.endpoint_for(preset) + "/chat/completions",
                {"model": model, "messages": messages, "max_tokens": 16, **extra}, timeout=10)


def _explained(settings: Settings, model: str, messages: list[dict[str, Any]]) -> UserError:
    """What the app tells the person when this request fails (through the app's own client)."""
    with pytest.raises(Exception) as caught:
        client.complete(settings, model, messages)
    return explain(caught.value)


# --- 1. Context overflow, in each server's own words ------------------------------------------------------------


@pytest.mark.parametrize("server, raw", [("vllm", VLLM_OVERFLOW), ("llamacpp", LLAMACPP_OVERFLOW),
                                         ("litellm", LITELLM_OVERFLOW)], ids=["vllm", "llamacpp", "litellm"])
def test_context_overflow_replies_are_the_real_servers_bodies(double: ApiDouble, server: str, raw: str) -> None:
    reply = Reply.context_overflow(server)
    assert reply.status == 400 and reply.body == json.loads(raw)
    double.queue(reply)
    err = _explained(_settings(double.endpoint), "m", [{"role": "user", "content": "Hello"}])
    assert err.kind is ErrorKind.CONTEXT_TOO_LONG and err.context_limit == 2048 and not err.retry_helps
    assert "litellm" not in err.detail.lower()  # the gateway's wrapping is peeled off


def test_openai_context_overflow_names_its_code_and_ollama_has_none(double: ApiDouble) -> None:
    reply = Reply.context_overflow("openai", limit=8192, prompt_tokens=9000)
    assert reply.status == 400 and reply.body["error"]["code"] == "context_length_exceeded"
    double.queue(reply)
    err = _explained(_settings(double.endpoint), "m", [{"role": "user", "content": "Hello"}])
    assert err.kind is ErrorKind.CONTEXT_TOO_LONG and err.context_limit == 8192
    with pytest.raises(ValueError):
        Reply.context_overflow("ollama")  # Ollama cuts the prompt instead of refusing it


def test_vllm_refuses_a_prompt_over_its_context_with_its_own_400(double: ApiDouble) -> None:
    double.contexts["vllm"] = 2048  # `--max-model-len 2048`, as the real-server tier runs it
    status, body = _chat(double, "vllm", VLLM_TEXT, LONG)
    assert status == 400 and body == json.loads(VLLM_OVERFLOW)  # "at least 2049": vLLM counts no further
    assert _chat(double, "vllm", VLLM_TEXT, [{"role": "user", "content": "Hello"}])[0] == 200
    err = _explained(_settings(double.endpoint_for("vllm")), VLLM_TEXT, LONG)
    assert err.kind is ErrorKind.CONTEXT_TOO_LONG and err.context_limit == 2048


def test_vllm_preset_enforces_and_lists_8192_by_default(double: ApiDouble) -> None:
    assert double.context_for("vllm") == 8192
    under = [{"role": "user", "content": "word " * 6000}]
    over = [{"role": "user", "content": "word " * 9000}]
    assert estimate_tokens(under) < 8192 < estimate_tokens(over)
    assert _chat(double, "vllm", VLLM_TEXT, under)[0] == 200
    status, body = _chat(double, "vllm", VLLM_TEXT, over)
    assert status == 400 and "maximum context length is 8192 tokens" in body["error"]["message"]
    assert "value=8193)" in body["error"]["message"]


def test_llamacpp_refuses_with_exceed_context_size_and_says_both_counts(double: ApiDouble) -> None:
    status, body = _chat(double, "llamacpp", LLAMACPP_MODEL, LONG)
    assert status == 400
    assert body["error"] == {"code": 400,
                             "message": "the request exceeds the available context size, try increasing it",
                             "type": "exceed_context_size_error", "n_prompt_tokens": estimate_tokens(LONG),
                             "n_ctx": 2048}
    err = _explained(_settings(double.endpoint_for("llamacpp")), LLAMACPP_MODEL, LONG)
    assert err.kind is ErrorKind.CONTEXT_TOO_LONG and err.context_limit == 2048


def test_litellm_wraps_vllms_overflow_and_names_the_requested_model_group(double: ApiDouble) -> None:
    double.contexts["litellm"] = 2048
    status, body = _chat(double, "litellm", LITELLM_MODEL, LONG)
    assert status == 400 and body == json.loads(LITELLM_OVERFLOW)
    err = _explained(_settings(double.endpoint_for("litellm")), LITELLM_MODEL, LONG)
    assert err.kind is ErrorKind.CONTEXT_TOO_LONG and err.context_limit == 2048
    assert "litellm" not in err.detail.lower() and "maximum context length is 2048" in err.detail


def test_ollama_cuts_an_overlong_conversation_from_the_front_and_answers_anyway(double: ApiDouble) -> None:
    seen: list[list[dict[str, Any]]] = []

    def responder(body: dict[str, Any]) -> Reply:
        seen.append(body["messages"])
        return Reply(text="Short answer.")

    double.responder = responder
    turns = [{"role": "system", "content": "You are brief."}]
    for i in range(12):
        turns += [{"role": "user", "content": f"Question {i}: " + "llama " * 200},
                  {"role": "assistant", "content": f"Answer {i}: " + "alpaca " * 200}]
    turns.append({"role": "user", "content": "And the last question?"})
    assert estimate_tokens(turns) > 4096
    reply = client.complete(_settings(double.endpoint_for("ollama")), "llama3.1:8b", turns)
    assert reply.text == "Short answer."  # no error: nothing tells the client
    recorded = double.chat_requests[-1]
    assert recorded.truncated and recorded.body["messages"] == turns  # the app sent all of it
    kept = seen[-1]
    assert kept[0] == turns[0] and kept[-1] == turns[-1]  # the system message and the question stay
    assert len(kept) < len(turns) and kept[1:] == turns[len(turns) - len(kept) + 1:]  # the oldest turns went
    assert estimate_tokens(kept) <= 4096
    assert recorded.prompt_tokens == estimate_tokens(kept) and reply.usage.prompt_tokens == estimate_tokens(kept)
    # One message alone over the context: its start is cut, its end is read.
    client.complete(_settings(double.endpoint_for("ollama")), "llama3.1:8b",
                    [{"role": "user", "content": "start " + "llama " * 5000 + "THE END"}])
    assert double.chat_requests[-1].truncated
    assert seen[-1][0]["content"].endswith("THE END") and not seen[-1][0]["content"].startswith("start")
    # A conversation that fits is read whole.
    client.complete(_settings(double.endpoint_for("ollama")), "llama3.1:8b", turns[-3:])
    assert not double.chat_requests[-1].truncated and seen[-1] == turns[-3:]


# --- 2. An image sent to a text-only model ----------------------------------------------------------------------


def test_image_refusal_replies_are_the_real_servers_bodies(double: ApiDouble) -> None:
    assert Reply.image_refused("vllm") == Reply(status=400, body=json.loads(VLLM_NOT_MULTIMODAL))
    assert Reply.image_refused("llamacpp") == Reply(status=500, body=json.loads(LLAMACPP_NO_IMAGES))
    for reply in (Reply.image_refused("vllm"), Reply.image_refused("llamacpp"), Reply.image_refused("litellm")):
        double.queue(reply)
        before = len(double.chat_requests)
        err = _explained(_settings(double.endpoint), "m", IMAGE)
        assert err.kind is ErrorKind.IMAGE_NOT_SUPPORTED and not err.retry_helps
        assert len(double.chat_requests) - before == 1  # llama.cpp's 500 is not retried as if temporary


def test_vllm_refuses_an_image_for_a_text_model_and_reads_it_on_a_vision_model(double: ApiDouble) -> None:
    status, body = _chat(double, "vllm", VLLM_TEXT, IMAGE)
    assert status == 400
    assert body == {"error": {"message": f"{VLLM_TEXT} is not a multimodal model", "type": "BadRequestError",
                              "param": None, "code": 400}}
    assert _chat(double, "vllm", VLLM_VISION, IMAGE)[0] == 200
    err = _explained(_settings(double.endpoint_for("vllm")), VLLM_TEXT, IMAGE)
    assert err.kind is ErrorKind.IMAGE_NOT_SUPPORTED


def test_llamacpp_without_mmproj_answers_an_image_with_500_and_litellm_wraps_vllm(double: ApiDouble) -> None:
    status, body = _chat(double, "llamacpp", LLAMACPP_MODEL, IMAGE)
    assert status == 500 and body == json.loads(LLAMACPP_NO_IMAGES)
    assert explain_of(double, "llamacpp", LLAMACPP_MODEL, IMAGE).kind is ErrorKind.IMAGE_NOT_SUPPORTED
    status, body = _chat(double, "litellm", LITELLM_MODEL, IMAGE)
    assert status == 400 and body["error"]["type"] == "invalid_request_error" and body["error"]["code"] == "400"
    assert "Hosted_vllmException" in body["error"]["message"]
    assert f"{LITELLM_MODEL} is not a multimodal model" in body["error"]["message"]
    assert explain_of(double, "litellm", LITELLM_MODEL, IMAGE).kind is ErrorKind.IMAGE_NOT_SUPPORTED


def explain_of(double: ApiDouble, preset: str, model: str, messages: list[dict[str, Any]]) -> UserError:
    return _explained(_settings(double.endpoint_for(preset)), model, messages)


def test_unknown_models_answer_as_vllm_and_litellm_do(double: ApiDouble) -> None:
    status, body = _chat(double, "vllm", "meta-llama/nope", [{"role": "user", "content": "Hi"}])
    assert status == 404 and body["error"]["type"] == "NotFoundError" and body["error"]["param"] == "model"
    assert body["error"]["message"].startswith("The model `meta-llama/nope` does not exist. Valid aliases: ")
    assert explain_of(double, "vllm", "meta-llama/nope", [{"role": "user", "content": "Hi"}]).kind \
        is ErrorKind.MODEL_NOT_FOUND
    status, body = _chat(double, "litellm", "meta-llama/nope", [{"role": "user", "content": "Hi"}])
    assert status == 400 and "Invalid model name passed in model=meta-llama/nope" in body["error"]["message"]
    assert explain_of(double, "litellm", "meta-llama/nope", [{"role": "user", "content": "Hi"}]).kind \
        is ErrorKind.MODEL_NOT_FOUND
    # llama-server serves its one model whatever name a request gives.
    assert _chat(double, "llamacpp", "anything", [{"role": "user", "content": "Hi"}])[0] == 200


# --- 3. vLLM and llama.cpp strip <|python_tag|> and stop on <|eom_id|> ----------------------------------------------


@pytest.mark.parametrize("preset, model", [("vllm", VLLM_TEXT), ("llamacpp", LLAMACPP_MODEL),
                                           ("litellm", LITELLM_MODEL)])
def test_built_in_calls_arrive_without_special_tokens(double: ApiDouble, preset: str, model: str) -> None:
    messages = [{"role": "system", "content": TOOL_SYSTEM}, {"role": "user", "content": "What is the weather in Oslo?"}]
    settings = _settings(double.endpoint_for(preset))
    streamed = "".join(client.stream(settings, model, messages))
    assert streamed == 'brave_search.call(query="current weather in Oslo")'
    assert client.complete(settings, model, messages).text == streamed


def test_the_permissive_double_and_scripted_replies_keep_the_tags(double: ApiDouble) -> None:
    messages = [{"role": "system", "content": TOOL_SYSTEM}, {"role": "user", "content": "What is the weather in Oslo?"}]
    tagged = '<|python_tag|>brave_search.call(query="current weather in Oslo")<|eom_id|>'
    assert client.complete(_settings(double.endpoint), "m", messages).text == tagged  # "any": as before
    double.queue(Reply(text=tagged))
    assert client.complete(_settings(double.endpoint_for("vllm")), VLLM_TEXT, messages).text == tagged


# --- 4. Usage counts the prompt ---------------------------------------------------------------------------------


def test_usage_counts_the_prompt_on_presets_with_a_server(double: ApiDouble) -> None:
    messages = [{"role": "system", "content": "You are helpful."},
                {"role": "user", "content": "Tell me about llamas and alpacas, at length. " * 20}]
    settings = _settings(double.endpoint_for("vllm"))
    stream = client.stream(settings, VLLM_TEXT, messages)
    text = "".join(stream)
    assert stream.usage is not None and stream.usage.prompt_tokens == estimate_tokens(messages)
    assert stream.usage.completion_tokens == max(1, len(text) // 4)
    assert client.complete(settings, VLLM_TEXT, messages).usage.prompt_tokens == estimate_tokens(messages)
    assert double.chat_requests[-1].prompt_tokens == estimate_tokens(messages)
    # The permissive double keeps its fixed 42 (tests/test_dedupe.py relies on it).
    assert client.complete(_settings(double.endpoint), "m", messages).usage.prompt_tokens == 42


# --- 5. Listings as each server writes them ---------------------------------------------------------------------


def test_listings_carry_each_servers_context_field_and_the_app_reads_it(double: ApiDouble) -> None:
    _, vllm = http("GET", double.endpoint_for("vllm") + "/models")
    assert [m["owned_by"] for m in vllm["data"]] == ["vllm", "vllm"]
    assert all(m["max_model_len"] == 8192 and m["permission"][0]["object"] == "model_permission"
               for m in vllm["data"])
    _, llamacpp = http("GET", double.endpoint_for("llamacpp") + "/models")
    entry = llamacpp["data"][0]
    assert entry["id"] == LLAMACPP_MODEL and entry["owned_by"] == "llamacpp"
    assert entry["meta"]["n_ctx"] == 2048 and entry["meta"]["n_ctx_train"] == 131072
    assert llamacpp["models"][0]["model"] == LLAMACPP_MODEL  # the Ollama-style list llama-server adds
    _, litellm = http("GET", double.endpoint_for("litellm") + "/models")
    assert {m["owned_by"] for m in litellm["data"]} == {"openai"}
    assert litellm["data"][0] == {"id": LITELLM_MODEL, "object": "model", "created": 1677610602,
                                  "owned_by": "openai", "max_input_tokens": 8192, "max_output_tokens": 8192}
    assert {(m.id, m.context_length, m.server) for m in parse_models(vllm)} == {
        (VLLM_TEXT, 8192, "vllm"), (VLLM_VISION, 8192, "vllm")}
    assert [(m.context_length, m.server) for m in parse_models(llamacpp)] == [(2048, "llamacpp")]
    assert parse_models(litellm)[0].context_length == 8192 and parse_models(litellm)[0].server == ""
    # Through the app: the listing's context size and the server software.
    for preset, model, context, server in (("vllm", VLLM_TEXT, 8192, "vllm"),
                                           ("llamacpp", LLAMACPP_MODEL, 2048, "llamacpp"),
                                           ("litellm", LITELLM_MODEL, 8192, "")):
        settings = _settings(double.endpoint_for(preset))
        listing = client.get_models(settings)
        assert listing is not None and listing.find(model).context_length == context
        assert client.server_of(settings, model) == server


def test_a_context_set_on_the_double_is_listed_and_enforced_alike(double: ApiDouble) -> None:
    double.contexts.update(vllm=2048, llamacpp=4096, litellm=2048)
    assert parse_models(http("GET", double.endpoint_for("vllm") + "/models")[1])[0].context_length == 2048
    assert parse_models(http("GET", double.endpoint_for("llamacpp") + "/models")[1])[0].context_length == 4096
    assert parse_models(http("GET", double.endpoint_for("litellm") + "/models")[1])[0].context_length == 2048
    assert PRESETS["vllm"].models[0]["max_model_len"] == 8192  # the preset itself is unchanged
    middle = [{"role": "user", "content": "word " * 3000}]  # over 2048, under 4096
    assert _chat(double, "vllm", VLLM_TEXT, middle)[0] == 400
    assert _chat(double, "llamacpp", LLAMACPP_MODEL, middle)[0] == 200
    double.contexts["vllm"] = None  # no limit at all
    assert _chat(double, "vllm", VLLM_TEXT, middle)[0] == 200


# --- 6. vLLM's /tokenize + /detokenize, llama.cpp's /apply-template + /tokenize --------------------------------


def test_vllm_tokenize_and_detokenize_at_the_server_root(double: ApiDouble) -> None:
    messages = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hello there"}]
    kwargs = {"builtin_tools": ["brave_search", "wolfram_alpha"], "date_string": "01 December 2026"}
    root = double.url + "/vllm"
    status, tokens = http("POST", root + "/tokenize", {"model": VLLM_TEXT, "messages": messages,
                                                       "add_generation_prompt": True, "chat_template_kwargs": kwargs})
    assert status == 200 and set(tokens) == {"count", "max_model_len", "tokens", "token_strs"}
    assert tokens["count"] == len(tokens["tokens"]) and tokens["max_model_len"] == 8192
    assert tokens["token_strs"] is None and tokens["tokens"][0] == 128000
    assert all(isinstance(t, int) for t in tokens["tokens"])
    assert tokens["count"] >= estimate_tokens(messages)
    status, text = http("POST", root + "/detokenize", {"model": VLLM_TEXT, "tokens": tokens["tokens"]})
    assert status == 200 and text == {"prompt": render_llama31(messages, kwargs)}
    assert text["prompt"] == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nTools: brave_search, "
        "wolfram_alpha\n\nCutting Knowledge Date: December 2023\nToday Date: 01 December 2026\n\nYou are helpful."
        "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello there<|eot_id|><|start_header_id|>assistant"
        "<|end_header_id|>\n\n")  # exactly what vLLM 0.32 rendered with Meta's template
    status, plain = http("POST", root + "/tokenize", {"model": VLLM_TEXT, "prompt": "Hello there"})
    assert status == 200 and plain["count"] == len(plain["tokens"]) >= 3
    status, missing = http("POST", root + "/tokenize", {"model": "nope", "prompt": "Hi"})
    assert status == 404 and missing["error"]["type"] == "NotFoundError"
    assert http("POST", double.endpoint_for("vllm") + "/tokenize", {"prompt": "Hi"})[0] == 404  # not under /v1


def test_the_app_counts_and_renders_with_vllms_routes(double: ApiDouble) -> None:
    settings = _settings(double.endpoint_for("vllm"))
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Oslo?"}]
    extra = {"chat_template_kwargs": {"builtin_tools": ["brave_search"], "date_string": "01 December 2026"}}
    counter = client.token_counter(settings, VLLM_TEXT)
    assert counter is not None
    count = counter(messages, extra)
    assert count > estimate_tokens(messages)  # the server's count (the template's system block), not the fallback
    assert double.requests_to("vllm")[-1].path == "/vllm/tokenize"
    rendered = client.rendered_prompt(settings, VLLM_TEXT, messages, extra)
    assert rendered is not None and rendered.count("Today Date:") == 1
    assert "Environment: ipython\nTools: brave_search\n\n" in rendered and rendered.endswith(
        "<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_llamacpp_apply_template_tokenize_and_detokenize(double: ApiDouble) -> None:
    messages = [{"role": "user", "content": "Hello there"}]
    root = double.url + "/llamacpp"
    status, prompt = http("POST", root + "/apply-template", {"messages": messages})
    assert status == 200 and prompt == {"prompt": render_llama31(messages)}
    assert "Today Date: 26 Jul 2024" in prompt["prompt"]  # the template's own default date
    status, tokens = http("POST", root + "/tokenize", {"content": prompt["prompt"]})
    assert status == 200 and set(tokens) == {"tokens"} and len(tokens["tokens"]) > estimate_tokens(messages)
    assert http("POST", root + "/detokenize", {"tokens": tokens["tokens"]})[1] == {"content": prompt["prompt"]}
    settings = _settings(double.endpoint_for("llamacpp"))
    counter = client.token_counter(settings, LLAMACPP_MODEL)
    assert counter is not None and counter(messages, None) == len(tokens["tokens"])
    assert client.rendered_prompt(settings, LLAMACPP_MODEL, messages) == prompt["prompt"]


# --- 7. Ollama's documented behaviour ----------------------------------------------------------------------------


def test_ollama_says_its_version(double: ApiDouble) -> None:
    assert http("GET", double.url + "/ollama/api/version") == (200, {"version": "0.34.1"})
    double.ollama_version = "0.29.2"
    assert http("GET", double.url + "/ollama/api/version") == (200, {"version": "0.29.2"})


def test_ollama_from_0_30_cannot_run_llama_3_2_vision(double: ApiDouble) -> None:
    settings = _settings(double.endpoint_for("ollama"))
    assert _chat(double, "ollama", "llama3.2-vision:latest", IMAGE)[0] == 200  # off by default (pages rely on it)
    double.follow_ollama_version = True
    status, body = _chat(double, "ollama", "llama3.2-vision:latest", IMAGE)
    assert status == 500
    assert body == {"error": {"message": MLLAMA, "type": "api_error", "param": None, "code": None}}  # /v1's wrapping
    assert Reply.mllama_crash(native=True).body == {"error": MLLAMA}  # /api/chat's own form (FACTS.md)
    before = len(double.chat_requests)
    err = _explained(settings, "llama3.2-vision:latest", IMAGE)
    # "unknown model architecture": the app takes it as a model this server cannot serve, and moves on to the next;
    # it fails the same way every time, so it is asked once, not retried as if temporary.
    assert err.kind is ErrorKind.MODEL_NOT_FOUND and err.model_gone and "mllama" in err.detail
    assert len(double.chat_requests) - before == 1
    assert _chat(double, "ollama", "llama3.1:8b", [{"role": "user", "content": "Hi"}])[0] == 200  # text Llamas work
    double.ollama_version = "0.29.2"
    assert _chat(double, "ollama", "llama3.2-vision:latest", IMAGE)[0] == 200  # before 0.30 it still ran


def _parallel(double: ApiDouble, models: list[str]) -> list[tuple[float, float]]:
    """Send one slow streamed request per model at once; (start, end) of each answer as the client saw it."""
    settings = _settings(double.endpoint_for("ollama"))
    spans: list[tuple[float, float]] = [(0.0, 0.0)] * len(models)

    def ask(i: int, model: str) -> None:
        pieces = iter(client.stream(settings, model, [{"role": "user", "content": f"Question {i}"}]))
        first = next(pieces)
        started = time.monotonic()
        "".join([first, *pieces])
        spans[i] = (started, time.monotonic())

    for _ in models:
        double.queue(Reply(text="one two three four five", chunk_delay_s=0.08))
    threads = [threading.Thread(target=ask, args=(i, m)) for i, m in enumerate(models)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return sorted(spans)


def test_ollama_answers_one_request_at_a_time_per_model(double: ApiDouble) -> None:
    spans = _parallel(double, ["llama3.1:8b", "llama3.1:8b"])
    assert double.max_in_flight == 1 and len(double.chat_requests) == 2
    assert spans[1][0] >= spans[0][1] - 0.05  # the second answer began when the first ended: no 429, a queue


def test_ollama_num_parallel_and_other_models_answer_at_once(double: ApiDouble) -> None:
    _parallel(double, ["llama3.1:8b", "qwen2.5:7b"])  # one queue per model
    assert double.max_in_flight == 2
    double.max_in_flight = 0
    double.ollama_parallel = 2
    _parallel(double, ["llama3.1:8b", "llama3.1:8b"])
    assert double.max_in_flight == 2


def test_ollama_context_is_4096_by_default() -> None:
    assert PRESETS["ollama"].context_tokens == 4096 and PRESETS["ollama"].server == "ollama"


# --- 8. A client that hangs up mid-answer is logged ---------------------------------------------------------------


def test_a_client_hanging_up_during_a_slow_stream_is_logged(double: ApiDouble) -> None:
    double.queue(Reply(text="word " * 200, chunk_delay_s=0.3))
    settings = _settings(double.endpoint_for("vllm"))
    stream = client.stream(settings, VLLM_TEXT, [{"role": "user", "content": "Hi"}])
    pieces = iter(stream)
    next(pieces)
    next(pieces)
    stream.close()  # what Stop does
    started = time.monotonic()
    while not double.disconnects and time.monotonic() - started < 2:
        time.sleep(0.02)
    assert double.disconnects == [VLLM_TEXT] and time.monotonic() - started < 0.6


def test_a_raw_client_leaving_mid_stream_or_before_a_slow_first_byte_is_logged(double: ApiDouble) -> None:
    host, port = double._server.server_address[:2]
    for reply in (Reply(text="word " * 100, chunk_delay_s=0.2), Reply(text="late", delay_s=5)):
        double.queue(reply)
        before = len(double.disconnects)
        conn = httpclient.HTTPConnection(host, port, timeout=5)
        conn.request("POST", "/v1/chat/completions", json.dumps({"model": "m", "stream": True, "messages": [
            {"role": "user", "content": "Hi"}]}), {"Content-Type": "application/json"})
        if reply.chunk_delay_s:
            conn.getresponse().read1(64)  # the first piece arrived
        else:
            time.sleep(0.2)  # the request is in; the answer has not begun
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        started = time.monotonic()
        while len(double.disconnects) == before and time.monotonic() - started < 2:
            time.sleep(0.02)
        assert double.disconnects[before:] == ["m"] and time.monotonic() - started < 0.6


def test_cloudflares_openai_route_refuses_images_and_the_app_says_why(double: ApiDouble) -> None:
    settings = _settings(double.endpoint_for("cloudflare"))
    err = _explained(settings, "@cf/meta/llama-4-scout-17b-16e-instruct", IMAGE)
    assert err.kind is ErrorKind.IMAGE_NOT_SUPPORTED and not err.retry_helps


def test_heartbeat_sends_bytes_but_never_text_until_the_client_leaves(double: ApiDouble) -> None:
    """`stream_mode="heartbeat"`: the text given (if any), then keep-alive comments, `"choices": []` chunks and
    deltas without content every 0.2 s, no [DONE]; a client hanging up is logged like any other."""
    host, port = double._server.server_address[:2]
    double.queue(Reply(text="Hello", stream_mode="heartbeat"))
    conn = httpclient.HTTPConnection(host, port, timeout=5)
    conn.request("POST", "/v1/chat/completions", json.dumps({"model": "m", "stream": True, "messages": [
        {"role": "user", "content": "Hi"}]}), {"Content-Type": "application/json"})
    response = conn.getresponse()
    received = b""
    started = time.monotonic()
    while double.heartbeats < 5 and time.monotonic() - started < 3:
        received += response.read1(4096)
    assert double.heartbeats >= 5 and time.monotonic() - started < 2, "one every 0.2 s"
    lines = [line for line in received.decode().split("\n") if line]
    assert ": keep-alive" in lines and "[DONE]" not in received.decode()
    texts = [c["delta"].get("content") for line in lines if line.startswith("data: ")
             for c in json.loads(line[6:])["choices"]]
    assert [t for t in texts if t] == ["Hello"]
    assert any(json.loads(line[6:])["choices"] == [] for line in lines if line.startswith("data: "))
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    started = time.monotonic()
    while not double.disconnects and time.monotonic() - started < 2:
        time.sleep(0.02)
    assert double.disconnects == ["m"] and time.monotonic() - started < 0.6
