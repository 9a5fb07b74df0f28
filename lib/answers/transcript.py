"""Transcripts: export a tool-calling or vision conversation as JSON or Markdown, and import it back.

Example::

    data = tool_transcript(ss["tool_turns"], provider="nvidia", model="meta/llama-3.1-405b-instruct",
                           secrets=[settings.token or ""])
    st.download_button("Markdown", to_markdown(data), "transcript.md")
    st.download_button("JSON", to_json(data), "transcript.json")
    turns = tool_turns_from_transcript(from_json(uploaded.getvalue().decode(), kind="tools"))

Everything exported passes through `redact()`: given secrets (raw or URL-encoded) and anything shaped like a key
(`Bearer …`, `api-key: …`, `nvapi-…`, `sk-or-…`, `hf_…`, `ghp_…`, `github_pat_…`) become "[redacted]".
Imports are untrusted: `from_json()` checks size, kind, version and every field's type, and never evaluates
anything. It is bounded in memory too (lib/common/jsonfile.py): at most MAX_JSON_BYTES (5 MB), MAX_JSON_ITEMS values
counted before parsing, 64 levels of nesting, numbers of at most 1,000 digits, texts of at most MAX_TEXT_CHARS
(100,000 characters); tool calls must have a short name, a known form and arguments of at most 100,000 characters
of JSON. Every refusal is a TranscriptError with a sentence.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import io
import json
import math
import re
from typing import Any, Mapping, MutableMapping, Sequence

from lib.common.jsonfile import describe_path, load_untrusted_json
from lib.common.redact import MASK as REDACTED, redact, redact_data
from lib.common.safe_text import display_markdown
from lib.hosts.errors import ErrorKind, UserError
from lib.i18n import DEFAULT, Msg, msg, text as _text
from lib.tool_calling.llama_prompt import ToolCall
from lib.tool_calling.loop import ToolStep, Turn
from lib.tools.base import ToolResult
from lib.vision import conversation as vs
from lib.vision.images import ImageRejected

SCHEMA = "llama-herd-studio/transcript"
VERSION = 1
KINDS = ("tools", "vision")
MAX_JSON_BYTES = 5_000_000
MAX_JSON_ITEMS = 1_000_000
"""Values (objects, lists, texts, numbers, keys) an imported transcript may hold, counted before it is parsed (see
lib/common/jsonfile.py): ~100 MB at most once parsed. A 500-turn tool transcript holds ~130,000; 5 MB of `{},` 3.3 million."""
MAX_TEXT_CHARS = 100_000
"""Longest text read from an imported transcript (a question, an answer, a tool result, a message...). The app's
own are far shorter: an answer stops at max_tokens (1,024 tokens, ~5,000 characters), a tool result at 4,000
characters, a model reply read for tool calls at 50,000; a 4.9 MB answer made the browser tab unusable."""
MAX_NAME_CHARS = 1_000
"""Longest tool name in an imported transcript (a name read from the model's text is at most 128 characters)."""
CALL_FORMS = ("builtin", "json", "function_tag", "pythonic", "code")  # how a model wrote a call (lib.tool_calling.llama_prompt)
MAX_TURNS = 500
MAX_STEPS_PER_TURN = 50
MAX_THUMBNAIL_BYTES = 15_000  # the JPEG; about 20 KB once base64-encoded
THUMBNAIL_SIDES = (240, 200, 160, 128, 96, 64)


SHOWN_TURNS = 10
"""Turns a page draws by default; earlier ones wait behind a "Show N earlier turns" button. The browser redraws
every drawn element on each run, even a fragment's (30 drawn turns made a tool-checkbox click up to 2.6x slower),
and a demo looks at the latest turns; the exports always have every turn."""


def hidden_turns(count: int, show_all: bool = False, shown: int = SHOWN_TURNS) -> int:
    """How many of a conversation's first turns are left undrawn: all but the latest `shown`, none if `show_all`."""
    return 0 if show_all or count <= shown else count - shown


class TranscriptError(ValueError):
    """A transcript that cannot be read; the message says why in words a person understands: `str()` in English,
    `reason` the same as a `Msg` (`answers.refused.*`) to show in the page's language (`say(lang, reason)`)."""

    def __init__(self, reason: "Msg | str") -> None:
        super().__init__(str(reason))
        self.reason: Msg | str = reason


# Export ----------------------------------------------------------------------------------------------------------


def _now(exported_at: dt.datetime | None) -> str:
    when = exported_at or dt.datetime.now(dt.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    """A JSON-able copy (unknown objects become their string)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def _error_dict(error: Any) -> dict[str, Any] | None:
    if error is None:
        return None
    kind = getattr(error, "kind", "unknown")
    out = {
        "kind": str(getattr(kind, "value", kind)),
        "title": str(getattr(error, "title", "") or ""),
        "message": str(getattr(error, "message", "") or ""),
        "detail": str(getattr(error, "detail", "") or ""),
        "status": getattr(error, "status", None),
        "code": getattr(error, "code", None),
        "retry_after_s": getattr(error, "retry_after_s", None),
    }
    says = error.says_json() if isinstance(error, UserError) else None
    if says is not None:  # the title and message as catalogue texts: a reload shows them in the page's language
        out["says"] = says
    return out


def _result_dict(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "name": str(result.name),
        "arguments": _plain(dict(result.arguments or {})),
        "content": str(result.content),
        "source": str(result.source),
        "ok": bool(result.ok),
        "elapsed_s": float(result.elapsed_s or 0.0),
        "fallback": bool(result.fallback),
        "url": result.url,
    }


def _turn_dict(turn: Any) -> dict[str, Any]:
    return {
        "question": turn.question,
        "model": turn.model,
        "provider": str(getattr(turn, "provider", "") or ""),
        "endpoint": turn.endpoint,
        "tool_format": str(getattr(turn, "tool_format", "") or ""),
        "steps": [
            {
                "raw_output": step.raw_output,
                "call": {"name": step.call.name, "arguments": _plain(dict(step.call.arguments)),
                         "form": getattr(step.call, "form", "json")},
                "call_id": step.call_id,
                "result": _result_dict(step.result),
            }
            for step in turn.steps
        ],
        "answer": turn.answer,
        "answer_raw": turn.answer_raw,
        "error": _error_dict(turn.error),
        "capped": bool(turn.capped),
        "stopped": bool(getattr(turn, "stopped", False)),
        "cut": bool(getattr(turn, "cut", False)),
        "served_model": str(getattr(turn, "served_model", "") or ""),
        "template_kwargs": _plain(dict(getattr(turn, "template_kwargs", {}) or {})),
        "return_mode": turn.return_mode,
        "notes": list(turn.notes),
        "notes_said": {n: m.to_json() for n, m in (getattr(turn, "note_msgs", None) or {}).items() if n in turn.notes},
        "timings": {"elapsed_s": float(turn.elapsed_s or 0.0)},
        "usage": {"requests": int(turn.requests or 0), "tokens": int(turn.tokens or 0)},
        "messages_sent": _plain(list(turn.messages_sent)),
    }


def tool_transcript(
    turns: Sequence["Turn"],
    *,
    provider: str,
    model: str,
    exported_at: dt.datetime | None = None,
    secrets: Sequence[str] = (),
) -> dict[str, Any]:
    """The tool page's conversation as a JSON-able dict (every step, result, error, timing; secrets redacted).

    Only the last turn keeps `messages_sent` (its request already holds the whole conversation as sent; storing
    every turn's would grow with the square of the conversation).

    >>> d = tool_transcript([], provider="ollama", model="llama3.1:405b")
    >>> d["kind"], d["version"], d["turns"]
    ('tools', 1, [])
    """
    dicts = [_turn_dict(t) for t in turns]
    for d in dicts[:-1]:
        d["messages_sent"] = []
    data = {
        "schema": SCHEMA,
        "version": VERSION,
        "kind": "tools",
        "exported_at": _now(exported_at),
        "provider": provider,
        "model": model,
        "turns": dicts,
    }
    return redact_data(data, secrets)


def thumbnail_data_url(image: bytes | None) -> str | None:
    """A `data:image/jpeg;base64,…` URL of at most MAX_THUMBNAIL_BYTES, shrinking the image if needed.

    Returns None for no image or bytes Pillow cannot read.
    """
    if not image:
        return None
    data = bytes(image)
    if len(data) > MAX_THUMBNAIL_BYTES or not data.startswith(b"\xff\xd8\xff"):
        data = _shrink(data) or b""
    if not data:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def _shrink(data: bytes) -> bytes | None:
    try:
        from PIL import Image, ImageOps

        with Image.open(io.BytesIO(data)) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            for side in THUMBNAIL_SIDES:
                for quality in (80, 60, 45):
                    small = img.copy()
                    small.thumbnail((side, side))
                    out = io.BytesIO()
                    small.save(out, "JPEG", quality=quality)
                    if out.tell() <= MAX_THUMBNAIL_BYTES:
                        return out.getvalue()
    except Exception:  # noqa: BLE001 - an unreadable picture just means no thumbnail
        return None
    return None


def vision_transcript(
    turns: Sequence[tuple[str, str]],
    meta: Mapping[int, str],
    *,
    provider: str,
    model: str,
    image_name: str,
    image_thumbnail_jpeg: bytes | None,
    exported_at: dt.datetime | None = None,
    secrets: Sequence[str] = (),
) -> dict[str, Any]:
    """The vision page's conversation (`ss["vision_turns"]`, `ss["vision_meta"]`) with a small thumbnail.

    >>> d = vision_transcript([("user", "What is this?"), ("assistant", "A cat.")], {1: "1.2 s"},
    ...                       provider="nvidia", model="llama-3.2-90b", image_name="cat.jpg",
    ...                       image_thumbnail_jpeg=None)
    >>> d["turns"][1]
    {'role': 'assistant', 'text': 'A cat.', 'meta': '1.2 s'}
    """
    data = {
        "schema": SCHEMA,
        "version": VERSION,
        "kind": "vision",
        "exported_at": _now(exported_at),
        "provider": provider,
        "model": model,
        "image": {"name": image_name, "thumbnail": thumbnail_data_url(image_thumbnail_jpeg)},
        "turns": [
            {"role": str(role), "text": str(text), "meta": str(meta[i]) if i in meta else None}
            for i, (role, text) in enumerate(turns)
        ],
    }
    return redact_data(data, secrets)


def to_json(transcript: Mapping[str, Any], secrets: Sequence[str] = ()) -> str:
    """The transcript as indented JSON text (redacted again, so a dict built elsewhere is safe too)."""
    return json.dumps(redact_data(transcript, secrets), ensure_ascii=False, indent=2, allow_nan=False)


# Markdown --------------------------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}()<>#+!|~])")


def _inline(text: Any) -> str:
    """One line of plain text, Markdown specials escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text or "").split()))


