"""Error bodies real servers sent (vLLM 0.32, LiteLLM's proxy, llama.cpp's llama-server) read right.

Every body below was copied from a real server's answer, not made up: each one used to read as a generic
"The request was refused" / "The model service had a problem" with a Retry that could not help.
"""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.core.pipeline.transport import HttpResponse
from azure.core.rest import HttpRequest

from lib import client
from lib.hosts.config import load_settings
from lib.hosts.errors import ErrorKind, UserError, explain, permanent_failure, unwrap_message
from tests.api_double import ApiDouble, Reply

KEYED = {"Authorization": "Bearer sk-test-key-0123456789"}


class _Resp(HttpResponse):
    """A minimal azure-core response: status, JSON body, and the request it answered (with its headers)."""

    def __init__(self, status: int, body: object, request_headers: dict[str, str]) -> None:
        super().__init__(HttpRequest("POST", "http://127.0.0.1/v1/chat/completions", headers=request_headers), None)
        self.status_code = status
        self.headers = {"content-type": "application/json"}
        self.reason = "reason"
        self._body = json.dumps(body).encode()
        self.content_type = "application/json"

    def body(self) -> bytes:
        return self._body


def _explain(status: int, body: object, request_headers: dict[str, str] | None = None, cls=HttpResponseError
             ) -> UserError:
    resp = _Resp(status, body, KEYED if request_headers is None else request_headers)
    return explain(cls(response=resp))


def _reads(err: UserError) -> str:
    return f"{err.title} {err.message}"


# --- 1. Context overflow ------------------------------------------------------------------------------------------

VLLM_OVERFLOW = {"error": {
    "message": "This model's maximum context length is 2048 tokens. However, your prompt contains at least 2049 "
               "input tokens, which exceeds this limit even without any output tokens. Please reduce the length of "
               "the input prompt. (parameter=input_tokens, value=2049)",
    "type": "BadRequestError", "param": "input_tokens", "code": 400}}
VLLM_OLD_OVERFLOW = {"error": {
    "message": "This model's maximum context length is 2048 tokens. However, you requested 3000 tokens (2000 in the "
               "messages, 1000 in the completion). Please reduce the length of the messages or completion.",
    "type": "BadRequestError", "param": None, "code": 400}}
LLAMACPP_OVERFLOW = {"error": {"code": 400, "message": "the request exceeds the available context size, try "
                                                       "increasing it",
                               "type": "exceed_context_size_error", "n_prompt_tokens": 2300, "n_ctx": 2048}}
LITELLM_OVERFLOW = {"error": {
    "message": "litellm.ContextWindowExceededError: litellm.BadRequestError: ContextWindowExceededError: "
               "Hosted_vllmException - This model's maximum context length is 2048 tokens. However, your prompt "
               "contains at least 2049 input tokens, which exceeds this limit even without any output tokens. Please "
               "reduce the length of the input prompt. (parameter=input_tokens, value=2049)",
    "type": "None", "param": "None", "code": "400"}}


def _assert_overflow(err: UserError, limit: int | None) -> None:
    assert err.kind is ErrorKind.CONTEXT_TOO_LONG, err
    assert err.kind is not ErrorKind.BAD_REQUEST  # the tool loop must not try another tool-result format
    assert not err.retry_helps
    assert "too long" in err.title.lower()
    assert "no longer fits" in err.message and "New chat" in err.message and "shorter question" in err.message
    assert err.context_limit == limit
    if limit:
        assert f"{limit} tokens" in err.message


def test_vllm_context_overflow_names_the_limit() -> None:
    # Real vLLM 0.32 answer (400) to a prompt longer than --max-model-len 2048.
    err = _explain(400, VLLM_OVERFLOW)
    _assert_overflow(err, 2048)
    assert "maximum context length is 2048" in err.detail


def test_older_vllm_context_overflow_counting_the_completion() -> None:
    # Real answer of older vLLM releases: prompt + max_tokens over the limit.
    _assert_overflow(_explain(400, VLLM_OLD_OVERFLOW), 2048)


def test_llamacpp_context_overflow_reads_n_ctx_as_the_limit() -> None:
    # Real llama.cpp llama-server answer (400, type exceed_context_size_error) with -c 2048.
    err = _explain(400, LLAMACPP_OVERFLOW)
    _assert_overflow(err, 2048)
    assert "available context size" in err.detail


def test_litellm_wrapped_vllm_overflow_is_unwrapped() -> None:
    # Real LiteLLM proxy answer (400, type "None", code "400" as strings) wrapping vLLM's overflow.
    err = _explain(400, LITELLM_OVERFLOW)
    _assert_overflow(err, 2048)
    assert err.detail.startswith("This model's maximum context length is 2048 tokens")
    assert "litellm" not in err.detail and "Exception" not in err.detail


