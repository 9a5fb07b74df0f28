"""Llama 3.1 native tool calling: system prompt, custom-tool instructions, call parsing, raw-token rendering.

Formats follow meta-llama/llama-models (models/llama3_1/prompt_format.md, models/llama3/tool_utils.py,
models/llama3/chat_format.py, models/llama3/prompt_templates/system_prompts.py). The parser is stricter than
Meta's regexes: it reads escaped quotes, apostrophes and nested JSON, and it never evaluates model output
(``ast`` is only parsed, values go through ``ast.literal_eval``; JSON through ``json``).

Example::

    >>> parse_tool_call('<|python_tag|>brave_search.call(query="Stockholm weather")<|eom_id|>')
    ToolCall(name='brave_search', arguments={'query': 'Stockholm weather'}, form='builtin')

Llama 4 (and Llama 3.2/3.3 zero-shot) may ask for several functions at once as a pythonic list;
``parse_tool_calls`` returns all of them (``parse_tool_call`` only the first)::

    >>> [c.name for c in parse_tool_calls('[get_weather(city="Seoul"), get_local_time(city_or_timezone="Seoul")]')]
    ['get_weather', 'get_local_time']
"""

from __future__ import annotations

import ast
import datetime
import json
import keyword
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "KNOWLEDGE_CUTOFF",
    "BUILTIN_TOOLS",
    "ToolCall",
    "parse_tool_call",
    "parse_tool_calls",
    "build_system_prompt",
    "format_today",
    "custom_tools_message",
    "call_text",
    "calls_text",
    "render_raw_prompt",
    "strip_special_tokens",
    "may_be_tool_call",
]

KNOWLEDGE_CUTOFF = "December 2023"
#: Tools Llama 3.1 was trained to call as ``name.call(query="...")``.
BUILTIN_TOOLS = ("brave_search", "wolfram_alpha", "photogen")
CODE_INTERPRETER = "code_interpreter"

FORMS = ("builtin", "json", "function_tag", "pythonic", "code")

PYTHON_TAG = "<|python_tag|>"
EOM = "<|eom_id|>"
EOT = "<|eot_id|>"
BEGIN = "<|begin_of_text|>"
IMAGE = "<|image|>"

# Work caps: model output is at most a few thousand tokens; anything far bigger is not a tool call.
MAX_INPUT_CHARS = 50_000
MAX_AST_CHARS = 20_000
MAX_JSON_ATTEMPTS = 64
MAX_CALL_SEARCHES = 16
MAX_NAME_CHARS = 128
MAX_STREAM_CALL_CHARS = 4_000
#: Calls read from one reply at most (a pythonic list ``[f(...), g(...), ...]``); the rest of a longer list is dropped.
MAX_CALLS = 8

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)