def _fence(text: str, lang: str = "text") -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip(chr(10))}\n{fence}"


def _code_span(text: str) -> str:
    text = " ".join(text.split())
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _prose(text: str) -> str:
    """Untrusted multi-line text as Markdown, with Markdown images neutralised (no remote fetches)."""
    return display_markdown(text)


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in _prose(text).splitlines() or [""])


def call_line(name: str, arguments: Mapping[str, Any]) -> str:
    """`brave_search(query="Stockholm weather")` for a call.

    >>> call_line("brave_search", {"query": "Stockholm weather"})
    'brave_search(query="Stockholm weather")'
    """
    args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())
    return f"{name}({args})"


def _who(model: str, provider: str, lang: str = DEFAULT) -> str:
    parts = [_text(lang, "answers.markdown.who_model", model=_code_span(model)) if model else "",
             _text(lang, "answers.markdown.who_provider", provider=_inline(provider)) if provider else ""]
    return " · ".join(p for p in parts if p) or _text(lang, "answers.markdown.model_not_recorded")


def _tools_markdown(d: Mapping[str, Any], lang: str = DEFAULT) -> list[str]:
    def say(key: str, **values: Any) -> str:
        return _text(lang, f"answers.markdown.{key}", **values)

    lines: list[str] = []
    for n, turn in enumerate(d["turns"], 1):
        model = turn.get("model") or d.get("model") or ""
        provider = turn.get("provider") or d.get("provider") or ""
        usage, timings = turn.get("usage") or {}, turn.get("timings") or {}
        lines += ["", "---", "", f"## {say('turn', n=n)}", "", _quote(turn.get("question", "")), ""]
        requests, tokens = int(usage.get("requests") or 0), int(usage.get("tokens") or 0)
        facts = [_who(model, provider, lang), say("seconds", seconds=f"{float(timings.get('elapsed_s') or 0):.1f}"),
                 say("request_one" if requests == 1 else "request_many", count=requests)]
        if tokens:
            facts.append(say("tokens", tokens=f"{tokens:,}"))
        lines += ["*" + " · ".join(facts) + "*", ""]
        for i, step in enumerate(turn.get("steps") or [], 1):
            call = step.get("call") or {}
            line = _code_span(call_line(call.get("name", ""), call.get("arguments") or {}))
            lines += [f"### {say('step', n=i, call=line)}", ""]
            lines += [say("model_output"), "", _fence(step.get("raw_output", "")), ""]
            result = step.get("result")
            if result is None:
                lines += [f"*{say('not_run')}*", ""]
                continue
            head = say("result", status=say("ok" if result.get("ok") else "error"),
                       source=_inline(result.get("source")), seconds=f"{float(result.get('elapsed_s') or 0):.2f}",
                       fallback=say("fallback") if result.get("fallback") else "")
            lines += [head, "", _fence(result.get("content", "")), ""]
            if result.get("url"):
                lines += [say("source", url=_code_span(str(result["url"]))), ""]
        if turn.get("answer"):
            lines += [f"### {say('answer')}", "", _prose(turn["answer"]), ""]
        error = turn.get("error")
        if error:
            lines += [f"**{say('error_line', title=_inline(error.get('title')))}** {_inline(error.get('message'))}"]
            if error.get("detail"):
                lines += ["", _fence(error["detail"])]
            lines += [""]
        for note in turn.get("notes") or []:
            lines += [f"> {say('note', note=_inline(note))}"]
    return lines


