"""Error mapping for every kind and every host's error shape, wait-time formatting, redaction."""

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

from lib.hosts.errors import ErrorKind, UserError, explain, format_wait, retry_after_seconds


class _Resp(HttpResponse):
    """A minimal azure-core response carrying a status, headers and a JSON body.

    Its request carries a key (`Authorization: Bearer ...`) unless `request_headers` says otherwise: a 401 to a
    request that sent a key is "the key was refused", one to a request that sent none is "this server needs a key".
    """

    def __init__(self, status: int, body: object, headers: dict[str, str] | None = None,
                 request_headers: dict[str, str] | None = None, url: str = "http://127.0.0.1/x") -> None:
        req_headers = {"Authorization": "Bearer test-key-1234"} if request_headers is None else request_headers
        super().__init__(HttpRequest("POST", url, headers=req_headers), None)
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
        (_http(400, "context_length_exceeded", "too many tokens"), ErrorKind.CONTEXT_TOO_LONG),
        (_http(400, "400", "x is not a multimodal model"), ErrorKind.IMAGE_NOT_SUPPORTED),
        (HttpResponseError(response=_Resp(401, {"error": "Unauthorized"}, request_headers={})), ErrorKind.NEEDS_KEY),
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


def _raw(status: int, body: object) -> HttpResponseError:
    resp = _Resp(status, {})
    resp._body = json.dumps(body).encode()
    return HttpResponseError(response=resp)


@pytest.mark.parametrize("body, date", [
    ({"type": "about:blank", "status": 410, "title": "Gone",
      "detail": "The model 'meta/llama-3.1-405b-instruct' has reached its end of life on 2026-04-15."}, "2026-04-15"),
    ({"error": {"message": "This model was deprecated and reached end of life on April 15, 2026"}}, "April 15, 2026"),
    ({"error": {"message": "Gone"}}, None),
])
def test_410_is_retired_with_the_date_never_unexpected(body: dict, date: str | None) -> None:
    err = explain(_raw(410, body))
    assert err.kind is ErrorKind.RETIRED and err.model_gone
    assert err.title == "This service or model was retired"
    assert "Unexpected" not in err.title
    if date:
        assert date in err.message
    assert not err.retry_helps


@pytest.mark.parametrize("body, kind, detail", [
    ({"error": {"message": 'model "llama3.1:405b" not found, try pulling it first', "type": "api_error",
                "param": None, "code": None}}, ErrorKind.MODEL_NOT_FOUND, "try pulling it first"),  # Ollama, 404
    ({"error": {"code": 402, "message": "Insufficient credits"}}, ErrorKind.PAYMENT, "Insufficient credits"),
    ({"code": "invalid_model_params", "message": "Unprocessable: extra parameter"}, ErrorKind.UNKNOWN,
     "Unprocessable"),  # Azure 422: top-level code
    ({"message": "The model `x` does not exist."}, ErrorKind.MODEL_NOT_FOUND, "does not exist"),  # vLLM
    ({"error": "Model meta-llama/x is not supported by any provider you have enabled"}, ErrorKind.BAD_REQUEST,
     "not supported"),  # Hugging Face: error as a string
])
def test_every_hosts_error_shape_is_read(body: dict, kind: ErrorKind, detail: str) -> None:
    status = {ErrorKind.MODEL_NOT_FOUND: 404, ErrorKind.PAYMENT: 402, ErrorKind.UNKNOWN: 422,
              ErrorKind.BAD_REQUEST: 400}[kind]
    err = explain(_raw(status, body))
    assert err.kind is kind, err
    assert detail in err.detail


def test_openrouter_invalid_model_400_counts_as_not_found() -> None:
    err = explain(_raw(400, {"error": {"code": 400, "message": "meta-llama/llama-3.1-405b-instruct is not a valid "
                                                              "model ID"}}))
    assert err.kind is ErrorKind.MODEL_NOT_FOUND and err.model_gone


def test_a_key_echoed_by_a_server_is_redacted_from_the_detail() -> None:
    from lib.common import redact

    redact.register("sk-or-v1-echoed-secret-42")
    err = explain(_raw(401, {"error": {"message": "Invalid key sk-or-v1-echoed-secret-42 for this account"}}))
    assert "echoed-secret" not in err.detail and "[redacted]" in err.detail
    err = explain(_raw(401, {"error": {"message": "bad header Authorization: Bearer abcdefghijklmnop123"}}))
    assert "abcdefghijklmnop123" not in err.detail


def test_retry_is_not_offered_where_it_cannot_help() -> None:
    day = explain(_http(429, "RateLimitReached", "limit", {"retry-after": "24367", "x-ratelimit-type": "UserByModelByDay"}))
    assert not day.retry_helps
    assert not explain(_http(401, "unauthorized", "Bad credentials", cls=ClientAuthenticationError)).retry_helps
    assert explain(_http(503, "service_unavailable", "busy")).retry_helps
    for kind in (ErrorKind.CONTEXT_TOO_LONG, ErrorKind.IMAGE_NOT_SUPPORTED, ErrorKind.NEEDS_KEY):
        assert not UserError(kind, "t", "m").retry_helps
    assert explain(ServiceRequestError("Connection refused")).retry_helps


def test_an_azure_answer_saying_the_models_route_was_retired_says_where_to_go() -> None:
    """Microsoft retired the Azure AI Model Inference /models route (target 2026-08-26); its replacement is the
    resource's /openai/v1 route. The exact body was not seen: a 404 saying 'retired' about /models stands in."""
    resp = _Resp(404, {"error": {"code": "NotFound", "message": "The /models route has been retired."}})
    resp.request = HttpRequest("POST", "https://res.services.ai.azure.com/models/chat/completions")
    err = explain(HttpResponseError(response=resp))
    assert err.kind is ErrorKind.RETIRED and "/openai/v1" in err.message and not err.retry_helps
    other = _Resp(404, {"error": {"code": "NotFound", "message": "The /models route has been retired."}})
    assert "/openai/v1" not in explain(HttpResponseError(response=other)).message  # not Azure: no Azure advice
