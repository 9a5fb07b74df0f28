"""One function that turns any SDK / network exception into a message a person understands.

Every page shows failures through `explain()`: a kind (for tests and icons), a title, a message with what to do,
and the wait time for rate limits. The server's own words are kept (shortened) as `detail`, never a traceback.
The title and message are English strings (logs, transcripts); the same texts are kept as catalogue texts
(`UserError.says`, lib/i18n/*/errors.toml) so a page shows them in its language (`UserError.shown(lang)`).
"""

from __future__ import annotations

import ast
import json
import re
import socket
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Mapping

from lib import i18n
from lib.i18n import Msg, Ordinal, Seconds, msg
from lib.hosts.limits import SlotTimeout, rate_limit_kind, retry_after_seconds  # noqa: F401 - re-exported
from lib.hosts.providers import OLLAMA_NO_MLLAMA_MSG, provider, provider_for_host, retired_route_msg
from lib.common.redact import redact

if TYPE_CHECKING:
    from azure.core.exceptions import HttpResponseError

# azure.core.exceptions is imported where an exception is explained, not here: Home imports this module for
# `UserError` and draws no request, so a fresh server shows it without loading the SDK.


class ErrorKind(str, Enum):
    """What went wrong, as the user should think of it."""

    NO_TOKEN = "no_token"
    AUTH = "auth"
    PERMISSION = "permission"
    MODEL_NOT_FOUND = "model_not_found"
    RETIRED = "retired"
    PAYMENT = "payment"
    NO_PROVIDER = "no_provider"
    TOO_LARGE = "too_large"
    CONTEXT_TOO_LONG = "context_too_long"
    IMAGE_NOT_SUPPORTED = "image_not_supported"
    NEEDS_KEY = "needs_key"
    RATE_LIMIT_MINUTE = "rate_limit_minute"
    RATE_LIMIT_DAY = "rate_limit_day"
    RATE_LIMIT_CONCURRENT = "rate_limit_concurrent"
    CONTENT_FILTER = "content_filter"
    BAD_REQUEST = "bad_request"
    SERVER = "server"
    TIMEOUT = "timeout"
    OFFLINE = "offline"
    BAD_STREAM = "bad_stream"
    REDIRECTED = "redirected"  # the endpoint answered 3xx: never followed with a key
    NO_PROGRESS = "no_progress"  # bytes kept arriving (keep-alives, empty chunks) but no text: stopped waiting
    DEADLINE = "deadline"  # a request or a whole turn ran past its overall time limit: stopped waiting
    QUESTION_TOO_LONG = "question_too_long"  # refused before anything was sent (lib.hosts.budget.MAX_QUESTION_CHARS)
    TOOL_FAILED = "tool_failed"  # a tool failed the same way twice: the turn ended before another model request
    TOOL_LOOP = "tool_loop"  # the model kept asking for tools past the round cap: the turn ended without an answer
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class UserError:
    """A failure explained: show `title` + `message` (English; `shown(lang)` in the page's language); `detail` is
    the server's own (shortened) words."""

    kind: ErrorKind
    title: str
    message: str
    retry_after_s: float | None = None
    status: int | None = None
    code: str | None = None
    detail: str = ""
    context_limit: int | None = None
    """For CONTEXT_TOO_LONG: the model's input limit in tokens when the server named it (so the caller can refit)."""
    says: tuple[Msg | str, Msg | str] | None = field(default=None, compare=False)
    """The title and message as catalogue texts (`lib.i18n.Msg`; a plain string part is shown as it is), for a page
    in another language; None (an imported transcript's error, one made by hand): `title` and `message` in any."""

    def shown(self, lang: str) -> tuple[str, str]:
        """(title, message) in `lang`: the English fields on an English page or when there is no `says`.

        >>> err = explain(NoProviderError())
        >>> err.shown("en") == (err.title, err.message) and err.shown("ko")[0] != err.title
        True
        """
        if self.says is None or lang == i18n.DEFAULT:
            return self.title, self.message
        return i18n.say(lang, self.says[0]), i18n.say(lang, self.says[1])

    def quoted_title(self) -> Msg | str:
        """The title as a sentence quotes it: “model not found” (English in small letters), “모델을 찾을 수 없습니다”;
        a `Msg` where the catalogue has its quoted form (`errors.<name>.quoted`: the errors that pass a model over),
        else the English title in small letters."""
        title = self.says[0] if self.says is not None else None
        if isinstance(title, Msg) and title.key.endswith(".title") and not title.values:
            quoted = title.key.removesuffix(".title") + ".quoted"
            if quoted in i18n.catalogue(i18n.DEFAULT):
                return msg(quoted)
        return self.title.lower()

    def title_in_sentence(self, lang: str) -> str:
        """`quoted_title` in `lang`; in another language than English, the title as shown there where the catalogue
        has no quoted form of it."""
        quoted = self.quoted_title()
        if isinstance(quoted, Msg) or lang == i18n.DEFAULT or self.says is None:
            return i18n.say(lang, quoted)
        return self.shown(lang)[0]

    def says_json(self) -> list[object] | None:
        """`says` as plain JSON (a transcript, the session store); `says_from_json` reads it back."""
        if self.says is None:
            return None
        return [part.to_json() if isinstance(part, Msg) else part for part in self.says]

    @staticmethod
    def says_from_json(data: object) -> "tuple[Msg | str, Msg | str] | None":
        """The `says` that `says_json` wrote; None for anything else (a part no catalogue knows: the English shows)."""
        if not isinstance(data, (list, tuple)) or len(data) != 2:
            return None
        parts = [part if isinstance(part, str) else Msg.from_json(part) for part in data]
        return (parts[0], parts[1]) if all(part is not None for part in parts) else None

    @property
    def is_rate_limit(self) -> bool:
        """Rate limited, per minute or per day."""
        return self.kind in (ErrorKind.RATE_LIMIT_MINUTE, ErrorKind.RATE_LIMIT_DAY, ErrorKind.RATE_LIMIT_CONCURRENT)

    @property
    def model_gone(self) -> bool:
        """The model is retired or not served here: the next model of the chain may answer instead."""
        return self.kind in (ErrorKind.RETIRED, ErrorKind.MODEL_NOT_FOUND)

    @property
    def retry_helps(self) -> bool:
        """Whether sending the same request again could succeed (not for a spent daily quota or a refused key)."""
        return self.kind not in (ErrorKind.RATE_LIMIT_DAY, ErrorKind.AUTH, ErrorKind.PERMISSION, ErrorKind.NO_TOKEN,
                                 ErrorKind.NO_PROVIDER, ErrorKind.RETIRED, ErrorKind.PAYMENT,
                                 ErrorKind.CONTENT_FILTER, ErrorKind.TOO_LARGE, ErrorKind.CONTEXT_TOO_LONG,
                                 ErrorKind.IMAGE_NOT_SUPPORTED, ErrorKind.NEEDS_KEY, ErrorKind.REDIRECTED,
                                 ErrorKind.QUESTION_TOO_LONG)