def _vision_markdown(d: Mapping[str, Any], lang: str = DEFAULT) -> list[str]:
    def say(key: str, **values: Any) -> str:
        return _text(lang, f"answers.markdown.{key}", **values)

    image = d.get("image") or {}
    lines = [""]
    if image.get("thumbnail"):
        lines += [f"![{say('photo')}]({image['thumbnail']})", ""]
    if image.get("name"):
        lines += [f"*{say('image', name=_inline(image['name']))}*", ""]
    for turn in d["turns"]:
        if turn.get("role") == "user":
            lines += ["", f"**{say('you')}**", "", _quote(turn.get("text", "")), ""]
            if turn.get("meta"):  # a question about one region of the photo says which
                lines += [f"*{_inline(turn['meta'])}*", ""]
        else:
            lines += [f"**{say('llama_name')}**", "", _prose(turn.get("text", "")), ""]
            if turn.get("meta"):
                lines += [f"*{_inline(turn['meta'])}*", ""]
    return lines


def to_markdown(transcript: Mapping[str, Any], secrets: Sequence[str] = (), lang: str = DEFAULT) -> str:
    """A readable Markdown document of a transcript (either kind), its headings and labels in `lang`.

    >>> md = to_markdown(tool_transcript([], provider="ollama", model="llama3.1"))
    >>> md.splitlines()[0]
    '# Llama Herd Studio: tool calling transcript'
    """
    def say(key: str, **values: Any) -> str:
        return _text(lang, f"answers.markdown.{key}", **values)

    d = _validated(redact_data(transcript, secrets))
    lines = [
        f"# {say('title_tools' if d['kind'] == 'tools' else 'title_vision')}",
        "",
        f"- **{say('model')}:** {_code_span(d['model']) if d['model'] else say('not_recorded')}",
        f"- **{say('provider')}:** {_inline(d['provider']) or say('not_recorded')}",
        f"- **{say('exported')}:** {_inline(d['exported_at'])}",
        f"- **{say('turns')}:** {len(d['turns'])}",
    ]
    lines += _tools_markdown(d, lang) if d["kind"] == "tools" else _vision_markdown(d, lang)
    return redact("\n".join(lines).rstrip() + "\n", secrets)


