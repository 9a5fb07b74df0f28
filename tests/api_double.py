"""API DOUBLE: a local stand-in for the OpenAI-compatible hosts Llama runs on, for tests and offline demos.

Never a real model. It speaks the protocol Ollama, vLLM, NVIDIA's API catalog, OpenRouter, Hugging Face's router and
Azure AI Foundry share, with each host's known quirks (shared/FACTS.md) as a *preset*:
- `POST …/chat/completions` — JSON, or SSE when `"stream": true` (`data: {...}` chunks, a usage chunk when
  `stream_options.include_usage` is set, then `data: [DONE]`).
- `GET …/models` — OpenAI-style `{"object": "list", "data": [...]}` with the preset's models (OpenRouter's with
  `context_length` and `architecture.input_modalities`); Azure answers 404 (deployments are not listed).
- per preset: retired models answer 410 with an end-of-life date (NVIDIA, still listed), unknown models 404 in the
  host's own error shape (Ollama, OpenRouter, Azure), a system message next to an image is refused and inline
  images over 180 000 base64 characters are refused (NVIDIA).
- scripted failures: 401, 404, 413, 429 per minute / per day with retry-after, 400 content filter, 500, 503, a
  stream cut off mid-way, CRLF / keep-alive streams the SDK cannot parse, a slow first token.

One double serves every preset at once: `double.endpoint_for("openrouter")` is `http://127.0.0.1:PORT/openrouter/v1`;
`double.endpoint` is the double's own preset (default "any": a permissive server answering any model name). Tests script replies (`double.queue(Reply(...))`)
and read `double.requests` to assert what the app sent (headers included: which key reached which preset). With no
script, `demo_responder` answers plausibly, so a person can click through the whole app offline:

    python -m tests.api_double --port 8000
    MODELS_PROVIDER=custom MODELS_ENDPOINT=http://127.0.0.1:8000/v1 streamlit run app.py

In demo mode, putting `#429day`, `#429`, `#401`, `#404`, `#410`, `#413`, `#filter`, `#500`, `#503`, `#slow`, `#cut`
in a message makes the double answer with that failure, to show the app's error states.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import select
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

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


def _m(mid: str, *, owned_by: str = "meta", vision: bool = False, context: int | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": mid, "object": "model", "created": 1730000000, "owned_by": owned_by}
    if context is not None:
        item["context_length"] = context
        item["architecture"] = {"input_modalities": ["text", "image"] if vision else ["text"],
                                "output_modalities": ["text"]}
    return item


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
        _m("meta-llama/Llama-3.1-405B-Instruct-FP8", owned_by="vllm"),
        _m("meta-llama/Llama-3.2-90B-Vision-Instruct", owned_by="vllm"),
    )),
    "ollama": Preset("ollama", (
        _m("llama3.1:8b", owned_by="library"),
        _m("llama3.2-vision:latest", owned_by="library"),
        _m("qwen2.5:7b", owned_by="library"),
    ), error_shape="ollama"),
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
    return _error(code, message)


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
    # that hangs before its first token)
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


@dataclass
class Recorded:
    """One request the double received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

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
}