def said(kind: ErrorKind, title: Msg, message: Msg | str, **fields: Any) -> UserError:
    """A `UserError` whose title and message are catalogue texts: `title`/`message` hold their English, `says` them."""
    return UserError(kind, str(title), str(message), says=(title, message), **fields)


def _known(kind: ErrorKind, name: str, **fields: Any) -> UserError:
    """The error of the catalogue's `errors.<name>` (its title and message)."""
    return said(kind, msg(f"errors.{name}.title"), msg(f"errors.{name}.message"), **fields)


_CUT_OFF = "cut_off"  # the connection dropped while the answer was arriving
_OFFLINE = "offline"  # the connection failed


class NoTokenError(RuntimeError):
    """Raised before sending when the provider needs a key and none was given for it."""


class NoProviderError(RuntimeError):
    """Raised before sending when no provider (or no endpoint for it) is configured."""


class QuestionTooLong(RuntimeError):
    """Raised before sending when a question is longer than the app sends (`lib.hosts.budget.check_question`)."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"the question is {length} characters; the limit is {limit}")
        self.length = length
        self.limit = limit


class StreamDeadline(TimeoutError):
    """Raised by `lib.client.ChatStream` when it stops waiting although the connection is still open.

    `reason`: "no_progress" (bytes kept arriving, keep-alive comments or empty chunks, but no text for `seconds`),
    "request" (the request ran `seconds` in all) or "turn" (the whole question, every request and tool call
    together, ran `seconds`). `got_text`: some text had arrived before (it is kept, never cached).
    """

    def __init__(self, reason: str, seconds: float, got_text: bool = False) -> None:
        super().__init__(f"stopped waiting: {reason} after {seconds:g} s")
        self.reason = reason
        self.seconds = seconds
        self.got_text = got_text


def format_seconds(seconds: float) -> str:
    """120 → "120 s", 0.5 → "0.5 s"; 10 minutes and more as `format_wait` says them (900 → "15 min")."""
    return i18n.short_duration("en", seconds)


def _limit(seconds: float) -> Msg | Seconds:
    """A time limit as `format_seconds` says it, in any language: "120 s" / "120초", "15 min" / "15분"."""
    return Seconds(seconds) if seconds >= 600 else msg("errors.seconds", seconds=f"{seconds:g}")


def _deadline_error(exc: StreamDeadline) -> UserError:
    limit = _limit(exc.seconds)
    kept = "_kept" if exc.got_text else ""
    if exc.reason == "no_progress":
        return said(ErrorKind.NO_PROGRESS, msg(f"errors.no_progress.title{kept}"),
                    msg(f"errors.no_progress.message{kept}", limit=limit))
    name = "turn_deadline" if exc.reason == "turn" else "request_deadline"
    return said(ErrorKind.DEADLINE, msg(f"errors.{name}.title"), msg(f"errors.{name}.message{kept}", limit=limit))


_MONTH_DATE = re.compile(
    r"\b(\d{4}-\d{2}-\d{2}|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2},? \d{4}"
    r"|\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{4})\b"
)


def retirement_date(text: str) -> str | None:
    """The end-of-life date a 410 body names ("2026-04-15", "April 15, 2026"), if any."""
    m = _MONTH_DATE.search(text or "")
    return m.group(1) if m else None


def format_wait(seconds: float) -> str:
    """24367 → "6 h 46 min"; 42 → "42 s"; 150 → "2 min 30 s" (`lib.i18n.duration` in English)."""
    return i18n.duration("en", seconds)


def _shorten(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------------------------
# Reading error bodies: gateways (LiteLLM) wrap the upstream server's words; unwrap them to the sentence that matters.

_MAX_PARSE = 20_000  # longer bodies are read as plain text (parsing them is not worth the time)
_WRAPPERS = (
    re.compile(r"^(?:litellm\.)?[A-Za-z_][A-Za-z0-9_]*(?:Error|Exception)\s*(?::|-(?=\s))\s*"),  # litellm.XError:
    re.compile(r"^Error code:\s*\d{3}\s*-\s*"),  # "Error code: 400 - {...}" (the OpenAI SDK's wording)
    re.compile(r"^/[\w./-]*:\s+"),  # "/chat/completions: Invalid model name ..."
)


def _strip_wrappers(text: str) -> str:
    text = text.strip()
    changed = True
    while changed and text:  # each pass removes one prefix, so this ends
        changed = False
        for pattern in _WRAPPERS:
            stripped = pattern.sub("", text, count=1).strip()
            if stripped != text:
                text, changed = stripped, True
    return text


def _loads(text: str) -> Any:
    """JSON, or a Python literal (`ast.literal_eval`, never eval) such as LiteLLM's `{'error': '...'}`; else None."""
    text = (text or "").strip()
    if not text.startswith(("{", "[")) or len(text) > _MAX_PARSE:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except Exception:  # noqa: BLE001 - SyntaxError, ValueError, MemoryError, RecursionError: not a literal
        return None