_SPECIAL_TOKEN_NAMES = (
    "begin_of_text", "end_of_text", "start_header_id", "end_header_id", "eot_id", "eom_id",
    "python_tag", "image", "finetune_right_pad_id", "step_id", r"reserved_special_token_\d+",
)
_HEADER_RE = re.compile(r"<\|start_header_id\|>[^<]{0,64}?<\|end_header_id\|>(?:\n\n?)?")
_TOKEN_RE = re.compile(r"<\|(?:" + "|".join(_SPECIAL_TOKEN_NAMES) + r")\|>")
_FUNCTION_TAG_RE = re.compile(r"<function=([A-Za-z_][A-Za-z0-9_]{0,127})>")
_BUILTIN_CALL_RE = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]{0,127})\.call\(")
_DOTTED_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class ToolCall:
    """One tool call read from model output.

    ``form`` says how the model wrote it: "builtin" (``x.call(...)``), "json", "function_tag"
    (``<function=...>``), "pythonic" (``[f(a=1)]``) or "code" (code interpreter).
    """

    name: str
    arguments: dict = field(default_factory=dict)
    form: str = "json"


# ---------------------------------------------------------------------------------------------- parsing


def parse_tool_call(text: str) -> ToolCall | None:
    """Return the tool call written in ``text``, or None for prose, empty or malformed input.

    For a pythonic list of calls this is the first one (``parse_tool_calls`` returns them all).
    Never raises and never evaluates anything.
    """
    try:
        calls = _parse(text)
    except Exception:  # RecursionError, MemoryError, ValueError, SyntaxError, ... : not a call
        return None
    return calls[0] if calls else None


def parse_tool_calls(text: str) -> list[ToolCall]:
    """Every tool call written in ``text``, in order; ``[]`` for prose, empty or malformed input.

    A pythonic list ``[get_weather(city="Seoul"), get_local_time(city_or_timezone="Seoul")]`` gives each of its
    calls, at most ``MAX_CALLS`` (the rest of a longer list is dropped). Every call's arguments must be literals
    (``ast.literal_eval`` on the argument nodes, JSON-like values only): a call that is anything else ends the
    list there, so only the calls before it are returned. Every other form ``parse_tool_call`` reads gives a
    one-element list. The first element is always ``parse_tool_call(text)``. Never raises, never evaluates.

    >>> parse_tool_calls("[f(a=1), g(b='x')]")
    [ToolCall(name='f', arguments={'a': 1}, form='pythonic'), ToolCall(name='g', arguments={'b': 'x'}, form='pythonic')]
    >>> parse_tool_calls("It is sunny.")
    []
    """
    try:
        return _parse(text)
    except Exception:  # RecursionError, MemoryError, ValueError, SyntaxError, ... : not a call
        return []


def _parse(text: str) -> list[ToolCall]:
    if not isinstance(text, str) or len(text) > MAX_INPUT_CHARS:
        return []
    for tagged, body in _bodies(text):
        calls = _parse_body(tagged, body)
        if calls:
            return calls[:MAX_CALLS]
    return []


def _one(call: ToolCall | None) -> list[ToolCall]:
    return [] if call is None else [call]


def _parse_body(tagged: bool, body: str) -> list[ToolCall]:
    if not body:
        return []
    call = _parse_function_tag(body)
    if call is not None:
        return [call]
    calls = _parse_whole_expression(body)
    if calls:
        return calls
    if body[0] in "{[":
        call = _parse_json_at_start(body)
        if call is not None:
            return [call]
    if not tagged:
        # Untagged text may carry a JSON call or a built-in call inside prose.
        return _one(_search_json(body) or _search_builtin(body))
    if not _is_python(body):  # <|python_tag|> + prose: look for a call inside before treating it as code
        call = _search_json(body) or _search_builtin(body)
        if call is not None:
            return [call]
    return [ToolCall(CODE_INTERPRETER, {"code": body}, "code")]


def _cut_at_end_token(s: str) -> str:
    ends = [j for j in (s.find(EOM), s.find(EOT)) if j >= 0]
    return s[: min(ends)] if ends else s


def _bodies(text: str) -> list[tuple[bool, str]]:
    """Ways to read ``text`` as (had <|python_tag|>, body), most likely first.

    Like Meta's decoder: a leading header and ``<|python_tag|>`` and trailing end tokens are removed. Only if
    that reading finds no call: cut at the first end token, or take what follows a ``<|python_tag|>`` that comes
    after some prose.
    """
    s = text.strip()
    if s.startswith(BEGIN):
        s = s[len(BEGIN):]
    while True:
        m = _HEADER_RE.match(s.lstrip())
        if m is None:
            break
        s = s.lstrip()[m.end():]
    s = s.strip()
    tagged = s.startswith(PYTHON_TAG)
    if tagged:
        s = s[len(PYTHON_TAG):]
    trimmed = s.rstrip()
    while trimmed.endswith((EOM, EOT)):
        trimmed = trimmed[: -len(EOM)].rstrip()  # both tokens have the same length
    bodies = [(tagged, trimmed.strip())]
    cut = _cut_at_end_token(s).strip()
    if cut != bodies[0][1]:
        bodies.append((tagged, cut))
    i = s.find(PYTHON_TAG)
    if not tagged and i >= 0:
        bodies.append((True, _cut_at_end_token(s[i + len(PYTHON_TAG):]).strip()))
    return bodies


def _valid_name(name: object) -> bool:
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS and name.isidentifier()


def _parse_function_tag(body: str) -> ToolCall | None:
    m = _FUNCTION_TAG_RE.search(body)
    if m is None:
        return None
    rest = body[m.end():].lstrip()
    if not rest or rest.startswith("</function>"):
        return ToolCall(m.group(1), {}, "function_tag")
    args = _decode_object(rest)
    if args is None:
        return None
    return ToolCall(m.group(1), args, "function_tag")


def _decode_object(s: str) -> dict | None:
    """A JSON object at the start of ``s`` (or a Python dict literal as a fallback)."""
    if not s.startswith("{"):
        return None
    try:
        value, _ = _DECODER.raw_decode(s)
    except ValueError:
        value = None
        end = _matching_close(s, 0)
        if end is not None:
            value = _literal(s[: end + 1])
    return value if isinstance(value, dict) else None


def _parse_json_at_start(body: str) -> ToolCall | None:
    try:
        value, _ = _DECODER.raw_decode(body)
    except ValueError:
        value = None
        end = _matching_close(body, 0)
        if end is not None:
            value = _literal(body[: end + 1])  # {'name': 'x', ...} written with Python quotes
    if isinstance(value, list) and value:
        value = value[0]
    return _call_from_mapping(value)


def _search_json(body: str) -> ToolCall | None:
    """First balanced JSON object in ``body`` that describes a call."""
    pos = body.find("{")
    attempts = 0
    while pos >= 0 and attempts < MAX_JSON_ATTEMPTS:
        attempts += 1
        try:
            value, end = _DECODER.raw_decode(body, pos)
        except ValueError:
            pos = body.find("{", pos + 1)
            continue
        call = _call_from_mapping(value)
        if call is not None:
            return call
        pos = body.find("{", end)  # do not look inside an object that is not a call
    return None


def _call_from_mapping(value: object) -> ToolCall | None:
    if not isinstance(value, dict):
        return None
    name = value.get("name")
    holder: dict = value
    fn = value.get("function")
    if not _valid_name(name):
        if isinstance(fn, dict) and _valid_name(fn.get("name")):  # OpenAI-style {"function": {...}}
            name, holder = fn["name"], fn
        elif _valid_name(fn) and value.get("type") == "function":  # {"type": "function", "function": "x"}
            name = fn
        else:
            return None
    has_args = "parameters" in holder or "arguments" in holder
    if not has_args and value.get("type") != "function" and holder is value:
        return None  # {"name": "Paris", "population": ...} is data, not a call
    args = holder.get("parameters", holder.get("arguments", {}))
    if isinstance(args, str):  # arguments sent as a JSON-encoded string
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            return None
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return None
    return ToolCall(name, args, "json")


def _parse_expr(source: str) -> ast.expr | None:
    if len(source) > MAX_AST_CHARS:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = ast.parse(source, mode="eval")
    return tree.body


def _is_python(body: str) -> bool:
    if len(body) > MAX_AST_CHARS:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(body)
    except Exception:
        return False
    return True


def _parse_whole_expression(body: str) -> list[ToolCall]:
    """``x.call(...)``, ``[f(...), g(...)]`` or a lone ``f(...)`` making up the whole body.

    A list counts only when every element is a ``name(...)`` call; its calls are read in order, at most
    ``MAX_CALLS``, up to the first one whose arguments are not all literals (that one and the rest are dropped).
    """
    if not (body[0].isalpha() or body[0] in "_["):
        return []
    try:
        node = _parse_expr(body)
    except (SyntaxError, ValueError):
        return []
    if isinstance(node, ast.Call):
        call = _builtin_from_node(node)
        if call is not None:
            return [call]
        return _one(_pythonic_from_node(node))
    if isinstance(node, ast.List) and node.elts:
        if all(isinstance(e, ast.Call) and isinstance(e.func, ast.Name) for e in node.elts):
            calls: list[ToolCall] = []
            for element in node.elts[:MAX_CALLS]:
                call = _pythonic_from_node(element)
                if call is None:
                    break
                calls.append(call)
            return calls
    return []


def _builtin_from_node(node: ast.Call) -> ToolCall | None:
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr == "call" and isinstance(func.value, ast.Name)):
        return None
    name = func.value.id
    if node.args:
        if len(node.args) != 1 or node.keywords:
            return None
        value = _literal_node(node.args[0])  # brave_search.call("x") -> query
        return None if value is _BAD else ToolCall(name, {"query": value}, "builtin")
    args = _keywords(node)
    return None if args is None else ToolCall(name, args, "builtin")


