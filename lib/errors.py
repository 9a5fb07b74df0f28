"""One function that turns any SDK / network exception into a message a person understands.

Every page shows failures through `explain()`: a kind (for tests and icons), a title, a message with what to do,
and the wait time for rate limits. The server's own words are kept (shortened) as `detail`, never a traceback.
"""

from __future__ import annotations

import json
import math
import re
import socket
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Mapping

from lib.limits import SlotTimeout, ordinal, rate_limit_kind, retry_after_seconds  # noqa: F401 - re-exported
from lib.redact import redact

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
    RATE_LIMIT_MINUTE = "rate_limit_minute"
    RATE_LIMIT_DAY = "rate_limit_day"
    RATE_LIMIT_CONCURRENT = "rate_limit_concurrent"
    CONTENT_FILTER = "content_filter"
    BAD_REQUEST = "bad_request"
    SERVER = "server"
    TIMEOUT = "timeout"
    OFFLINE = "offline"
    BAD_STREAM = "bad_stream"
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
                                 ErrorKind.CONTENT_FILTER, ErrorKind.TOO_LARGE)


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


_MONTH_DATE = re.compile(
    r"\b(\d{4}-\d{2}-\d{2}|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2},? \d{4}"
    r"|\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{4})\b"
)


def retirement_date(text: str) -> str | None:
    """The end-of-life date a 410 body names ("2026-04-15", "April 15, 2026"), if any."""
    m = _MONTH_DATE.search(text or "")
    return m.group(1) if m else None


def format_wait(seconds: float) -> str:
    """24367 → "6 h 46 min"; 42 → "42 s"; 150 → "2 min 30 s"."""
    s = max(0, int(math.ceil(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{m} min {r} s" if r else f"{m} min"
    h, r = divmod(s, 3600)
    m = r // 60
    return f"{h} h {m} min" if m else f"{h} h"


def _shorten(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_body(exc: HttpResponseError) -> tuple[str | None, str]:
    """(error.code, error.message) from the SDK's parsed error or the raw JSON body."""
    code = getattr(getattr(exc, "error", None), "code", None)
    message = getattr(getattr(exc, "error", None), "message", None) or ""
    if not code or not message:
        try:
            body: Any = json.loads(exc.response.text()) if exc.response is not None else None
        except Exception:  # noqa: BLE001 - any unreadable body just means "no details"
            body = None
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):  # OpenAI style; OpenRouter's code is a number
            code = code or err.get("code")
            message = message or str(err.get("message") or "")
        elif isinstance(err, str):  # Hugging Face / some servers: {"error": "text"}
            message = message or err
        if isinstance(body, dict):  # vLLM: top-level message; Azure 422: top-level code; NVIDIA: problem+json
            code = code or body.get("code")
            message = message or str(body.get("message") or body.get("detail") or body.get("title") or "")
    return (str(code) if code else None), str(message or "")


def _headers(exc: HttpResponseError) -> Mapping[str, str]:
    try:
        return exc.response.headers if exc.response is not None else {}
    except Exception:  # noqa: BLE001
        return {}


def _http(exc: HttpResponseError) -> UserError:
    from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError

    status = exc.status_code or 0
    code, server_message = _error_body(exc)
    code_l = (code or "").lower()
    headers = _headers(exc)
    detail = _shorten(redact(server_message or str(exc.reason or "")))
    common: dict[str, Any] = {"status": status, "code": code, "detail": detail}

    if status < 400:
        # The SDK raises HttpResponseError("Unable to stream download.") when a 200 stream breaks off.
        return UserError(
            ErrorKind.BAD_STREAM,
            *_CUT_OFF,
            **common,
        )

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
    if status == 413 or "tokens_limit" in code_l or "too large" in server_message.lower():
        return UserError(
            ErrorKind.TOO_LARGE,
            "The request is too large",
            "The conversation (or image) is bigger than this model accepts. Start a new chat, "
            "shorten the text, or use a smaller image.",
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
    msg_l = server_message.lower()
    model_missing = "model" in msg_l and any(w in msg_l for w in ("not found", "does not exist", "not a valid model",
                                                                  "no such model", "unknown model"))
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
