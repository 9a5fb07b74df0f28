"""AppTest: every page renders without an exception on every provider, and the setup state tells the truth."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from lib import client
from tests.api_double import ApiDouble, Reply
from tests.conftest import TEST_TOKEN

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["pages/home.py", "pages/tool_calling.py", "pages/vision.py"]
ENV_KEYS = ["GITHUB_TOKEN", "MODELS_PROVIDER", "MODELS_ENDPOINT", "MODELS_API_KEY", "NVIDIA_API_KEY",
            "OPENROUTER_API_KEY", "HF_TOKEN", "AZURE_AI_CHAT_ENDPOINT", "AZURE_AI_CHAT_KEY", "TOOLS_MODEL",
            "VISION_MODEL", "BRAVE_API_KEY", "WOLFRAM_ALPHA_APP_ID", "ALLOW_CODE_INTERPRETER"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # no Ollama here: the probe fails at once
    client.clear_models_cache()
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
    parts += [w.value for w in at.warning] + [i.value for i in at.info] + [t.value for t in at.title]
    parts += [s.value for s in at.success]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
def test_pages_with_nothing_configured_explain_how_to_connect_and_disable_sending(page: str) -> None:
    at = _app(page)
    assert not at.exception, at.exception
    text = _all_text(at)
    assert "ollama pull llama3.1:8b" in text and "OPENROUTER_API_KEY" in text and "NVIDIA_API_KEY" in text
    assert "models.github.ai" not in text and "GITHUB_TOKEN" not in text
    if page == "pages/tool_calling.py":
        assert at.chat_input and at.chat_input[0].disabled
        assert all(b.disabled for b in at.button if b.label.startswith("What is"))
    if page == "pages/vision.py":
        assert [b for b in at.button if b.label == "Ask Llama"][0].disabled


@pytest.mark.parametrize("page", PAGES)
def test_only_a_github_token_gets_the_retirement_in_one_sentence(page: str) -> None:
    at = _app(page, GITHUB_TOKEN="ghp_retiredtoken12345")
    assert not at.exception
    warnings = [w.value for w in at.warning if "GitHub Models was retired on 30 July 2026" in w.value]
    if page == "pages/home.py":
        assert len(warnings) == 1
    assert "ghp_retiredtoken12345" not in _all_text(at)


@pytest.mark.parametrize("preset, tools_title, vision_title, why", [
    ("openrouter", "Llama 3.3 70B", "Llama 3.2 11B Vision", "isn't offered by OpenRouter any more"),
    ("nvidia", "Llama 3.1 405B", "Llama 3.2 90B Vision", "the model this page was built for"),
    ("huggingface", "Llama 3.3 70B", "Llama 4 Maverick", "reads the same tool format"),
    ("ollama", "Llama 3.1 8B", "Llama 3.2 11B Vision", "isn't served by Ollama"),  # Ollama 0.29 (see below)
    ("vllm", "Llama 3.1 405B", "Llama 3.2 90B Vision", "the model this page was built for"),
])
def test_each_provider_preset_names_the_model_in_the_title_and_says_why(preset: str, tools_title: str,
                                                                         vision_title: str, why: str) -> None:
    pid = {"vllm": "custom"}.get(preset, preset)
    key_var = {"openrouter": "OPENROUTER_API_KEY", "nvidia": "NVIDIA_API_KEY", "huggingface": "HF_TOKEN"}.get(pid)
    with ApiDouble() as d:
        d.ollama_version = "0.29.2"  # the last Ollama that runs Llama 3.2 Vision
        secrets = {"MODELS_PROVIDER": pid, "MODELS_ENDPOINT": d.endpoint_for(preset)}
        if key_var:
            secrets[key_var] = TEST_TOKEN
        tools_page = _app("pages/tool_calling.py", **secrets)
        assert not tools_page.exception, tools_page.exception
        assert tools_page.title[0].value == f"🛠️ Tool calling with {tools_title}"
        vision_page = _app("pages/vision.py", **secrets)
        assert vision_page.title[0].value == f"🖼️ Vision with {vision_title}"
        home = _app(None, **secrets)
        assert tools_title in _all_text(home) and vision_title in _all_text(home)  # the one-line connection
        home.session_state["home_connection"] = True  # the person opens the details: the reasons
        home.run()
        text = _all_text(home)
        assert why in text and tools_title in text and vision_title in text
        assert TEST_TOKEN not in text + _all_text(tools_page) + _all_text(vision_page)
        for request in d.requests:
            assert request.path.startswith(f"/{preset}/"), "nothing went anywhere but the chosen preset"


def test_ollama_0_30_never_gets_a_llama_3_2_vision_request_and_the_page_says_why() -> None:
    """Ollama 0.30+ lists llama3.2-vision but cannot load it ('mllama'): it is never offered there, and the vision
    page says why and what to do instead, in one line."""
    with ApiDouble() as d:
        d.follow_ollama_version = True  # the double answers as 0.34.1 does: HTTP 500 'mllama'
        secrets = {"MODELS_PROVIDER": "ollama", "MODELS_ENDPOINT": d.endpoint_for("ollama")}
        vision_page = _app("pages/vision.py", **secrets)
        assert not vision_page.exception, vision_page.exception
        assert vision_page.title[0].value == "🖼️ Vision: no vision model here"
        why = " ".join(w.value for w in vision_page.warning)
        assert "can't run Llama 3.2 Vision" in why and "NVIDIA key" in why and "llama4:scout" in why
        tools_page = _app("pages/tool_calling.py", **secrets)
        assert tools_page.title[0].value == "🛠️ Tool calling with Llama 3.1 8B"  # text Llamas still work
        assert not [r for r in d.chat_requests if "llama3.2-vision" in str(r.body.get("model"))]


@pytest.mark.parametrize("page", ["pages/tool_calling.py", "pages/vision.py"])
def test_a_host_whose_model_list_cannot_be_read_gets_a_warning_not_a_tick(page: str) -> None:
    with ApiDouble() as d:
        listed = _app(page, MODELS_PROVIDER="custom", MODELS_ENDPOINT=d.endpoint, MODELS_API_KEY=TEST_TOKEN)
        line = next(c.value for c in listed.caption if "Llama" in c.value and c.value[:1] in "✅🔁⚠")
        assert line.startswith("✅"), line  # the double lists the exact model
    down = _app(page, MODELS_PROVIDER="custom", MODELS_ENDPOINT="http://127.0.0.1:9/v1", MODELS_API_KEY=TEST_TOKEN)
    line = next(c.value for c in down.caption if "Couldn't list" in c.value)
    assert line.startswith("⚠️") and "could not reach" in line, line


def test_a_model_without_built_in_tools_is_told_and_gets_json_definitions() -> None:
    with ApiDouble() as d:
        d.queue(Reply(text="Hello."))
        at = _app("pages/tool_calling.py", MODELS_PROVIDER="openrouter", MODELS_ENDPOINT=d.endpoint_for("openrouter"),
                  OPENROUTER_API_KEY=TEST_TOKEN, TOOLS_MODEL="meta-llama/llama-4-maverick")
        assert any("has no built-in tools" in c.value for c in at.caption)
        at.chat_input[0].set_value("Search the web: who won?").run()
        sent = d.chat_requests[-1].body["messages"]
        assert "Tools:" not in sent[0]["content"]
        assert '"name": "brave_search"' in sent[1]["content"]


def test_placeholder_key_counts_as_missing_and_nothing_is_sent() -> None:
    with ApiDouble() as d:
        at = _app("pages/tool_calling.py", MODELS_PROVIDER="nvidia", MODELS_ENDPOINT=d.endpoint_for("nvidia"),
                  NVIDIA_API_KEY="nvapi-...")
        assert at.chat_input[0].disabled
        assert "placeholder" in _all_text(at) and "NVIDIA_API_KEY" in _all_text(at)
        assert not d.chat_requests


def test_switching_provider_takes_effect_on_the_next_request_and_keys_stay_home() -> None:
    with ApiDouble() as d:
        at = _app("pages/tool_calling.py", MODELS_PROVIDER="openrouter", MODELS_ENDPOINT=d.endpoint_for("openrouter"),
                  OPENROUTER_API_KEY=TEST_TOKEN)
        # What the sidebar's widgets write (AppTest drops sidebar widgets from its tree on reruns under
        # st.navigation, so the widgets themselves are driven in the browser test).
        at.session_state["provider"] = "custom"
        at.session_state["endpoint_custom"] = d.endpoint_for("vllm")
        at.chat_input[0].set_value("Hello there").run()
        assert not at.exception
        sent = d.requests_to("vllm")
        chat = [r for r in sent if r.path.split("?")[0].endswith("/chat/completions")]
        assert chat and chat[0].body["model"] == "meta-llama/Llama-3.1-405B-Instruct-FP8"
        for r in sent:
            assert TEST_TOKEN not in repr(r.headers), "the OpenRouter key went to another server"


def test_azure_deployment_names_typed_in_the_sidebar_are_used() -> None:
    with ApiDouble() as d:
        at = _app("pages/tool_calling.py", AZURE_AI_CHAT_ENDPOINT=d.endpoint_for("azure"), AZURE_AI_CHAT_KEY=TEST_TOKEN)
        assert "Llama-3.3-70B-Instruct" in _all_text(at)
        at.session_state["tools_model_azure"] = "Llama-4-Maverick-17B-128E-Instruct-FP8"
        at.chat_input[0].set_value("Hello there").run()
        assert not at.exception
        assert d.chat_requests[-1].body["model"] == "Llama-4-Maverick-17B-128E-Instruct-FP8"
        assert d.chat_requests[-1].headers["Authorization"] == f"Bearer {TEST_TOKEN}"


def test_a_retired_model_mid_session_is_skipped_and_the_same_question_goes_to_the_next() -> None:
    with ApiDouble() as d:
        at = _app("pages/tool_calling.py", MODELS_PROVIDER="nvidia", MODELS_ENDPOINT=d.endpoint_for("nvidia"),
                  NVIDIA_API_KEY=TEST_TOKEN)
        assert at.title[0].value == "🛠️ Tool calling with Llama 3.1 405B"  # listed, but retired (410)
        at.chat_input[0].set_value("Tell me about llamas").run()
        assert not at.exception
        models = [r.body["model"] for r in d.chat_requests]
        assert models == ["meta/llama-3.1-405b-instruct", "meta/llama-3.3-70b-instruct"]
        text = _all_text(at)
        assert "was retired" in text and "meta/llama-3.3-70b-instruct" in text
        assert not at.error
        assert at.title[0].value == "🛠️ Tool calling with Llama 3.3 70B"  # the conversation goes on there


def test_test_connection_says_in_one_line_whether_it_works() -> None:
    with ApiDouble() as d:
        at = _app(None, MODELS_PROVIDER="custom", MODELS_ENDPOINT=d.endpoint_for("vllm"), MODELS_API_KEY=TEST_TOKEN)
        at.session_state["home_connection"] = True  # "Connection details, models and a connection test"
        at.run()
        [b for b in at.button if b.label == "Test connection"][0].click().run()
        assert any("Connected to vLLM or another server you run: 2 models listed and the key works" in s.value
                   for s in at.success)
        d.require_token = "another"
        d.catalog_status = 401
        [b for b in at.button if b.label == "Test connection"][0].click().run()
        assert any("refused the key (HTTP 401)" in e.value for e in at.error)


def test_the_sidebar_warns_before_the_free_daily_budget_runs_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from lib.hosts.config import load_settings

    with ApiDouble() as d:
        secrets = {"MODELS_PROVIDER": "openrouter", "MODELS_ENDPOINT": d.endpoint_for("openrouter"),
                   "OPENROUTER_API_KEY": TEST_TOKEN}
        tracker = client.QuotaTracker()
        where = client.quota_key(load_settings(environ=secrets, probe=lambda url: False))
        for _ in range(42):
            tracker.count(where, "meta-llama/llama-3.3-70b-instruct:free")
        monkeypatch.setattr(client, "QUOTA", tracker)
        at = _app(None, **secrets)  # the sidebar is drawn on every page (AppTest keeps it on the first)
        warnings = [w.value for w in at.warning]
        assert any("42 of OpenRouter's 50 free requests today are used: 8 left" in w for w in warnings), warnings
        assert any("42 of 50 today" in c.value for c in at.caption)


def test_home_in_presenter_mode_shows_no_addresses_or_setting_names() -> None:
    with ApiDouble() as d:
        secrets = {"MODELS_PROVIDER": "openrouter", "MODELS_ENDPOINT": d.endpoint_for("openrouter"),
                   "OPENROUTER_API_KEY": TEST_TOKEN}
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
        for k, v in secrets.items():
            at.secrets[k] = v
        at.session_state["presenter_mode"] = True
        at.run()
        main = "\n".join(m.value for m in at.main.markdown) + "\n".join(c.value for c in at.main.caption)
        assert "OpenRouter" in main and "Llama 3.3 70B" in main
        for jargon in ("127.0.0.1", "MODELS_PROVIDER", "OPENROUTER_API_KEY", "Endpoint"):
            assert jargon not in main, jargon


def test_home_says_the_connection_in_one_line_and_draws_its_details_only_when_opened() -> None:
    with ApiDouble() as d:
        at = _app(None, MODELS_PROVIDER="openrouter", MODELS_ENDPOINT=d.endpoint_for("openrouter"),
                  OPENROUTER_API_KEY=TEST_TOKEN)
        line = [m.value for m in at.main.markdown if m.value.startswith("**Connection:**")]
        assert line == ["**Connection:** OpenRouter · tool calling uses **Llama 3.3 70B** (built for Llama 3.1 405B), "
                        "vision uses **Llama 3.2 11B Vision** (built for Llama 3.2 90B Vision)."]
        box = [e for e in at.expander if e.label.startswith("Connection details")]
        assert len(box) == 1 and not box[0].markdown and not at.button, "closed: nothing drawn inside"
        at.session_state["home_connection"] = True
        at.run()
        details = "\n".join(m.value for e in at.expander if e.label.startswith("Connection details") for m in e.markdown)
        assert "isn't offered by OpenRouter any more" in details and "| Tool calling |" in details
        assert [b.label for b in at.button] == ["Test connection"]


def test_home_draws_the_where_llama_runs_table_only_when_opened() -> None:
    with ApiDouble() as d:
        at = _app(None, MODELS_PROVIDER="custom", MODELS_ENDPOINT=d.endpoint_for("vllm"), MODELS_API_KEY=TEST_TOKEN)
        where = [e for e in at.expander if e.label.startswith("Where Llama runs (checked")]
        assert len(where) == 1 and not where[0].markdown, "closed: nothing drawn inside"
        at.session_state["home_where"] = True  # the person opens it
        at.run()
        table = "\n".join(m.value for e in at.expander if e.label.startswith("Where Llama runs") for m in e.markdown)
        assert "OpenRouter" in table and "NVIDIA" in table and "|" in table


# Run in a fresh interpreter, so what is already imported by other tests doesn't hide what a page imports.
IMPORTS_PROGRAM = """
import os, sys
sys.path.insert(0, {root!r})
from streamlit.testing.v1 import AppTest
HEAVY = ("pandas", "pyarrow", "numpy", "azure.core", "azure.ai.inference", "requests", "charset_normalizer")
before = {{m for m in HEAVY if m in sys.modules}}
at = AppTest.from_file(os.path.join({root!r}, "app.py"), default_timeout=30)
at.run()
if {page!r}:
    at.switch_page({page!r})
    at.run()
