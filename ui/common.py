"""Streamlit view helpers shared by the pages: settings for this session, the sidebar, errors, setup help."""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib import client
from lib.catalog import CatalogResult, candidates, resolve_model
from lib.config import NEW_TOKEN_URL, PROVIDERS, TOKEN_HELP_URL, Settings, load_settings
from lib.errors import UserError

LOCAL_DEFAULT_URL = "http://localhost:11434/v1"


def _secrets() -> dict[str, Any]:
    """`st.secrets` as a plain dict; an absent or broken secrets.toml is simply empty."""
    try:
        return {k: st.secrets[k] for k in st.secrets.keys()}
    except Exception:  # noqa: BLE001 - FileNotFoundError / parse errors: fall back to the environment
        return {}


def base_settings() -> Settings:
    """Settings from secrets > environment > GitHub CLI, resolved once per session."""
    if "base_settings" not in st.session_state:
        st.session_state["base_settings"] = load_settings(_secrets())
    return st.session_state["base_settings"]


def current_settings() -> Settings:
    """The base settings with this session's sidebar choices applied (takes effect on the next request)."""
    base = base_settings()
    provider = st.session_state.get("provider", base.provider)
    if provider == base.provider and not st.session_state.get("provider_touched"):
        return base
    return base.with_provider(
        provider,
        endpoint=st.session_state.get(f"endpoint_{provider}"),
        token=st.session_state.get(f"key_{provider}") or None,
        tools_model=st.session_state.get(f"tools_model_{provider}"),
        vision_model=st.session_state.get(f"vision_model_{provider}"),
    )


def _touched() -> None:
    st.session_state["provider_touched"] = True


def sidebar(settings: Settings) -> None:
    """Connection settings (provider switch), shared by all pages."""
    base = base_settings()
    with st.sidebar:
        st.subheader("Connection")
        keys = list(PROVIDERS)
        st.session_state.setdefault("provider", base.provider)
        provider = st.radio(
            "Provider",
            keys,
            format_func=PROVIDERS.__getitem__,
            key="provider",
            on_change=_touched,
            help="Changing it takes effect on the next request; nothing restarts.",
        )
        if provider == "azure":
            st.session_state.setdefault("endpoint_azure", "" if base.provider != "azure" else base.endpoint)
            st.text_input(
                "Endpoint",
                key="endpoint_azure",
                placeholder="https://<resource>.services.ai.azure.com/models",
                on_change=_touched,
            )
            st.text_input("API key", key="key_azure", type="password", on_change=_touched,
                          help="Kept in this browser session only; never shown or logged.")
        elif provider == "local":
            st.session_state.setdefault(
                "endpoint_local", base.endpoint if base.provider == "local" else LOCAL_DEFAULT_URL
            )
            st.text_input("Base URL", key="endpoint_local", on_change=_touched,
                          help="Ollama: http://localhost:11434/v1 · vLLM: http://localhost:8000/v1 · llama.cpp: http://localhost:8080/v1")
            st.text_input("Tools model", key="tools_model_local", placeholder=base.tools_model, on_change=_touched)
            st.text_input("Vision model", key="vision_model_local", placeholder=base.vision_model, on_change=_touched)
            st.text_input("API key (optional)", key="key_local", type="password", on_change=_touched)

        status = "found" if settings.token else ("not needed" if settings.is_local else "missing")
        st.caption(f"Endpoint: `{settings.endpoint}`  \nToken: {status}"
                   + (f" ({settings.token_source})" if settings.token else ""))



def sidebar_quota(settings: Settings) -> None:
    """Requests sent today (drawn after the page ran, so it includes this run's requests)."""
    with st.sidebar:
        snap = client.QUOTA.snapshot()
        if snap.counts:
            st.subheader("Requests today")
            for model, n in sorted(snap.counts.items()):
                st.caption(f"`{model}`: {n}")
            if settings.provider == "github":
                st.caption("GitHub's free tier allows about 50 requests a day and 10 a minute for these models.")


def show_error(err: UserError) -> None:
    """An error box with the title, what to do, and the server's words (never a traceback)."""
    icon = "⏳" if err.is_rate_limit else "⚠️"
    body = f"**{err.title}.** {err.message}"
    st.error(body, icon=icon)
    if err.detail:
        st.caption(f"Server said: {err.detail}" + (f" (HTTP {err.status})" if err.status else ""))


def setup_panel(settings: Settings, compact: bool = False) -> None:
    """How to get a token (shown when a remote endpoint has none); `compact` folds it into an expander."""
    box = (st.expander("🔑 No token found: sending is switched off. How to connect", expanded=False)
           if compact else st.container(border=True))
    with box:
        if not compact:
            st.markdown("#### 🔑 Connect to GitHub Models")
        st.markdown(
            "No token was found, so sending is switched off. Any **one** of these fixes it:\n"
            f"1. [Create a fine-grained personal access token]({NEW_TOKEN_URL}) with the **`models:read`** "
            "permission, and put it in `.streamlit/secrets.toml` as `GITHUB_TOKEN = \"...\"` "
            "(copy `.streamlit/secrets.toml.example`).\n"
            "2. Or export it before starting: `export GITHUB_TOKEN=...` then `streamlit run app.py`.\n"
            "3. Or log in with the GitHub CLI: `gh auth login` — the app picks up `gh auth token`.\n"
            "4. Or open the repository in **GitHub Codespaces**, where `GITHUB_TOKEN` is already set.\n\n"
            "Then reload this page. No GitHub account at hand? Pick **Local OpenAI-compatible server** in the "
            "sidebar (Ollama, vLLM, llama.cpp)."
        )
        st.caption(f"[About GitHub Models' free tier and tokens]({TOKEN_HELP_URL})")


def catalog(settings: Settings) -> CatalogResult | None:
    """The cached catalog for these settings (None when the endpoint has no catalog)."""
    return client.get_catalog(settings)


def model_picker(settings: Settings, need: str, configured: str, key: str) -> str:
    """Pick the page's model: from the catalog when there is one (with the fallback proposed), else as configured."""
    cat = catalog(settings)
    choice = resolve_model(configured, cat)
    if cat is None or not cat.available or not cat.models:
        if cat is not None and cat.error:
            st.caption(f"Model: `{configured}` (catalog unavailable: {cat.error}; using the configured name)")
        else:
            st.caption(f"Model: `{configured}`")
        return configured
    options = [m.id for m in candidates(cat.models, need)]
    if choice.listed and choice.info is not None:
        default = choice.info.id
    elif choice.fallback:
        st.warning(choice.note + " It is preselected below; pick another if you prefer.", icon="🔁")
        default = next(m for m in options if m.lower() == choice.fallback.lower()) if any(
            m.lower() == choice.fallback.lower() for m in options) else options[0]
    else:
        st.warning(choice.note, icon="⚠️")
        options = [configured] + options
        default = configured
    if default not in options:
        options = [default] + options
    labels = {m.id: m.label for m in cat.models}
    return st.selectbox(
        "Model",
        options,
        index=options.index(default),
        key=key,
        format_func=lambda m: labels.get(m, m),
        help="From the provider's catalog, filtered to models that fit this page.",
    )