def test_openai_style_context_length_exceeded_code() -> None:
    # OpenAI's shape: the code says it, the message may word it differently.
    err = _explain(400, {"error": {"message": "Your input exceeds the limit of this model.", "type":
                                   "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})
    _assert_overflow(err, None)
    assert "(" not in err.message  # no empty "( tokens)" when the limit is not named


def test_payload_size_413_stays_too_large() -> None:
    err = _explain(413, {"error": {"code": "tokens_limit_reached",
                                   "message": "Request body too large for x model. Max size: 8000 tokens."}})
    assert err.kind is ErrorKind.TOO_LARGE and not err.retry_helps


# --- 2. Image sent to a text-only model -----------------------------------------------------------------------------

VLLM_NOT_MULTIMODAL = {"error": {"message": "meta-llama/Llama-3.1-405B-Instruct is not a multimodal model",
                                 "type": "BadRequestError", "param": None, "code": 400}}
LLAMACPP_NO_MMPROJ = {"error": {"code": 500, "message": "image input is not supported - hint: if this is "
                                                        "unexpected, you may need to provide the mmproj",
                                "type": "server_error"}}


def _assert_image(err: UserError) -> None:
    assert err.kind is ErrorKind.IMAGE_NOT_SUPPORTED, err
    assert not err.retry_helps
    assert "does not read images" in err.title
    assert "Llama 3.2 Vision" in err.message and "Llama 4" in err.message
    assert "model picker" in err.message and "sidebar" in err.message


def test_vllm_text_model_given_an_image() -> None:
    # Real vLLM 0.32 answer (400) serving Llama-3.1-405B-Instruct when a message carries an image.
    _assert_image(_explain(400, VLLM_NOT_MULTIMODAL))


def test_llamacpp_500_without_mmproj_is_permanent_not_a_server_hiccup() -> None:
    # Real llama.cpp llama-server answer: a 500 for an image sent to a model started without --mmproj.
    err = _explain(500, LLAMACPP_NO_MMPROJ)
    _assert_image(err)
    assert err.kind is not ErrorKind.SERVER and err.status == 500
    assert permanent_failure(500, json.dumps(LLAMACPP_NO_MMPROJ))


@pytest.mark.parametrize("message", [
    "This model does not support image input.",
    "image input is not supported for this model",
    "vision is not supported by this endpoint",
    "The requested model is not multimodal",
    "No endpoints found that support image input",
])
def test_other_hosts_words_for_no_images(message: str) -> None:
    _assert_image(_explain(400, {"error": {"code": 400, "message": message}}))


def test_a_system_message_refused_next_to_an_image_stays_bad_request() -> None:
    # The vision page retries without a system message on this one: it must not become "no images".
    err = _explain(400, {"error": {"code": "bad_request",
                                   "message": "Prompting with images is incompatible with system messages"}})
    assert err.kind is ErrorKind.BAD_REQUEST


def test_permanent_failure_for_the_retry_policy() -> None:
    assert permanent_failure(500, json.dumps(LLAMACPP_NO_MMPROJ))
    assert permanent_failure(400, json.dumps(LLAMACPP_OVERFLOW))
    assert permanent_failure(400, json.dumps(LITELLM_OVERFLOW))
    assert permanent_failure(400, json.dumps(VLLM_NOT_MULTIMODAL))
    assert permanent_failure(500, "image input is not supported")  # not JSON: read as text
    assert not permanent_failure(500, json.dumps({"error": {"code": 500, "message": "Internal Server Error",
                                                            "type": "server_error"}}))
    assert not permanent_failure(503, "")
    assert not permanent_failure(502, "<html>Bad Gateway</html>")
    assert not permanent_failure(200, "image input is not supported")


def test_plain_500_still_offers_retry() -> None:
    err = _explain(500, {"error": {"code": 500, "message": "Internal Server Error", "type": "server_error"}})
    assert err.kind is ErrorKind.SERVER and err.retry_helps


# --- 3. A server that needs a key when none was sent ---------------------------------------------------------------

def _assert_needs_key(err: UserError) -> None:
    assert err.kind is ErrorKind.NEEDS_KEY, err
    assert not err.retry_helps
    assert err.title == "This server needs a key"
    assert "MODELS_API_KEY" in err.message and ".streamlit/secrets.toml" in err.message
    assert "sidebar" in err.message


def test_vllm_with_api_key_answers_a_keyless_request() -> None:
    # Real vLLM 0.32 started with --api-key: 401 {"error":"Unauthorized"} to a request with no key.
    _assert_needs_key(_explain(401, {"error": "Unauthorized"}, request_headers={}, cls=ClientAuthenticationError))


def test_litellm_answers_a_keyless_request() -> None:
    # Real LiteLLM proxy answer (401) to a request with no key.
    body = {"error": {"message": "Authentication Error, No api key passed in.", "type": "auth_error",
                      "param": "None", "code": "401"}}
    _assert_needs_key(_explain(401, body, request_headers={}, cls=ClientAuthenticationError))


def test_a_key_that_was_sent_and_refused_stays_auth() -> None:
    # The same real bodies when a key WAS sent: the key was refused.
    for body in ({"error": "Unauthorized"}, {"error": {"message": "Authentication Error, Invalid proxy server token "
                                                                  "passed.", "type": "auth_error", "code": "401"}}):
        err = _explain(401, body, request_headers=KEYED, cls=ClientAuthenticationError)
        assert err.kind is ErrorKind.AUTH and err.title == "The key was refused" and not err.retry_helps
    assert _explain(401, {"error": "Unauthorized"}, request_headers={"api-key": "abcd1234"}).kind is ErrorKind.AUTH
    # An empty "Bearer" is no key.
    _assert_needs_key(_explain(401, {"error": "Unauthorized"}, request_headers={"Authorization": "Bearer "}))


def test_unreadable_request_headers_fall_back_to_auth() -> None:
    exc = ClientAuthenticationError(response=_Resp(401, {"error": "Unauthorized"}, {}))
    exc.response.request = None  # a response that does not say what was sent
    assert explain(exc).kind is ErrorKind.AUTH
    # ...but a body that says so is enough.
    exc = ClientAuthenticationError(response=_Resp(401, {"error": {"message": "Authentication Error, No api key "
                                                                              "passed in.", "code": "401"}}, {}))
    exc.response.request = None
    _assert_needs_key(explain(exc))


def test_a_keyless_client_against_a_key_server_needs_key(double: ApiDouble) -> None:
    # End to end: the shared client given no key sends no auth header, the server answers like vLLM --api-key.
    s = load_settings(environ={"MODELS_PROVIDER": "custom", "MODELS_ENDPOINT": double.endpoint},
                      probe=lambda url: False)
    double.queue(Reply(status=401, body={"error": "Unauthorized"}))
    with pytest.raises(Exception) as info:
        for _ in client.stream(s, "meta-llama/Llama-3.1-8B-Instruct", [{"role": "user", "content": "Hi"}]):
            pass
    _assert_needs_key(explain(info.value))


# --- 4. LiteLLM's unknown model is a 400 -----------------------------------------------------------------------------

LITELLM_BAD_MODEL = {"error": {
    "message": "{'error': '/chat/completions: Invalid model name passed in model=meta-llama/nope. Call `/v1/models` "
               "to view available models for your key.'}",
    "type": "None", "param": "None", "code": "400"}}


def test_litellm_invalid_model_400_is_model_not_found() -> None:
    # Real LiteLLM proxy answer (400) for a model name its config does not list.
    err = _explain(400, LITELLM_BAD_MODEL)
    assert err.kind is ErrorKind.MODEL_NOT_FOUND and err.model_gone
    assert "not found" in err.title.lower()
    assert err.detail.startswith("Invalid model name passed in model=meta-llama/nope")


def test_vllm_404_unknown_model_still_maps() -> None:
    # Real vLLM 0.32 answer (404) for a model it does not serve.
    err = _explain(404, {"error": {"message": "The model `nope` does not exist.", "type": "NotFoundError",
                                   "param": "model", "code": 404}})
    assert err.kind is ErrorKind.MODEL_NOT_FOUND and err.model_gone


@pytest.mark.parametrize("body", [
    {"error": {"code": 400, "message": "Invalid model name: x"}},
    {"error": {"code": "model_not_found", "message": "The requested model x was not found"}},
    {"error": {"code": 400, "message": "Unknown model: x"}},
    {"error": {"code": 400, "message": "x is not a valid model ID"}},
    {"error": {"code": 404, "message": "No endpoints found for meta-llama/llama-3.1-405b-instruct."}},  # OpenRouter
])
def test_other_gateways_words_for_an_unknown_model(body: dict) -> None:
    assert _explain(400, body).kind is ErrorKind.MODEL_NOT_FOUND


# --- 5. Unwrapping gateways' nested text -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, inner", [
    ("litellm.BadRequestError: Hosted_vllmException - This model's maximum context length is 2048 tokens.",
     "This model's maximum context length is 2048 tokens."),
    ("{'error': '/chat/completions: Invalid model name passed in model=x.'}", "Invalid model name passed in model=x."),
    ('{"error": {"message": "meta/x is not a multimodal model", "code": 400}}', "meta/x is not a multimodal model"),
    ("litellm.BadRequestError: OpenAIException - Error code: 400 - {'error': {'message': 'bad thing', 'code': 400}}",
     "bad thing"),
    ("Plain words stay as they are.", "Plain words stay as they are."),
    ("{not a dict at all", "{not a dict at all"),
    ("{'error': __import__('os').system('echo no')}", "{'error': __import__('os').system('echo no')}"),  # never run
])
def test_unwrap_message(text: str, inner: str) -> None:
    assert unwrap_message(text) == inner


def test_unwrapped_detail_is_still_redacted_and_short() -> None:
    from lib.common import redact

    redact.register("sk-litellm-echoed-secret-77")
    err = _explain(401, {"error": {"message": "litellm.AuthenticationError: AuthenticationError: OpenAIException - "
                                              "{'error': 'Invalid key sk-litellm-echoed-secret-77 " + "x" * 500 + "'}",
                                   "type": "auth_error", "code": "401"}})
    assert "echoed-secret" not in err.detail and "[redacted]" in err.detail
    assert err.detail.startswith("Invalid key") and len(err.detail) <= 300
