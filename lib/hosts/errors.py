"""One function that turns any SDK / network exception into a message a person understands.

Every page shows failures through `explain()`: a kind (for tests and icons), a title, a message with what to do,
and the wait time for rate limits. The server's own words are kept (shortened) as `detail`, never a traceback.
"""

from __future__ import annotations

import ast
import json
import re
import socket
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Mapping

from lib import i18n
from lib.hosts.limits import SlotTimeout, ordinal, rate_limit_kind, retry_after_seconds  # noqa: F401 - re-exported
from lib.hosts.providers import OLLAMA_NO_MLLAMA, provider, provider_for_host, retired_route_message
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
    """A failure explained: show `title` + `message`; `detail` is the server's own (shortened) words."""

    kind: ErrorKind
    title: str
    message: str
    retry_after_s: float | None = None
    status: int | None = None
    code: str | None = None
    detail: str = ""
    context_limit: int | None = None
    """For CONTEXT_TOO_LONG: the model's input limit in tokens when the server named it (so the caller can refit)."""

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


_CUT_OFF = (
    "The answer was cut off",
    "The connection dropped while the answer was arriving. What arrived is kept; send again to retry.",
)
_OFFLINE = (
    "Cannot reach the endpoint",
    "The connection failed. Check the network and the endpoint URL in the sidebar.",
)


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


def _deadline_error(exc: StreamDeadline) -> UserError:
    limit = format_seconds(exc.seconds)
    kept = " What arrived is kept; send again to retry." if exc.got_text else ""
    if exc.reason == "no_progress":
        if exc.got_text:
            return UserError(
                ErrorKind.NO_PROGRESS,
                "The answer stopped arriving",
                f"The server kept the connection open for {limit} without sending any more text; stopped waiting."
                + kept,
            )
        return UserError(
            ErrorKind.NO_PROGRESS,
            "No answer is arriving",
            f"The server kept the connection open for {limit} without sending any text; stopped waiting. It may be "
            "overloaded or stuck: send again, or pick another model or provider in the sidebar.",
        )
    if exc.reason == "turn":
        return UserError(
            ErrorKind.DEADLINE,
            "This question took too long",
            f"Answering it took more than {limit} in all (every model request and tool call together), the most one "
            "question may take; stopped waiting." + (kept or " Send again, or ask something simpler."),
        )
    return UserError(
        ErrorKind.DEADLINE,
        "The answer took too long",
        f"The model was still answering after {limit}, the most one request may take; stopped waiting."
        + (kept or " Send again, or pick a faster model or provider."),
    )


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


