"""Doubles learn from real servers: the same request to real vLLM / LiteLLM and to the API double's matching preset
gets the same answer, as far as a client can tell (status, the JSON's keys and value types at every level, what
`explain()` makes of it; not the exact numbers).

The real servers are the real-server tier's (tests/real_servers/: vLLM 0.32 serving a scripted tiny Llama with the
real Llama 3 tokenizer and a 2048-token context, LiteLLM's proxy in front of it). The double is told the same context
(`double.contexts`), which is all that differs from its defaults. When one of these fails after a server upgrade, the
double has something new to learn (tests/api_double.py), not the other way round.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator, NamedTuple

import pytest

from lib import client
from lib.hosts.catalog import parse_models
from lib.hosts.config import Settings, load_settings
from lib.hosts.errors import ErrorKind, explain
from lib.tool_calling.llama_prompt import parse_tool_call
from tests import real_servers as rs
from tests.api_double import ApiDouble

pytestmark = [pytest.mark.real_server, pytest.mark.timeout(300),  # the first test waits for vLLM to start
              pytest.mark.skipif(not rs.enabled(), reason="LLAMA_HERD_REAL_SERVERS=0: real-server tier skipped")]

MODEL = rs.SERVED_MODEL
DOUBLE_VLLM_MODEL = "meta-llama/Llama-3.1-405B-Instruct-FP8"  # the text model of the double's "vllm" preset
PNG_1PX = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
           "AAAABJRU5ErkJggg==")
LONG = [{"role": "user", "content": "word " * 3000}]  # ~3000 tokens: over the 2048 both servers take
IMAGE = [{"role": "user", "content": [{"type": "text", "text": "What is in this picture?"},
                                      {"type": "image_url", "image_url": {"url": PNG_1PX}}]}]
HELLO = [{"role": "user", "content": "Hello"}]


class Side(NamedTuple):
    """One server to ask: where, with which key, under which model name."""

    endpoint: str
    key: str | None
    model: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    @property
    def settings(self) -> Settings:
        environ = {"MODELS_PROVIDER": "custom", "MODELS_ENDPOINT": self.endpoint, "REQUEST_TIMEOUT_S": "60"}
        if self.key:
            environ["MODELS_API_KEY"] = self.key
        return load_settings(environ=environ, probe=lambda url: False)


@pytest.fixture(scope="module")
def twin() -> Iterator[ApiDouble]:
    """The double, told the real servers' context (`--max-model-len 2048`)."""
    with ApiDouble() as double:
        double.contexts.update(vllm=rs.MAX_MODEL_LEN, litellm=rs.MAX_MODEL_LEN)
        yield double


@pytest.fixture(params=["vllm", "litellm"])
def pair(request: pytest.FixtureRequest, twin: ApiDouble) -> tuple[str, Side, Side]:
    """(server, the real one, the double's preset for it)."""
    client.clear_models_cache()
    if request.param == "vllm":
        server = request.getfixturevalue("vllm")
        return "vllm", Side(server.url + "/v1", None, MODEL), Side(twin.endpoint_for("vllm"), None, DOUBLE_VLLM_MODEL)
    server = request.getfixturevalue("litellm")
    return "litellm", Side(server.url + "/v1", rs.LITELLM_KEY, MODEL), Side(twin.endpoint_for("litellm"), None, MODEL)