def _pythonic_from_node(node: ast.Call) -> ToolCall | None:
    if not isinstance(node.func, ast.Name) or node.args:
        return None
    args = _keywords(node)
    return None if args is None else ToolCall(node.func.id, args, "pythonic")


_BAD = object()


def _keywords(node: ast.Call) -> dict | None:
    args: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:  # **kwargs
            return None
        value = _literal_node(kw.value)
        if value is _BAD:
            return None
        args[kw.arg] = value
    return args


def _literal_node(node: ast.AST) -> Any:
    try:
        value = ast.literal_eval(node)
    except Exception:
        return _BAD
    return _jsonish(value)


def _literal(source: str) -> Any:
    """A Python literal from source text, JSON-like values only; None when it is anything else."""
    try:
        node = _parse_expr(source)
    except (SyntaxError, ValueError):
        return None
    if node is None:
        return None
    value = _literal_node(node)
    return None if value is _BAD else value


def _jsonish(value: Any, depth: int = 0) -> Any:
    """Keep JSON-like values (tuples become lists); anything else (sets, bytes, complex) is _BAD."""
    if depth > 100:
        return _BAD
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else _BAD
    if isinstance(value, (list, tuple)):
        out = [_jsonish(v, depth + 1) for v in value]
        return _BAD if any(v is _BAD for v in out) else out
    if isinstance(value, dict):
        result = {}
        for k, v in value.items():
            jv = _jsonish(v, depth + 1)
            if not isinstance(k, str) or jv is _BAD:
                return _BAD
            result[k] = jv
        return result
    return _BAD


