"""AppTest: every page renders without an exception, with and without a token, and the setup state is helpful."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from lib import client
from tests.api_double import ApiDouble
from tests.conftest import TEST_TOKEN

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["app_pages/home.py", "app_pages/tool_calling.py", "app_pages/vision.py"]
ENV_KEYS = ["GITHUB_TOKEN", "MODELS_ENDPOINT", "MODELS_CATALOG_URL", "TOOLS_MODEL", "VISION_MODEL",
            "BRAVE_API_KEY", "WOLFRAM_ALPHA_APP_ID", "ALLOW_CODE_INTERPRETER"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    # No GitHub CLI token either: these tests decide where the token comes from.
    monkeypatch.setattr("lib.config.gh_cli_token", lambda: None)
    client.clear_catalog_cache()
    yield


def _app(page: str | None = None, **secrets: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    for k, v in secrets.items():
        at.secrets[k] = v
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


def _all_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
    parts += [w.value for w in at.warning] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
def test_pages_render_without_a_token_and_disable_sending(page: str) -> None:
    at = _app(page, MODELS_CATALOG_URL="http://127.0.0.1:9/catalog/models")
    assert not at.exception, at.exception
    text = _all_text(at)
    assert "models:read" in text, "the setup panel explains which permission the token needs"
    assert "gh auth login" in text
    if page == "app_pages/tool_calling.py":
        assert at.chat_input and at.chat_input[0].disabled
        assert all(b.disabled for b in at.button if b.label.startswith("What is"))
    if page == "app_pages/vision.py":
        assert [b for b in at.button if b.label == "Ask Llama"][0].disabled


def test_home_with_token_and_double_lists_catalog_models() -> None:
    with ApiDouble() as d:
        at = _app(None, GITHUB_TOKEN=TEST_TOKEN, MODELS_ENDPOINT=d.endpoint, MODELS_CATALOG_URL=d.catalog_url)
        assert not at.exception
        text = _all_text(at)
        assert "5 models listed" in text
        assert "models:read" not in text, "no setup panel when a token is configured"
        assert TEST_TOKEN not in text, "the token itself is never shown"
        frames = [df.value for df in at.dataframe]
        assert any("meta/llama-3.2-90b-vision-instruct" in frame.to_string() for frame in frames)


@pytest.mark.parametrize("page", PAGES)
def test_pages_render_with_a_token_against_the_double(page: str) -> None:
    with ApiDouble() as d:
        at = _app(page, GITHUB_TOKEN=TEST_TOKEN, MODELS_ENDPOINT=d.endpoint, MODELS_CATALOG_URL=d.catalog_url)
        assert not at.exception, at.exception
        if page == "app_pages/tool_calling.py":
            assert at.chat_input and not at.chat_input[0].disabled
        assert TEST_TOKEN not in _all_text(at)


def test_missing_model_is_reported_with_fallback_preselected() -> None:
    from tests.api_double import DEFAULT_CATALOG

    with ApiDouble(catalog=[m for m in DEFAULT_CATALOG if "405b" not in m["id"]]) as d:
        at = _app("app_pages/tool_calling.py", GITHUB_TOKEN=TEST_TOKEN, MODELS_ENDPOINT=d.endpoint,
                  MODELS_CATALOG_URL=d.catalog_url)
        assert not at.exception
        assert any("not in the catalog" in w.value for w in at.warning)
        assert at.selectbox(key="tools_model_pick").value.lower() == "meta/llama-3.3-70b-instruct"


def test_catalog_down_uses_configured_names() -> None:
    with ApiDouble() as d:
        d.catalog_status = 503
        at = _app("app_pages/tool_calling.py", GITHUB_TOKEN=TEST_TOKEN, MODELS_ENDPOINT=d.endpoint,
                  MODELS_CATALOG_URL=d.catalog_url)
        assert not at.exception
        assert any("meta/Meta-Llama-3.1-405B-Instruct" in c.value and "catalog unavailable" in c.value
                   for c in at.caption)


def test_switching_provider_takes_effect_on_the_next_request() -> None:
    with ApiDouble() as first, ApiDouble() as second:
        at = _app("app_pages/tool_calling.py", GITHUB_TOKEN=TEST_TOKEN, MODELS_ENDPOINT=first.endpoint)
        # What the sidebar's widgets write (AppTest drops sidebar widgets from its tree on reruns under
        # st.navigation, so the widgets themselves are driven in the browser test).
        at.session_state["provider"] = "local"
        at.session_state["provider_touched"] = True
        at.session_state["endpoint_local"] = second.endpoint
        at.session_state["tools_model_local"] = "llama3.1:8b"
        at.chat_input[0].set_value("Hello there").run()
        assert not at.exception
        assert not first.chat_requests
        assert second.chat_requests and second.chat_requests[0].body["model"] == "llama3.1:8b"
        assert "Authorization" not in second.chat_requests[0].headers or TEST_TOKEN not in \
            second.chat_requests[0].headers["Authorization"], "the GitHub token is not sent to another server"