def shape(value: Any) -> Any:
    """The JSON's structure: the keys at every level and the type of every leaf (a list: its elements' shapes)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted({json.dumps(shape(v), sort_keys=True) for v in value})
    return "null" if value is None else type(value).__name__


def words(text: str) -> str:
    """A message with the model names and numbers taken out (the rest must match word for word)."""
    return re.sub(r"\d+", "N", re.sub(r"meta-llama/[\w.-]+", "MODEL", text))


def chat(side: Side, messages: list[dict[str, Any]], **extra: Any) -> tuple[int, Any]:
    return rs.http("POST", side.endpoint + "/chat/completions",
                   {"model": side.model, "messages": messages, "max_tokens": 16, **extra}, side.headers, timeout=60)


def kind(side: Side, messages: list[dict[str, Any]], model: str | None = None) -> ErrorKind | None:
    """What the app makes of the answer (None: no error)."""
    try:
        client.complete(side.settings, model or side.model, messages, max_tokens=16)
    except Exception as exc:  # noqa: BLE001 - any failure is explained
        return explain(exc).kind
    return None


def assert_alike(real: tuple[int, Any], double: tuple[int, Any]) -> None:
    assert double[0] == real[0], (real, double)
    assert shape(double[1]) == shape(real[1]), (real[1], double[1])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_context_overflow(pair: tuple[str, Side, Side], stream: bool) -> None:
    server, real, double = pair
    answers = chat(real, LONG, stream=stream), chat(double, LONG, stream=stream)
    assert_alike(*answers)
    assert answers[0][0] == 400
    real_message, double_message = (a[1]["error"]["message"] for a in answers)
    assert words(double_message) == words(real_message)
    assert kind(real, LONG) is kind(double, LONG) is ErrorKind.CONTEXT_TOO_LONG


def test_image_to_a_text_only_model(pair: tuple[str, Side, Side]) -> None:
    server, real, double = pair
    answers = chat(real, IMAGE), chat(double, IMAGE)
    assert_alike(*answers)
    assert words(answers[1][1]["error"]["message"]) == words(answers[0][1]["error"]["message"])
    assert kind(real, IMAGE) is kind(double, IMAGE) is ErrorKind.IMAGE_NOT_SUPPORTED


def test_unknown_model(pair: tuple[str, Side, Side]) -> None:
    server, real, double = pair
    nope = "meta-llama/Llama-3.1-8B-Instruct"
    answers = chat(real._replace(model=nope), HELLO), chat(double._replace(model=nope), HELLO)
    assert_alike(*answers)
    assert answers[0][0] == (404 if server == "vllm" else 400)
    assert kind(real, HELLO, nope) is kind(double, HELLO, nope) is ErrorKind.MODEL_NOT_FOUND


def test_model_listing(pair: tuple[str, Side, Side]) -> None:
    server, real, double = pair
    answers = (rs.http("GET", real.endpoint + "/models", headers=real.headers),
               rs.http("GET", double.endpoint + "/models", headers=double.headers))
    assert_alike(*answers)
    assert list(answers[1][1]) == list(answers[0][1])  # even the order of the top-level keys
    real_info = next(m for m in parse_models(answers[0][1]) if m.id == real.model)
    double_info = next(m for m in parse_models(answers[1][1]) if m.id == double.model)
    assert (double_info.context_length, double_info.owned_by, double_info.server) == (
        real_info.context_length, real_info.owned_by, real_info.server)
    assert client.server_of(double.settings, double.model) == client.server_of(real.settings, real.model)


def test_vllm_tokenize_and_detokenize(vllm: rs.RealServer, twin: ApiDouble) -> None:
    """Same keys, the same rendering by Meta's template (exactly), and a count never below the real one."""
    messages = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Weather in Oslo?"},
                {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {
                    "name": "brave_search", "arguments": '{"query": "weather in Oslo"}'}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "3 °C, cloudy"}]
    kwargs = {"builtin_tools": ["brave_search", "wolfram_alpha"], "date_string": "01 December 2026"}
    for extra in ({}, {"chat_template_kwargs": kwargs}):
        asked = {"messages": messages, "add_generation_prompt": True, **extra}
        real = rs.http("POST", vllm.url + "/tokenize", {"model": MODEL, **asked})
        double = rs.http("POST", twin.url + "/vllm/tokenize", {"model": DOUBLE_VLLM_MODEL, **asked})
        assert_alike(real, double)
        assert double[1]["count"] >= real[1]["count"] and double[1]["max_model_len"] == real[1]["max_model_len"]
        real_text = rs.http("POST", vllm.url + "/detokenize", {"model": MODEL, "tokens": real[1]["tokens"]})
        double_text = rs.http("POST", twin.url + "/vllm/detokenize",
                              {"model": DOUBLE_VLLM_MODEL, "tokens": double[1]["tokens"]})
        assert_alike(real_text, double_text)
        assert double_text[1]["prompt"] == real_text[1]["prompt"]


def test_a_built_in_call_arrives_without_special_tokens(vllm: rs.RealServer, twin: ApiDouble) -> None:
    system = {"role": "system", "content": "Environment: ipython\nTools: brave_search\n\nYou are helpful."}
    question = [system, {"role": "user", "content": "What is the weather in Stockholm?"}]
    real = client.complete(Side(vllm.url + "/v1", None, MODEL).settings, MODEL, question, max_tokens=64).text
    double = client.complete(Side(twin.endpoint_for("vllm"), None, DOUBLE_VLLM_MODEL).settings, DOUBLE_VLLM_MODEL,
                             question, max_tokens=64).text
    for text in (real, double):
        assert "<|python_tag|>" not in text and "<|eom_id|>" not in text, text
        call = parse_tool_call(text)
        assert call is not None and call.name == "brave_search" and "Stockholm" in call.arguments["query"]
