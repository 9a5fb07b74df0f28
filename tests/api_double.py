"""API DOUBLE: a local stand-in for the OpenAI-compatible hosts Llama runs on, for tests and offline demos.

Never a real model. It speaks the protocol Ollama, vLLM, NVIDIA's API catalog, OpenRouter, Hugging Face's router,
Azure AI Foundry, SambaNova, Together, DeepInfra and Cloudflare Workers AI share, with each host's known quirks
(shared/FACTS.md) as a *preset* ("sambanova", "together", "deepinfra", "cloudflare": their Llama models beside others,
OpenAI-shaped errors; Cloudflare lists no models):
- `POST …/chat/completions` — JSON, or SSE when `"stream": true` (`data: {...}` chunks, a usage chunk when
  `stream_options.include_usage` is set, then `data: [DONE]`).
- `GET …/models` — OpenAI-style `{"object": "list", "data": [...]}` with the preset's models (OpenRouter's with
  `context_length` and `architecture.input_modalities`); Azure answers 404 (deployments are not listed).
- per preset: retired models answer 410 with an end-of-life date (NVIDIA, still listed), unknown models 404 in the
  host's own error shape (Ollama, OpenRouter, Azure), a system message next to an image is refused and inline
  images over 180 000 base64 characters are refused (NVIDIA).
- scripted failures: 401, 404, 413, 429 per minute / per day with retry-after, 400 content filter, 500, 503, a
  stream cut off mid-way, CRLF / keep-alive streams the SDK cannot parse, a slow first token.

Presets with a `server` behave as that server software does (read off vLLM 0.32, LiteLLM's proxy 1.108 and llama.cpp's
llama-server, which tests/test_double_parity.py compares with the double; Ollama from its docs and FACTS.md):
- "vllm" (context 8192), "llamacpp" (2048, one model, any name), "litellm" (a gateway in front of vLLM, 8192): a
  prompt over the context (`lib.hosts.budget.estimate_tokens`) is refused in the server's own 400
  (`Reply.context_overflow`); an image for a text-only model too (`Reply.image_refused`: llama.cpp answers 500);
  an unknown model is vLLM's 404 / LiteLLM's 400 "Invalid model name" (`Reply.model_missing`). `double.contexts`
  sets another context per preset (listed and enforced alike).
- "ollama" (context 4096): a longer prompt is cut from the front, silently, and answered (`Recorded.truncated`);
  one request at a time per model (`double.ollama_parallel`, others wait); `GET /api/version` says
  `double.ollama_version`; with `double.follow_ollama_version`, `llama3.2-vision` answers Ollama >= 0.30's 500
  (`Reply.mllama_crash`).
- listings as each writes them: vLLM `owned_by: "vllm"` + `max_model_len`, llama.cpp `owned_by: "llamacpp"` +
  `meta.n_ctx`, LiteLLM `owned_by: "openai"` + `max_input_tokens`.
- at the server root (`/vllm/tokenize` beside `/vllm/v1`): vLLM's `/tokenize` + `/detokenize`, llama.cpp's
  `/apply-template` + `/tokenize` + `/detokenize`, rendering Meta's Llama 3.1 chat template (`render_llama31`).
- the demo responder's built-in calls come without `<|python_tag|>` / `<|eom_id|>` (replies a test scripts are sent
  as given); usage counts the prompt (the other presets keep a fixed 42).
A client that hangs up mid-answer (a stalled stream, between two pieces, before a slow first byte) is logged in
`double.disconnects`.

One double serves every preset at once: `double.endpoint_for("openrouter")` is `http://127.0.0.1:PORT/openrouter/v1`;
`double.endpoint` is the double's own preset (default "any": a permissive server answering any model name). Tests script replies (`double.queue(Reply(...))`)
and read `double.requests` to assert what the app sent (headers included: which key reached which preset). With no
script, `demo_responder` answers plausibly, so a person can click through the whole app offline:

    python -m tests.api_double --port 8000
    MODELS_PROVIDER=custom MODELS_ENDPOINT=http://127.0.0.1:8000/v1 streamlit run app.py

In demo mode, putting `#429day`, `#429`, `#401`, `#404`, `#410`, `#413`, `#filter`, `#500`, `#503`, `#slow`, `#cut`,
`#heartbeat` in a message makes the double answer with that failure, to show the app's error states.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import dataclasses
import hashlib
import io
import json
import random
import re
import select
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

from lib.hosts.budget import MESSAGE_OVERHEAD, estimate_tokens
from lib.tool_calling.llama_prompt import BEGIN, EOM, EOT, PYTHON_TAG

@dataclass(frozen=True)
class Preset:
    """What one host does: the models it lists, the ones it retired, its quirks and its error shape."""

    name: str
    models: tuple[dict[str, Any], ...]
    retired: dict[str, str] = field(default_factory=dict)  # model id (lower) -> end-of-life date
    strict_models: bool = True  # unknown model -> 404
    lists_models: bool = True
    refuses_system_with_image: bool = False
    max_inline_image_chars: int | None = None
    error_shape: str = "openai"  # "openai" | "openrouter" | "ollama" | "nvidia" | "azure"
    refuses_images: bool = False  # any image part is refused with a 400 (Cloudflare Workers AI's OpenAI route) | "llamacpp" | "litellm"
    # The server software behind the preset, with what it really does (read off vLLM 0.32, LiteLLM 1.108, llama.cpp's
    # llama-server and Ollama's docs): "vllm" | "llamacpp" | "litellm" | "ollama" | "" (none of these: no such
    # behaviour). With a server set: usage counts the real prompt (`lib.hosts.budget.estimate_tokens`), and a prompt over
    # `context_tokens` is refused in that server's own 400 (Ollama: cut from the front and answered, silently).
    server: str = ""
    context_tokens: int | None = None  # the server's context window (None: unlimited)


def _m(mid: str, *, owned_by: str = "meta", vision: bool = False, context: int | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": mid, "object": "model", "created": 1730000000, "owned_by": owned_by}
    if context is not None:
        item["context_length"] = context
        item["architecture"] = {"input_modalities": ["text", "image"] if vision else ["text"],
                                "output_modalities": ["text"]}
    return item


_CREATED = 1730000000


def _vllm_m(mid: str, context: int) -> dict[str, Any]:
    """A model as vLLM's OpenAI server lists it (`owned_by: "vllm"`, `max_model_len`, a permission block)."""
    return {"id": mid, "object": "model", "created": _CREATED, "owned_by": "vllm", "root": mid, "parent": None,
            "max_model_len": context,
            "permission": [{"id": "modelperm-" + hashlib.sha256(mid.encode()).hexdigest()[:16],
                            "object": "model_permission", "created": _CREATED, "allow_create_engine": False,
                            "allow_sampling": True, "allow_logprobs": True, "allow_search_indices": False,
                            "allow_view": True, "allow_fine_tuning": False, "organization": "*", "group": None,
                            "is_blocking": False}]}


def _llamacpp_m(mid: str, context: int) -> dict[str, Any]:
    """A model as llama.cpp's llama-server lists it (`owned_by: "llamacpp"`, the context in `meta.n_ctx`)."""
    return {"id": mid, "object": "model", "created": _CREATED, "owned_by": "llamacpp",
            "meta": {"vocab_type": 2, "n_vocab": 128256, "n_ctx_train": 131072, "n_ctx": context, "n_embd": 4096,
                     "n_params": 8030261248, "size": 4912898304}}


def _litellm_m(mid: str, context: int | None = None) -> dict[str, Any]:
    """A model as LiteLLM's proxy lists it (`owned_by: "openai"`; `max_input_tokens` where it knows the limit)."""
    item: dict[str, Any] = {"id": mid, "object": "model", "created": 1677610602, "owned_by": "openai"}
    if context is not None:
        item["max_input_tokens"] = context
        item["max_output_tokens"] = context
    return item


VLLM_CONTEXT = 8192  # `vllm serve … --max-model-len 8192`, as FACTS.md's example
LLAMACPP_CONTEXT = 2048  # `llama-server -c 2048`
LITELLM_CONTEXT = 8192  # the vLLM behind the gateway
OLLAMA_CONTEXT = 4096  # Ollama's default below 24 GiB of VRAM (docs.ollama.com context-length)