def _tool_call_for(question: str, system: str, first_user: str) -> str | None:
    q = question.lower()
    custom = first_user  # custom (JSON) tool definitions travel in the first user message

    def builtin(name: str, query: str) -> str | None:
        if f'"{name}"' in custom:  # a model without built-in tools got it as a JSON definition
            return json.dumps({"type": "function", "name": name, "parameters": {"query": query}})
        if name in system:
            return f"<|python_tag|>{name}.call(query={json.dumps(query)})<|eom_id|>"
        return None

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
    user_msgs = [m for m in messages if m.get("role") == "user"]
    first_user = _text_of(user_msgs[0].get("content")) if user_msgs else ""
    if last.get("role") in ("tool", "ipython") or last_text.startswith(("Tool result", "[tool result")):
        result = _text_of(last.get("content"))
        return Reply(
            text="(API double) Based on the tool result: " + result.strip()[:400],
            chunk_delay_s=0.02,
        )
    call = _tool_call_for(last_text.split("Question:")[-1].strip(), system, first_user)
    if call:
        return Reply(text=call)
    return Reply(text=f"(API double — not a real model.) You said: “{last_text.strip()[:300]}”.", chunk_delay_s=0.02)


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

    def do_GET(self) -> None:  # noqa: N802
        double = self.server.double
        double._record("GET", self.path, dict(self.headers), None)
        preset, path = self._preset()
        if path.endswith("/models") and preset.lists_models:
            if double.catalog_status != 200:
                self._send_json(double.catalog_status,
                                shaped_error(preset.error_shape, double.catalog_status, "unavailable", "unavailable"))
            else:
                models = double.models if double.models is not None else list(preset.models)
                self._send_json(200, {"object": "list", "data": models})
            return
        if path.endswith("/api/version") and preset.name in ("ollama", "any"):
            self._send_json(200, {"version": "0.12.0"})
            return
        self._send_json(404, shaped_error(preset.error_shape, 404, "not_found", "Not found"))

    def _refusal(self, preset: Preset, body: dict[str, Any]) -> Reply | None:
        """What the preset's host refuses before any answer: unknown / retired models, its vision quirks."""
        model = str(body.get("model") or "")
        ids = {str(m["id"]).lower() for m in (self.server.double.models or preset.models)}
        shape = preset.error_shape
        if model.lower() in preset.retired:
            when = preset.retired[model.lower()]
            return Reply(status=410, body=shaped_error(
                shape, 410, "gone", f"The model '{model}' has reached its end of life on {when} and is no longer "
                                    "available."))
        if preset.strict_models and model.lower() not in ids:
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
        image = _image_of(messages)
        if image is not None:
            if preset.refuses_system_with_image and any(m.get("role") == "system" for m in messages):
                return Reply(status=400, body=shaped_error(
                    shape, 400, "bad_request", "Prompting with images is incompatible with system messages"))
            b64 = image.split(",", 1)[1] if "," in image else image
            if preset.max_inline_image_chars and len(b64) > preset.max_inline_image_chars:
                return Reply(status=400, body=shaped_error(
                    shape, 400, "bad_request",
                    f"Image too large: inline base64 images must be under {preset.max_inline_image_chars} characters "
                    "(use the assets API for larger images)."))
        return None

    def do_POST(self) -> None:  # noqa: N802
        double = self.server.double
        body = self._read_body()
        double._record("POST", self.path, dict(self.headers), body)
        preset, path = self._preset()
        if not path.endswith("/chat/completions"):
            self._send_json(404, shaped_error(preset.error_shape, 404, "not_found", "Not found"))
            return
        if double.require_token is not None:
            auth = self.headers.get("Authorization", "")
            if auth != f"Bearer {double.require_token}":
                self._send_json(401, shaped_error(preset.error_shape, 401, "unauthorized", "Bad credentials"))
                return
        request = body if isinstance(body, dict) else {}
        reply = self._refusal(preset, request) if double.enforce_presets else None
        with double._lock:
            over = double.max_concurrent is not None and double._in_flight >= double.max_concurrent
            if over:
                double.refused_concurrent += 1
        if over:  # like a free tier's "too many requests at once": 429 with a short retry-after
            self._send_json(429, shaped_error(preset.error_shape, 429, "too_many_concurrent_requests",
                                              f"Too many concurrent requests: at most {double.max_concurrent} at "
                                              "once for this model."), {"retry-after": "1"})
            return
        reply = reply or double._next_reply(request)
        with double._lock:
            double._in_flight += 1
            double.max_in_flight = max(double.max_in_flight, double._in_flight)
        try:
            if reply.delay_s and reply.stream_mode != "stall":
                time.sleep(reply.delay_s)
            if reply.status != 200:
                self._send_json(reply.status, reply.body if reply.body is not None else _error("error", "error"),
                                reply.headers)
                return
            model = request.get("model", "double")
            if request.get("stream"):
                include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
                self._stream(reply, model, include_usage and reply.usage)
            else:
                self._send_json(200, _completion(reply.text, reply.model or model, reply.finish_reason), reply.headers)
        finally:
            with double._lock:
                double._in_flight -= 1

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

    def _stream(self, reply: Reply, model: str, include_usage: bool) -> None:
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
                if reply.chunk_delay_s:
                    time.sleep(reply.chunk_delay_s)
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
                         "choices": [], "usage": _usage(reply.text)}
                self._chunk(f"data: {json.dumps(usage)}{eol}{eol}".encode())
            self._chunk(f"data: [DONE]{eol}{eol}".encode())
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client hung up mid-answer (Stop): a real server logs it and aborts the request.
            self.server.double.disconnects.append(model)  # type: ignore[attr-defined]
            self.close_connection = True


def _usage(text: str) -> dict[str, int]:
    completion = max(1, len(text) // 4)
    return {"prompt_tokens": 42, "completion_tokens": completion, "total_tokens": 42 + completion}


def _completion(text: str, model: str, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:12],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
        "usage": _usage(text),
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
        self.stalled = threading.Event()  # set: every "stall" reply ends (a test releasing a hung server)
        self.disconnects: list[str] = []  # models whose answer the client hung up on, as a real server logs it
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
        with self._lock:
            if self._script:
                return self._script.pop(0)
        return self.responder(body)

    def _record(self, method: str, path: str, headers: dict[str, str], body: Any) -> None:
        with self._lock:
            self.requests.append(Recorded(method, path, headers, body))

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
