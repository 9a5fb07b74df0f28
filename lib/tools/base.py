"""Shared types and helpers for the tools package: config, specs, results, HTTP, text."""
from __future__ import annotations

import functools
import html
import re
import string
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping
from urllib.parse import urlencode, urlsplit

from lib.i18n import Msg, catalogue, msg

if TYPE_CHECKING:
    import requests

USER_AGENT = (
    "LlamaHerdStudio/1.0 (workshop demo app; Streamlit; "
    "+https://www.llama.com) python-requests"
)
MAX_RESPONSE_BYTES = 2_000_000
TRUNCATION_MARKER = "\n… [truncated]"

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ToolConfig:
    """Everything the tools need; every field has a working default (keys are never shown in repr)."""

    brave_api_key: str | None = field(default=None, repr=False)
    brave_search_url: str = "https://api.search.brave.com/res/v1/web/search"
    wolfram_app_id: str | None = field(default=None, repr=False)
    wolfram_url: str = "https://www.wolframalpha.com/api/v1/llm-api"
    open_meteo_geocoding_url: str = "https://geocoding-api.open-meteo.com/v1/search"
    open_meteo_forecast_url: str = "https://api.open-meteo.com/v1/forecast"
    wikipedia_search_url: str = "https://en.wikipedia.org/w/rest.php/v1/search/page"
    allow_code_interpreter: bool = False
    timeout_s: float = 10.0
    max_result_chars: int = 4000

    @classmethod
    def from_lookup(cls, get: Callable[[str], str | None]) -> "ToolConfig":
        """Build from a key lookup (secrets, then environment); blank values mean "not set".

        >>> ToolConfig.from_lookup({"ALLOW_CODE_INTERPRETER": "yes"}.get).allow_code_interpreter
        True
        """

        def value(key: str) -> str | None:
            try:
                raw = get(key)
            except Exception:  # a broken secrets source must not break the tools
                return None
            if raw is None:
                return None
            text = str(raw).strip()
            return text or None

        defaults = cls()
        timeout = defaults.timeout_s
        raw_timeout = value("TOOL_TIMEOUT_S")
        if raw_timeout is not None:
            try:
                parsed = float(raw_timeout)
                if 0 < parsed <= 300:
                    timeout = parsed
            except ValueError:
                pass
        allow = value("ALLOW_CODE_INTERPRETER")
        return cls(
            brave_api_key=value("BRAVE_API_KEY"),
            brave_search_url=value("BRAVE_SEARCH_URL") or defaults.brave_search_url,
            wolfram_app_id=value("WOLFRAM_ALPHA_APP_ID"),
            wolfram_url=value("WOLFRAM_ALPHA_URL") or defaults.wolfram_url,
            open_meteo_geocoding_url=value("OPEN_METEO_GEOCODING_URL")
            or defaults.open_meteo_geocoding_url,
            open_meteo_forecast_url=value("OPEN_METEO_FORECAST_URL")
            or defaults.open_meteo_forecast_url,
            wikipedia_search_url=value("WIKIPEDIA_SEARCH_URL") or defaults.wikipedia_search_url,
            allow_code_interpreter=(allow or "").lower() in _TRUE,
            timeout_s=timeout,
        )

    def secrets(self) -> list[str]:
        """The values that must never appear in anything shown or sent to the model."""
        return [s for s in (self.brave_api_key, self.wolfram_app_id) if s]


@dataclass(frozen=True)
class ToolSpec:
    """What a tool is: its name, label, one-line description and JSON-schema parameters."""

    name: str
    title: str
    description: str
    parameters: dict
    builtin: bool
    online: bool


@dataclass(frozen=True)
class ToolStatus:
    """How a tool will behave with the current configuration (one line for the UI).

    `note` is the line in English; `msg` the same line for any language (`lib.i18n.say(lang, status.msg)`)."""

    available: bool
    uses_fallback: bool
    note: str
    msg: Msg | None = field(default=None, compare=False)

    @classmethod
    def said(cls, available: bool, uses_fallback: bool, note: Msg) -> "ToolStatus":
        """A status whose line is `note` (its English in `note`, the message itself in `msg`)."""
        return cls(available, uses_fallback, str(note), note)


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one tool call; `content` is exactly what the model receives."""

    name: str
    arguments: dict
    content: str
    ok: bool
    source: str
    fallback: bool
    elapsed_s: float
    url: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What a tool implementation returns on success (run() turns it into a ToolResult)."""

    content: str
    source: str
    fallback: bool = False
    url: str | None = None
    ok: bool = True