def _message_of(obj: Any) -> str | None:
    """The text of `{"error": "..."}`, `{"error": {"message": "..."}}` or `{"message": "..."}`."""
    if not isinstance(obj, dict):
        return None
    err = obj.get("error")
    if isinstance(err, str) and err.strip():
        return err
    if isinstance(err, dict):
        for key in ("message", "detail", "msg"):
            if isinstance(err.get(key), str) and err[key].strip():
                return err[key]
    for key in ("message", "detail"):
        if isinstance(obj.get(key), str) and obj[key].strip():
            return obj[key]
    return None


def unwrap_message(text: str) -> str:
    """The sentence that matters in a gateway's wrapped error text, or the text as is.

    Strips `litellm.XxxError:` / `XxxException -` / `Error code: 400 -` prefixes and one level of
    `{'error': ...}` / `{"error": {"message": ...}}` nesting.

    >>> unwrap_message("litellm.BadRequestError: Hosted_vllmException - This model's maximum context length is 2048")
    "This model's maximum context length is 2048"
    >>> unwrap_message("{'error': '/chat/completions: Invalid model name passed in model=x'}")
    'Invalid model name passed in model=x'
    >>> unwrap_message("plain words")
    'plain words'
    """
    original = str(text or "")
    out = _strip_wrappers(original)
    inner = _message_of(_loads(out))
    if inner is not None:
        out = _strip_wrappers(inner)
    return out or original.strip()


