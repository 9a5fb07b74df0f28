"""A token budget: every request fits the model's input limit minus the answer it may write.

`estimate_tokens()` is a cheap, deliberately simple count (no tokenizer download, no model call):

- text: the larger of one token per `CHARS_PER_TOKEN` (4) characters and a count by classes of characters, rounded
  up. Llama 3's tokenizer (tiktoken-style BPE, 128k vocabulary) reads about 5 characters a token of English prose,
  where the 4-character rule stays in force and is a little generous; but it cuts numbers into groups of at most 3
  digits and reads Korean, Japanese and Chinese at 1.1 to 1.7 characters a token, which 4 characters a token
  undercounted up to 3.5 times. The class count (`_text_tokens`: a few regex passes, no tokenizer): 1 a Latin word
  (+¼ a letter past the 5th), 1 a group of ≤ 3 digits (+1 the space before a number), 1 a run of punctuation, 1 a
  line break or an indentation; a Hangul syllable 0.7, + 0.6 a word; a Han character 0.9, a kana 0.7, + 0.5 a run
  of them; a Cyrillic, Greek or Arabic letter 0.5; an emoji 3; up to 2.5 a character of rarer scripts. Fitted on the
  real tokenizer, it gives 1.0–1.4x the real count on prose, chat, numbers, JSON and code in English, Korean,
  Japanese and Chinese (tests/test_budget.py); French or German prose can still come out 10–20 % under. The chat
  template's fixed part (~30 tokens: BOS, Llama 3.1's default system header) is not counted: `fit_messages`
  keeps a `MARGIN` (5 % of the limit) on top of the requested output for it and for the estimate's error;
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

    limit = context_limit(provider, model, listed_context)      # lib.hosts.providers
    messages, dropped = fit_messages(messages, limit, max_output_tokens=1024)
    note = budget_note(dropped, limit)   # "2 earlier turns were left out to fit Llama's 8k input."
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any, Callable, Mapping, Sequence

from lib.hosts.errors import QuestionTooLong
from lib.i18n import Msg, msg

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 1601
MARGIN = 0.05  # share of the limit kept free for the estimate's error
MAX_QUESTION_CHARS = 32_000
"""The longest question the app sends, in characters (typed in the chat box or a vision follow-up): about 8k tokens
of English prose, up to ~25k of Korean or Chinese. Longer is refused before any request (`check_question`): a pasted
1 MB log would cost upload time and quota, and no Llama host here reads it whole (Ollama's default context is 4k
tokens and it cuts silently from the front). A question under this that still does not fit the model's context
takes the budget path: earlier turns are left out (`fit_messages`), and a server that still refuses answers
"too long" (CONTEXT_TOO_LONG)."""
TOOLS_PREAMBLE = "Answer the user's question by making use of the following functions"
_QUESTION_MARK = "Question: "
_RETURN_LINE = "Return function calls in JSON format."
_TOOL_RESULT_PREFIXES = ("Tool result from ", "[tool result")


# The class count of `_text_tokens` (see the module's docstring). Llama 3 first cuts text by a regex into pieces (a
# word with the space before it, a group of at most 3 digits, a run of punctuation, a run of whitespace), then merges
# the UTF-8 bytes of each piece by BPE: a piece is at least one token, and a rare one falls apart into many. The
# weights below were fitted on the real tokenizer (see tests/test_budget.py) so that the count stays above it.
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
_PUNCT = ("!-/:-@\\[-`{-~\u00a1-\u00bf\u00d7\u00f7\u2000-\u200f\u3000-\u3004\u3008-\u303f\ufe00-\ufe0f\ufe30-\ufe4f"
          "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65")  # ASCII, Latin-1, CJK and full-width punctuation
_HANGUL = "\uac00-\ud7a3"  # syllables
_HAN = "\u2e80-\u2fdf\u3005-\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff"
_WORD = re.compile(f"[{_LATIN}]+")
_DIGITS = re.compile("[0-9]{1,3}")
_SPACE_DIGIT = re.compile(" [0-9]")
_PUNCT_RUN = re.compile(f"[{_PUNCT}]+")
_HANGUL_WORD = re.compile(f"[{_HANGUL}]+")
_SPACE_HANGUL = re.compile(f" [{_HANGUL}]")
_CJK_RUN = re.compile(f"[{_HAN}{_KANA}]+")
_KANA_RUN = re.compile(f"[{_KANA}]+")
_OTHER = re.compile(f"[^\\x00-\\xa0{_PUNCT}{_HANGUL}{_HAN}{_KANA}]+")  # the rest that is not ASCII
_OTHER_CLASSES = tuple((re.compile(f"[{chars}]+"), tokens_per_char) for chars, tokens_per_char in (
    ("\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff", 0.3),  # é ü ệ: on top of their word
    ("\u2010-\u25ff", 1.5),  # ’ — … € → ■
    ("\u0370-\u052f\u0600-\u06ff\u0750-\u077f\u1f00-\u1fff", 0.5),  # Greek, Cyrillic, Arabic
    ("\U00010000-\U0010ffff", 3.0),  # emoji (and rare Han)
    ("\u2600-\u27bf\u2b00-\u2bff", 2.0),  # ☀ ✅ ⭐
    ("\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\ud7b0-\ud7ff", 1.5),  # Hangul letters: ㅋㅋ ㅠㅠ
    ("\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uff9f", 1.5),  # full-width letters and digits, half-width kana
    ("\u0900-\u097f\u0e00-\u0e7f", 0.75),  # Devanagari, Thai
    ("\u0250-\u036f\u0590-\u05ff\u0980-\u0dff", 1.6),  # IPA, combining marks, Hebrew, other Indic scripts
))
_OTHER_TOKENS_PER_CHAR = 2.5  # any other script (Armenian, Georgian, …): close to one token a UTF-8 byte


def _non_ascii_tokens(text: str) -> float:
    tokens = 0.0
    words = _HANGUL_WORD.findall(text)
    if words:  # 0.7 a syllable + 0.6 a word, + 0.5 more when no space comes before it ("서울", 이름:)
        tokens += 0.7 * sum(map(len, words)) + 1.1 * len(words) - 0.5 * len(_SPACE_HANGUL.findall(text))
    runs = _CJK_RUN.findall(text)
    if runs:  # 0.5 a run, + 0.9 a Han character, + 0.7 a kana
        joined = "".join(runs)
        kana = sum(map(len, _KANA_RUN.findall(joined)))
        tokens += 0.5 * len(runs) + 0.9 * (len(joined) - kana) + 0.7 * kana
    other = "".join(_OTHER.findall(text))
    left = len(other)
    for pattern, tokens_per_char in _OTHER_CLASSES:
        if left <= 0:
            break
        n = sum(map(len, pattern.findall(other)))
        tokens += tokens_per_char * n
        left -= n
    return tokens + _OTHER_TOKENS_PER_CHAR * max(0, left)


def _text_tokens(text: str) -> int:
    """Estimated tokens of `text`: the class count, and at least one token per `CHARS_PER_TOKEN` characters."""
    words = _WORD.findall(text)  # 1 a word, + 1/4 a letter past the 5th
    tokens = len(words) + 0.25 * sum(n - 5 for n in map(len, words) if n > 5)
    digits = _DIGITS.findall(text)
    if digits:  # 1 a group of at most 3 digits, + 1 for the space before a number (a token of its own)
        tokens += len(digits) + len(_SPACE_DIGIT.findall(text))
    puncts = _PUNCT_RUN.findall(text)  # 1 a run of punctuation, + 1/2 a character past the 2nd
    tokens += len(puncts) + 0.5 * sum(n - 2 for n in map(len, puncts) if n > 2)
    # 1 a line break (or a run of them), 1 an indentation, 1 a tab
    tokens += text.count("\n") - text.count("\n\n") + text.count("\n ") + text.count("\t")
    if not text.isascii():
        tokens += _non_ascii_tokens(text)
    return math.ceil(round(max(len(text) / CHARS_PER_TOKEN, tokens), 6))


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
    """Estimated input tokens of a request's messages: text by classes of characters (at least 1 token per 4
    characters), 1601 an image, 4 a message."""
    return sum(message_tokens(m) for m in messages)


def check_question(text: str, limit: int = MAX_QUESTION_CHARS) -> None:
    """Raise `lib.hosts.errors.QuestionTooLong` when `text` is longer than `limit` characters (nothing is sent then);
    `explain()` says "This question is 1,000,000 characters; the limit is 32,000. Shorten it ..."."""
    if isinstance(text, str) and len(text) > limit:
        raise QuestionTooLong(len(text), limit)


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
    count: Callable[[Sequence[Mapping[str, Any]]], int] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """(messages that fit `limit_tokens - max_output_tokens`, how many earlier turns were dropped).

    `count`, when given, is the server's own count of a request's tokens (e.g. vLLM's `/tokenize`): the estimate
    decides only what surely fits, and `count` decides the rest, so no turn is left out that the server could take.

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
    if count is not None:
        exact_budget = max(0, limit_tokens - max_output_tokens)  # an exact count needs no margin
        if count(messages) <= exact_budget:
            return [dict(m) for m in messages], 0
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
    if count is not None:
        # The estimate errs on the safe side: give back turns while the server's own count still fits, and drop
        # more if it does not.
        while dropped > 1 and count(assemble(dropped - 1)) <= exact_budget:
            dropped -= 1
            result = assemble(dropped)
        while dropped < len(turns) - 1 and count(result) > exact_budget:
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


def budget_note(dropped: int, limit_tokens: int, model_label: str = "Llama", *, lang: str = "en") -> str:
    """"2 earlier turns were left out to fit Llama's 8k input." ("" when nothing was dropped); in `lang`."""
    note = budget_msg(dropped, limit_tokens, model_label)
    return "" if note is None else note.in_(lang)


def budget_msg(dropped: int, limit_tokens: int, model_label: str = "Llama") -> Msg | None:
    """`budget_note` as a `Msg` (None when nothing was dropped), for a text kept and shown in the page's language."""
    if dropped <= 0:
        return None
    if dropped == 1:
        return msg("hosts.budget.dropped_one", model_name=model_label, limit=format_limit(limit_tokens))
    return msg("hosts.budget.dropped_other", count=dropped, model_name=model_label, limit=format_limit(limit_tokens))
