"""Error mapping for every kind, wait-time formatting, and the catalog's lookup and fallback."""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.rest import HttpRequest
from azure.core.pipeline.transport import HttpResponse

from lib.catalog import CatalogResult, candidates, fetch_catalog, find, parse_catalog, resolve_model
from lib.errors import ErrorKind, explain, format_wait, retry_after_seconds
from tests.api_double import DEFAULT_CATALOG, ApiDouble


class _Resp(HttpResponse):
    """A minimal azure-core response carrying a status, headers and a JSON body."""

    def __init__(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        super().__init__(HttpRequest("POST", "http://127.0.0.1/x"), None)
        self.status_code = status
        self.headers = headers or {}
        self.reason = "reason"
        self._body = json.dumps(body).encode()
        self.content_type = "application/json"

    def body(self) -> bytes:
        return self._body


def _http(status: int, code: str, message: str, headers: dict[str, str] | None = None, cls=HttpResponseError):
    return cls(response=_Resp(status, {"error": {"code": code, "message": message}}, headers))


@pytest.mark.parametrize(
    "exc, kind",
    [
        (_http(401, "unauthorized", "Bad credentials", cls=ClientAuthenticationError), ErrorKind.AUTH),
        (_http(403, "no_access", "No access to model"), ErrorKind.PERMISSION),
        (_http(404, "unknown_model", "Unknown model: x", cls=ResourceNotFoundError), ErrorKind.MODEL_NOT_FOUND),
        (_http(400, "unavailable_model", "Unavailable model: x"), ErrorKind.MODEL_NOT_FOUND),
        (_http(413, "tokens_limit_reached", "Request body too large for x model. Max size: 8000 tokens."), ErrorKind.TOO_LARGE),
        (_http(429, "RateLimitReached", "Rate limit of 10 per 60s exceeded for UserByModelByMinute. Please wait 30 seconds before retrying.",
               {"retry-after": "30", "x-ratelimit-type": "UserByModelByMinute"}), ErrorKind.RATE_LIMIT_MINUTE),
        (_http(429, "RateLimitReached", "Rate limit of 50 per 86400s exceeded for UserByModelByDay. Please wait 24367 seconds before retrying.",
               {"retry-after": "24367", "x-ratelimit-type": "UserByModelByDay"}), ErrorKind.RATE_LIMIT_DAY),
        (_http(400, "content_filter", "The response was filtered"), ErrorKind.CONTENT_FILTER),
        (_http(400, "invalid_request", "Something else"), ErrorKind.BAD_REQUEST),
        (_http(500, "internal_error", "oops"), ErrorKind.SERVER),
        (_http(503, "service_unavailable", "busy"), ErrorKind.SERVER),
        (ServiceResponseTimeoutError("Read timed out"), ErrorKind.TIMEOUT),
        (ServiceRequestError("Connection refused"), ErrorKind.OFFLINE),
        (ServiceResponseError("Connection broken: IncompleteRead"), ErrorKind.BAD_STREAM),
        (ValueError("SSE event not supported (line `b': keep-alive'`)"), ErrorKind.BAD_STREAM),
        (RuntimeError("boom"), ErrorKind.UNKNOWN),
    ],
)
def test_every_kind_has_a_title_and_an_actionable_message(exc: BaseException, kind: ErrorKind) -> None:
    err = explain(exc)
    assert err.kind is kind
    assert err.title and err.message
    assert "Traceback" not in err.message + err.detail


def test_rate_limit_reads_the_wait_like_github_cli() -> None:
    assert retry_after_seconds({"x-ratelimit-timeremaining": "12", "retry-after": "99"}) == 12
    assert retry_after_seconds({"Retry-After": "99"}) == 99
    assert retry_after_seconds({}) is None
    err = explain(_http(429, "RateLimitReached", "limit", {"retry-after": "24367", "x-ratelimit-type": "UserByModelByDay"}))
    assert err.retry_after_s == 24367 and "6 h 46 min" in err.message
    no_header = explain(_http(429, "RateLimitReached", "limit"))
    assert no_header.kind is ErrorKind.RATE_LIMIT_MINUTE and no_header.retry_after_s == 60


@pytest.mark.parametrize("secs, text", [(0, "0 s"), (42, "42 s"), (60, "1 min"), (150, "2 min 30 s"), (3600, "1 h"), (24367, "6 h 46 min")])
def test_format_wait(secs: float, text: str) -> None:
    assert format_wait(secs) == text


def test_catalog_lookup_is_case_insensitive_and_filters_by_modality() -> None:
    models = parse_catalog(DEFAULT_CATALOG)
    assert find(models, "meta/Meta-Llama-3.1-405B-Instruct") is not None
    assert find(models, "META/LLAMA-3.2-90B-VISION-INSTRUCT").accepts_images
    vision = [m.id for m in candidates(models, "image")]
    assert "meta/llama-3.2-90b-vision-instruct" in vision and "meta/meta-llama-3.1-405b-instruct" not in vision
    assert vision[0].startswith("meta/"), "Meta's models come first"


def test_missing_model_proposes_the_documented_fallback() -> None:
    without_405b = [m for m in DEFAULT_CATALOG if "405b" not in m["id"]]
    cat = CatalogResult(models=tuple(parse_catalog(without_405b)), url="x")
    choice = resolve_model("meta/Meta-Llama-3.1-405B-Instruct", cat)
    assert choice.listed is False and choice.fallback == "meta/Llama-3.3-70B-Instruct"
    assert "not in the catalog" in choice.note
    without_90b = [m for m in DEFAULT_CATALOG if "90b" not in m["id"]]
    choice = resolve_model("meta/Llama-3.2-90B-Vision-Instruct", CatalogResult(models=tuple(parse_catalog(without_90b)), url="x"))
    assert choice.fallback == "meta/Llama-3.2-11B-Vision-Instruct"


def test_no_catalog_uses_configured_names() -> None:
    assert resolve_model("any/model", None).listed is None
    assert resolve_model("any/model", CatalogResult(error="down", url="x")).listed is None


def test_parse_catalog_skips_garbage() -> None:
    assert parse_catalog([{"id": "a/b"}, {"no": "id"}, "junk", None]) == parse_catalog([{"id": "a/b"}])
    assert parse_catalog("not a list") == []


def test_fetch_catalog_failures_are_values_not_exceptions() -> None:
    with ApiDouble() as d:
        d.catalog_status = 500
        res = fetch_catalog(d.catalog_url, "t")
        assert not res.available and "500" in (res.error or "")
    res = fetch_catalog("http://127.0.0.1:9/catalog/models", None, timeout_s=2)
    assert not res.available and res.error
