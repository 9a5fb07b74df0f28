"""The sidebar and the setup help: "Where Llama runs" with its Connection settings, the Requests meter and rehearsal
count drawn once the page has run, the dated providers table and the "How to connect" panel.

May import lib.* and ui.connection, ui.i18n, ui.meter, ui.presenter, ui.rehearsal (never ui.conversation, pages or
app)."""

from __future__ import annotations

import streamlit as st

from lib.common.shared_state import LINK

from lib.hosts.config import Settings
from lib.hosts.limits import limits_for
from lib.hosts.providers import CHECKED_ON, GITHUB_RETIRED_MSG, PROVIDERS, Page, provider
from ui import presenter
from ui.i18n import language_picker, say, t
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
from ui.meter import RUN, model_in_use, quota_lines
from ui.rehearsal import rehearsal_status


def _key_line(settings: Settings) -> str:
    p = settings.provider
    if p is None:
        return ""
    if settings.token:
        source = settings.token_source
        where = (".streamlit/secrets.toml" if source == "secrets"
                 else t(f"sidebar.key_where.{source}") if source in ("environment", "sidebar") else source)
        return t("sidebar.key_found", key_name=settings.key_name, where=where)
    if p.key_required:
        return t("sidebar.key_missing", key_name=p.key_names[0])
    return t("sidebar.key_not_needed")


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
        where = f"**{say(settings.label_msg)}**" if settings.provider else t("sidebar.not_connected")
        if settings.provider and not stage:  # on stage: no addresses or key talk
            shown = shown_endpoint(settings)
            details = [t("sidebar.endpoint", endpoint=shown) if shown
                       else "" if settings.endpoint else t("sidebar.endpoint_missing"),
                       _key_line(settings)]
            where += "".join(f"  \n:small[:gray[{x}]]" for x in details if x)
        # One element, not three: each is work for the browser on the first page view.
        st.markdown(f"### {t('sidebar.where_llama_runs')}\n\n" + where)
        RUN.outage_slot = st.empty()
        _outage()
        if page is not None and not stage:
            page_host_picker(page)
        # Decided once per session: the box's label and `expanded` are part of its identity.
        ss.setdefault("connection_open_at_start", not settings.can_send)
        # Its label is part of its identity: ui.connection.keep_sidebar_choices keeps it open across a language change.
        box = st.expander(t("sidebar.connection_settings"), expanded=ss["connection_open_at_start"],
                          key="connection_box", on_change="rerun")
        if box.open:
            with box:
                _connection(base, settings)


def _connection(base: Settings, settings: Settings) -> None:
    """The provider switch and its fields."""
    pid = st.radio(
        t("sidebar.provider"),
        visitor_providers(base),
        format_func=lambda i: say(provider(i).label_msg),
        key="provider",
        **({} if "provider" in st.session_state else {"index": None}),
        help=t("sidebar.provider_help"),
    )
    if pid == base.provider_id and base.reason:
        st.caption(t("sidebar.why", reason=say(base.shown_reason)))
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
        label = t("sidebar.base_url") if pid == "custom" else t("sidebar.azure_endpoint")
        placeholder = ("http://localhost:8000/v1" if pid == "custom"
                       else "https://<resource>.openai.azure.com/openai/v1")
        ss.setdefault(f"endpoint_{pid}", settings.endpoint if settings.provider_id == pid else "")
        st.text_input(label, key=f"endpoint_{pid}", placeholder=placeholder)
    elif pid == "ollama":
        ss.setdefault(f"endpoint_{pid}", settings.endpoint if settings.provider_id == pid else "")
        st.text_input(t("sidebar.ollama_base_url"), key=f"endpoint_{pid}", placeholder="http://127.0.0.1:11434/v1",
                      help=t("sidebar.ollama_help"))
    if p.key_names:
        configured = bool(settings.token) and settings.token_source != "sidebar" and settings.provider_id == pid
        if not configured:
            kept = bool(ss.get(f"secret_key_{pid}"))
            st.text_input(
                p.key_names[0] if p.key_required else t("sidebar.key_optional", key_name=p.key_names[0]),
                key=f"key_{pid}", type="password",
                placeholder=t("sidebar.key_kept") if kept else (p.key_hint or None),
                on_change=stash_key, args=(pid,),
                help=t("sidebar.key_help", provider=say(p.label_msg))
                     + (" " + t("sidebar.key_get_one", url=p.key_url) if p.key_url and p.key_required else ""),
            )
            if kept and st.button(t("sidebar.forget_key"), key=f"forget_key_{pid}", type="tertiary"):
                ss.pop(f"secret_key_{pid}", None)
                st.rerun()
    if pid in ("custom", "azure"):
        what = "deployment" if pid == "azure" else "model"
        st.text_input(t(f"sidebar.tools_{what}_label"), key=f"tools_model_{pid}", placeholder=p.tools_models[0])
        st.text_input(t(f"sidebar.vision_{what}_label"), key=f"vision_model_{pid}", placeholder=p.vision_models[0])
    elif pid != "ollama" and typing:
        # A key: the box's identity (and whether it is open) doesn't change with the language of its label.
        with st.expander(t("sidebar.gateway"), key=f"gateway_box_{pid}"):
            st.text_input(t("sidebar.base_url"), key=f"endpoint_{pid}", placeholder=p.base_url or "",
                          help=t("sidebar.gateway_help", provider=say(p.label_msg), key_name=p.key_names[0]))
    if (refused := endpoint_refusal(pid)) is not None and typing:
        st.error(t("sidebar.not_used", reason=say(refused)), icon="🚫")


