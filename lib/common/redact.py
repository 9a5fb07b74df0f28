"""Keys never show: the one place that blanks secrets out of text shown, logged, exported or recorded.

Every configured secret is `register()`ed (process-wide on purpose: a key typed in one session must not appear in
another's error text either). `redact()` replaces registered secrets and any `extra` ones — raw, URL-encoded or
JSON-escaped — and anything shaped like a provider key or an auth header value, registered or not.

    register("sk-or-v1-abc123...")
    redact("401: bad key sk-or-v1-abc123...")  # '401: bad key [redacted]'
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Mapping, Sequence
from urllib.parse import quote, quote_plus

MASK = "[redacted]"
_MIN_SECRET_LEN = 4
_MAX = 1000
_lock = threading.Lock()
_secrets: set[str] = set()
_version = 0  # bumped by every change to _secrets: the forms cache below keys on it
_forms_cache: dict[tuple[int, tuple[str, ...]], list[str]] = {}
_FORMS_CACHE_MAX = 256

_TOKEN_PATTERNS: tuple[re.Pattern[str], ...] = (
    # the whole match is the secret
    re.compile(r"(?<![A-Za-z0-9])nvapi-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?<![A-Za-z0-9])sk-or-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?<![A-Za-z0-9])sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{8,}"),
    re.compile(r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9_]{8,}"),
    re.compile(r"(?<![A-Za-z0-9])github_pat_[A-Za-z0-9_]{8,}"),
)
_VALUE_PATTERNS: tuple[re.Pattern[str], ...] = (
    # only group 1 (the value) is the secret
    re.compile(r"\bBearer\s+([A-Za-z0-9\-._~+/]{8,}=*)", re.IGNORECASE),
    re.compile(r"\b(?:x-)?api[-_ ]?key\"?\s*[:=]\s*\"?([^\s\"',;&<>]{4,})", re.IGNORECASE),
    re.compile(r"[?&](?:api_?key|key|appid|app_id|token|access_token|auth)=([^\s&#\"'<>]{4,})", re.IGNORECASE),
)


_HINT = re.compile(r"nvapi-|sk-|hf_|gh[pousr]_|github_pat_|bearer|api|[?&]", re.IGNORECASE)
"""What every pattern above needs somewhere in a text (a superset: case ignored): one scan rules most strings out."""


def register(secret: str | None) -> None:
    """Remember a secret so `redact()` removes it everywhere (values shorter than 4 characters are ignored)."""
    if not secret or len(secret.strip()) < _MIN_SECRET_LEN:
        return
    global _version
    with _lock:
        if len(_secrets) < _MAX and secret.strip() not in _secrets:
            _secrets.add(secret.strip())
            _version += 1


def forget_all() -> None:
    """Clear the registry (tests)."""
    global _version
    with _lock:
        _secrets.clear()
        _version += 1


def _secret_forms(secrets: Sequence[str]) -> list[str]:
    """Every form (raw, URL-encoded, JSON-escaped) of the registered and given secrets, longest first.

    Cached per registry version and `secrets`: a transcript redacts hundreds of strings with the same secrets, and
    building the forms for each cost more than searching for them (3.7 ms of a question's 57 ms, profiled at 100).
    """
    extra = tuple(s for s in secrets if isinstance(s, str))
    with _lock:
        key = (_version, extra)
        cached = _forms_cache.get(key)
        if cached is not None:
            return cached
        known = set(_secrets)
    forms: set[str] = set()
    for secret in [*known, *secrets]:
        if not isinstance(secret, str) or len(secret) < _MIN_SECRET_LEN:
            continue
        forms.update({secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
                      json.dumps(secret, ensure_ascii=False)[1:-1]})
    result = sorted((f for f in forms if len(f) >= _MIN_SECRET_LEN), key=len, reverse=True)
    with _lock:
        if len(_forms_cache) >= _FORMS_CACHE_MAX:
            _forms_cache.clear()
        _forms_cache[key] = result
    return result


def redaction_spans(text: str, secrets: Sequence[str] = ()) -> list[tuple[int, int]]:
    """Sorted, merged (start, end) ranges of `text` that `redact()` replaces.

    >>> redaction_spans("key nvapi-abcdefgh12 ok")
    [(4, 20)]
    """
    spans: list[tuple[int, int]] = []
    for form in _secret_forms(secrets):
        start = text.find(form)
        while start != -1:
            spans.append((start, start + len(form)))
            start = text.find(form, start + 1)
    if _HINT.search(text) is not None:  # a transcript's strings are mostly plain words: one scan, not nine
        for pattern in _TOKEN_PATTERNS:
            spans.extend(m.span() for m in pattern.finditer(text))
        for pattern in _VALUE_PATTERNS:
            spans.extend(m.span(1) for m in pattern.finditer(text))
    if not spans:
        return spans
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def redact(text: str, extra: Sequence[str] = ()) -> str:
    """`text` with every registered (and `extra`) secret and everything key-shaped replaced by [redacted].

    >>> redact("Authorization: Bearer abcdefgh12345 and sk-or-v1-0123456789", ["hunter22"])
    'Authorization: Bearer [redacted] and [redacted]'
    """
    if not text:
        return text
    spans = redaction_spans(text, extra)
    if not spans:
        return text
    out, pos = [], 0
    for start, end in spans:
        out.append(text[pos:start])
        out.append(MASK)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def is_data_url(text: str) -> bool:
    """Whether `text` is a base64 data URL (an image carried inline)."""
    return text.startswith("data:") and ";base64," in text[:100]


def redact_data(value: Any, secrets: Sequence[str] = ()) -> Any:
    """A copy of a JSON-like value with every string (keys too) redacted.

    A base64 data URL that happens to contain a secret is replaced whole (it would be a broken image otherwise).

    >>> redact_data({"a": ["token hf_abcdefghij"]})
    {'a': ['token [redacted]']}
    """
    if isinstance(value, str):
        cleaned = redact(value, secrets)
        if cleaned != value and is_data_url(value):
            return MASK
        return cleaned
    if isinstance(value, Mapping):
        return {redact_data(str(k), secrets): redact_data(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v, secrets) for v in value]
    return value
