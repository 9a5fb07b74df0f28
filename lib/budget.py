"""A token budget: every request fits the model's input limit minus the answer it may write.

`estimate_tokens()` is a cheap, deliberately simple count (no tokenizer download, no model call):

- text: one token per 4 characters, rounded up. Llama 3's tokenizer (tiktoken-style, 128k vocabulary) averages
  about 4 characters a token on English prose; JSON, code and non-English text take more tokens per character,
  so `fit_messages` keeps a `MARGIN` (5 % of the limit) on top of the requested output;
- every message: `MESSAGE_OVERHEAD` (4) tokens for the chat template's header and end-of-turn tokens;
  an assistant's `tool_calls` count as their JSON text;
- every image part: `IMAGE_TOKENS` (1601) whatever its size. Llama 3.2 Vision cuts an image into 560-px tiles,
  at most 4 (1120×1120); its vision encoder makes 40×40 patches + 1 class token = 1601 embeddings per tile. In the
  text model the image is one `<|image|>` token read through cross-attention, but hosts count and bill images
  differently (some by tiles); 1601 is a safe middle: it keeps room for one image on a 4k Ollama context.

`fit_messages()` keeps the system message(s), the custom-tool definitions that travel in the first user message,
every image, and the latest turn; it drops whole oldest turns until the estimate fits, and moves what must stay
(tool definitions, images, an instruction given as `first_user_prefix`) into the earliest user message it keeps.
`budget_note()` says so in the conversation.

Example::

    limit = context_limit(provider, model, listed_context)      # lib.providers
    messages, dropped = fit_messages(messages, limit, max_output_tokens=1024)
    note = budget_note(dropped, limit)   # "2 earlier turns were left out to fit Llama's 8k input."
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any, Mapping, Sequence

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 1601
MARGIN = 0.05  # share of the limit kept free for the estimate's error
TOOLS_PREAMBLE = "Answer the user's question by making use of the following functions"
_QUESTION_MARK = "Question: "
_RETURN_LINE = "Return function calls in JSON format."
_TOOL_RESULT_PREFIXES = ("Tool result from ", "[tool result")


def _text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _part_tokens(part: Any) -> int:
    if isinstance(part, Mapping):
        if part.get("type") in ("image_url", "image", "input_image"):
            return IMAGE_TOKENS
        if isinstance(part.get("text"), str):
            return _text_tokens(part["text"])
        return _text_tokens(json.dumps(part, ensure_ascii=False, default=str))
    return _text_tokens(str(part))


def message_tokens(message: Mapping[str, Any]) -> int:
    """Estimated tokens of one chat message (see the module's docstring)."""
    tokens = MESSAGE_OVERHEAD
    content = message.get("content")
    if isinstance(content, str):
        tokens += _text_tokens(content)
    elif isinstance(content, (list, tuple)):
        tokens += sum(_part_tokens(p) for p in content)
    elif content is not None:
        tokens += _text_tokens(str(content))
    if message.get("tool_calls"):
        tokens += _text_tokens(json.dumps(message["tool_calls"], ensure_ascii=False, default=str))
    return tokens


def estimate_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Estimated input tokens of a request's messages: ~4 characters a token, 1601 an image, 4 a message."""
    return sum(message_tokens(m) for m in messages)


def input_budget(limit_tokens: int, max_output_tokens: int) -> int:
    """Tokens the messages may use: the limit minus the requested output minus the safety margin (≥ 0)."""
    return max(0, limit_tokens - max_output_tokens - math.ceil(limit_tokens * MARGIN))


# Turns -------------------------------------------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return ""


def _is_tool_result(message: Mapping[str, Any]) -> bool:
    """A tool result returned as a user message (the tool loop's last way): part of the turn, not a new one."""
    return message.get("role") == "user" and _text_of(message.get("content")).startswith(_TOOL_RESULT_PREFIXES)


def split_turns(messages: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """(leading messages before the first question, turns): each turn a user question and what follows it."""
    head: list[dict[str, Any]] = []
    turns: list[list[dict[str, Any]]] = []
    for m in messages:
        msg = dict(m)
        if msg.get("role") == "user" and not (turns and _is_tool_result(msg)):
            turns.append([msg])
        elif turns and msg.get("role") != "system":
            turns[-1].append(msg)
        else:
            head.append(msg)  # system messages (anywhere) and anything before the first question
    return head, turns


def _images(turn: Sequence[Mapping[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for m in turn:
        content = m.get("content")
        if m.get("role") == "user" and isinstance(content, (list, tuple)):
            out += [p for p in content if isinstance(p, Mapping) and p.get("type") in ("image_url", "image",
                                                                                        "input_image")]
    return out


def _tools_preamble(text: str) -> str:
    """The custom-tool definitions of a first user message, up to and with "Question: " ("" when none)."""
    if not text.startswith(TOOLS_PREAMBLE):
        return ""
    cut = text.find(_QUESTION_MARK, max(0, text.find(_RETURN_LINE)))
    return text[:cut + len(_QUESTION_MARK)] if cut > 0 else ""


def _with_carried(message: dict[str, Any], prefix: str, images: list[Any]) -> dict[str, Any]:
    """`message` with `prefix` before its text and `images` after it (a copy; the original is untouched)."""
    out = copy.deepcopy(message)
    content = out.get("content")
    if isinstance(content, (list, tuple)):
        parts = [dict(p) if isinstance(p, Mapping) else p for p in content]
        if prefix:
            first_text = next((p for p in parts if isinstance(p, dict) and p.get("type") == "text"), None)
            if first_text is not None:
                first_text["text"] = prefix + str(first_text.get("text", ""))
            else:
                parts.insert(0, {"type": "text", "text": prefix})
        out["content"] = parts + [copy.deepcopy(i) for i in images]
        return out
    text = prefix + (content if isinstance(content, str) else "")
    if images:
        out["content"] = [{"type": "text", "text": text}] + [copy.deepcopy(i) for i in images]
    else:
        out["content"] = text
    return out


def fit_messages(
    messages: Sequence[Mapping[str, Any]],
    limit_tokens: int,
    max_output_tokens: int,
    *,
    first_user_prefix: str = "",
) -> tuple[list[dict[str, Any]], int]:
    """(messages that fit `limit_tokens - max_output_tokens`, how many earlier turns were dropped).

    A turn is a user message and the assistant / tool messages after it (a tool result sent back as a user
    message belongs to its turn). Kept always: system messages, the latest turn, every image, the custom-tool
    definitions of the first user message ("Answer the user's question by making use of the following
    functions … Question: "), and `first_user_prefix` (an instruction sent at the start of the first user text,
    e.g. the vision prompt when a host refuses system messages). Those move to the earliest kept user message.
    Oldest turns go first. When even the essentials do not fit, they are returned anyway (the server decides).
    The input is not modified; the result holds copies.
    """
    head, turns = split_turns(messages)
    if len(turns) <= 1 or estimate_tokens(messages) <= input_budget(limit_tokens, max_output_tokens):
        return [dict(m) for m in messages], 0
    budget = input_budget(limit_tokens, max_output_tokens)
    first_text = _text_of(turns[0][0].get("content"))
    prefix = ""
    if first_user_prefix and first_text.startswith(first_user_prefix):
        prefix = first_user_prefix
    prefix += _tools_preamble(first_text[len(prefix):])
    head_tokens = estimate_tokens(head)

    def assemble(dropped: int) -> list[dict[str, Any]]:
        kept = [list(t) for t in turns[dropped:]]
        if dropped:
            images = [i for t in turns[:dropped] for i in _images(t)]
            kept[0][0] = _with_carried(kept[0][0], prefix, images)
        return [dict(m) for m in head] + [m for t in kept for m in t]

    # Sizes without the carried parts, then one exact check per candidate (cheap: a handful of candidates).
    sizes = [estimate_tokens(t) for t in turns]
    dropped = 1
    while dropped < len(turns) - 1 and head_tokens + sum(sizes[dropped:]) > budget:
        dropped += 1
    result = assemble(dropped)
    while dropped < len(turns) - 1 and estimate_tokens(result) > budget:
        dropped += 1
        result = assemble(dropped)
    return result, dropped


def format_limit(limit_tokens: int) -> str:
    """8000 → "8k", 8192 → "8k", 131072 → "128k", 128000 → "128k", 1_048_576 → "1M", 500 → "500"."""
    for unit, suffix in ((1_000_000, "M"), (1_048_576, "M"), (1000, "k"), (1024, "k")):
        if limit_tokens >= unit and limit_tokens % unit == 0:
            return f"{limit_tokens // unit}{suffix}"
    if limit_tokens >= 1000:
        return f"{round(limit_tokens / 1000)}k"
    return str(limit_tokens)


def budget_note(dropped: int, limit_tokens: int, model_label: str = "Llama") -> str:
    """"2 earlier turns were left out to fit Llama's 8k input." ("" when nothing was dropped)."""
    if dropped <= 0:
        return ""
    turns = "1 earlier turn was" if dropped == 1 else f"{dropped} earlier turns were"
    return f"{turns} left out to fit {model_label}'s {format_limit(limit_tokens)} input."