def _body_fields(body: Any) -> tuple[str | None, str, str | None, int | None]:
    """(code, message, type, n_ctx) from a parsed error body of any host's shape."""
    code: Any = None
    message: Any = ""
    etype: Any = None
    n_ctx: Any = None
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):  # OpenAI style; OpenRouter's code is a number; llama.cpp adds n_ctx
        code = err.get("code")
        message = err.get("message") or ""
        etype = err.get("type")
        n_ctx = err.get("n_ctx")
    elif isinstance(err, str):  # Hugging Face / vLLM --api-key: {"error": "text"}
        message = err
    if isinstance(body, dict):  # vLLM: top-level message; Azure 422: top-level code; NVIDIA: problem+json
        code = code or body.get("code")
        message = message or body.get("message") or body.get("detail") or body.get("title") or ""
        etype = etype or body.get("type")
        n_ctx = n_ctx if n_ctx is not None else body.get("n_ctx")
    limit = n_ctx if isinstance(n_ctx, int) and not isinstance(n_ctx, bool) and n_ctx > 0 else None
    return (str(code) if code else None), str(message or ""), (str(etype) if etype else None), limit


def _read_body(exc: HttpResponseError) -> Any:
    try:
        return json.loads(exc.response.text()) if exc.response is not None else None
    except Exception:  # noqa: BLE001 - any unreadable body just means "no details"
        return None


def _error_body(exc: HttpResponseError, body: Any = None) -> tuple[str | None, str]:
    """(error.code, error.message) from the SDK's parsed error or the raw JSON body (`body`, if already read)."""
    code = getattr(getattr(exc, "error", None), "code", None)
    message = getattr(getattr(exc, "error", None), "message", None) or ""
    if not code or not message:
        raw_code, raw_message, _, _ = _body_fields(body if body is not None else _read_body(exc))
        code = code or raw_code
        message = message or raw_message
    return (str(code) if code else None), str(message or "")


# ---------------------------------------------------------------------------------------------------------------
# Permanent refusals: the same request can never succeed (even when the server calls it a 500).

_CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error", "context_window_exceeded",
                            "contextwindowexceedederror"})