def _matching_close(s: str, start: int, limit: int = MAX_AST_CHARS) -> int | None:
    """Index of the bracket closing the one at ``s[start]``, skipping quoted strings; None if unbalanced."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack: list[str] = []
    quote = ""
    i = start
    end = min(len(s), start + limit)
    while i < end:
        c = s[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in pairs:
            stack.append(pairs[c])
        elif c in ")]}":
            if not stack or stack.pop() != c:
                return None
            if not stack:
                return i
        i += 1
    return None


def _search_builtin(body: str) -> ToolCall | None:
    """First ``name.call(...)`` inside prose whose arguments are literals."""
    for n, m in enumerate(_BUILTIN_CALL_RE.finditer(body)):
        if n >= MAX_CALL_SEARCHES:
            break
        close = _matching_close(body, m.end() - 1)
        if close is None:
            continue
        try:
            node = _parse_expr(body[m.start(): close + 1])
        except (SyntaxError, ValueError):
            continue
        if isinstance(node, ast.Call):
            call = _builtin_from_node(node)
            if call is not None:
                return call
    return None


# ---------------------------------------------------------------------------------------------- prompts


def format_today(today: datetime.date) -> str:
    """``26 November 2026`` / ``05 July 2024``: Meta's ``strftime("%d %B %Y")``, English month names."""
    return f"{today.day:02d} {_MONTHS[today.month - 1]} {today.year}"


def build_system_prompt(
    builtin_tools: Sequence[str],
    today: datetime.date,
    instructions: str = "You are a helpful assistant.",
) -> str:
    """Llama 3.1 system prompt switching on the given built-in tools.

    Any built-in tool adds ``Environment: ipython`` (which alone enables the code interpreter);
    ``code_interpreter`` itself is never listed on the ``Tools:`` line.
    """
    tools = list(dict.fromkeys(t.strip() for t in builtin_tools if t and t.strip()))
    lines = []
    if tools:
        lines.append("Environment: ipython")
    listed = [t for t in tools if t != CODE_INTERPRETER]
    if listed:
        lines.append("Tools: " + ", ".join(listed))
    lines.append(f"Cutting Knowledge Date: {KNOWLEDGE_CUTOFF}")
    lines.append(f"Today Date: {format_today(today)}")
    text = "\n".join(lines)
    return f"{text}\n\n{instructions}" if instructions else text


