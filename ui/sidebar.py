"""The sidebar and the setup help: "Where Llama runs" with its Connection settings, the Requests meter and rehearsal
count drawn once the page has run, the dated providers table and the "How to connect" panel.

May import lib.* and ui.connection, ui.meter, ui.presenter, ui.rehearsal (never ui.conversation, pages or app)."""

from __future__ import annotations

import streamlit as st

from lib.common.shared_state import LINK

from lib.hosts.config import Settings
from lib.hosts.limits import limits_for
from lib.hosts.providers import CHECKED_ON, GITHUB_RETIRED, PROVIDERS, Page, provider
from ui import presenter
from ui.i18n import language_picker
from ui.connection import (
    stash_key,
    base_settings,
    endpoint_refusal,
    keep_sidebar_choices,
    page_host_picker,
    shown_endpoint,
    typed_endpoints_allowed,
    visitor_providers,
)
from ui.meter import model_in_use, quota_lines
from ui.rehearsal import rehearsal_status


def _key_line(settings: Settings) -> str:
    p = settings.provider
    if p is None:
        return ""
    if settings.token:
        where = {"secrets": ".streamlit/secrets.toml", "environment": "environment", "sidebar": "typed here"}
        return f"Key: found ({settings.key_name}, {where.get(settings.token_source, settings.token_source)})"
    if p.key_required:
        return f"Key: **missing** — paste your {p.key_names[0]} under Connection settings"
    return "Key: not needed"


def sidebar(settings: Settings, page: Page | None = None) -> None:
    """Where Llama runs: which provider, and the switch and its fields folded under "Connection settings".

    The fields are drawn only while that box is open (open at first when nothing can be sent yet): a radio of
    six providers and three text boxes were about a quarter of the browser's work for the first page view.
    """
    base = base_settings()
    ss = st.session_state
    with st.sidebar:
        presenter.toggle()
        language_picker()
        stage = presenter.presenting()
        if "provider" not in ss and base.provider_id:
            ss["provider"] = base.provider_id
        keep_sidebar_choices()
        where = f"**{settings.label}**" if settings.provider else "Not connected yet"
        if settings.provider and not stage:  # on stage: no addresses or key talk
            shown = shown_endpoint(settings)
            details = [f"Endpoint: `{shown}`" if shown else "" if settings.endpoint else "Endpoint: **missing**",
                       _key_line(settings)]
            where += "".join(f"  \n:small[:gray[{x}]]" for x in details if x)
        # One element, not three: each is work for the browser on the first page view.
        st.markdown("### Where Llama runs\n\n" + where)
        if (outage := LINK.status(stage)) is not None:  # several processes, and Redis is gone: say what that means
            st.warning(outage, icon=":material/cloud_off:")
        if page is not None and not stage:
            page_host_picker(page)
        # Decided once per session: the box's label and `expanded` are part of its identity.
        ss.setdefault("connection_open_at_start", not settings.can_send)
        box = st.expander("Connection settings", expanded=ss["connection_open_at_start"], key="connection_box",
                          on_change="rerun")
        if box.open:
            with box:
                _connection(base, settings)


def _connection(base: Settings, settings: Settings) -> None:
    """The provider switch and its fields."""
    pid = st.radio(
        "Provider",
        visitor_providers(base),
        format_func=lambda i: provider(i).label,
        key="provider",
        **({} if "provider" in st.session_state else {"index": None}),
        help="Switching applies to this browser session, from the next request on; nothing restarts.",
    )
    if pid == base.provider_id and base.reason:
        st.caption(f"Why: {base.reason}.")
    if pid:
        _provider_fields(pid, settings)


def _provider_fields(pid: str, settings: Settings) -> None:
    """The few fields a provider needs: a base URL for your own server, a key, deployment names."""
    p = provider(pid)
    ss = st.session_state
    typing = typed_endpoints_allowed(base_settings())
    if not typing:
        pass  # the operator's addresses only: nothing to type but a key
    elif pid in ("custom", "azure"):
        label = "Base URL" if pid == "custom" else "Endpoint (AZURE_AI_CHAT_ENDPOINT)"
        placeholder = ("http://localhost:8000/v1" if pid == "custom"
                       else "https://<resource>.openai.azure.com/openai/v1")
        ss.setdefault(f"endpoint_{pid}", settings.endpoint if settings.provider_id == pid else "")
        st.text_input(label, key=f"endpoint_{pid}", placeholder=placeholder)
    elif pid == "ollama":
        ss.setdefault(f"endpoint_{pid}", settings.endpoint if settings.provider_id == pid else "")
        st.text_input("Ollama base URL", key=f"endpoint_{pid}", placeholder="http://127.0.0.1:11434/v1",
                      help="Set OLLAMA_HOST to change the default.")
    if p.key_names:
        configured = bool(settings.token) and settings.token_source != "sidebar" and settings.provider_id == pid
        if not configured:
            kept = bool(ss.get(f"secret_key_{pid}"))
            st.text_input(
                f"{p.key_names[0]}" + ("" if p.key_required else " (optional)"),
                key=f"key_{pid}", type="password",
                placeholder="•••••• kept for this session (type to replace)" if kept else (p.key_hint or None),
                on_change=stash_key, args=(pid,),
                help=f"Sent only to {p.label} at the URL above. Kept on the server for this browser session; "
                     "never sent back to the page, logged or exported."
                     + (f" Get one: {p.key_url}" if p.key_url and p.key_required else ""),
            )
            if kept and st.button("Forget this key", key=f"forget_key_{pid}", type="tertiary"):
                ss.pop(f"secret_key_{pid}", None)
                st.rerun()
    if pid in ("custom", "azure"):
        what = "deployment" if pid == "azure" else "model"
        st.text_input(f"Tools {what}", key=f"tools_model_{pid}", placeholder=p.tools_models[0])
        st.text_input(f"Vision {what}", key=f"vision_model_{pid}", placeholder=p.vision_models[0])
    elif pid != "ollama" and typing:
        with st.expander("Gateway or proxy (optional)"):
            st.text_input("Base URL", key=f"endpoint_{pid}", placeholder=p.base_url or "",
                          help=f"Only if you reach {p.label} through a gateway; the {p.key_names[0]} goes there.")
    if (refused := endpoint_refusal(pid)) is not None and typing:
        st.error(f"Not used: {refused}", icon="🚫")