_CONTEXT_WORDS = (
    "maximum context length",  # vLLM, OpenAI
    "context_length_exceeded",
    "contextwindowexceeded",  # LiteLLM's ContextWindowExceededError
    "context window exceeded",
    "exceeds the context window",
    "exceeds the available context size",  # llama.cpp
    "exceed_context_size",
    "compared to kv size",  # older llama.cpp: "Input prompt is too big compared to KV size"
    "prompt is too long",
)
_CONTEXT_LIMITS = (
    re.compile(r"maximum context length (?:is|of) (\d[\d,]*)"),
    re.compile(r"context (?:length|window|size) (?:is|of) (\d[\d,]*)"),
    re.compile(r"`?inputs`? tokens \+ `?max_new_tokens`? must be <= (\d+)"),  # Hugging Face TGI
)
_TGI_OVERFLOW = re.compile(r"tokens \+ `?max_new_tokens`? must be <=")
_IMAGE_WORDS = (
    "not a multimodal model",  # vLLM
    "image input is not supported",  # llama.cpp (no mmproj)
    "image inputs are not supported",
    "images are not supported",
    "does not support image",  # "... image input", "... images"
    "support image input",  # OpenRouter: "No endpoints found that support image input"
    "vision is not supported",
    "does not support vision",
    "at most 0 image",  # vLLM with --limit-mm-per-prompt image=0
)
_NEGATIONS = re.compile(r"\bnot\b|\bno\b|unsupported|n't")


def _refusal(code: str | None, etype: str | None, text: str) -> str | None:
    """"context" (the conversation does not fit), "image" (the model reads no images) or None."""
    low = text.lower()
    tags = {(code or "").lower(), (etype or "").lower()}
    if tags & _CONTEXT_CODES or any(w in low for w in _CONTEXT_WORDS) or _TGI_OVERFLOW.search(low):
        return "context"
    if "system" in low:  # "system messages are not supported with images": the vision page retries without one
        return None
    if any(w in low for w in _IMAGE_WORDS) or ("multimodal" in low and _NEGATIONS.search(low)):
        return "image"
    return None


def _context_limit(text: str, n_ctx: int | None) -> int | None:
    if n_ctx:
        return n_ctx
    low = text.lower()
    for pattern in _CONTEXT_LIMITS:
        m = pattern.search(low)
        if m:
            value = int(m.group(1).replace(",", ""))
            if value > 0:
                return value
    return None


def permanent_failure(status: int, body_text: str) -> bool:
    """Whether an error answer is a refusal that sending again cannot change (the model reads no images, the
    conversation exceeds its context), whatever the status: llama.cpp answers an image to a text model with a 500.

    >>> permanent_failure(500, '{"error":{"code":500,"message":"image input is not supported","type":"server_error"}}')
    True
    >>> permanent_failure(500, '{"error":{"code":500,"message":"oops"}}')
    False
    """
    if status < 400 or not body_text:
        return False
    text = str(body_text)[:_MAX_PARSE]
    if "unknown model architecture" in text.lower():
        return True  # Ollama 0.30+ loading Llama 3.2 Vision ('mllama'): it fails the same way every time
    code, message, etype, _ = _body_fields(_loads(text))
    message = message or text
    return _refusal(code, etype, f"{message} {unwrap_message(message)}") is not None


# ---------------------------------------------------------------------------------------------------------------
# Whether the failed request carried a key at all.

_KEY_HEADERS = ("authorization", "api-key", "x-api-key")
_AUTH_SCHEME = re.compile(r"^\s*(?:bearer|basic|token)\b", re.IGNORECASE)
_NO_KEY_WORDS = ("no api key", "missing api key", "api key is missing", "api key is required", "api key required",
                 "no key was provided", "missing authentication", "not authenticated")


def _sent_key(exc: HttpResponseError) -> bool | None:
    """True/False when the request's headers can be read (`exc.response.request.headers`), else None."""
    try:
        headers = exc.response.request.headers
        items = list(headers.items())
    except Exception:  # noqa: BLE001 - no response, no request, or headers of an unexpected shape
        return None
    for name, value in items:
        name_l = str(name).lower()
        if name_l not in _KEY_HEADERS:
            continue
        value_s = str(value or "")
        if name_l == "authorization":
            value_s = _AUTH_SCHEME.sub("", value_s)
        if value_s.strip():
            return True
    return False


def _headers(exc: HttpResponseError) -> Mapping[str, str]:
    try:
        return exc.response.headers if exc.response is not None else {}
    except Exception:  # noqa: BLE001
        return {}


