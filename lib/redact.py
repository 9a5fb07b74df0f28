"""Keys never show: every configured secret is registered here and `redact()` blanks it out of any text.

Process-wide on purpose (a key typed in one session must not appear in another's error text either). Also
masks anything shaped like a provider key or an auth header, registered or not.

    register("sk-or-v1-abc123...")
    redact("401: bad key sk-or-v1-abc123...")  # '401: bad key [redacted]'
"""

from __future__ import annotations

import re
import threading

MASK = "[redacted]"
_lock = threading.Lock()
_secrets: set[str] = set()
_MAX = 1000

_SHAPES = re.compile(
    r"(?:nvapi-[A-Za-z0-9_\-]{8,}|sk-or-[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9_\-]{16,}|hf_[A-Za-z0-9]{8,}"
    r"|gh[pousr]_[A-Za-z0-9]{8,}|github_pat_[A-Za-z0-9_]{8,})"
    r"|(?<=Bearer )[A-Za-z0-9._\-~+/=]{8,}"
    r"|(?<=api-key: )\S{8,}",
    re.IGNORECASE,
)


def register(secret: str | None) -> None:
    """Remember a secret so `redact()` removes it everywhere (values shorter than 4 characters are ignored)."""
    if not secret or len(secret.strip()) < 4:
        return
    with _lock:
        if len(_secrets) < _MAX:
            _secrets.add(secret.strip())


def redact(text: str, extra: list[str] | tuple[str, ...] = ()) -> str:
    """`text` with every registered (and `extra`) secret and every key-shaped string replaced by [redacted]."""
    if not text:
        return text
    with _lock:
        known = sorted(_secrets | {e for e in extra if e and len(e) >= 4}, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return _SHAPES.sub(MASK, text)


def forget_all() -> None:
    """Clear the registry (tests)."""
    with _lock:
        _secrets.clear()