def custom_tools_message(tool_definitions: Sequence[dict], question: str) -> str:
    """First user message for JSON custom tools (Meta's zero-shot JSON tool-calling template)."""
    if not tool_definitions:
        return question
    listing = "\n".join(json.dumps(d, indent=4, ensure_ascii=False) for d in tool_definitions)
    return (
        "Answer the user's question by making use of the following functions if needed.\n"
        "If none of the function can be used, please say so.\n"
        "Here is a list of functions in JSON format:\n"
        f"{listing}\n\n"
        "Return function calls in JSON format.\n\n"
        f"Question: {question}"
    )


def _py_literal(value: Any) -> str:
    """Python source for a JSON-like value (strings through json.dumps so quotes are escaped)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_py_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py_literal(str(k))}: {_py_literal(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def _python_name(name: object) -> bool:
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


def call_text(call: ToolCall) -> str:
    """Canonical text of ``call`` for an assistant message, without special tokens.

    A built-in or pythonic call whose names cannot be Python keywords (``from=...``) is written as JSON.
    """
    if call.form == "code":
        return str(call.arguments.get("code", ""))
    kwargs = _py_kwargs(call)
    python_ok = _python_spellable(call)
    if call.form == "builtin" and python_ok:
        return f"{call.name}.call({kwargs})"
    if call.form == "pythonic" and python_ok:
        return f"[{call.name}({kwargs})]"
    if call.form == "function_tag":
        return f"<function={call.name}>{json.dumps(call.arguments, ensure_ascii=False)}</function>"
    return json.dumps({"name": call.name, "parameters": call.arguments}, ensure_ascii=False)


def _py_kwargs(call: ToolCall) -> str:
    return ", ".join(f"{k}={_py_literal(v)}" for k, v in call.arguments.items())


def _python_spellable(call: ToolCall) -> bool:
    return all(_python_name(k) for k in [call.name, *call.arguments])


def calls_text(calls: Sequence[ToolCall]) -> str:
    """Canonical text of one reply's calls, without special tokens: ``call_text`` for a single call; for several,
    the pythonic list ``[get_weather(city="Seoul"), get_local_time(city_or_timezone="Seoul")]`` (which
    ``parse_tool_calls`` reads back), or a JSON list of ``{"name", "parameters"}`` objects when a call is not
    pythonic or Python cannot spell its names.
    """
    calls = list(calls)
    if len(calls) == 1:
        return call_text(calls[0])
    if calls and all(c.form == "pythonic" and _python_spellable(c) for c in calls):
        return "[" + ", ".join(f"{c.name}({_py_kwargs(c)})" for c in calls) + "]"
    return json.dumps([{"name": c.name, "parameters": c.arguments} for c in calls], ensure_ascii=False)


# ---------------------------------------------------------------------------------------------- raw view


def strip_special_tokens(text: str) -> str:
    """Remove Llama special tokens (and whole ``<|start_header_id|>role<|end_header_id|>`` headers)."""
    return _TOKEN_RE.sub("", _HEADER_RE.sub("", text))


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content if isinstance(content, Sequence) else [content]:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, Mapping):
            kind = str(part.get("type", ""))
            if kind == "text" or "text" in part:
                parts.append(str(part.get("text", "")))
            elif "image" in kind:
                parts.append(IMAGE)
    return "".join(parts)


def _calls_from_structured(tool_calls: Any) -> list[ToolCall]:
    """OpenAI-style ``tool_calls`` entries as ToolCalls, in order, up to the first unreadable one (MAX_CALLS)."""
    if not tool_calls or not isinstance(tool_calls, Sequence) or isinstance(tool_calls, (str, bytes)):
        return []
    calls: list[ToolCall] = []
    for entry in list(tool_calls[:MAX_CALLS]):
        call = _call_from_entry(entry)
        if call is None:
            break
        calls.append(call)
    return calls


def _call_from_entry(entry: Any) -> ToolCall | None:
    """One OpenAI-style ``tool_calls`` entry as a ToolCall."""
    if not isinstance(entry, Mapping):
        return None
    fn = entry.get("function", entry)
    if not isinstance(fn, Mapping):
        return None
    name = fn.get("name")
    args = fn.get("arguments", {})
    try:
        if isinstance(args, str):
            args = json.loads(args) if args.strip() else {}
    except ValueError:
        args = {"input": args}
    if not isinstance(name, str) or not isinstance(args, dict):
        return None
    if name == CODE_INTERPRETER and "code" in args:
        return ToolCall(name, dict(args), "code")
    if name in BUILTIN_TOOLS:
        return ToolCall(name, dict(args), "builtin")
    return ToolCall(name, dict(args), "json")


def render_raw_prompt(messages: Sequence[Mapping[str, Any]]) -> str:
    """The chat as Llama 3.1 sees it, in raw token form (for display).

    Tool results use the ``ipython`` header; an assistant tool call is ``<|python_tag|>...<|eom_id|>``
    (a ``<function=...>`` call is written as Meta documents it: no tag, ``<|eot_id|>``). Ends with an open
    assistant header unless the last message is the assistant's.
    """
    out = [BEGIN]
    last_role = None
    for message in messages:
        role = str(message.get("role", "user"))
        last_role = role
        header_role = "ipython" if role in ("tool", "ipython") else role
        header = f"<|start_header_id|>{header_role}<|end_header_id|>\n\n"
        content = _content_text(message.get("content"))
        if role == "assistant" and message.get("tool_call") is not False:
            clean = strip_special_tokens(content).strip()
            call = parse_tool_call(content) if clean else None
            if call is None:
                structured = _calls_from_structured(message.get("tool_calls"))
                call = structured[0] if structured else None
                if call is not None and not clean:
                    clean = calls_text(structured)
            if call is not None or (message.get("tool_call") and clean):
                if call is not None and call.form == "function_tag":
                    out.append(f"{header}{clean}{EOT}")
                else:
                    out.append(f"{header}{PYTHON_TAG}{clean}{EOM}")
                continue
        out.append(f"{header}{content}{EOT}")
    if last_role != "assistant":
        out.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------- streaming


def _call_prefix(s: str) -> bool:
    """True while ``s`` can still become ``name(...)`` / ``name.call(...)`` and nothing after it."""
    m = _DOTTED_RE.match(s)
    if m is None:
        return False
    end = m.end()
    if end == len(s):
        return end <= 40
    rest = s[end:]
    if rest == ".":
        return end < 40
    if rest[0] != "(":
        return False
    close = _matching_close(s, end, MAX_STREAM_CALL_CHARS)
    if close is None:
        return len(s) <= MAX_STREAM_CALL_CHARS  # arguments still arriving (a call is never this long)
    tail = strip_special_tokens(s[close + 1:]).strip()
    return tail == ""


def _list_prefix(s: str) -> bool:
    """``[name(...), ...]`` (or a JSON list ``[{...}]``) so far."""
    rest = s[1:].lstrip()
    if not rest or rest[0] == "{":
        return True
    m = _DOTTED_RE.match(rest)
    if m is None:
        return False
    after = rest[m.end():]
    if not after:
        return m.end() <= 40
    if after[0] != "(":
        return False
    close = _matching_close(s, 0, MAX_STREAM_CALL_CHARS)
    if close is None:
        return len(s) <= MAX_STREAM_CALL_CHARS
    return strip_special_tokens(s[close + 1:]).strip() == ""


def may_be_tool_call(prefix: str) -> bool:
    """While streaming: could the text received so far still turn out to be a tool call?

    True for an empty prefix, ``<|python_tag|>``, a prefix of ``<|python_tag|>`` / ``<function=``, ``{``, ``[``,
    and a short bare identifier (``brave_se``) or ``name(``/``name.call(`` so far. False once it is clearly prose.
    """
    try:
        s = prefix.lstrip()
        m = _HEADER_RE.match(s)
        if m is not None:
            s = s[m.end():].lstrip()
        if not s:
            return True
        if s[0] == "<":
            return any(s.startswith(t) or t.startswith(s) for t in (PYTHON_TAG, "<function="))
        if s[0] == "{":
            rest = s[1:].lstrip()
            return not rest or rest[0] in "\"'"
        if s[0] == "[":
            return _list_prefix(s)
        return _call_prefix(s)
    except Exception:
        return False