def _retired_route(exc: HttpResponseError, status: int, words: str) -> Msg | str | None:
    """What to do when a host says the route itself was retired (Azure's /models route, for the SDK's requests), in
    any language."""
    from urllib.parse import urlsplit

    try:
        url = str(exc.response.request.url) if exc.response is not None else ""
    except Exception:  # noqa: BLE001
        url = ""
    pid = provider_for_host(urlsplit(url).hostname or "", urlsplit(url).port) if url else None
    return retired_route_msg(provider(pid), status, words, url) if pid else None


def _http(exc: HttpResponseError) -> UserError:
    from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError

    status = exc.status_code or 0
    body = _read_body(exc)
    code, server_message = _error_body(exc, body)
    code_l = (code or "").lower()
    headers = _headers(exc)
    _, _, etype, n_ctx = _body_fields(body)
    inner = unwrap_message(server_message) if server_message else ""
    # Classify on the gateway's wrapper too ("litellm.ContextWindowExceededError: ...") and on the inner sentence.
    words = f"{server_message} {inner}" if inner != server_message else server_message
    detail = _shorten(redact(inner or str(exc.reason or "")))
    common: dict[str, Any] = {"status": status, "code": code, "detail": detail}

    if 300 <= status < 400:
        return _known(ErrorKind.REDIRECTED, "redirected", **common)
    if status < 400:
        # The SDK raises HttpResponseError("Unable to stream download.") when a 200 stream breaks off.
        return _known(ErrorKind.BAD_STREAM, _CUT_OFF, **common)

    if "'mllama'" in words or "architecture: mllama" in words.lower():
        # Ollama 0.30+ (llama.cpp's llama-server underneath) has no 'mllama': Llama 3.2 Vision can't load there.
        return said(ErrorKind.MODEL_NOT_FOUND, msg("errors.mllama.title"), OLLAMA_NO_MLLAMA_MSG, **common)
    route = _retired_route(exc, status, words)
    if route:
        return said(ErrorKind.RETIRED, msg("errors.retired_route.title"), route, **common)
    if status == 410 or "end of life" in server_message.lower() or "end-of-life" in server_message.lower():
        when = retirement_date(server_message)
        return said(ErrorKind.RETIRED, msg("errors.retired.title"),
                    msg("errors.retired.message_date", date=when) if when else msg("errors.retired.message"),
                    **common)
    if status == 402:
        return _known(ErrorKind.PAYMENT, "payment", **common)
    if status == 429 or "ratelimit" in code_l or "rate_limit" in code_l:
        wait = retry_after_seconds(headers)
        if rate_limit_kind(429, f"{code or ''} {server_message}", headers) == "concurrent":
            return _known(ErrorKind.RATE_LIMIT_CONCURRENT, "concurrent",
                          retry_after_s=wait if wait is not None else 2.0, **common)
        limit_type = {str(k).lower(): str(v) for k, v in headers.items()}.get("x-ratelimit-type", "")
        daily = "day" in limit_type.lower() or "86400" in server_message or (wait or 0) > 3600
        if wait is None:
            wait = 60.0
        if daily:
            return said(ErrorKind.RATE_LIMIT_DAY, msg("errors.daily.title"),
                        msg("errors.daily.message", wait=Seconds(wait)), retry_after_s=wait, **common)
        return said(ErrorKind.RATE_LIMIT_MINUTE, msg("errors.per_minute.title"),
                    msg("errors.per_minute.message", wait=Seconds(wait)), retry_after_s=wait, **common)
    if "content_filter" in code_l or "contentfilter" in code_l or "content_management" in code_l:
        return _known(ErrorKind.CONTENT_FILTER, "content_filter", **common)
    refusal = _refusal(code, etype, words) if status >= 400 else None
    if refusal == "context" and status != 413 and "tokens_limit" not in code_l:
        limit = _context_limit(words, n_ctx)
        return said(ErrorKind.CONTEXT_TOO_LONG, msg("errors.context.title"),
                    msg("errors.context.message_limit", limit=limit) if limit else msg("errors.context.message"),
                    context_limit=limit, **common)
    if refusal == "image":
        return _known(ErrorKind.IMAGE_NOT_SUPPORTED, "image", **common)
    if status == 413 or "tokens_limit" in code_l or "too large" in server_message.lower():
        return _known(ErrorKind.TOO_LARGE, "too_large", **common)
    msg_l = words.lower()
    if isinstance(exc, ClientAuthenticationError) or status == 401 or (
            status == 403 and any(w in msg_l for w in _NO_KEY_WORDS)):
        sent = _sent_key(exc)
        if sent is False or (sent is None and any(w in msg_l for w in _NO_KEY_WORDS)):
            return _known(ErrorKind.NEEDS_KEY, "needs_key", **common)
    if isinstance(exc, ClientAuthenticationError) or status == 401:
        return _known(ErrorKind.AUTH, "auth", **common)
    if status == 403:
        return _known(ErrorKind.PERMISSION, "permission", **common)
    model_missing = ("no endpoints found for" in msg_l  # OpenRouter
                     or ("model" in msg_l and any(w in msg_l for w in ("not found", "does not exist",
                                                                       "not a valid model", "no such model",
                                                                       "unknown model", "invalid model",
                                                                       "model_not_found"))))
    if (isinstance(exc, ResourceNotFoundError) or status == 404 or code_l in {"unknown_model", "unavailable_model",
                                                                             "model_not_found"} or model_missing):
        return _known(ErrorKind.MODEL_NOT_FOUND, "model_not_found", **common)
    if 500 <= status < 600:
        return said(ErrorKind.SERVER, msg("errors.server.title"), msg("errors.server.message", status=status),
                    **common)
    if status == 400:
        return _known(ErrorKind.BAD_REQUEST, "bad_request", **common)
    return said(ErrorKind.UNKNOWN, msg("errors.unexpected.title", status=status), msg("errors.unexpected.message"),
                **common)


