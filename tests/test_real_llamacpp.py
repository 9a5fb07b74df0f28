"""Opt-in real-server tests against llama.cpp's own `llama-server` (LLAMA_HERD_LLAMACPP=1; CI skips them).

PyPI has no binary of llama.cpp's C++ server: `tests/real_servers/setup.sh llamacpp` builds it from the source
vendored in llama-cpp-python's sdist (about 16 minutes on 2 cores, cached after) and converts the scripted model
to GGUF. What llama.cpp showed is also in the API double's `llamacpp` preset, which the default suite runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterator

import pytest

from lib import client
from lib.hosts.config import Settings, load_settings
from lib.hosts.errors import ErrorKind, explain
from lib.tool_calling.loop import Done, run_turn
from lib.vision.answer import VisionAnswer
from tests import real_servers as rs
from tests.stubs import StubServer

pytestmark = [pytest.mark.real_server, pytest.mark.timeout(1500),
              pytest.mark.skipif(not rs.llamacpp_enabled(), reason="opt-in: LLAMA_HERD_LLAMACPP=1 (a 16-minute build)")]

PNG_1PX = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
           "AAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rs.RealServer]:
    server = rs.start_llama_server(rs.setup("llamacpp"), tmp_path_factory.mktemp("llama-server"))
    try:
        server.wait_ready(60)
        yield server
    finally:
        server.stop()


@pytest.fixture
def on_llamacpp(llama_server: rs.RealServer) -> Settings:
    client.clear_models_cache()
    return load_settings(environ={"MODELS_PROVIDER": "custom", "MODELS_ENDPOINT": llama_server.url + "/v1",
                                  "REQUEST_TIMEOUT_S": "60"}, probe=lambda url: False)


def test_listing_context_and_rendering(on_llamacpp: Settings) -> None:
    listing = client.get_models(on_llamacpp)
    assert listing is not None and listing.available
    info = listing.find(rs.SERVED_MODEL)
    assert info is not None and info.context_length == rs.MAX_MODEL_LEN and info.server == "llamacpp"
    rendered = client.rendered_prompt(on_llamacpp, rs.SERVED_MODEL, [{"role": "user", "content": "Hi"}],
                                      {"chat_template_kwargs": {"builtin_tools": ["brave_search"],
                                                                "date_string": "01 December 2026"}})
    assert rendered is not None and rendered.count("Today Date:") == 1


def test_a_tool_turn_and_an_overflow(on_llamacpp: Settings) -> None:
    with StubServer() as stub:
        events = list(run_turn(on_llamacpp, rs.SERVED_MODEL, [], "What is the weather in Stockholm?",
                               ["brave_search"], stub.tool_config(timeout_s=5), today=dt.date(2026, 12, 1),
                               server_template=True, count_tokens=client.token_counter(on_llamacpp, rs.SERVED_MODEL),
                               context_tokens=rs.MAX_MODEL_LEN))
        turn = events[-1].turn
        assert isinstance(events[-1], Done) and turn.error is None, turn.error
        assert turn.answer.startswith("Sunny skies")
        events = list(run_turn(on_llamacpp, rs.SERVED_MODEL, [], "날씨 " * 3000, [], stub.tool_config(timeout_s=5)))
        assert events[-1].turn.error.kind is ErrorKind.CONTEXT_TOO_LONG


def test_an_image_is_refused_once_and_explained(on_llamacpp: Settings, llama_server: rs.RealServer) -> None:
    before = llama_server.log_text().count("POST /v1/chat/completions")
    with pytest.raises(Exception) as caught:
        list(VisionAnswer(on_llamacpp, rs.SERVED_MODEL, PNG_1PX, [("user", "What is this?")]))
    assert explain(caught.value).kind is ErrorKind.IMAGE_NOT_SUPPORTED
    assert llama_server.log_text().count("POST /v1/chat/completions") - before <= 1