class ToolFailure(Exception):
    """A clean, user-facing failure; `message` is shown to the model as "error: <message>"."""

    def __init__(self, message: str, source: str, fallback: bool = False, url: str | None = None):
        super().__init__(message)
        self.message = message
        self.source = source
        self.fallback = fallback
        self.url = url


@dataclass
class CallContext:
    """Per-call budget: implementations ask `remaining()` before each blocking step."""

    config: ToolConfig
    deadline: float  # time.monotonic() value by which the implementation must be done

    def remaining(self, floor: float = 0.05) -> float:
        """Seconds left for the next blocking operation (never below `floor`)."""
        return max(floor, self.deadline - time.monotonic())


# --- text helpers -----------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]{0,500}>")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def strip_html(text: str) -> str:
    """Plain text from an HTML snippet: tags removed, entities decoded, spaces collapsed."""
    text = _TAG.sub("", text or "")
    text = html.unescape(text)
    text = text.replace("\u00a0", " ")
    return _SPACES.sub(" ", text).strip()


def cap(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, ending with a "[truncated]" marker when cut."""
    if limit <= 0 or len(text) <= limit:
        return text
    if limit <= len(TRUNCATION_MARKER):
        return text[:limit]
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def scrub(text: str, secrets: list[str]) -> str:
    """Replace every secret (raw or URL-encoded) in `text` by ***."""
    from urllib.parse import quote, quote_plus

    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            if form:
                text = text.replace(form, "***")
    return text


def url_with(base: str, params: Mapping[str, object]) -> str:
    """`base?params` for display (callers leave secrets out of params)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    if not query:
        return base
    return f"{base}{'&' if '?' in base else '?'}{query}"


def endpoint_note(url: str, default: str) -> str:
    """" (custom endpoint host:port)" when a URL was overridden (e.g. pointed at a local stub), else ""."""
    return str(endpoint_msg(url, default))


def endpoint_msg(url: str, default: str) -> Msg | str:
    """`endpoint_note` as a message for any language ("" when the URL is the default)."""
    return "" if url == default else msg("toolnotes.status.endpoint", host=host_of(url))


# --- how the page says a call's failure and source (lib/i18n/*/toolnotes.toml) ---------------------------------
# The model reads the English the tools write; the page reads that text back against the English templates of
# `toolnotes.failure.*` / `toolnotes.source.*` and says it in its own language. Being read back, a result from an
# imported transcript, the cache or a rehearsal reads the same as a fresh one.

_FAILURES = "toolnotes.failure."
_SOURCES = "toolnotes.source."
_FIELD_PATTERNS = {"tool": r"[\w.-]+", "seconds": r"\d[\d.,]*", "mb": r"\d[\d.,]*", "code": r"-?\d+",
                   "signal": r"-?\d+"}
_NESTED_FIELDS = frozenset({"reason", "problem"})  # another failure of the catalogue's, read back the same way
_WORD_TABLES = {"service": "toolnotes.service.", "from_dim": "toolnotes.dimension.",
                "to_dim": "toolnotes.dimension.", "tools": "toolnotes.value."}
_LONGEST_LINE = 2000  # a longer line (no tool writes one) is shown as it is, not matched


@functools.cache
def _failure_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Each failure template of the English catalogue as a pattern, the most specific (most fixed text) first."""
    found: list[tuple[int, str, re.Pattern[str]]] = []
    for key, template in catalogue("en").items():
        if not key.startswith(_FAILURES):
            continue
        parts, fixed = [], 0
        for literal, name, _, _ in string.Formatter().parse(template):
            parts.append(re.escape(literal))
            fixed += len(literal)
            if name:
                parts.append(f"(?P<{name}>{_FIELD_PATTERNS.get(name, '.+?')})")
        found.append((-fixed, key, re.compile("".join(parts))))
    return tuple((pattern, key) for _, key, pattern in sorted(found))


@functools.cache
def _words(prefix: str) -> dict[str, str]:
    """English word → its key, for one table of words inside failures ("Wikipedia search" → toolnotes.service.…)."""
    return {text: key for key, text in catalogue("en").items() if key.startswith(prefix)}


def _word(name: str, value: str) -> Msg | str:
    if name in _NESTED_FIELDS:
        return failure_msg(value)
    key = _words(_WORD_TABLES[name]).get(value) if name in _WORD_TABLES else None
    return Msg(key) if key else value


def failure_msg(line: str) -> Msg | str:
    """A failed call's line (what the model was told, without "error: ") as a message for any language; a line no
    template matches (a server's or the system's own words) as it is. `str()` of the message is `line` itself.

    >>> str(failure_msg("unknown unit 'parsec'"))
    "unknown unit 'parsec'"
    """
    if len(line) <= _LONGEST_LINE:
        for pattern, key in _failure_patterns():
            found = pattern.fullmatch(line)
            if found:
                return Msg(key, tuple((name, _word(name, value)) for name, value in found.groupdict().items()))
    return line


def source_msg(source: str) -> Msg | str:
    """A tool result's source as a message for any language ("local clock", a replayed result's "… (from the
    cache)"); a source that is a name ("Brave Search API", "Open-Meteo") or that this app did not write as it is."""
    for key, template in catalogue("en").items():
        if not key.startswith(_SOURCES):
            continue
        if template.startswith("{source}"):
            suffix = template[len("{source}"):]
            if source.endswith(suffix) and len(source) > len(suffix):
                return Msg(key, (("source", source_msg(source[: -len(suffix)])),))
        elif template == source:
            return Msg(key)
    return source