def sidebar_quota(settings: Settings) -> None:
    """Requests per provider (drawn after the page ran, so it includes this run's requests), and the rehearsal
    box's count and Save button (likewise: a turn recorded in this run is in them)."""
    rehearsal_status(settings)
    lines, warning = quota_lines(settings)
    with st.sidebar:
        if warning:
            st.warning(warning, icon="⏳")
        if not presenter.presenting():
            st.subheader("Requests")
            p = settings.provider
            # Home uses no model: the free tier's note, where the figures hold for some models only.
            limits = limits_for(p, model_in_use(settings) or "any" + p.limits.only_suffix) if p is not None else None
            note = f"\n\n{p.label}: {limits.note}." if p is not None and limits is not None and limits.note else ""
            st.caption("  \n".join(lines) + note)


def providers_table() -> str:
    """The dated table of where Llama runs, as Markdown (from lib/hosts/providers.py)."""
    rows = ["| Provider | Llama 3.1 405B | Llama 3.2 90B Vision | Key | Free tier |", "|---|---|---|---|---|"]
    for p in PROVIDERS:
        key = f"`{p.key_names[0]}`" + ("" if p.key_required else " (optional)") if p.key_names else "none"
        rows.append(f"| {p.label} | {p.exact_tools} | {p.exact_vision} | {key} | {p.free_tier} |")
    return "\n".join(rows) + f"\n\nChecked {CHECKED_ON}; hosts drop models month by month."


def setup_panel(settings: Settings, compact: bool = False) -> None:
    """How to connect (shown when sending is impossible); `compact` folds it into an expander."""
    p = settings.provider
    if p is not None and settings.needs_token:
        title = f"🔑 {p.label} needs its key: sending is switched off"
    elif p is not None and settings.needs_endpoint:
        title = f"🔌 {p.label} needs a base URL: sending is switched off"
    else:
        title = "🔌 No model host yet: sending is switched off. How to connect"
    box = st.expander(title, expanded=not compact) if compact else st.container(border=True)
    with box:
        if not compact:
            st.markdown(f"#### {title}")
        if settings.github_retired and p is None:
            st.warning(GITHUB_RETIRED, icon="🪦")
        if settings.placeholder_keys:
            st.caption("Still the example's placeholder (counted as missing): "
                       + ", ".join(f"`{k}`" for k in settings.placeholder_keys))
        st.markdown(
            "Any **one** of these works; then reload the page (or pick the provider in the sidebar):\n"
            "1. **Ollama, free, on this machine:** install it from ollama.com, then `ollama pull llama3.1:8b` "
            "(and `ollama pull llama4:scout` for the vision page if the machine has the memory: Ollama 0.30+ can't "
            "run Llama 3.2 Vision). The app finds it by itself.\n"
            "2. **NVIDIA API catalog** (the only host with Llama 3.2 90B Vision): a key from build.nvidia.com as "
            "`NVIDIA_API_KEY`.\n"
            "3. **OpenRouter:** make a key at openrouter.ai/settings/keys and set `OPENROUTER_API_KEY` "
            "(free `:free` models: 50 requests a day).\n"
            "4. **Hugging Face:** a token from huggingface.co/settings/tokens as `HF_TOKEN`.\n"
            "5. **SambaNova** (free tier), **Together**, **DeepInfra** or **Cloudflare Workers AI**: "
            "`SAMBANOVA_API_KEY`, `TOGETHER_API_KEY`, `DEEPINFRA_API_KEY`, or `CLOUDFLARE_API_TOKEN` with "
            "`CLOUDFLARE_ACCOUNT_ID`.\n"
            "6. **Azure AI Foundry:** `AZURE_AI_CHAT_ENDPOINT` (`https://<resource>.openai.azure.com/openai/v1`) and "
            "`AZURE_AI_CHAT_KEY`, and your deployment names.\n"
            "7. **Your own vLLM server:** `MODELS_PROVIDER=custom` and `MODELS_ENDPOINT=http://host:8000/v1`.\n\n"
            "Several at once work too: each demo page then runs on the host with the best model for it. Put keys in "
            "`.streamlit/secrets.toml` (copy `.streamlit/secrets.toml.example`) or in the environment, "
            "or paste one in the sidebar for this browser session only."
        )