def _outage() -> None:
    """Several processes, and Redis is gone: say what that means (near the top of the sidebar), or nothing."""
    slot = RUN.outage_slot
    if slot is None:
        return
    if (outage := LINK.status(presenter.presenting())) is not None:
        slot.warning(outage, icon=":material/cloud_off:")
    else:
        slot.empty()


def sidebar_quota(settings: Settings) -> None:
    """Requests per provider (drawn after the page ran, so it includes this run's requests), and the rehearsal
    box's count and Save button (likewise: a turn recorded in this run is in them). Once a run: a page whose
    conversation is a fragment draws it from there (so a rerun of that alone updates it too), app.py otherwise."""
    if RUN.quota_drawn:
        return
    RUN.quota_drawn = True
    _outage()  # again: Redis may have gone (or come back) while the page ran
    rehearsal_status(settings)
    lines, warning = quota_lines(settings)
    with st.sidebar:
        if warning:
            st.warning(warning, icon="⏳")
        if not presenter.presenting():
            st.subheader(t("sidebar.requests"))
            p = settings.provider
            # Home uses no model: the free tier's note, where the figures hold for some models only.
            limits = limits_for(p, model_in_use(settings) or "any" + p.limits.only_suffix) if p is not None else None
            note = (f"\n\n{say(p.label_msg)}: {say(limits.shown_note)}."
                    if p is not None and limits is not None and limits.note else "")
            st.caption("  \n".join(lines) + note)


def providers_table() -> str:
    """The dated table of where Llama runs, as Markdown (from lib/hosts/providers.py)."""
    rows = [f"| {t('sidebar.table.provider')} | Llama 3.1 405B | Llama 3.2 90B Vision | {t('sidebar.table.key')} "
            f"| {t('sidebar.table.free_tier')} |", "|---|---|---|---|---|"]
    for p in PROVIDERS:
        named = f"`{p.key_names[0]}`" if p.key_names else ""
        key = (named if p.key_required else t("sidebar.table.key_optional", key=named)) if p.key_names \
            else t("sidebar.table.no_key")
        cells = (say(p.said(name)) for name in ("label", "exact_tools", "exact_vision"))
        rows.append(f"| {' | '.join(cells)} | {key} | {say(p.said('free_tier'))} |")
    return "\n".join(rows) + "\n\n" + t("sidebar.table.checked", date=CHECKED_ON)


def setup_panel(settings: Settings, compact: bool = False) -> None:
    """How to connect (shown when sending is impossible); `compact` folds it into an expander."""
    p = settings.provider
    if p is not None and settings.needs_token:
        title = "🔑 " + t("sidebar.setup.needs_key", provider=say(p.label_msg))
    elif p is not None and settings.needs_endpoint:
        title = "🔌 " + t("sidebar.setup.needs_base_url", provider=say(p.label_msg))
    else:
        title = "🔌 " + t("sidebar.setup.no_host")
    # Its key keeps the folded box as it is (open or not) when the language of its title changes.
    box = st.expander(title, expanded=not compact, key="setup_box") if compact else st.container(border=True)
    with box:
        if not compact:
            st.markdown(f"#### {title}")
        if settings.github_retired and p is None:
            st.warning(say(GITHUB_RETIRED_MSG), icon="🪦")
        if settings.placeholder_keys:
            keys = ", ".join(f"`{k}`" for k in settings.placeholder_keys)
            st.caption(t("sidebar.setup.placeholder_keys", keys=keys))
        st.markdown(t("sidebar.setup.steps"))