PRESETS: dict[str, Preset] = {
    # The double's own endpoint (`/v1`): a permissive server that answers any model name.
    "any": Preset("any", (
        _m("meta-llama/Llama-3.1-405B-Instruct", owned_by="vllm"),
        _m("meta-llama/Llama-3.3-70B-Instruct", owned_by="vllm"),
        _m("meta-llama/Llama-3.2-90B-Vision-Instruct", owned_by="vllm"),
        _m("meta-llama/Llama-3.2-11B-Vision-Instruct", owned_by="vllm"),
        _m("Qwen/Qwen2.5-7B-Instruct", owned_by="vllm"),
    ), strict_models=False),
    "vllm": Preset("vllm", (
        _vllm_m("meta-llama/Llama-3.1-405B-Instruct-FP8", VLLM_CONTEXT),
        _vllm_m("meta-llama/Llama-3.2-90B-Vision-Instruct", VLLM_CONTEXT),
    ), server="vllm", context_tokens=VLLM_CONTEXT),
    # llama.cpp's llama-server: one model, whatever name a request gives (it does not check `model`).
    "llamacpp": Preset("llamacpp", (
        _llamacpp_m("meta-llama/Llama-3.1-8B-Instruct", LLAMACPP_CONTEXT),
    ), strict_models=False, error_shape="llamacpp", server="llamacpp", context_tokens=LLAMACPP_CONTEXT),
    # LiteLLM's proxy as a company gateway (tests/real_servers/litellm_config.yaml): one model routed to a vLLM
    # server, the others mock answers; an unknown model is a 400 "Invalid model name".
    "litellm": Preset("litellm", (
        _litellm_m("meta-llama/Llama-3.1-405B-Instruct", LITELLM_CONTEXT),
        _litellm_m("meta-llama/Llama-3.3-70B-Instruct"),
        _litellm_m("meta-llama/Llama-3.1-70B-Instruct"),
    ), error_shape="litellm", server="litellm", context_tokens=LITELLM_CONTEXT),
    "ollama": Preset("ollama", (
        _m("llama3.1:8b", owned_by="library"),
        _m("llama3.2-vision:latest", owned_by="library"),
        _m("qwen2.5:7b", owned_by="library"),
    ), error_shape="ollama", server="ollama", context_tokens=OLLAMA_CONTEXT),
    "nvidia": Preset("nvidia", (
        _m("meta/llama-3.1-405b-instruct"),
        _m("meta/llama-3.3-70b-instruct"),
        _m("meta/llama-3.2-90b-vision-instruct"),
        _m("meta/llama-3.2-11b-vision-instruct"),
        _m("nvidia/llama-3.1-nemotron-70b-instruct", owned_by="nvidia"),
    ), retired={"meta/llama-3.1-405b-instruct": "2026-04-15"}, refuses_system_with_image=True,
        max_inline_image_chars=180_000, error_shape="nvidia"),
    "openrouter": Preset("openrouter", (
        _m("meta-llama/llama-3.3-70b-instruct", context=131072),
        _m("meta-llama/llama-3.3-70b-instruct:free", context=65536),
        _m("meta-llama/llama-3.2-11b-vision-instruct", vision=True, context=131072),
        _m("meta-llama/llama-4-maverick", vision=True, context=1048576),
        _m("openai/gpt-4o-mini", owned_by="openai", vision=True, context=128000),
    ), error_shape="openrouter"),
    "huggingface": Preset("huggingface", (
        _m("meta-llama/Llama-3.3-70B-Instruct"),
        _m("meta-llama/Llama-4-Maverick-17B-128E-Instruct"),
    )),
    "azure": Preset("azure", (
        _m("Llama-3.3-70B-Instruct"),
        _m("Llama-4-Maverick-17B-128E-Instruct-FP8"),
    ), lists_models=False, error_shape="azure"),
    # Hosts still serving Llama 3.3 70B (FACTS.md, checked 2026-12-01), each beside models that are not Llama.
    "sambanova": Preset("sambanova", (
        _m("Meta-Llama-3.3-70B-Instruct", owned_by="SambaNova"),
        _m("DeepSeek-V3.1", owned_by="SambaNova"),
        _m("gpt-oss-120b", owned_by="SambaNova"),
    )),
    "together": Preset("together", (
        _m("meta-llama/Llama-3.3-70B-Instruct-Turbo", owned_by="together"),
        _m("Qwen/Qwen2.5-72B-Instruct-Turbo", owned_by="together"),
    )),
    "deepinfra": Preset("deepinfra", (
        _m("meta-llama/Llama-3.3-70B-Instruct-Turbo", owned_by="deepinfra"),
        _m("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", owned_by="deepinfra"),
        _m("meta-llama/Llama-4-Scout-17B-16E-Instruct", owned_by="deepinfra"),
        _m("deepseek-ai/DeepSeek-V3.2", owned_by="deepinfra"),
    )),
    # Workers AI's OpenAI-compatible route lists no models. It also refuses image parts (Llama 4 Scout's included):
    # saying so takes a `Preset` field the double does not have yet, so a test scripts that 400 itself for now.
    "cloudflare": Preset("cloudflare", (
        _m("@cf/meta/llama-3.3-70b-instruct-fp8-fast", owned_by="cloudflare"),
        _m("@cf/meta/llama-3.1-8b-instruct-fp8", owned_by="cloudflare"),
        _m("@cf/meta/llama-4-scout-17b-16e-instruct", owned_by="cloudflare"),
    ), lists_models=False, refuses_images=True),  # its OpenAI route rejects image parts
}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": None}}


def shaped_error(shape: str, status: int, code: str, message: str) -> dict[str, Any]:
    """An error body the way a given host writes it (FACTS.md: most are OpenAI style, not all)."""
    if shape == "ollama":
        return {"error": {"message": message, "type": "api_error", "param": None, "code": None}}
    if shape == "openrouter":
        return {"error": {"code": status, "message": message, "metadata": {"provider_name": None}}}
    if shape == "nvidia":
        return {"type": "about:blank", "status": status, "title": code.replace("_", " ").title(), "detail": message}
    if shape == "azure" and status == 422:
        return {"code": code, "message": message}
    if shape == "llamacpp":
        return {"error": {"code": status, "message": message, "type": _LLAMACPP_TYPES.get(status, "server_error")}}
    if shape == "litellm":
        return {"error": {"message": message, "type": _LITELLM_TYPES.get(status, "None"), "param": None,
                          "code": str(status)}}
    if shape == "vllm":
        return {"error": {"message": message, "type": _VLLM_TYPES.get(status, "InternalServerError"), "param": None,
                          "code": status}}
    return _error(code, message)


_LLAMACPP_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                   404: "not_found_error", 500: "server_error", 501: "not_supported_error", 503: "unavailable_error"}
_LITELLM_TYPES = {400: "invalid_request_error", 401: "auth_error", 404: "not_found_error", 429: "throttling_error"}
_VLLM_TYPES = {400: "BadRequestError", 404: "NotFoundError", 501: "NotImplementedError"}
SERVED = "meta-llama/Llama-3.1-405B-Instruct"  # the model the real-server tier serves (tests/real_servers)
MLLAMA_ERROR = ("llama-server process has terminated: exit status 1: error loading model: unknown model "
                "architecture: 'mllama'")


def _vllm_overflow_message(limit: int, prompt_tokens: int) -> str:
    return (f"This model's maximum context length is {limit} tokens. However, your prompt contains at least "
            f"{prompt_tokens} input tokens, which exceeds this limit even without any output tokens. Please reduce "
            f"the length of the input prompt. (parameter=input_tokens, value={prompt_tokens})")


def _litellm_wrapped(prefix: str, upstream: dict[str, Any], model: str, context_hint: bool = False) -> str:
    """LiteLLM's words around an upstream vLLM error body (as its proxy writes them, read off LiteLLM 1.108)."""
    text = f"{prefix}Hosted_vllmException - {json.dumps(upstream, separators=(',', ':'))}"
    if context_hint:
        text += (f"\nmodel={model}. context_window_fallbacks=None. fallbacks=None.\n\nSet 'context_window_fallback' - "
                 "https://docs.litellm.ai/docs/routing#fallbacks")
    return text + f"\n\nLiteLLM: model group '{model}' failed with the error above. No fallback was attempted."


