"""Reading a JSON file a person brought in (a transcript, a rehearsal recording) without trusting it.

    data = load_untrusted_json(upload.getvalue(), max_bytes=5_000_000, what="a transcript", error=TranscriptError,
                               max_items=1_000_000, max_text_chars=100_000)

Bounded in memory, not only in bytes: a parsed `{}` costs Python ~100 bytes, 30 times its text, so 5 MB of `{},`
added 286 MB to the server and 49 MB of `[0,""],` 1.2 GB. Every refusal is `error(message)`, a sentence a person
understands:

- size: more than `max_bytes` bytes (UTF-8) is refused before anything is decoded; the text must be UTF-8;
- items: at most `max_items` values (objects, lists, texts, numbers, keys), refused BEFORE parsing from a count of
  the commas, colons and opening brackets in the text (every value after the first in a list or object follows a
  comma or its opening bracket, every key a colon). The count is an upper bound (ones inside texts count too), so
  a file under it can never build more than that; each value costs at most ~100 bytes once parsed, so a limit of
  one million keeps a parse under ~100 MB plus the text itself. Real files are far below their limit: a
  500-turn tool transcript counts ~130,000, a rehearsal of 500 answers of 300 pieces ~510,000;
- depth: lists/objects nested more than `max_depth` (64) deep. The parser itself stops near Python's recursion
  limit (~1,000); what it returns is then measured level by level, without recursion. The app's files nest 8 deep;
- numbers: an integer of more than MAX_NUMBER_CHARS (1,000) digits (Python refuses to read one over 4,300 with a
  ValueError that is not a JSON error), and any number too large for a float (1e999), NaN or Infinity;
- texts: with `max_text_chars`, a text (or key) longer than that; `place(path)` names where it is ("“answer” in
  turn 3"). Texts holding a lone UTF-16 surrogate (`"\\ud800"`) are refused: the browser connection can't carry them.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable, Sequence

from lib.i18n import Msg, msg

MAX_DEPTH = 64
"""Lists/objects inside each other, at most (transcripts nest 8 deep, rehearsal recordings 5)."""
MAX_NUMBER_CHARS = 1_000
"""Characters of one number, at most (an exported timestamp is ~18; Python can't read an integer over 4,300)."""
DEFAULT_MAX_ITEMS = 1_000_000

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
Path = tuple["str | int", ...]


def utf8_size(text: str) -> int:
    """Bytes of `text` as UTF-8, without a whole copy of it."""
    if text.isascii():
        return len(text)
    step = 1 << 20
    return sum(len(text[i:i + step].encode("utf-8", "surrogatepass")) for i in range(0, len(text), step))


def item_bound(text: str) -> int:
    """An upper bound on the values and keys `json.loads(text)` can build (see the module docstring)."""
    return text.count(",") + text.count(":") + text.count("[") + text.count("{") + 1


def _place(path: Path) -> "Msg | str":
    return describe_path(path, {})


def load_untrusted_json(text: str | bytes, *, max_bytes: int, what: "Msg | str",
                        error: Callable[["Msg | str"], Exception], max_items: int = DEFAULT_MAX_ITEMS,
                        max_depth: int = MAX_DEPTH, max_text_chars: int | None = None,
                        place: Callable[[Path], "Msg | str"] = _place) -> Any:
    """Parse `text` (bytes or str) or raise `error(m)`, `m` a `Msg` (`files.refused.*`: its English is `str(m)`);
    `what` names the kind of file (`msg("files.what.transcript")`)."""
    def too_large(size: int) -> Exception:
        return error(msg("files.refused.too_large", what=what, size=f"{size / 1e6:.1f}",
                         limit=max_bytes // 1_000_000))

    from_bytes = isinstance(text, (bytes, bytearray, memoryview))
    if from_bytes:
        if len(text) > max_bytes:
            raise too_large(len(text))
        try:
            text = str(text, "utf-8-sig")  # strict: a lone surrogate can then only come from a \ud800 escape
        except UnicodeDecodeError:
            raise error(msg("files.refused.not_utf8", what=what)) from None
    elif not isinstance(text, str):
        raise TypeError("load_untrusted_json() needs the file's text or bytes")
    elif len(text) > max_bytes:  # at least one byte a character
        raise too_large(len(text))
    else:
        size = utf8_size(text)
        if size > max_bytes:
            raise too_large(size)
    if item_bound(text) > max_items:
        raise error(msg("files.refused.too_many", what=what, limit=f"{max_items:,}"))

    def reject(name: str) -> Any:
        raise error(msg("files.refused.not_json_value", what=what, name=name))

    def integer(digits: str) -> int:
        if len(digits) > MAX_NUMBER_CHARS:
            raise error(msg("files.refused.long_integer", what=what, digits=f"{len(digits.lstrip('-')):,}",
                            limit=f"{MAX_NUMBER_CHARS:,}"))
        return int(digits)

    def number(literal: str) -> float:
        if len(literal) > MAX_NUMBER_CHARS:
            raise error(msg("files.refused.long_number", what=what, chars=f"{len(literal):,}",
                            limit=f"{MAX_NUMBER_CHARS:,}"))
        value = float(literal)
        if not math.isfinite(value):
            raise error(msg("files.refused.huge_number", what=what, number=literal[:30]))
        return value

    too_deep = error(msg("files.refused.too_deep", what=what, depth=max_depth))
    try:
        data = json.loads(text, parse_constant=reject, parse_int=integer, parse_float=number)
    except json.JSONDecodeError as exc:
        raise error(msg("files.refused.not_json", what=what, line=exc.lineno, column=exc.colno,
                        reason=exc.msg)) from None
    except RecursionError:
        raise too_deep from None
    surrogates = bool(_SURROGATE_ESCAPE.search(text) or (not from_bytes and _SURROGATE.search(text)))
    del text  # the caller's bytes stay, the decoded copy goes
    found = _check_tree(data, max_depth, max_text_chars, surrogates)
    if found == "deep":
        raise too_deep
    if found is not None:
        path, value = _find_text(data, max_text_chars, surrogates)
        if _SURROGATE.search(value) and surrogates:
            raise error(msg("files.refused.surrogate", what=what, place=place(path)))
        raise error(msg("files.refused.long_text", what=what, place=place(path), length=f"{len(value):,}",
                        limit=f"{max_text_chars:,}"))
    return data


def _bad_text(value: str, max_chars: int | None, surrogates: bool) -> bool:
    return (max_chars is not None and len(value) > max_chars) or (surrogates and bool(_SURROGATE.search(value)))


def _check_tree(data: Any, max_depth: int, max_chars: int | None, surrogates: bool) -> str | None:
    """"deep" for nesting over `max_depth`, "text" for a text that is too long or not text, else None.

    Level by level (no recursion): each level is the list of containers found in the one above.
    """
    if isinstance(data, str):
        return "text" if _bad_text(data, max_chars, surrogates) else None
    check_texts = max_chars is not None or surrogates
    level = [data] if isinstance(data, (list, dict)) else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            return "deep"
        below: list[Any] = []
        for container in level:
            if type(container) is dict:
                values: Any = container.values()
                if check_texts and any(_bad_text(k, max_chars, surrogates) for k in container):
                    return "text"
            else:
                values = container
            for value in values:
                kind = type(value)
                if kind is list or kind is dict:
                    below.append(value)
                elif kind is str and check_texts and _bad_text(value, max_chars, surrogates):
                    return "text"
        level = below
    return None


def _find_text(data: Any, max_chars: int | None, surrogates: bool) -> tuple[Path, str]:
    """The path and value of the first text `_check_tree` objected to (depth already checked)."""
    stack: list[tuple[Any, Path]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if _bad_text(value, max_chars, surrogates):
                return path, value
        elif isinstance(value, dict):
            for k, v in value.items():
                if _bad_text(k, max_chars, surrogates):
                    return path + (k,), k
                stack.append((v, path + (k,)))
        elif isinstance(value, list):
            stack.extend((v, path + (i,)) for i, v in enumerate(value))
    return (), ""


def describe_path(path: Sequence["str | int"], names: dict[str, str]) -> "Msg":
    """Words for where a value is (`files.place.*`; `names` maps a list's key to its word's `files.place.<key>`):
    `("turns", 2, "answer")` with `{"turns": "turn"}` is "“answer” in turn 3", and `("streams", 0, "chunks", 4, 1)`
    with `{"streams": "recording", "chunks": "text_piece"}` "text piece 5 of recording 1"."""
    parts = [msg("files.place.numbered", name=msg(f"files.place.{names[path[i - 1]]}"), number=p + 1)
             for i, p in enumerate(path)
             if isinstance(p, int) and i > 0 and isinstance(path[i - 1], str) and path[i - 1] in names]
    where: Msg | None = None
    for part in parts:  # outermost first
        where = part if where is None else msg("files.place.of", inner=part, outer=where)
    keys = [p for p in path if isinstance(p, str)]
    if keys and keys[-1] not in names:  # the field itself, or the list it is in ("notes")
        field = keys[-1][:40]
        return msg("files.place.field_in", field=field, where=where) if where else msg("files.place.field",
                                                                                       field=field)
    return where or msg("files.place.a_text")