def explain(exc: BaseException) -> UserError:
    """Turn any exception from the client, the network or the stream into a `UserError`."""
    from azure.core.exceptions import (
        HttpResponseError,
        ServiceRequestError,
        ServiceRequestTimeoutError,
        ServiceResponseError,
        ServiceResponseTimeoutError,
    )

    if isinstance(exc, NoTokenError):
        return _known(ErrorKind.NO_TOKEN, "no_token")
    if isinstance(exc, NoProviderError):
        return _known(ErrorKind.NO_PROVIDER, "no_provider")
    if isinstance(exc, QuestionTooLong):
        return said(ErrorKind.QUESTION_TOO_LONG, msg("errors.question_too_long.title"),
                    msg("errors.question_too_long.message", length=f"{exc.length:,}", limit=f"{exc.limit:,}"))
    if isinstance(exc, StreamDeadline):
        return _deadline_error(exc)
    if isinstance(exc, SlotTimeout):
        return said(ErrorKind.RATE_LIMIT_CONCURRENT, msg("errors.slot_timeout.title"),
                    msg("errors.slot_timeout.message", seconds=f"{exc.waited_s:.0f}", place=Ordinal(exc.position)),
                    retry_after_s=5.0)
    if isinstance(exc, (ServiceResponseTimeoutError, ServiceRequestTimeoutError, TimeoutError, socket.timeout)):
        return _known(ErrorKind.TIMEOUT, "timeout", detail=_shorten(redact(str(exc))))
    if isinstance(exc, HttpResponseError):
        return _http(exc)
    if isinstance(exc, ServiceRequestError):
        return _known(ErrorKind.OFFLINE, _OFFLINE, detail=_shorten(redact(str(exc))))
    if isinstance(exc, ServiceResponseError):
        return _known(ErrorKind.BAD_STREAM, _CUT_OFF, detail=_shorten(redact(str(exc))))
    if isinstance(exc, ValueError) and "SSE" in str(exc):
        return _known(ErrorKind.BAD_STREAM, "bad_stream", detail=_shorten(redact(str(exc))))
    if isinstance(exc, (ConnectionError, OSError)):
        return _known(ErrorKind.OFFLINE, _OFFLINE, detail=_shorten(redact(str(exc))))
    return _known(ErrorKind.UNKNOWN, "unknown", detail=_shorten(redact(f"{type(exc).__name__}: {exc}")))