assert not at.exception, at.exception
print(" ".join(sorted(m for m in HEAVY if m in sys.modules and m not in before)) or "-")
at.session_state["home_connection"] = True  # then open Home's connection details
at.run()
print("|".join(c.value.replace("\\n", " ") for c in [*at.caption, *at.markdown]))
"""


def _imported_by(page: str | None, env: dict[str, str]) -> tuple[set[str], str]:
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", IMPORTS_PROGRAM.format(root=str(ROOT), page=page or "")],
                         capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr[-2000:]
    modules, text = out.stdout.strip().splitlines()[-2:]
    return set(modules.split()) - {"-"}, text


def test_home_loads_no_dataframe_library_sdk_or_http_library_on_its_first_view() -> None:
    with ApiDouble() as d:
        env = {"MODELS_PROVIDER": "custom", "MODELS_ENDPOINT": d.endpoint, "MODELS_API_KEY": TEST_TOKEN}
        home, text = _imported_by(None, env)
        assert "lists 5 models" in text, "Home listed the server's models (the request it does make)"
        assert home == set(), f"Home's first view imported {home}: each costs a fresh server time before it shows"
        # The tool page's first view sends nothing either, so it needs no SDK yet.
        tools, _ = _imported_by("pages/tool_calling.py", env)
        assert "azure.core" not in tools and "pandas" not in tools


def test_streamlits_run_it_with_streamlit_run_warning_is_only_skipped_under_a_running_server(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ui.shell.skip_repl_check spares a fresh server's first view Streamlit's REPL check (inspect.stack(), ~30 ms);
    someone running `python app.py` still gets Streamlit's warning."""
    from streamlit import delta_generator, runtime

    from ui.shell import skip_repl_check

    monkeypatch.setattr(delta_generator, "_use_warning_has_been_displayed", False)  # fails if Streamlit renames it
    monkeypatch.setattr(runtime, "exists", lambda: False)
    skip_repl_check()
    assert delta_generator._use_warning_has_been_displayed is False
    monkeypatch.setattr(runtime, "exists", lambda: True)
    skip_repl_check()
    assert delta_generator._use_warning_has_been_displayed is True