@dataclass
class Reply:
    """One scripted answer. `status != 200` answers with `body`/`headers` as an error."""

    text: str = ""
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # "sse" | "crlf" | "cr" (bare CR line endings) | "keepalive" (a `: keep-alive` comment first) | "openrouter"
    # (`: OPENROUTER PROCESSING` comments before and between chunks, as OpenRouter sends by design) | "badjson" (a
    # data line that is not JSON) | "cut" (the connection drops mid-way) | "stall" (headers, then nothing: a server
    # that hangs before its first token) | "heartbeat" (the text's pieces, if any, then bytes but never text again:
    # `: keep-alive` comment lines, `data: {"choices":[]}` chunks and chunks whose delta has no content, in turn, one
    # every `chunk_delay_s` (0.2 s when 0), until the client hangs up (logged in `double.disconnects`),
    # `double.stalled` is set or `delay_s` (60 s when 0) passes; the connection is then closed, no [DONE] sent)
    stream_mode: str = "sse"
    delay_s: float = 0.0  # before the first byte (slow first token)
    chunk_delay_s: float = 0.0
    usage: bool = True
    finish_reason: str = "stop"  # "length": cut at max_tokens, as real servers report it
    model: str | None = None  # the model the answer says answered (default: the one asked for)

    # Presets with the exact bodies/headers documented in FACTS.md --------------------------------------------------
    @classmethod
    def rate_limit_day(cls, wait: int = 24367) -> "Reply":
        """429, daily limit (UserByModelByDay)."""
        return cls(
            status=429,
            body=_error(
                "RateLimitReached",
                f"Rate limit of 50 per 86400s exceeded for UserByModelByDay. Please wait {wait} seconds before retrying.",
            ),
            headers={"retry-after": str(wait), "x-ratelimit-type": "UserByModelByDay"},
        )

    @classmethod
    def rate_limit_minute(cls, wait: int = 42) -> "Reply":
        """429, per-minute limit (UserByModelByMinute)."""
        return cls(
            status=429,
            body=_error(
                "RateLimitReached",
                f"Rate limit of 10 per 60s exceeded for UserByModelByMinute. Please wait {wait} seconds before retrying.",
            ),
            headers={"retry-after": str(wait), "x-ratelimit-type": "UserByModelByMinute"},
        )

    @classmethod
    def unauthorized(cls) -> "Reply":
        """401 bad credentials."""
        return cls(status=401, body=_error("unauthorized", "Bad credentials"))

    @classmethod
    def unknown_model(cls, model: str = "meta/nope") -> "Reply":
        """404 unknown_model."""
        return cls(status=404, body=_error("unknown_model", f"Unknown model: {model}"))

    @classmethod
    def too_large(cls, model: str = "Meta-Llama-3.1-405B-Instruct") -> "Reply":
        """413 tokens_limit_reached."""
        return cls(
            status=413,
            body=_error("tokens_limit_reached", f"Request body too large for {model} model. Max size: 8000 tokens."),
        )

    @classmethod
    def content_filter(cls) -> "Reply":
        """400 content_filter."""
        return cls(
            status=400,
            body=_error(
                "content_filter",
                "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
            ),
        )

    @classmethod
    def server_error(cls, status: int = 500) -> "Reply":
        """500 / 503 without retry-after."""
        return cls(status=status, body=_error("internal_error" if status == 500 else "service_unavailable", "Try again later."))

    @classmethod
    def gone(cls, model: str = "meta/llama-3.1-405b-instruct", date: str = "2026-04-15") -> "Reply":
        """410, as NVIDIA answers for a retired model that is still listed."""
        return cls(status=410, body=shaped_error(
            "nvidia", 410, "gone", f"The model '{model}' has reached its end of life on {date} and is no longer "
                                   "available."))

    @classmethod
    def bad_request(cls, message: str) -> "Reply":
        """400 with a free message (e.g. a server refusing a message shape)."""
        return cls(status=400, body=_error("invalid_request", message))

    # What real server software answers (bodies read off vLLM 0.32, LiteLLM 1.108 and llama.cpp's llama-server) ----
    @classmethod
    def context_overflow(cls, server: str, limit: int = 2048, prompt_tokens: int = 2049,
                         model: str = SERVED) -> "Reply":
        """The prompt does not fit the context, in `server`'s own words: "vllm" | "llamacpp" | "litellm" (LiteLLM's
        proxy in front of vLLM; `model` is the model group it names) | "openai". Ollama refuses nothing (it cuts the
        prompt from the front): no such reply."""
        if server == "vllm":
            return cls(status=400, body={"error": {"message": _vllm_overflow_message(limit, prompt_tokens),
                                                   "type": "BadRequestError", "param": "input_tokens", "code": 400}})
        if server == "llamacpp":
            return cls(status=400, body={"error": {
                "code": 400, "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error", "n_prompt_tokens": prompt_tokens, "n_ctx": limit}})
        if server == "litellm":
            upstream = cls.context_overflow("vllm", limit, prompt_tokens).body
            message = _litellm_wrapped("litellm.ContextWindowExceededError: litellm.BadRequestError: "
                                       "ContextWindowExceededError: ", upstream, model, context_hint=True)
            return cls(status=400, body={"error": {"message": message, "type": "invalid_request_error",
                                                   "param": None, "code": "400"}})
        if server == "openai":
            return cls(status=400, body={"error": {
                "message": f"This model's maximum context length is {limit} tokens. However, your messages "
                           f"resulted in {prompt_tokens} tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})
        raise ValueError(f"no context-overflow answer for {server!r} (Ollama cuts the prompt instead)")

    @classmethod
    def image_refused(cls, server: str, model: str = SERVED) -> "Reply":
        """An image sent to a text-only model: vLLM 400 "is not a multimodal model", llama.cpp (no `--mmproj`)
        **500** "image input is not supported", LiteLLM 400 wrapping vLLM's words."""
        if server == "vllm":
            return cls(status=400, body={"error": {"message": f"{model} is not a multimodal model",
                                                   "type": "BadRequestError", "param": None, "code": 400}})
        if server == "llamacpp":
            return cls(status=500, body={"error": {
                "code": 500, "message": "image input is not supported - hint: if this is unexpected, you may need "
                                        "to provide the mmproj", "type": "server_error"}})
        if server == "litellm":
            upstream = cls.image_refused("vllm", model).body
            message = _litellm_wrapped("litellm.BadRequestError: ", upstream, model)
            return cls(status=400, body={"error": {"message": message, "type": "invalid_request_error",
                                                   "param": None, "code": "400"}})
        raise ValueError(f"no image refusal known for {server!r}")

    @classmethod
    def model_missing(cls, server: str, model: str, served: tuple[str, ...] = (SERVED,)) -> "Reply":
        """A model the server does not serve: vLLM 404 naming its aliases, LiteLLM 400 "Invalid model name"."""
        if server == "vllm":
            return cls(status=404, body={"error": {
                "message": f"The model `{model}` does not exist. Valid aliases: {', '.join(served)}.",
                "type": "NotFoundError", "param": "model", "code": 404}})
        if server == "litellm":
            message = (f"/chat/completions: Invalid model name passed in model={model}. Call `/v1/models` to view "
                       "available models for your key.")
            return cls(status=400, body={"error": {"message": message, "type": "invalid_request_error",
                                                   "param": None, "code": "400",
                                                   "provider_specific_fields": {"error": message}}})
        raise ValueError(f"no unknown-model answer known for {server!r}")

    @classmethod
    def mllama_crash(cls, native: bool = False) -> "Reply":
        """Ollama >= 0.30 asked for `llama3.2-vision` (its llama-server has no `mllama` architecture): HTTP 500.
        On `/v1` Ollama's OpenAI middleware wraps the message (`{"error": {"message": …, "type": "api_error"}}`);
        `native=True` gives `/api/chat`'s own `{"error": "…"}`, the form quoted in FACTS.md."""
        if native:
            return cls(status=500, body={"error": MLLAMA_ERROR})
        return cls(status=500, body=shaped_error("ollama", 500, "api_error", MLLAMA_ERROR))


@dataclass
class Recorded:
    """One request the double received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    truncated: bool = False  # Ollama cut the prompt from the front to fit its context (and answered anyway)
    prompt_tokens: int | None = None  # what the double counted (`lib.hosts.budget.estimate_tokens`), after any cut

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages sent (empty for non-chat requests)."""
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []


Responder = Callable[[dict[str, Any]], "Reply"]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _image_of(messages: list[dict[str, Any]]) -> str | None:
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            for p in content:
                if isinstance(p, dict) and p.get("type") == "image_url":
                    return str((p.get("image_url") or {}).get("url", ""))
    return None


def _describe_image(url: str) -> str:
    """Look at the image for real (size, brightness, main colour), so the offline demo says something true."""
    try:
        from PIL import Image, ImageStat

        raw = base64.b64decode(url.split(",", 1)[1])
        with Image.open(io.BytesIO(raw)) as img:
            w, h = img.size
            fmt = img.format
            rgb = img.convert("RGB").resize((32, 32))
            r, g, b = (int(v) for v in ImageStat.Stat(rgb).mean)
        names = {"red": (r, 0, 0), "green": (0, g, 0), "blue": (0, 0, b)}
        main = max(names, key=lambda k: sum(names[k]))
        light = "bright" if (r + g + b) / 3 > 128 else "dark"
        return (
            f"(API double — not a real model.) I received one {fmt} image of {w}×{h} pixels. "
            f"It is mostly {light}, with {main} the strongest colour channel "
            f"(average RGB {r}, {g}, {b}). A real Llama 3.2 Vision model would describe its content here."
        )
    except Exception as exc:  # noqa: BLE001 - the double reports what it could not read
        return f"(API double) I could not read the image: {type(exc).__name__}."


_TRIGGERS: dict[str, Callable[[], Reply]] = {
    "#429day": Reply.rate_limit_day,
    "#429": Reply.rate_limit_minute,
    "#401": Reply.unauthorized,
    "#404": Reply.unknown_model,
    "#410": Reply.gone,
    "#413": Reply.too_large,
    "#filter": Reply.content_filter,
    "#500": lambda: Reply.server_error(500),
    "#503": lambda: Reply.server_error(503),
    "#heartbeat": lambda: Reply(stream_mode="heartbeat", delay_s=600.0),  # keep-alives forever, never any text
}


_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_KO_UNITS = r"(킬로미터|킬로|km|마일|미터|센티미터|인치|피트|킬로그램|파운드)"


def _korean_tool_call(question: str, system: str, custom: str) -> str | None:
    """What a real Llama calls for a Korean question: the tool its English equivalent gets, with the Korean place or
    unit as the argument (lib/tools reads Korean names). 날씨 → weather, 몇 시/시각 → get_local_time, 마일/킬로미터 →
    convert_units, 적분/미분 → wolfram_alpha (in English, as Llama writes for Wolfram), 검색/누가 → brave_search."""
    def function(name: str, **parameters: Any) -> str:  # Korean written as Korean, as Llama writes it
        return json.dumps({"type": "function", "name": name, "parameters": parameters}, ensure_ascii=False)

    def builtin(name: str, query: str) -> str | None:
        if f'"{name}"' in custom:
            return function(name, query=query)
        if name in system:
            return f"<|python_tag|>{name}.call(query={json.dumps(query, ensure_ascii=False)})<|eom_id|>"
        return None

    if "날씨" in question:
        found = re.search(r"([가-힣A-Za-z]+?)(?:의|에서|은|는)?\s*(?:오늘\s*|지금\s*|현재\s*)?날씨", question)
        place = found.group(1) if found else "서울"
        if '"get_weather"' in custom:
            return function("get_weather", city=place)
        call = builtin("brave_search", f"{place} 현재 날씨")
        if call:
            return call
    if "적분" in question or "미분" in question:
        found = re.match(r"\s*([^가-힣]+?)\s*(?:의|을|를)?\s*(적분|미분)", question)
        if found:
            verb = "integrate" if found.group(2) == "적분" else "derivative of"
            call = builtin("wolfram_alpha", f"{verb} {found.group(1).strip()}")
            if call:
                return call
    if (re.search(r"몇\s*시(?!간)", question) or "시각" in question) and '"get_local_time"' in custom:
        found = re.search(r"([가-힣A-Za-z]+?)(?:은|는|의|에서|에)?\s*(?:지금\s*|현재\s*)?(?:몇\s*시|시각)", question)
        place = found.group(1) if found and found.group(1) not in ("지금", "현재") else "도쿄"
        return function("get_local_time", city_or_timezone=place)
    if re.search(_KO_UNITS, question) and '"convert_units"' in custom:
        amount = re.search(r"(\d+(?:\.\d+)?)\s*" + _KO_UNITS, question)
        if amount:
            value, source = float(amount.group(1)), amount.group(2)
            others = [u for u in re.findall(_KO_UNITS, question[amount.end():]) if u != source]
            target = others[0] if others else ("킬로미터" if source == "마일" else "마일")
        elif "마라톤" in question:  # Llama knows a marathon is 42.195 km
            value, source, target = (26.2188, "마일", "킬로미터") if "마일" not in question else (42.195, "킬로미터", "마일")
        else:
            return None
        return function("convert_units", value=value, from_unit=source, to_unit=target)
    if any(w in question for w in ("검색", "누가", "누구", "뉴스", "최신")):
        return builtin("brave_search", question.strip())
    return None


def _tool_call_for(question: str, system: str, first_user: str, model: str = "") -> str | None:
    q = question.lower()
    custom = first_user  # custom (JSON) tool definitions travel in the first user message

    # Llama 4 calls several functions at once, zero-shot, as a pythonic list (meta-llama/llama-models, llama4).
    if ("llama-4" in model.lower() and "weather" in q and "time" in q
            and '"get_weather"' in custom and '"get_local_time"' in custom):
        places = re.findall(r"\b(?:in|for|at) ([A-ZÀ-Ý][A-Za-zÀ-ÿ .'-]*)", question)
        place = (places[-1] if places else "Stockholm").strip(" ?.!")
        return (f"[get_weather(city={json.dumps(place)}), "
                f"get_local_time(city_or_timezone={json.dumps(place)})]")

    def builtin(name: str, query: str) -> str | None:
        if f'"{name}"' in custom:  # a model without built-in tools got it as a JSON definition
            return json.dumps({"type": "function", "name": name, "parameters": {"query": query}})
        if name in system:
            return f"<|python_tag|>{name}.call(query={json.dumps(query)})<|eom_id|>"
        return None

    if _HANGUL.search(question):  # a Korean question: the same tools as its English equivalent (issue 24)
        call = _korean_tool_call(question, system, custom)
        if call:
            return call
    if "weather" in q:
        city = re.search(r"weather (?:in|for|at) ([A-Za-zÀ-ÿ .'-]+)", question)
        place = (city.group(1) if city else "Stockholm").strip(" ?.!")
        if '"get_weather"' in custom:
            return json.dumps({"type": "function", "name": "get_weather", "parameters": {"city": place}})
        call = builtin("brave_search", "current weather in " + place)
        if call:
            return call
    if any(w in q for w in ("integral", "integrate", "derivative", "solve", "sqrt", "^")):
        expr = re.sub(r"^(what is|what's|compute|calculate)\s+", "", question.strip(" ?"), flags=re.I)
        call = builtin("wolfram_alpha", expr)
        if call:
            return call
    if "time" in q and '"get_local_time"' in custom:
        city = re.search(r"time (?:is it )?in ([A-Za-zÀ-ÿ /_'-]+)", question)
        place = re.sub(r"\s+(right\s+)?now$", "", (city.group(1) if city else "Tokyo").strip(" ?.!"))
        return json.dumps({"type": "function", "name": "get_local_time", "parameters": {"city_or_timezone": place}})
    if any(w in q for w in ("search", "who ", "news", "latest")):
        return builtin("brave_search", question.strip())
    return None


def demo_responder(body: dict[str, Any]) -> Reply:
    """Plausible answers for offline clicking-through: tool calls for tool questions, a real look at images."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    last_text = _text_of(last.get("content"))
    # A translation request (lib/vision/translate.py: a system prompt, the text, no image), answered as a model
    # would: a known test question in English, anything else marked as translated (its #triggers travel on).
    asked_to = " ".join(_text_of(m.get("content")) for m in messages if m.get("role") == "system")
    if "Translate to English" in asked_to and not _image_of(messages):
        known = {"이 간판에 뭐라고 쓰여 있어요?": "What does this sign say?",
                 "이 사진에 뭐가 있어요?": "What is in this photo?",
                 "고양이는 무슨 색이에요?": "What colour is the cat?"}
        english = known.get(last_text.strip()) or "(translated) " + last_text.strip()
        return Reply(text=english, chunk_delay_s=0.02)
    if "Translate to Korean" in asked_to and not _image_of(messages):
        return Reply(text="(번역) " + last_text.strip(), chunk_delay_s=0.02)
    if "#slow" in last_text:
        return Reply(text="(API double) This answer was slow to start.", delay_s=3.0, chunk_delay_s=0.05)
    if "#cut" in last_text:
        return Reply(text="(API double) This answer will be cut off in the middle of a sent", stream_mode="cut")
    for tag, make in _TRIGGERS.items():
        if tag in last_text:
            return make()
    image = _image_of(messages)
    if image:
        if len([m for m in messages if m.get("role") == "user"]) > 1:
            return Reply(text=f"(API double) About the same image: you asked “{last_text.strip()[:200]}”. " + _describe_image(image), chunk_delay_s=0.02)
        return Reply(text=_describe_image(image), chunk_delay_s=0.02)
    system = " ".join(_text_of(m.get("content")) for m in messages if m.get("role") == "system")
    kwargs = body.get("chat_template_kwargs") if isinstance(body.get("chat_template_kwargs"), dict) else {}
    if kwargs.get("builtin_tools"):  # a vLLM-like server renders these into Meta's system prompt itself
        system = f"Environment: ipython\nTools: {', '.join(map(str, kwargs['builtin_tools']))}\n{system}"
    user_msgs = [m for m in messages if m.get("role") == "user"]
    first_user = _text_of(user_msgs[0].get("content")) if user_msgs else ""
    if last.get("role") in ("tool", "ipython") or last_text.startswith(("Tool result", "[tool result")):
        results = [_text_of(last.get("content"))]
        for m in reversed(messages[:-1]):  # every result of a reply that asked for several tools
            if m.get("role") not in ("tool", "ipython"):
                break
            results.insert(0, _text_of(m.get("content")))
        if len(results) > 1:
            return Reply(
                text="(API double) Based on the tool results: "
                     + " — and ".join(r.strip()[:400] for r in results),
                chunk_delay_s=0.02,
            )
        return Reply(
            text="(API double) Based on the tool result: " + results[0].strip()[:400],
            chunk_delay_s=0.02,
        )
    call = _tool_call_for(last_text.split("Question:")[-1].strip(), system, first_user, str(body.get("model") or ""))
    if call:
        return Reply(text=call)
    return Reply(text=f"(API double — not a real model.) You said: “{last_text.strip()[:300]}”.", chunk_delay_s=0.02)


# What server software does to a request and an answer ----------------------------------------------------------------


def _as_served(reply: Reply) -> Reply:
    """vLLM and llama.cpp: `<|eom_id|>` is a stop token (the answer ends there, without it) and `<|python_tag|>`
    does not reach the text: a built-in call arrives as `brave_search.call(query="…")`."""
    text = reply.text
    if EOM in text:
        text = text.split(EOM, 1)[0]
    text = text.replace(PYTHON_TAG, "")
    return dataclasses.replace(reply, text=text) if text != reply.text else reply


def _is_vision(model: str) -> bool:
    low = model.lower()
    return "vision" in low or "llama-4" in low


def _prompt_tokens(messages: Any) -> int:
    """The app's own estimate of a request's prompt (never below the real Llama 3 count)."""
    try:
        return estimate_tokens([m for m in messages if isinstance(m, dict)]) if isinstance(messages, list) else 0
    except Exception:  # noqa: BLE001 - a malformed message counts as nothing
        return 0


def _text_count(text: str) -> int:
    """The estimate for bare text (no message around it)."""
    return max(1, estimate_tokens([{"role": "user", "content": text}]) - MESSAGE_OVERHEAD) if text else 0


def _version(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version)[:3])


def _ollama_fit(messages: list[Any], limit: int) -> tuple[list[Any], bool]:
    """What Ollama does with a prompt over its context (docs.ollama.com context-length): it keeps the system
    messages and the latest message, drops the oldest others until the rest fits, then cuts the latest message's
    text from the front. It says nothing to the client. Returns (what the model reads, whether anything was cut)."""
    if _prompt_tokens(messages) <= limit or not messages:
        return messages, False
    kept = list(messages)
    while True:
        droppable = [i for i, m in enumerate(kept[:-1]) if not (isinstance(m, dict) and m.get("role") == "system")]
        if not droppable or _prompt_tokens(kept) <= limit:
            break
        del kept[droppable[0]]
    last = kept[-1]
    if _prompt_tokens(kept) > limit and isinstance(last, dict) and isinstance(last.get("content"), str):
        text = last["content"]
        lo, hi = 0, len(text)  # keep the longest tail of the text that fits
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _prompt_tokens(kept[:-1] + [{**last, "content": text[len(text) - mid:]}]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        kept[-1] = {**last, "content": text[len(text) - lo:]}
    return kept, True


KNOWLEDGE_LINE = "Cutting Knowledge Date: December 2023"
_SPECIAL = re.compile(r"<\|[a-z_]+\|>")


def _template_text(content: Any) -> str:
    """A message's content as vLLM hands it to a text template: text parts joined by new lines."""
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def render_llama31(messages: list[dict[str, Any]], template_kwargs: dict[str, Any] | None = None,
                   add_generation_prompt: bool = True) -> str:
    """The prompt as vLLM / llama.cpp render it with Meta's Llama 3.1 Instruct chat template (checked against vLLM
    0.32's `/tokenize` + `/detokenize`): a system block that always names the knowledge date and the day
    (`date_string`, default "26 Jul 2024"), `Environment: ipython` and the `Tools:` line for `builtin_tools`, then the
    turns: a tool result under `ipython` as JSON text, a structured tool call as `<|python_tag|>name.call(…)` (a
    built-in tool) or `{"name": …, "parameters": …}`."""
    kwargs = template_kwargs if isinstance(template_kwargs, dict) else {}
    builtin = [str(t) for t in kwargs["builtin_tools"]] if isinstance(kwargs.get("builtin_tools"), list) else None
    turns = [m for m in messages if isinstance(m, dict)]
    system = ""
    if turns and turns[0].get("role") == "system":
        system = _template_text(turns[0].get("content")).strip()
        turns = turns[1:]
    out = [BEGIN, "<|start_header_id|>system<|end_header_id|>\n\n"]
    if builtin is not None:
        out.append("Environment: ipython\n")
        out.append("Tools: " + ", ".join(t for t in builtin if t != "code_interpreter") + "\n\n")
    out.append(f"{KNOWLEDGE_LINE}\nToday Date: {kwargs.get('date_string') or '26 Jul 2024'}\n\n{system}<|eot_id|>")
    for m in turns:
        role = str(m.get("role", "user"))
        if role in ("tool", "ipython"):
            content = m.get("content")
            text = json.dumps(content, ensure_ascii=False) if isinstance(content, (str, list, dict)) else str(content)
            out.append(f"<|start_header_id|>ipython<|end_header_id|>\n\n{text}<|eot_id|>")
        elif m.get("tool_calls"):
            call = (m["tool_calls"][0] or {}).get("function") or {}
            name, args = str(call.get("name", "")), call.get("arguments") or {}
            if isinstance(args, str):
                args = json.loads(args) if args.strip() else {}
            if builtin is not None and name in builtin:
                text = PYTHON_TAG + name + ".call(" + ", ".join(f'{k}="{v}"' for k, v in args.items()) + ")"
            else:
                text = '{"name": "' + name + '", "parameters": ' + json.dumps(args, ensure_ascii=False) + "}"
            out.append(f"<|start_header_id|>assistant<|end_header_id|>\n\n{text}{EOM if builtin is not None else EOT}")
        else:
            text = _template_text(m.get("content")).strip()
            out.append(f"<|start_header_id|>{role}<|end_header_id|>\n\n{text}<|eot_id|>")
    if add_generation_prompt:
        out.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(out)


def _rendered_count(prompt: str) -> int:
    """Tokens of a rendered prompt: one a special token, the app's estimate for the text between them."""
    return len(_SPECIAL.findall(prompt)) + sum(_text_count(piece) for piece in _SPECIAL.split(prompt) if piece)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave together: no 40 ms delayed-ACK stall per request
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def setup(self) -> None:
        super().setup()
        self.server.double._count_connection()

    def _preset(self) -> tuple[Preset, str]:
        """The preset named by the path's first segment (`/openrouter/v1/...`), else the double's own."""
        double = self.server.double
        path = self.path.split("?")[0]
        first = path.strip("/").split("/", 1)[0]
        return (PRESETS[first] if first in PRESETS else double.preset), path

    def _route(self) -> tuple[Preset, str]:
        """(preset, the path below the preset's server root): `/vllm/tokenize` -> (vllm, "/tokenize")."""
        path = self.path.split("?")[0]
        first = path.strip("/").split("/", 1)[0]
        if first in PRESETS:
            return PRESETS[first], path[len(first) + 1:] or "/"
        return self.server.double.preset, path

    def do_GET(self) -> None:  # noqa: N802
        double = self.server.double
        double._record("GET", self.path, dict(self.headers), None)
        preset, path = self._preset()
        if path.endswith("/models") and preset.lists_models:
            if double.catalog_status != 200:
                self._send_json(double.catalog_status,
                                shaped_error(preset.error_shape, double.catalog_status, "unavailable", "unavailable"))
            else:
                self._send_json(200, double._listing(preset))
            return
        if path.endswith("/api/version") and preset.name in ("ollama", "any"):
            self._send_json(200, {"version": double.ollama_version})
            return
        self._send_json(404, shaped_error(preset.error_shape, 404, "not_found", "Not found"))

    def _refusal(self, preset: Preset, body: dict[str, Any]) -> Reply | None:
        """What the preset's host refuses before any answer: unknown / retired models, its vision quirks, a prompt
        over its context."""
        double = self.server.double
        model = str(body.get("model") or "")
        ids = double._model_ids(preset)
        shape = preset.error_shape
        if model.lower() in preset.retired:
            when = preset.retired[model.lower()]
            return Reply(status=410, body=shaped_error(
                shape, 410, "gone", f"The model '{model}' has reached its end of life on {when} and is no longer "
                                    "available."))
        if preset.strict_models and model.lower() not in ids:
            if preset.server in ("vllm", "litellm"):
                return Reply.model_missing(preset.server, model, tuple(double._model_names(preset)))
            if shape == "ollama":
                return Reply(status=404, body=shaped_error(shape, 404, "not_found",
                                                           f'model "{model}" not found, try pulling it first'))
            if shape == "azure":
                return Reply(status=404, body=_error("DeploymentNotFound",
                                                     f"The API deployment for this resource does not exist: {model}"))
            if shape == "openrouter":
                return Reply(status=400, body=shaped_error(shape, 400, "bad_request",
                                                           f"{model} is not a valid model ID"))
            return Reply(status=404, body=shaped_error(shape, 404, "model_not_found",
                                                       f"The model `{model}` does not exist."))
        messages = body.get("messages") or []
        image = _image_of(messages) if isinstance(messages, list) else None
        if image is not None:
            if preset.refuses_images:
                return Reply(status=400, body=shaped_error(shape, 400, "bad_request",
                                                           "Image input is not supported on this route"))
            if preset.refuses_system_with_image and any(m.get("role") == "system" for m in messages):
                return Reply(status=400, body=shaped_error(
                    shape, 400, "bad_request", "Prompting with images is incompatible with system messages"))
            b64 = image.split(",", 1)[1] if "," in image else image
            if preset.max_inline_image_chars and len(b64) > preset.max_inline_image_chars:
                return Reply(status=400, body=shaped_error(
                    shape, 400, "bad_request",
                    f"Image too large: inline base64 images must be under {preset.max_inline_image_chars} characters "
                    "(use the assets API for larger images)."))
            # llama-server without `--mmproj` reads no image whatever the model's name; vLLM (and LiteLLM in front
            # of it) refuses an image for a model that is not multimodal.
            if preset.server == "llamacpp" or (preset.server in ("vllm", "litellm") and not _is_vision(model)):
                return Reply.image_refused(preset.server, model)
        if (preset.server == "ollama" and double.follow_ollama_version and model.lower().startswith("llama3.2-vision")
                and _version(double.ollama_version) >= (0, 30)):
            return Reply.mllama_crash()
        limit = double.context_for(preset)
        if limit and preset.server in ("vllm", "llamacpp", "litellm") and isinstance(messages, list):
            tokens = _prompt_tokens(messages)
            if tokens > limit:
                # vLLM counts no further than one past its limit ("at least 2049"); llama.cpp says the whole count.
                said = tokens if preset.server == "llamacpp" else min(tokens, limit + 1)
                return Reply.context_overflow(preset.server, limit, said, model)
        return None

    def _server_route(self, preset: Preset, rest: str, body: Any) -> bool:
        """The server's own routes beside `/v1`: vLLM's `/tokenize` and `/detokenize`, llama.cpp's `/apply-template`,
        `/tokenize` and `/detokenize` (at the server root: `/vllm/tokenize` for the preset at `/vllm/v1`)."""
        double = self.server.double
        request = body if isinstance(body, dict) else {}
        try:
            if preset.server == "vllm" and rest in ("/tokenize", "/detokenize"):
                model = str(request.get("model") or "")
                if model and preset.strict_models and model.lower() not in double._model_ids(preset):
                    reply = Reply.model_missing("vllm", model, tuple(double._model_names(preset)))
                    self._send_json(reply.status, reply.body)
                elif rest == "/tokenize":
                    if "messages" in request:
                        messages = list(request.get("messages") or [])
                        text = render_llama31(messages, request.get("chat_template_kwargs"),
                                              bool(request.get("add_generation_prompt", True)))
                        count = _rendered_count(text)  # its <|begin_of_text|> included
                    else:
                        text = str(request.get("prompt") or "")
                        count = _text_count(text) + 1
                    tokens = double._tokens_for(text, count, bos=True)
                    self._send_json(200, {"count": len(tokens), "max_model_len": double.context_for(preset) or 131072,
                                          "tokens": tokens, "token_strs": None})
                else:
                    self._send_json(200, {"prompt": double._text_for(request.get("tokens") or [])})
                return True
            if preset.server == "llamacpp" and rest in ("/tokenize", "/detokenize", "/apply-template"):
                if rest == "/apply-template":
                    messages = list(request.get("messages") or [])
                    text = render_llama31(messages, request.get("chat_template_kwargs"))
                    self._send_json(200, {"prompt": text})
                elif rest == "/tokenize":
                    content = request.get("content")
                    text = content if isinstance(content, str) else ""
                    bos = bool(request.get("add_special"))
                    tokens = double._tokens_for(text, _rendered_count(text) + int(bos), bos=bos)
                    self._send_json(200, {"tokens": tokens})
                else:
                    self._send_json(200, {"content": double._text_for(request.get("tokens") or [])})
                return True
        except (TypeError, ValueError, AttributeError) as exc:
            status = 400
            self._send_json(status, shaped_error("vllm" if preset.server == "vllm" else preset.error_shape, status,
                                                 "bad_request", f"{type(exc).__name__}: {exc}"))
            return True
        return False

    def do_POST(self) -> None:  # noqa: N802
        double = self.server.double
        body = self._read_body()
        recorded = double._record("POST", self.path, dict(self.headers), body)
        preset, path = self._preset()
        if not path.endswith("/chat/completions"):
            route_preset, rest = self._route()
            if self._server_route(route_preset, rest, body):
                return
            self._send_json(404, shaped_error(preset.error_shape, 404, "not_found", "Not found"))
            return
        if double.require_token is not None:
            auth = self.headers.get("Authorization", "")
            if auth != f"Bearer {double.require_token}":
                self._send_json(401, shaped_error(preset.error_shape, 401, "unauthorized", "Bad credentials"))
                return
        request = body if isinstance(body, dict) else {}
        reply = self._refusal(preset, request) if double.enforce_presets else None
        messages = request.get("messages") if isinstance(request.get("messages"), list) else []
        limit = double.context_for(preset)
        if reply is None and double.enforce_presets and preset.server == "ollama" and limit:
            kept, cut = _ollama_fit(messages, limit)
            if cut:  # Ollama answers anyway, from the prompt's end: nothing tells the client
                request = {**request, "messages": kept}
                messages = kept
                recorded.truncated = True
        prompt_tokens = _prompt_tokens(messages) if preset.server else None
        recorded.prompt_tokens = prompt_tokens
        with double._lock:
            over = double.max_concurrent is not None and double._in_flight >= double.max_concurrent
            if over:
                double.refused_concurrent += 1
        if over:  # like a free tier's "too many requests at once": 429 with a short retry-after
            self._send_json(429, shaped_error(preset.error_shape, 429, "too_many_concurrent_requests",
                                              f"Too many concurrent requests: at most {double.max_concurrent} at "
                                              "once for this model."), {"retry-after": "1"})
            return
        if reply is None:
            reply, scripted = double._take(request)
            if not scripted and preset.server in ("vllm", "llamacpp", "litellm"):
                reply = _as_served(reply)
        model = str(request.get("model", "double"))
        with double._serving(preset, model):  # Ollama: one request at a time per model (OLLAMA_NUM_PARALLEL)
            with double._lock:
                double._in_flight += 1
                double.max_in_flight = max(double.max_in_flight, double._in_flight)
            try:
                self._answer(reply, request, model, prompt_tokens)
            finally:
                with double._lock:
                    double._in_flight -= 1

    def _answer(self, reply: Reply, request: dict[str, Any], model: str, prompt_tokens: int | None) -> None:
        double = self.server.double
        if reply.delay_s and reply.stream_mode not in ("stall", "heartbeat") and self._client_gone(reply.delay_s):
            double.disconnects.append(reply.model or model)  # it hung up before the first byte
            self.close_connection = True
            return
        if reply.status != 200:
            self._send_json(reply.status, reply.body if reply.body is not None else _error("error", "error"),
                            reply.headers)
            return
        if request.get("stream"):
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            self._stream(reply, model, include_usage and reply.usage, prompt_tokens)
        else:
            self._send_json(200, _completion(reply.text, reply.model or model, reply.finish_reason, prompt_tokens),
                            reply.headers)

    def _client_gone(self, seconds: float) -> bool:
        """Wait `seconds`, or less: True as soon as the client hangs up (its side of the socket ends or resets)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                readable, _, _ = select.select([self.connection], [], [], left)
            except (OSError, ValueError):
                return True
            if not readable:
                return False
            try:
                data = self.connection.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                data = b"?"
            except OSError:
                return True
            if not data:
                return True
            time.sleep(max(0.0, deadline - time.monotonic()))  # the client sent something: not a hang-up
            return False

    def _stall(self, model: str, limit_s: float) -> None:
        """Send nothing until the client hangs up (logged in `double.disconnects`), `double.stalled` is set, or
        `limit_s` passes."""
        double = self.server.double  # type: ignore[attr-defined]
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline and not double.stalled.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable:
                try:
                    data = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    data = b""
                if not data:
                    double.disconnects.append(model)
                    break
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _heartbeat(self, cid: str, model: str, pieces: list[str], every_s: float, limit_s: float) -> None:
        """`pieces` as text, then only bytes that carry no text, one every `every_s`, until the client hangs up
        (logged in `double.disconnects`), `double.stalled` is set, or `limit_s` passes (then the connection closes).

        What some servers and gateways do while a request is queued or a model is stuck: the read timeout never
        fires, because a byte always comes."""
        double = self.server.double  # type: ignore[attr-defined]

        def chunk(choices: list[dict[str, Any]]) -> bytes:
            body = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                    "choices": choices}
            return f"data: {json.dumps(body)}\n\n".encode()

        fillers = (b": keep-alive\n\n",
                   chunk([]),
                   chunk([{"index": 0, "delta": {}, "finish_reason": None}]),
                   chunk([{"index": 0, "delta": {"content": ""}, "finish_reason": None}]))
        deadline = time.monotonic() + limit_s
        try:
            for i, piece in enumerate(pieces):
                delta: dict[str, Any] = {"content": piece, **({"role": "assistant"} if i == 0 else {})}
                self._chunk(chunk([{"index": 0, "delta": delta, "finish_reason": None}]))
            n = 0
            while time.monotonic() < deadline and not double.stalled.is_set():
                self._chunk(fillers[n % len(fillers)])
                n += 1
                with double._lock:
                    double.heartbeats += 1
                if self._client_gone(every_s):
                    double.disconnects.append(model)
                    break
        except (BrokenPipeError, ConnectionResetError):
            double.disconnects.append(model)
        self.close_connection = True

    def _stream(self, reply: Reply, model: str, include_usage: bool, prompt_tokens: int | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        eol = {"crlf": "\r\n", "cr": "\r"}.get(reply.stream_mode, "\n")
        comment = b": OPENROUTER PROCESSING\n\n" if reply.stream_mode == "openrouter" else b""
        model = reply.model or model
        if reply.stream_mode == "keepalive":
            self._chunk(b": keep-alive\n\n")
        if reply.stream_mode == "stall":
            self._stall(model, reply.delay_s or 60.0)
            return
        cid = "chatcmpl-" + uuid.uuid4().hex[:12]
        pieces = re.findall(r"\S+\s*|\s+", reply.text) or [""]
        if reply.stream_mode == "heartbeat":
            self._heartbeat(cid, model, pieces if reply.text else [], reply.chunk_delay_s or 0.2,
                            reply.delay_s or 60.0)
            return
        try:
            for i, piece in enumerate(pieces):
                delta: dict[str, Any] = {"content": piece}
                if i == 0:
                    delta["role"] = "assistant"
                chunk = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
                data = json.dumps(chunk) if not (reply.stream_mode == "badjson" and i == 0) else "{not json"
                self._chunk(comment + f"data: {data}{eol}{eol}".encode())
                if reply.stream_mode == "cut" and i >= len(pieces) // 2:
                    # Drop the connection without ending the chunked body: the client sees a broken stream.
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if reply.chunk_delay_s and self._client_gone(reply.chunk_delay_s):
                    # The client hung up between two pieces (Stop): a real server logs it and aborts the request.
                    self.server.double.disconnects.append(model)  # type: ignore[attr-defined]
                    self.close_connection = True
                    return
            final = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}],
            }
            self._chunk(comment + f"data: {json.dumps(final)}{eol}{eol}".encode())
            if include_usage:
                usage = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                         "choices": [], "usage": _usage(reply.text, prompt_tokens)}
                self._chunk(f"data: {json.dumps(usage)}{eol}{eol}".encode())
            self._chunk(f"data: [DONE]{eol}{eol}".encode())
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client hung up mid-answer (Stop): a real server logs it and aborts the request.
            self.server.double.disconnects.append(model)  # type: ignore[attr-defined]
            self.close_connection = True


def _usage(text: str, prompt_tokens: int | None = None) -> dict[str, int]:
    """Usage as the server reports it: the prompt as counted (`lib.hosts.budget.estimate_tokens`) for presets with a
    server, else 42; the answer at one token a 4 characters."""
    prompt = 42 if prompt_tokens is None else prompt_tokens
    completion = max(1, len(text) // 4)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(text: str, model: str, finish_reason: str = "stop", prompt_tokens: int | None = None
                ) -> dict[str, Any]:
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:12],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
        "usage": _usage(text, prompt_tokens),
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    double: "ApiDouble"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-answer is normal here (timeouts, cut streams): stay quiet."""
        return


class ApiDouble:
    """The local GitHub Models stand-in. Use as a context manager; `.endpoint` is the inference base URL."""

    def __init__(
        self,
        script: list[Reply] | None = None,
        responder: Responder | None = None,
        models: list[dict[str, Any]] | None = None,
        require_token: str | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        preset: str = "any",
        enforce_presets: bool = True,
    ) -> None:
        self._lock = threading.Lock()
        self._script: list[Reply] = list(script or [])
        self.responder: Responder = responder or demo_responder
        self.preset = PRESETS[preset]
        self.models = models  # overrides the preset's listing (None: the preset's own)
        self.catalog_status = 200
        self.require_token = require_token
        self.enforce_presets = enforce_presets  # False: any model name is answered
        self.requests: list[Recorded] = []
        self.connections = 0  # TCP connections accepted (connection reuse)
        self._in_flight = 0
        self.max_in_flight = 0  # most chat requests answered at once
        self.max_concurrent: int | None = None  # refuse (429) chat requests beyond this many in flight
        self.refused_concurrent = 0
        self.stalled = threading.Event()  # set: every "stall" / "heartbeat" reply ends (a test releasing a hung one)
        self.heartbeats = 0  # text-free chunks sent by "heartbeat" replies (keep-alives, empty chunks)
        self.disconnects: list[str] = []  # models whose answer the client hung up on, as a real server logs it
        # Server software's own behaviour (presets with a `server`) ----------------------------------------------------
        self.contexts: dict[str, int | None] = {}  # preset name -> context window, over the preset's (None: no limit)
        self.ollama_version = "0.34.1"  # what Ollama's `GET /api/version` says
        # True: Ollama answers as the version above does. From 0.30 on, `llama3.2-vision` answers 500 (its
        # llama-server has no `mllama` architecture). Off by default: the pages' tests still show a Llama 3.2
        # Vision answer on Ollama.
        self.follow_ollama_version = False
        self.ollama_parallel = 1  # OLLAMA_NUM_PARALLEL: requests a model answers at once; the rest wait their turn
        self._ollama_busy: dict[tuple[str, str], int] = {}
        self._ollama_turn = threading.Condition()
        self._token_texts: dict[tuple[int, ...], str] = {}  # token ids handed out -> the text they stand for
        self._server = _Server((host, port), _Handler)
        self._server.double = self
        self._thread: threading.Thread | None = None

    def _count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    # -- scripting ------------------------------------------------------------------------------------------------
    def queue(self, *replies: Reply) -> "ApiDouble":
        """Answer the next chat requests with these replies, in order (then fall back to the responder)."""
        with self._lock:
            self._script.extend(replies)
        return self

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        return self._take(body)[0]

    def _take(self, body: dict[str, Any]) -> tuple[Reply, bool]:
        """(the next reply, whether a test scripted it): scripted replies are sent exactly as given."""
        with self._lock:
            if self._script:
                return self._script.pop(0), True
        return self.responder(body), False

    def _record(self, method: str, path: str, headers: dict[str, str], body: Any) -> Recorded:
        entry = Recorded(method, path, headers, body)
        with self._lock:
            self.requests.append(entry)
        return entry

    # -- what each server software does ----------------------------------------------------------------------------
    def context_for(self, preset: str | Preset) -> int | None:
        """The context window the double enforces (and lists) for this preset: `contexts[name]` if set, else the
        preset's own."""
        p = PRESETS[preset] if isinstance(preset, str) else preset
        return self.contexts[p.name] if p.name in self.contexts else p.context_tokens

    def _model_names(self, preset: Preset) -> list[str]:
        return [str(m.get("id")) for m in (self.models or preset.models) if isinstance(m, dict)]

    def _model_ids(self, preset: Preset) -> set[str]:
        return {name.lower() for name in self._model_names(preset)}

    def _listing(self, preset: Preset) -> dict[str, Any]:
        """`GET …/models` as the preset's server writes it, the context fields saying `context_for(preset)`."""
        if self.models is not None:
            return {"object": "list", "data": self.models}
        context = self.context_for(preset)
        data = []
        for model in preset.models:
            item = copy.deepcopy(model)
            if context is not None:
                if "max_model_len" in item:  # vLLM
                    item["max_model_len"] = context
                if "max_input_tokens" in item:  # LiteLLM
                    item["max_input_tokens"] = item["max_output_tokens"] = context
                if isinstance(item.get("meta"), dict) and "n_ctx" in item["meta"]:  # llama.cpp
                    item["meta"]["n_ctx"] = context
            data.append(item)
        if preset.server == "litellm":
            return {"data": data, "object": "list"}
        if preset.server == "llamacpp":  # llama-server also answers Ollama's shape under "models"
            models = [{"name": m["id"], "model": m["id"], "modified_at": "", "size": "", "digest": "",
                       "type": "model", "description": "", "tags": [""], "capabilities": ["completion"],
                       "parameters": "", "details": {"parent_model": "", "format": "gguf", "family": "",
                                                     "families": [""], "parameter_size": "",
                                                     "quantization_level": ""}} for m in data]
            return {"models": models, "object": "list", "data": data}
        return {"object": "list", "data": data}

    @contextlib.contextmanager
    def _serving(self, preset: Preset, model: str) -> Iterator[None]:
        """Ollama answers `ollama_parallel` requests at a time per model; the others wait (no 429)."""
        if preset.server != "ollama":
            yield
            return
        key = (preset.name, model.lower())
        with self._ollama_turn:
            while self._ollama_busy.get(key, 0) >= max(1, int(self.ollama_parallel)):
                self._ollama_turn.wait(0.05)
            self._ollama_busy[key] = self._ollama_busy.get(key, 0) + 1
        try:
            yield
        finally:
            with self._ollama_turn:
                self._ollama_busy[key] -= 1
                self._ollama_turn.notify_all()

    def _tokens_for(self, text: str, count: int, bos: bool) -> list[int]:
        """`count` token ids standing for `text` (the same text, the same ids), remembered for detokenizing."""
        rng = random.Random(hashlib.sha256(text.encode("utf-8", "replace")).digest())
        ids = ([128000] if bos else []) + [rng.randrange(1000, 128000) for _ in range(max(0, count - int(bos)))]
        with self._lock:
            self._token_texts[tuple(ids)] = text
        return ids

    def _text_for(self, tokens: Any) -> str:
        try:
            key = tuple(int(t) for t in tokens)
        except (TypeError, ValueError):
            return ""
        with self._lock:
            return self._token_texts.get(key, "")

    @property
    def chat_requests(self) -> list[Recorded]:
        """Only the chat-completion requests received so far."""
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0].endswith("/chat/completions")]

    # -- lifecycle ------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:PORT."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def endpoint(self) -> str:
        """The value for MODELS_ENDPOINT (the double's own preset)."""
        return self.url + "/v1"

    def endpoint_for(self, preset: str) -> str:
        """The base URL at which the double behaves like `preset` ("nvidia", "openrouter", …)."""
        if preset not in PRESETS:
            raise KeyError(preset)
        return f"{self.url}/{preset}/v1"

    def requests_to(self, preset: str) -> list[Recorded]:
        """Requests that arrived under `/preset/`."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith(f"/{preset}/")]

    def start(self) -> "ApiDouble":
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-double", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "ApiDouble":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """Serve the double in the foreground for offline demos."""
    parser = argparse.ArgumentParser(description="Local OpenAI-compatible API double (offline demos and tests).")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--any-model", action="store_true", help="answer any model name")
    args = parser.parse_args()
    double = ApiDouble(port=args.port, host=args.host, enforce_presets=not args.any_model)
    print("API double (not a real model) serving on", double.url, flush=True)
    print(f"  MODELS_PROVIDER=custom MODELS_ENDPOINT={double.endpoint}", flush=True)
    for name in PRESETS:
        print(f"  as {name}: {double.endpoint_for(name)}", flush=True)
    try:
        double._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        double._server.server_close()


if __name__ == "__main__":
    main()