def _retired_route(exc: HttpResponseError, status: int, words: str) -> str | None:
    """What to do when a host says the route itself was retired (Azure's /models route, for the SDK's requests)."""
    from urllib.parse import urlsplit

    try:
        url = str(exc.response.request.url) if exc.response is not None else ""
    except Exception:  # noqa: BLE001
        url = ""
    pid = provider_for_host(urlsplit(url).hostname or "", urlsplit(url).port) if url else None
    return retired_route_message(provider(pid), status, words, url) if pid else None


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
        return UserError(
            ErrorKind.REDIRECTED,
            "The server answered with a redirect",
            "It pointed the request to another address. The app does not follow redirects, so your key stays with "
            "the host it was given for: check the endpoint URL (a trailing /v1, http or https).",
            **common,
        )
    if status < 400:
        # The SDK raises HttpResponseError("Unable to stream download.") when a 200 stream breaks off.
        return UserError(
            ErrorKind.BAD_STREAM,
            *_CUT_OFF,
            **common,
        )

    if "'mllama'" in words or "architecture: mllama" in words.lower():
        # Ollama 0.30+ (llama.cpp's llama-server underneath) has no 'mllama': Llama 3.2 Vision can't load there.
        return UserError(
            ErrorKind.MODEL_NOT_FOUND,
            "Ollama can't run Llama 3.2 Vision",
            OLLAMA_NO_MLLAMA,
            **common,
        )
    route = _retired_route(exc, status, words)
    if route:
        return UserError(ErrorKind.RETIRED, "This endpoint's route was retired", route, **common)
    if status == 410 or "end of life" in server_message.lower() or "end-of-life" in server_message.lower():
        when = retirement_date(server_message)
        return UserError(
            ErrorKind.RETIRED,
            "This service or model was retired",
            (f"It reached its end of life on {when}. " if when else "The server says it is gone for good. ")
            + "Pick another model or provider in the sidebar.",
            **common,
        )
    if status == 402:
        return UserError(
            ErrorKind.PAYMENT,
            "This model needs credits",
            "The provider refused the request for lack of credits on this key. Add credits, or pick a free "
            "model (on OpenRouter the ones ending in `:free`).",
            **common,
        )
    if status == 429 or "ratelimit" in code_l or "rate_limit" in code_l:
        wait = retry_after_seconds(headers)
        if rate_limit_kind(429, f"{code or ''} {server_message}", headers) == "concurrent":
            return UserError(
                ErrorKind.RATE_LIMIT_CONCURRENT,
                "Too many requests at once",
                "The provider lets only a few requests to this model run at the same time, and they are all "
                "taken (perhaps by other apps using the same key). Send again in a few seconds.",
                retry_after_s=wait if wait is not None else 2.0,
                **common,
            )
        limit_type = {str(k).lower(): str(v) for k, v in headers.items()}.get("x-ratelimit-type", "")
        daily = "day" in limit_type.lower() or "86400" in server_message or (wait or 0) > 3600
        if wait is None:
            wait = 60.0
        if daily:
            return UserError(
                ErrorKind.RATE_LIMIT_DAY,
                "Daily limit reached",
                f"This model's daily quota is used up. It resets in about {format_wait(wait)}. "
                "Switch to another model or provider in the sidebar, or use a paid endpoint.",
                retry_after_s=wait,
                **common,
            )
        return UserError(
            ErrorKind.RATE_LIMIT_MINUTE,
            "Too many requests",
            f"The per-minute limit was reached. Wait {format_wait(wait)} and send again.",
            retry_after_s=wait,
            **common,
        )
    if "content_filter" in code_l or "contentfilter" in code_l or "content_management" in code_l:
        return UserError(
            ErrorKind.CONTENT_FILTER,
            "Blocked by the content filter",
            "The provider's content filter refused this prompt or its answer. Rephrase it and try again.",
            **common,
        )
    refusal = _refusal(code, etype, words) if status >= 400 else None
    if refusal == "context" and status != 413 and "tokens_limit" not in code_l:
        limit = _context_limit(words, n_ctx)
        return UserError(
            ErrorKind.CONTEXT_TOO_LONG,
            "This conversation is too long for the model",
            "The conversation no longer fits in what this model can read at once"
            + (f" ({limit} tokens)" if limit else "")
            + ". Start a New chat, or ask a shorter question.",
            context_limit=limit,
            **common,
        )
    if refusal == "image":
        return UserError(
            ErrorKind.IMAGE_NOT_SUPPORTED,
            "This model does not read images",
            "The model you picked reads text only. Pick a vision model (Llama 3.2 Vision or Llama 4) in the "
            "page's model picker or in the sidebar, then send again.",
            **common,
        )
    if status == 413 or "tokens_limit" in code_l or "too large" in server_message.lower():
        return UserError(
            ErrorKind.TOO_LARGE,
            "The request is too large",
            "The conversation (or image) is bigger than this model accepts. Start a new chat, "
            "shorten the text, or use a smaller image.",
            **common,
        )
    msg_l = words.lower()
    if isinstance(exc, ClientAuthenticationError) or status == 401 or (
            status == 403 and any(w in msg_l for w in _NO_KEY_WORDS)):
        sent = _sent_key(exc)
        if sent is False or (sent is None and any(w in msg_l for w in _NO_KEY_WORDS)):
            return UserError(
                ErrorKind.NEEDS_KEY,
                "This server needs a key",
                "The server asks for a key and none was sent. Set MODELS_API_KEY (or the provider's key) in "
                ".streamlit/secrets.toml or the environment, or paste it in the sidebar.",
                **common,
            )
    if isinstance(exc, ClientAuthenticationError) or status == 401:
        return UserError(
            ErrorKind.AUTH,
            "The key was refused",
            "The provider did not accept the key. Check it in the sidebar (or in .streamlit/secrets.toml), "
            "make a new one on the provider's key page if needed, then send again.",
            **common,
        )
    if status == 403:
        return UserError(
            ErrorKind.PERMISSION,
            "Not allowed",
            "The key is valid but may not use this model. Check that the model is enabled for your account "
            "(some hosts ask you to accept the model's licence first).",
            **common,
        )
    model_missing = ("no endpoints found for" in msg_l  # OpenRouter
                     or ("model" in msg_l and any(w in msg_l for w in ("not found", "does not exist",
                                                                       "not a valid model", "no such model",
                                                                       "unknown model", "invalid model",
                                                                       "model_not_found"))))
    if (isinstance(exc, ResourceNotFoundError) or status == 404 or code_l in {"unknown_model", "unavailable_model",
                                                                             "model_not_found"} or model_missing):
        return UserError(
            ErrorKind.MODEL_NOT_FOUND,
            "Model not found",
            "The provider does not serve this model (any more). Pick another model on the page, or check the "
            "model name and endpoint in the sidebar.",
            **common,
        )
    if 500 <= status < 600:
        return UserError(
            ErrorKind.SERVER,
            "The model service had a problem",
            f"The server answered {status}. This is usually temporary: try again in a moment.",
            **common,
        )
    if status == 400:
        return UserError(
            ErrorKind.BAD_REQUEST,
            "The request was refused",
            "The server refused the request as sent. Details below.",
            **common,
        )
    return UserError(
        ErrorKind.UNKNOWN,
        f"Unexpected answer ({status})",
        "The server answered with an error. Details below.",
        **common,
    )


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
        return UserError(
            ErrorKind.NO_TOKEN,
            "No key for this provider",
            "Add the provider's key in the sidebar or in .streamlit/secrets.toml (see Home), or pick Ollama.",
        )
    if isinstance(exc, NoProviderError):
        return UserError(
            ErrorKind.NO_PROVIDER,
            "No provider configured",
            "Pick where Llama runs in the sidebar (see Home for how to set one up).",
        )
    if isinstance(exc, QuestionTooLong):
        return UserError(
            ErrorKind.QUESTION_TOO_LONG,
            "The question is too long",
            f"This question is {exc.length:,} characters; the limit is {exc.limit:,}. Shorten it (send the part "
            "that matters), then ask again. Nothing was sent.",
        )
    if isinstance(exc, StreamDeadline):
        return _deadline_error(exc)
    if isinstance(exc, SlotTimeout):
        return UserError(
            ErrorKind.RATE_LIMIT_CONCURRENT,
            "Everyone is asking at once",
            f"Every slot for this model stayed busy for {exc.waited_s:.0f} s (you were {ordinal(exc.position)} "
            "in line). Send again in a moment, or pick another model or provider in the sidebar.",
            retry_after_s=5.0,
        )
    if isinstance(exc, (ServiceResponseTimeoutError, ServiceRequestTimeoutError, TimeoutError, socket.timeout)):
        return UserError(
            ErrorKind.TIMEOUT,
            "The model took too long",
            "No answer arrived in time. The service may be busy: try again, or try a smaller model.",
            detail=_shorten(redact(str(exc))),
        )
    if isinstance(exc, HttpResponseError):
        return _http(exc)
    if isinstance(exc, ServiceRequestError):
        return UserError(
            ErrorKind.OFFLINE,
            *_OFFLINE,
            detail=_shorten(redact(str(exc))),
        )
    if isinstance(exc, ServiceResponseError):
        return UserError(
            ErrorKind.BAD_STREAM,
            *_CUT_OFF,
            detail=_shorten(redact(str(exc))),
        )
    if isinstance(exc, ValueError) and "SSE" in str(exc):
        return UserError(
            ErrorKind.BAD_STREAM,
            "The stream could not be read",
            "The server's streamed answer was not in a format the client understands.",
            detail=_shorten(redact(str(exc))),
        )
    if isinstance(exc, (ConnectionError, OSError)):
        return UserError(
            ErrorKind.OFFLINE,
            *_OFFLINE,
            detail=_shorten(redact(str(exc))),
        )
    return UserError(
        ErrorKind.UNKNOWN,
        "Something went wrong",
        "An unexpected error happened. Details below; your conversation is kept.",
        detail=_shorten(redact(f"{type(exc).__name__}: {exc}")),
    )