# Import ----------------------------------------------------------------------------------------------------------


def _fail(message: "Msg | str") -> TranscriptError:
    return TranscriptError(message)


def _refused(key: str, /, **values: Any) -> TranscriptError:
    """A refusal in words (`answers.refused.<key>`); `where` and `what` values are `Msg`s too (`_where`)."""
    return _fail(msg(f"answers.refused.{key}", **values))


def _where(key: str, /, **values: Any) -> Msg:
    """A place in a transcript, in words: `_where("turn", n=3)` is "turn 3" (`answers.where.<key>`)."""
    return msg(f"answers.where.{key}", **values)



def _get(obj: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: Msg | str, default: Any = ...) -> Any:
    if key not in obj or obj[key] is None:
        if default is ...:
            raise _refused("incomplete", where=where, key=key)
        return default
    value = obj[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise _refused("wrong_type", key=key, where=where)
    if not isinstance(value, types):
        raise _refused("wrong_type", key=key, where=where)
    return value


MAX_NUMBER = 1e15  # a count, a duration or a date larger than this is not one (and could not become a float)


def _finite(value: Any) -> bool:
    """A number that is a usable float: not NaN/Infinity, not an integer too large to convert."""
    return (isinstance(value, int) and -MAX_NUMBER <= value <= MAX_NUMBER) or \
        (isinstance(value, float) and math.isfinite(value))


def _num(obj: Mapping[str, Any], key: str, where: Msg | str) -> float:
    value = _get(obj, key, (int, float), where, 0.0)
    if not _finite(value) or not 0 <= value <= MAX_NUMBER:
        raise _refused("bad_number", key=key, where=where)
    return float(value)


def _json_like(value: Any, where: Msg | str, depth: int = 0) -> Any:
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if depth >= 500:  # a sentence instead of a RecursionError (an imported file never nests over 64: lib/jsonfile)
        raise _refused("nested", where=where)
    if isinstance(value, list):
        return [_json_like(v, where, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_like(v, where, depth + 1) for k, v in value.items()}
    raise _refused("not_json", where=where)


def _small_json(value: dict[str, Any], what: Msg | str, where: Msg | str) -> dict[str, Any]:
    """`value` (arguments of a tool call, template fields) if its JSON text is at most MAX_TEXT_CHARS characters."""
    clean = _json_like(value, where)
    try:
        size = len(json.dumps(clean, ensure_ascii=False, allow_nan=False))
    except ValueError:  # NaN/Infinity put in by a caller (a file can't hold them)
        raise _refused("not_a_number", what=what, where=where) from None
    if size > MAX_TEXT_CHARS:
        raise _refused("json_too_long", what=what, where=where, size=f"{size:,}", limit=f"{MAX_TEXT_CHARS:,}")
    return clean


def _check_thumbnail(url: Any) -> str | None:
    if url is None or url == REDACTED:  # no image, or one dropped because a secret happened to match it
        return None
    match = re.fullmatch(r"data:image/jpeg;base64,([A-Za-z0-9+/]+={0,2})", url) if isinstance(url, str) else None
    if not match:
        raise _refused("thumbnail_not_jpeg")
    try:
        raw = base64.b64decode(match.group(1), validate=True)
    except (binascii.Error, ValueError):
        raise _refused("thumbnail_base64") from None
    if len(raw) > MAX_THUMBNAIL_BYTES * 2 or not raw.startswith(b"\xff\xd8\xff"):
        raise _refused("thumbnail_too_large")
    return url


def _clean_error(e: Any, where: Msg | str, untrusted: bool = False) -> dict[str, Any] | None:
    """The error of a turn, checked. Its `says` (the title and message as catalogue texts) is kept from this app's
    own session store only: an imported file's error shows its own title and message, as written."""
    if e is None:
        return None
    if not isinstance(e, dict):
        raise _refused("error_not_object", where=where)
    status = _get(e, "status", int, where, None)
    if status is not None and not 0 <= status <= 999:
        raise _refused("bad_status", where=where, status=str(status)[:10])
    retry = _get(e, "retry_after_s", (int, float), where, None)
    return {
        "kind": _get(e, "kind", str, where, "unknown"),
        "title": _get(e, "title", str, where, ""),
        "message": _get(e, "message", str, where, ""),
        "detail": _get(e, "detail", str, where, ""),
        "status": status,
        "code": _get(e, "code", str, where, None),
        "retry_after_s": float(retry) if retry is not None and _finite(retry) and retry >= 0 else None,
        "says": None if untrusted or UserError.says_from_json(e.get("says")) is None else e["says"],
    }


def _notes_said(value: Any, notes: Sequence[str]) -> dict[str, Msg]:
    """The `Msg` of each note the app made (`Turn.note_msgs`), read back: only ones whose English is the note's."""
    out: dict[str, Msg] = {}
    if isinstance(value, Mapping):
        for english, data in value.items():
            said = Msg.from_json(data)
            if english in notes and said is not None and str(said) == english:
                out[english] = said
    return out


def _tool_name(obj: Mapping[str, Any], where: Msg | str, untrusted: bool, default: Any = ...) -> str:
    name = _get(obj, "name", str, where, default)
    if untrusted and len(name) > MAX_NAME_CHARS:
        raise _refused("long_tool_name", where=where, length=f"{len(name):,}", limit=f"{MAX_NAME_CHARS:,}")
    return name


def _arguments(obj: Mapping[str, Any], where: Msg | str, untrusted: bool) -> dict[str, Any]:
    args = _get(obj, "arguments", dict, where, {})
    if not untrusted:
        return _json_like(args, where)
    return _small_json(args, _where("arguments"), where)


def _clean_step(s: Any, where: Msg | str, untrusted: bool = False) -> dict[str, Any]:
    if not isinstance(s, dict):
        raise _refused("item_not_object", where=where)
    call = _get(s, "call", dict, where)
    result = _get(s, "result", dict, where, None)
    form = _get(call, "form", str, where, "json")
    if untrusted and form not in CALL_FORMS:
        raise _refused("unknown_form", where=where, form=form[:20])
    clean_result = None
    if result is not None:
        rw = _where("result", where=where)
        clean_result = {
            "name": _tool_name(result, rw, untrusted, _tool_name(call, where, untrusted)),
            "arguments": _arguments(result, rw, untrusted),
            "content": _get(result, "content", str, rw),
            "source": _get(result, "source", str, rw, ""),
            "ok": _get(result, "ok", bool, rw, False),
            "elapsed_s": _num(result, "elapsed_s", rw),
            "fallback": _get(result, "fallback", bool, rw, False),
            "url": _get(result, "url", str, rw, None),
        }
    return {
        "raw_output": _get(s, "raw_output", str, where, ""),
        "call": {"name": _tool_name(call, where, untrusted), "arguments": _arguments(call, where, untrusted),
                 "form": form},
        "call_id": _get(s, "call_id", str, where, ""),
        "result": clean_result,
    }


def _clean_tool_turn(t: Any, n: int, untrusted: bool = False) -> dict[str, Any]:
    where = _where("turn", n=n)
    if not isinstance(t, dict):
        raise _refused("item_not_object", where=where)
    steps = _get(t, "steps", list, where, [])
    if len(steps) > MAX_STEPS_PER_TURN:
        raise _refused("too_many_steps", where=where, count=len(steps), limit=MAX_STEPS_PER_TURN)
    notes = _get(t, "notes", list, where, [])
    if not all(isinstance(x, str) for x in notes):
        raise _refused("notes_not_text", where=where)
    messages = _get(t, "messages_sent", list, where, [])
    if not all(isinstance(m, dict) for m in messages):
        raise _refused("messages_not_objects", where=where)
    timings = _get(t, "timings", dict, where, {})
    usage = _get(t, "usage", dict, where, {})
    template = _get(t, "template_kwargs", dict, where, {})
    return {
        "question": _get(t, "question", str, where),
        "model": _get(t, "model", str, where, ""),
        "provider": _get(t, "provider", str, where, ""),
        "endpoint": _get(t, "endpoint", str, where, ""),
        "tool_format": _get(t, "tool_format", str, where, ""),
        "steps": [_clean_step(s, _where("step", n=i, where=where), untrusted) for i, s in enumerate(steps, 1)],
        "answer": _get(t, "answer", str, where, ""),
        "answer_raw": _get(t, "answer_raw", str, where, ""),
        "error": _clean_error(t.get("error"), where, untrusted),
        "capped": _get(t, "capped", bool, where, False),
        "stopped": _get(t, "stopped", bool, where, False),
        "cut": _get(t, "cut", bool, where, False),
        "served_model": _get(t, "served_model", str, where, ""),
        "template_kwargs": _small_json(template, _where("template"), where) if untrusted
        else _json_like(template, where),
        "return_mode": _get(t, "return_mode", str, where, None),
        "notes": list(notes),
        # The app's own notes in any language, on its own reload only (an imported file's notes show as written).
        "notes_said": {} if untrusted else _notes_said(t.get("notes_said"), notes),
        "timings": {"elapsed_s": _num(timings, "elapsed_s", where)},
        "usage": {"requests": int(_num(usage, "requests", where)), "tokens": int(_num(usage, "tokens", where))},
        "messages_sent": _json_like(messages, where),
    }


def _clean_vision_turn(t: Any, n: int) -> dict[str, Any]:
    where = _where("turn", n=n)
    if not isinstance(t, dict):
        raise _refused("item_not_object", where=where)
    role = _get(t, "role", str, where)
    if role not in ("user", "assistant"):
        raise _refused("unknown_role", where=where, role=role[:20])
    return {"role": role, "text": _get(t, "text", str, where), "meta": _get(t, "meta", str, where, None)}


def _validated(d: Any, kind: str | None = None, *, untrusted: bool = False) -> dict[str, Any]:
    """A clean copy of transcript `d`, or TranscriptError. `untrusted` (a file brought in) also checks what the app
    itself always gets right (tool names, call forms, size of arguments): an export must never fail on those."""
    if not isinstance(d, dict):
        raise _refused("not_object")
    if d.get("schema") != SCHEMA:
        raise _refused("no_schema")
    version = d.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= 1_000:
        raise _refused("no_version")
    if version > VERSION:
        raise _refused("newer", version=version, supported=VERSION)
    found = d.get("kind")
    if found not in KINDS:
        raise _refused("unknown_kind")
    if kind is not None and found != kind:
        raise _refused("on_tools_page" if found == "tools" else "on_vision_page")
    whole = _where("transcript")
    turns = _get(d, "turns", list, whole)
    if len(turns) > MAX_TURNS:
        raise _refused("too_many_turns", count=len(turns), limit=MAX_TURNS)
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "version": VERSION,
        "kind": found,
        "exported_at": _get(d, "exported_at", str, whole, ""),
        "provider": _get(d, "provider", str, whole, ""),
        "model": _get(d, "model", str, whole, ""),
    }
    if found == "tools":
        out["turns"] = [_clean_tool_turn(t, n, untrusted) for n, t in enumerate(turns, 1)]
    else:
        image = _get(d, "image", dict, whole, {})
        out["image"] = {"name": _get(image, "name", str, _where("image"), ""),
                        "thumbnail": _check_thumbnail(image.get("thumbnail"))}
        out["turns"] = [_clean_vision_turn(t, n) for n, t in enumerate(turns, 1)]
    return out


def from_json(text: str | bytes, *, kind: str | None = None) -> dict[str, Any]:
    """Read and check a transcript; returns a clean dict (unknown keys dropped) or raises TranscriptError.

    `kind` ("tools" or "vision") also requires that kind.

    >>> from_json(to_json(tool_transcript([], provider="ollama", model="m")), kind="tools")["model"]
    'm'
    """
    data = load_untrusted_json(text, max_bytes=MAX_JSON_BYTES, what=msg("files.what.transcript"), error=_fail,
                               max_items=MAX_JSON_ITEMS, max_text_chars=MAX_TEXT_CHARS, place=_place)
    return _validated(data, kind, untrusted=True)


def _place(path: Sequence[str | int]) -> "Msg":
    """Where in a transcript a value is, in words: "“answer” in turn 3"."""
    return describe_path(path, {"turns": "turn", "steps": "step", "messages_sent": "message"})


def tool_turns_from_transcript(d: Mapping[str, Any]) -> list["Turn"]:
    """Turn/ToolStep/ToolCall/ToolResult objects from a tool transcript, so a page can show it again.

    >>> tool_turns_from_transcript(tool_transcript([], provider="p", model="m"))
    []
    """
    clean = _validated(dict(d), "tools")
    turn_fields = {f.name for f in dataclasses.fields(Turn)}
    turns: list[Turn] = []
    for t in clean["turns"]:
        steps = []
        for s in t["steps"]:
            r = s["result"]
            result = None if r is None else ToolResult(
                r["name"], r["arguments"], r["content"], r["ok"], r["source"], r["fallback"], r["elapsed_s"], r["url"])
            step = ToolStep(raw_output=s["raw_output"], call=ToolCall(**s["call"]), result=result)
            if s["call_id"]:
                step.call_id = s["call_id"]
            steps.append(step)
        e = t["error"]
        error = None
        if e is not None:
            try:
                kind = ErrorKind(e["kind"])
            except ValueError:
                kind = ErrorKind.UNKNOWN
            error = UserError(kind, e["title"], e["message"], e["retry_after_s"], e["status"], e["code"], e["detail"],
                              says=UserError.says_from_json(e.get("says")))
        values: dict[str, Any] = {
            "question": t["question"], "steps": steps, "answer": t["answer"], "answer_raw": t["answer_raw"],
            "error": error, "capped": t["capped"], "return_mode": t["return_mode"], "notes": t["notes"],
            "note_msgs": t.get("notes_said") or {},
            "stopped": t["stopped"], "cut": t["cut"], "served_model": t["served_model"],
            "template_kwargs": t["template_kwargs"],
            "messages_sent": t["messages_sent"], "model": t["model"], "endpoint": t["endpoint"],
            "elapsed_s": t["timings"]["elapsed_s"], "requests": t["usage"]["requests"],
            "tokens": t["usage"]["tokens"], "provider": t["provider"],
        }
        if t["tool_format"]:
            values["tool_format"] = t["tool_format"]
        turn = Turn(**{k: v for k, v in values.items() if k in turn_fields})
        if "provider" not in turn_fields and t["provider"]:
            try:
                setattr(turn, "provider", t["provider"])
            except (AttributeError, TypeError):  # a slotted/frozen Turn: the provider stays in the transcript
                pass
        turns.append(turn)
    return turns


def vision_turns_from_transcript(
    d: Mapping[str, Any],
) -> tuple[list[tuple[str, str]], dict[int, str], bytes | None]:
    """(turns, meta, thumbnail JPEG bytes or None) from a vision transcript, shaped like the vision page's state.

    >>> vision_turns_from_transcript(vision_transcript([("user", "Hi")], {}, provider="p", model="m",
    ...                                                image_name="x.jpg", image_thumbnail_jpeg=None))
    ([('user', 'Hi')], {}, None)
    """
    clean = _validated(dict(d), "vision")
    turns = [(t["role"], t["text"]) for t in clean["turns"]]
    meta = {i: t["meta"] for i, t in enumerate(clean["turns"]) if t["meta"] is not None}
    thumb = clean["image"]["thumbnail"]
    raw = base64.b64decode(thumb.split(",", 1)[1]) if thumb else None
    return turns, meta, raw


# The vision page's conversation, saved and brought back ---------------------------------------------------------


def vision_transcript_files(ss: Mapping[str, Any], *, model: str, provider: str,
                            secrets: Sequence[str], lang: str = DEFAULT) -> tuple[str, str]:
    """(Markdown, JSON) of the conversation, secrets redacted; names the model and provider that last answered
    (`model`/`provider` when nothing has answered yet). The image travels as a small thumbnail. The Markdown's
    headings and labels are in `lang`."""
    answered = ss.get(vs.ANSWERED) or {}
    image: vs.CurrentImage | None = ss.get(vs.IMAGE)
    data = vision_transcript(
        ss.get(vs.TURNS) or [], ss.get(vs.META) or {}, provider=str(answered.get("provider") or provider),
        model=str(answered.get("model") or model), image_name=image.name if image else "",
        image_thumbnail_jpeg=image.master.data if image else None, secrets=secrets,
    )
    return to_markdown(data, secrets, lang=lang), to_json(data, secrets)


def import_vision_transcript(ss: MutableMapping[str, Any], raw: bytes) -> int:
    """Show a saved vision transcript again; returns the number of turns. Raises `TranscriptError` with a reason a
    person understands. The transcript carries only a small thumbnail, which becomes the current image."""
    data = from_json(raw, kind="vision")
    turns, meta, thumbnail = vision_turns_from_transcript(data)
    image = None
    if thumbnail:
        name = data["image"]["name"] or "transcript image"
        try:
            image = vs.image_from_bytes("transcript:" + hashlib.sha256(thumbnail).hexdigest()[:16], name, thumbnail,
                                        "transcript")
        except ImageRejected:
            image = None
    ss[vs.IMAGE], ss[vs.TURNS], ss[vs.META], ss[vs.FAILED], ss[vs.PENDING] = image, turns, meta, None, None
    ss[vs.ANSWERED] = {"model": data["model"], "provider": data["provider"]} if data["model"] else None
    return len(turns)
