"""The operator decides where the server sends requests (issue 19): typed endpoints are the operator's to allow.

AppTest's visitor is the person running it, on the same machine (the operator); `ui.connection.operator_view` is
patched to play a visitor of a deployed app. The sidebar's widgets are driven in the browser test
(tests/test_browser_deploy.py); here their session-state values are set as the widgets would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib import client
from tests.api_double import ApiDouble, Reply

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-or-operator-lock-test-key"


@pytest.fixture(autouse=True)
def _fresh_models() -> None:
    client.clear_models_cache()


def _ask(d: ApiDouble, typed: str, *, visitor: bool, monkeypatch: pytest.MonkeyPatch, **secrets: str) -> AppTest:
    import ui.connection

    if visitor:
        monkeypatch.setattr(ui.connection, "operator_view", lambda: False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.secrets.update({"MODELS_PROVIDER": "openrouter", "OPENROUTER_BASE_URL": d.endpoint_for("openrouter"),
                       "OPENROUTER_API_KEY": KEY, **secrets})
    at.run()
    at.switch_page("pages/tool_calling.py").run()
    at.session_state["provider"] = "custom"
    at.session_state["endpoint_custom"] = typed
    d.queue(Reply(text="Hello from somewhere."))
    at.chat_input[0].set_value("Hello there").run()
    assert not at.exception, at.exception
    return at


def _chats(d: ApiDouble, preset: str) -> int:
    return sum(1 for r in d.requests_to(preset) if r.path.split("?")[0].endswith("/chat/completions"))


def test_a_deployed_server_ignores_typed_endpoints_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    with ApiDouble() as d:
        at = _ask(d, d.endpoint_for("vllm"), visitor=True, monkeypatch=monkeypatch)
        assert d.requests_to("vllm") == [], "the typed address was never contacted"
        assert _chats(d, "openrouter") == 1, "the operator's host answered instead"
        text = " ".join(str(m.value) for m in at.markdown) + " ".join(str(c.value) for c in at.caption)
        assert d.endpoint_for("openrouter") not in text, "the operator's endpoint is not shown to a visitor"


def test_turned_on_for_everyone_private_addresses_stay_refused_unless_allowed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with ApiDouble() as d:
        _ask(d, d.endpoint_for("vllm"), visitor=True, monkeypatch=monkeypatch, ALLOW_TYPED_ENDPOINTS="1")
        assert d.requests_to("vllm") == [], "127.0.0.1 is private: refused before any request"
        assert _chats(d, "openrouter") == 0, "and the turn did not silently go elsewhere"
    with ApiDouble() as d:
        _ask(d, d.endpoint_for("vllm"), visitor=True, monkeypatch=monkeypatch, ALLOW_TYPED_ENDPOINTS="1",
             ALLOW_PRIVATE_ENDPOINTS="1")
        assert _chats(d, "vllm") == 1, "allowed by the operator: used"


def test_the_operator_on_localhost_may_type_an_endpoint_but_never_a_file_url(monkeypatch: pytest.MonkeyPatch,
                                                                              tmp_path: Path) -> None:
    with ApiDouble() as d:
        _ask(d, d.endpoint_for("vllm"), visitor=False, monkeypatch=monkeypatch)
        assert _chats(d, "vllm") == 1, "the default: the operator's own server on localhost works"
    secret = tmp_path / "models"
    secret.write_text('{"data": [{"id": "llama-from-a-local-file"}]}')
    with ApiDouble() as d:
        at = _ask(d, f"file://{tmp_path}", visitor=False, monkeypatch=monkeypatch)
        assert _chats(d, "openrouter") == 0
        shown = [str(o) for s in at.selectbox for o in s.options]
        assert not any("llama-from-a-local-file" in o for o in shown), "no local file was read"
        assert at.chat_input[0].disabled, "nothing can be sent to a refused address"


def test_a_host_that_lists_no_llama_offers_a_field_to_name_the_model() -> None:
    """Issue 20: a dead end ('lists no Llama') points to the way forward: type a model name, and it is used."""
    with ApiDouble(models=[{"id": "mistral-7b-instruct", "object": "model"}]) as d:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
        at.secrets.update({"MODELS_PROVIDER": "openrouter", "OPENROUTER_BASE_URL": d.endpoint_for("openrouter"),
                           "OPENROUTER_API_KEY": KEY})
        at.run()
        at.switch_page("pages/tool_calling.py").run()
        assert any("lists no" in str(w.value) for w in at.warning), [w.value for w in at.warning]
        assert at.chat_input[0].disabled
        at.text_input(key="typed_tools_model_openrouter").set_value("meta-llama/my-own-llama").run()
        assert not at.exception
        assert not at.chat_input[0].disabled, "a named model can be asked"
        d.queue(Reply(text="Hello from my own Llama."))
        at.chat_input[0].set_value("Hello?").run()
        assert d.chat_requests[-1].body["model"] == "meta-llama/my-own-llama"


@pytest.mark.parametrize(("setting", "per_address"), [("300", 2000), ("25", 25 * 40), ("lots", 40), ("0", 40)])
def test_the_operator_says_how_many_visitors_share_one_address(setting: str, per_address: int) -> None:
    """VISITORS_PER_ADDRESS (a room behind one NAT) widens the restore store's per-address bounds, within its
    totals; anything but a positive whole number leaves the one-visitor default."""
    from lib.common.session_store import STORE

    try:
        with ApiDouble() as d:
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
            at.secrets.update({"MODELS_PROVIDER": "openrouter", "OPENROUTER_BASE_URL": d.endpoint_for("openrouter"),
                               "OPENROUTER_API_KEY": KEY, "VISITORS_PER_ADDRESS": setting})
            at.run()
            assert not at.exception, at.exception
        assert STORE.max_sessions_per_client == per_address
        assert STORE.max_bytes_per_client == min(40_000_000 * per_address // 40, STORE.max_total_bytes)
    finally:
        STORE.visitors_per_address(1)