def host_of(url: str) -> str:
    """host[:port] of a URL, for messages."""
    try:
        return urlsplit(url).netloc or url
    except ValueError:
        return url


# --- HTTP -----------------------------------------------------------------------------------------


def http_get(
    ctx: CallContext,
    url: str,
    *,
    params: Mapping[str, object],
    service: str,
    source: str,
    fallback: bool = False,
    display_url: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> requests.Response:
    """GET with the call's remaining budget as timeout; network problems become ToolFailure.

    The body is read (at most MAX_RESPONSE_BYTES) before returning; the status is NOT checked.
    Exception texts are never passed on: they can contain the full URL, secrets included.
    """
    import requests  # with the first tool call, not with the first page view (Home shows without it)

    shown = display_url or url
    all_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
    all_headers.update(headers or {})
    budget = ctx.remaining()
    try:
        response = requests.get(
            url,
            params=dict(params),
            headers=all_headers,
            timeout=(budget, budget),
            stream=True,
            allow_redirects=False,  # requests would carry X-Subscription-Token and the query's appid along
        )
        if response.is_redirect:
            response.close()
            raise ToolFailure(f"{service} answered with a redirect to another address; the app does not follow "
                              "it with your key", source, fallback, shown)
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(65536):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise ToolFailure(
                        f"{service} sent a response larger than {MAX_RESPONSE_BYTES // 1_000_000} MB",
                        source, fallback, shown,
                    )
                if time.monotonic() > ctx.deadline:
                    raise requests.Timeout()
            response._content = b"".join(chunks)
        finally:
            response.close()
    except ToolFailure:
        raise
    except requests.Timeout:
        raise ToolFailure(
            f"{service} did not answer within {ctx.config.timeout_s:g} s", source, fallback, shown
        ) from None
    except requests.ConnectionError:
        raise ToolFailure(
            f"could not connect to {service} ({host_of(url)})", source, fallback, shown
        ) from None
    except requests.RequestException as exc:
        raise ToolFailure(
            f"request to {service} failed ({type(exc).__name__})", source, fallback, shown
        ) from None
    return response


def get_json(
    ctx: CallContext,
    url: str,
    *,
    params: Mapping[str, object],
    service: str,
    source: str,
    fallback: bool = False,
    headers: Mapping[str, str] | None = None,
    on_error: Callable[[requests.Response, str], ToolFailure | None] | None = None,
) -> tuple[object, str]:
    """GET a JSON API: (decoded body, URL to show). Non-200 answers become ToolFailure (`on_error` first)."""
    shown = url_with(url, params)
    response = http_get(ctx, url, params=params, service=service, source=source, fallback=fallback,
                        display_url=shown, headers=headers)
    if response.status_code != 200:
        failure = on_error(response, shown) if on_error else None
        raise failure or http_status_failure(response, service, source, fallback, shown)
    return json_body(response, service, source, fallback, shown), shown


def json_body(response: requests.Response, service: str, source: str, fallback: bool, url: str):
    """Decoded JSON body, or ToolFailure("... returned malformed JSON")."""
    try:
        return response.json()
    except ValueError:
        raise ToolFailure(f"{service} returned malformed JSON", source, fallback, url) from None


def http_status_failure(
    response: requests.Response, service: str, source: str, fallback: bool, url: str
) -> ToolFailure:
    """A ToolFailure for common non-2xx statuses (tools handle their own special codes first)."""
    code = response.status_code
    if code == 429:
        retry = response.headers.get("Retry-After")
        hint = f", retry after {retry} s" if retry and retry.isdigit() else ", try again later"
        text = f"{service} rate limit reached (429){hint}"
    elif code in (401, 403):
        text = f"{service} refused the request ({code})"
    elif code == 404:
        text = f"{service} endpoint not found (404) at {host_of(url)}"
    elif code >= 500:
        text = f"{service} server error ({code})"
    else:
        text = f"{service} returned HTTP {code}"
    return ToolFailure(text, source, fallback, url)
