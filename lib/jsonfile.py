"""Reading a JSON file a person brought in (a transcript, a rehearsal recording) without trusting it.

    data = load_untrusted_json(upload.getvalue(), max_bytes=5_000_000, what="a transcript", error=TranscriptError)

The size is checked before anything is decoded, the text must be UTF-8, NaN/Infinity are refused, and nesting too deep
for the parser is a refusal too; every refusal is `error(message)` with a sentence a person understands.
"""

from __future__ import annotations

import json
from typing import Any, Callable


def load_untrusted_json(text: str | bytes, *, max_bytes: int, what: str,
                        error: Callable[[str], Exception]) -> Any:
    """Parse `text` (bytes or str) or raise `error(...)`; `what` names the kind of file ("a transcript")."""
    def too_large(size: int) -> Exception:
        return error(f"This file is too large for {what} ({size / 1e6:.1f} MB; at most {max_bytes // 1_000_000} MB).")

    if isinstance(text, (bytes, bytearray)):
        if len(text) > max_bytes:
            raise too_large(len(text))
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise error(f"This is not {what}: the file is not UTF-8 text.") from None
    if not isinstance(text, str):
        raise TypeError("load_untrusted_json() needs the file's text or bytes")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise too_large(size)

    def reject(name: str) -> Any:
        raise error(f"This is not {what}: it contains {name}, which is not valid JSON.")

    try:
        return json.loads(text, parse_constant=reject)
    except json.JSONDecodeError as exc:
        raise error(f"This is not {what}: the file is not valid JSON "
                    f"(line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None
    except RecursionError:
        raise error(f"This is not {what}: the JSON is nested too deeply.") from None
