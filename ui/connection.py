"""Which host, endpoint, key and model this session uses: the settings with the sidebar's choices applied, what a
visitor may see or type, each page's host and model (with the page's model picker), the choices kept for a reload.

May import lib.* and ui.i18n, ui.meter, ui.rehearsal, ui.state (never ui.sidebar, ui.conversation, pages or app)."""

from __future__ import annotations

import hashlib
import os
from urllib.parse import urlsplit
from typing import Any, Callable

import streamlit as st

from lib import client
from lib.common import redact
from lib.common.session_store import STORE
from lib.common.shared_state import LINK
from lib.hosts.catalog import CatalogResult
from lib.hosts.config import Settings, best_host, load_settings, ollama_version
from lib.hosts.endpoint_guard import EndpointRefused, check_url, flag, policy, visitor_is_local
from lib.hosts.providers import (
    PROVIDER_IDS,
    PROVIDERS,
    ModelPick,
    Page,
    context_limit,
    display_name,
    next_model,
    pick_model,
)
from ui import state
from lib.i18n import Msg
from ui.i18n import language, say, t
from ui.meter import RUN
from ui.rehearsal import replay_pin


def _secrets() -> dict[str, Any]:
    """`st.secrets` as a plain dict; an absent or broken secrets.toml is simply empty."""
    try:
        return {k: st.secrets[k] for k in st.secrets.keys()}
    except Exception:  # noqa: BLE001 - FileNotFoundError / parse errors: fall back to the environment
        return {}


def visitors_per_address(value: object) -> int:
    """`VISITORS_PER_ADDRESS` as a whole number (1 when unset or not a positive whole number)."""
    try:
        n = int(str(value).strip()) if value not in (None, "") else 1
    except ValueError:
        return 1
    return n if 1 <= n <= 100_000 else 1


def use_shared_state() -> None:
    """Point this process's Redis link at `REDIS_URL` (secrets > environment), once per session; unset: nothing is
    shared. Its password is registered as a secret, so no error text or log line shows it. Also applies
    `VISITORS_PER_ADDRESS` (a room behind one address) to the restore store's per-client bounds."""
    ss = st.session_state
    if "_shared_state" in ss:
        return
    secrets = _secrets()
    STORE.visitors_per_address(visitors_per_address(
        secrets.get("VISITORS_PER_ADDRESS") or os.environ.get("VISITORS_PER_ADDRESS")))
    url = str(secrets.get("REDIS_URL") or os.environ.get("REDIS_URL") or "").strip()
    try:
        password = urlsplit(url).password if url else None
    except ValueError:
        password = None
    redact.register(password)
    LINK.configure(url or None)
    ss["_shared_state"] = bool(url)


def base_settings() -> Settings:
    """Settings from secrets > environment (> Ollama if it answers), resolved once per session."""
    if "base_settings" not in st.session_state:
        st.session_state["base_settings"] = load_settings(_secrets())
    return st.session_state["base_settings"]


def _typed(name: str) -> str | None:
    value = st.session_state.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def operator_view() -> bool:
    """True when this visitor is on the server's own machine (the operator): decided once per session."""
    ss = st.session_state
    if "_operator_view" not in ss:
        try:
            ip, headers = st.context.ip_address, {str(k): str(v) for k, v in st.context.headers.items()}
        except Exception:  # noqa: BLE001 - outside a browser session (AppTest): the person running it
            ip, headers = None, {}
        ss["_operator_view"] = visitor_is_local(ip if isinstance(ip, str) else None, headers)
    return bool(ss["_operator_view"])


OPERATOR_ENDPOINT = "https://YOUR-ENDPOINT/v1"  # in exported code, in place of an address a visitor may not see


def shown_url(endpoint: str) -> str:
    """`endpoint` for exported code: as is for the operator or a provider's public address, else a placeholder."""
    if operator_view():
        return endpoint
    public = {(p.base_url or "").rstrip("/") for p in PROVIDERS if p.base_url and p.id not in _LOCKED_PROVIDERS}
    return endpoint if endpoint.rstrip("/") in public else OPERATOR_ENDPOINT


def shown_endpoint(settings: Settings) -> str | None:
    """The endpoint as this visitor may see it: all of it for the operator; for a visitor only a provider's own
    public address (an operator's server or gateway is not theirs to see)."""
    if operator_view():
        return settings.endpoint or None
    p = settings.provider
    public = (p.base_url or "").rstrip("/") if p is not None and p.id not in _LOCKED_PROVIDERS else ""
    return settings.endpoint if public and settings.endpoint.rstrip("/") == public else None


def typed_endpoints_allowed(base: Settings) -> bool:
    """Whether this visitor may type a base URL (ALLOW_TYPED_ENDPOINTS: local by default, on, off)."""
    rule = policy(base.get("ALLOW_TYPED_ENDPOINTS"))
    return rule == "on" or (rule == "local" and operator_view())


_LOCKED_PROVIDERS = ("ollama", "custom", "azure")  # their address is the operator's to give


def visitor_providers(base: Settings) -> list[str]:
    """The providers this visitor may switch to: all, when they may type endpoints; else the operator's hosts and
    the public providers they can bring their own key for."""
    if typed_endpoints_allowed(base):
        return list(PROVIDER_IDS)
    configured = {h.provider_id for h in base.hosts()} | ({base.provider_id} if base.provider_id else set())
    return [pid for pid in PROVIDER_IDS if pid in configured or pid not in _LOCKED_PROVIDERS]


def endpoint_refusal(pid: str) -> Msg | str | None:
    """Why the base URL typed for `pid` is not used (None: it is, or none was typed); render with `ui.i18n.say`."""
    endpoint = _typed(f"endpoint_{pid}")
    if endpoint is None:
        return None
    base = base_settings()
    if not typed_endpoints_allowed(base):
        return t("connection.typed_not_allowed")
    return _checked_endpoint(base, endpoint)[1]


def _checked_endpoint(base: Settings, endpoint: str) -> tuple[str | None, Msg | str | None]:
    allow_private = operator_view() or flag(base.get("ALLOW_PRIVATE_ENDPOINTS"))
    checks: dict = st.session_state.setdefault("_endpoint_checks", {})
    key = f"{int(allow_private)} {endpoint}"
    if key not in checks:
        if len(checks) > 50:
            checks.clear()
        try:
            checks[key] = (check_url(endpoint, allow_private=allow_private), None)
        except EndpointRefused as exc:
            checks[key] = (None, exc.msg)  # said in the page's language where it is shown
    return checks[key]


def _allowed_endpoint(base: Settings, pid: str) -> str | None:
    """The base URL typed for `pid`, if this visitor may use it and it passes the operator's rules."""
    endpoint = _typed(f"endpoint_{pid}")
    if endpoint is None or not typed_endpoints_allowed(base):
        return None
    return _checked_endpoint(base, endpoint)[0]


def current_settings(page: Page | None = None) -> Settings:
    """The base settings with this session's sidebar choices applied (takes effect on the next request).

    With `page`, and nothing chosen in the sidebar: the host that page runs on. `TOOLS_PROVIDER` / `VISION_PROVIDER`
    pin it; otherwise the best model for the page across every configured host wins (`lib.hosts.config.best_host`), so
    vision may run on NVIDIA's 90B while tools run on OpenRouter. One configured host: that one, as before."""
    base = base_settings()
    pid = st.session_state.get("provider", base.provider_id or None)
    if not pid:
        return base
    if pid not in visitor_providers(base):
        pid = base.provider_id or None  # a provider whose address is the operator's to give, and wasn't
        if not pid:
            return base
    endpoint, key = _allowed_endpoint(base, pid), _typed(f"secret_key_{pid}")
    # A visitor's own address: its failures are told in one short sentence of ours (no upstream words, no way to
    # tell a closed port from an SSH banner).
    st.session_state["_visitor_endpoint"] = bool(endpoint) and not operator_view()
    tools_model, vision_model = _typed(f"tools_model_{pid}"), _typed(f"vision_model_{pid}")
    if pid == base.provider_id and not any((endpoint, key, tools_model, vision_model)):
        if not page:
            return base
        chosen = st.session_state.get(f"page_host_{page}")  # "Host for this page" in the sidebar
        if chosen and chosen != AUTO_HOST:
            host = next((h for h in base.hosts() if h.provider_id == chosen), None)
            if host is not None:
                return host
        return page_host(base, page)[0]
    return base.with_provider(pid, endpoint=endpoint, token=key, tools_model=tools_model, vision_model=vision_model)


def _reachable(settings: Settings) -> bool:
    """Its model listing was read, or it has none to read (Foundry)."""
    listing = models(settings)
    return listing is None or listing.available


AUTO_HOST = "auto"


def page_host_picker(page: Page) -> None:
    """Sidebar: which of the configured hosts this demo page runs on (automatic: the best model for it). Drawn only
    when there is a choice, i.e. when several hosts are configured and nothing was switched in the sidebar."""
    base = base_settings()
    if st.session_state.get("provider", base.provider_id) != base.provider_id:
        return
    hosts = [h for i, h in enumerate(base.hosts()) if i == 0 or _reachable(h)]
    if len(hosts) < 2:
        return
    ids = [AUTO_HOST] + [h.provider_id for h in hosts]
    key = f"page_host_{page}"
    if st.session_state.get(key) not in ids:
        st.session_state[key] = AUTO_HOST
    auto = page_host(base, page)[0]
    labels = {h.provider_id: say(h.label_msg) for h in hosts}
    st.selectbox(t("connection.host_for_page"), ids, key=key,
                 format_func=lambda i: t("connection.host_best", provider=say(auto.label_msg)) if i == AUTO_HOST
                 else labels[i],
                 help=t("connection.host_help"))


def page_host(base: Settings, page: Page) -> tuple[Settings, ModelPick | None]:
    """The host a page runs on, with its pick when it was chosen by ranking (None: pinned or the only host)."""
    pinned = base.pinned(page)
    if pinned is not None:
        return pinned, None
    # A host whose listing could not be read (unreachable, refused key) is no candidate: its pick would be a guess.
    hosts = [h for i, h in enumerate(base.hosts()) if i == 0 or _reachable(h)]
    if len(hosts) == 1:
        return base, None

    def listed(s: Settings) -> list[str] | None:
        listing = models(s)
        return listing.ids if listing is not None and listing.available else None

    return best_host(hosts, page, listed, lambda s: client.skipped_models(s.endpoint), server_version)


def stash_key(pid: str) -> None:
    """Move a typed key out of its widget at once, so it is never sent back to the browser."""
    typed = (st.session_state.get(f"key_{pid}") or "").strip()
    if typed:
        st.session_state[f"secret_key_{pid}"] = typed
    st.session_state[f"key_{pid}"] = ""


# Widget keys of the fields folded into the sidebar's boxes: the provider, the fields typed for it (per provider
# id), the rehearsal mode. Streamlit forgets a widget's value after a run that doesn't draw it, and resets it on a
# page switch unless the value was set through st.session_state in that run: see keep_sidebar_choices.
_KEPT = ("provider", "rehearsal_mode")
_KEPT_PREFIXES = ("endpoint_", "tools_model_", "vision_model_", "page_host_")


_CONNECTION_PREFIXES = ("endpoint_", "tools_model_", "vision_model_", "page_host_")
# The sidebar's boxes that remember whether they are open: Streamlit makes a box's label part of its identity even
# with a key, so a box whose label changes language would be a new box, closed again (see keep_sidebar_choices).
_BOXES = ("connection_box", "rehearsal_box", "setup_box", "home_connection", "home_where", "tool_raw_prompt",
          "tool_raw_code", "vision_code_box")
_BOX_PREFIXES = ("gateway_box_", "tool_received_")
"""Keyed expanders (and families of them) anywhere in the app: Streamlit 1.67 makes a label part of an expander's
identity, so a language switch would close them; `keep_sidebar_choices` hands each its state again."""


def restore_connection() -> None:
    """A new session (a reload): bring back what this browser chose under "Connection settings" (provider, typed
    addresses and model names, each page's host; never a key), before any setting is resolved."""
    ss = st.session_state
    if "_connection_restored" in ss:
        return
    ss["_connection_restored"] = True
    kept = state.load("connection") or {}
    for name, value in kept.items():
        if isinstance(value, str) and (name == "provider" or name.startswith(_CONNECTION_PREFIXES)) \
                and name not in ss and len(value) <= 2048:
            ss[name] = value


def remember_connection() -> None:
    """Keep this session's connection choices (not keys) for a reload of this tab, when they changed."""
    ss = st.session_state
    chosen = {name: ss[name] for name in list(ss.keys())
              if isinstance(ss[name], str) and (name == "provider" or name.startswith(_CONNECTION_PREFIXES))}
    if chosen != ss.get("_connection_saved", {}) and (chosen or "_connection_saved" in ss):
        ss["_connection_saved"] = dict(chosen)
        state.save("connection", chosen)


def keep_sidebar_choices() -> None:
    """Keep what was chosen in "Connection settings" and "Rehearsal" while those boxes are closed (not drawn).

    Called on every run before the boxes: Streamlit's documented way to keep a widget's value across runs and pages
    that don't draw it is to set it again through st.session_state in each run."""
    ss = st.session_state
    for name in list(ss.keys()):
        if name in _KEPT or name.startswith(_KEPT_PREFIXES):
            ss[name] = ss[name]
    lang = language()
    if ss.get("_boxes_lang", lang) != lang:  # the language changed: the boxes stay as they were, open or closed
        for name in list(ss.keys()):
            if name in _BOXES or name.startswith(_BOX_PREFIXES):
                ss[name] = ss[name]
    ss["_boxes_lang"] = lang


def models(settings: Settings) -> CatalogResult | None:
    """The provider's cached model listing (None when it has none, e.g. Foundry)."""
    if not settings.can_send and not (settings.provider is not None and settings.endpoint):
        return None
    return client.get_models(settings)


def choose_model(settings: Settings, page: Page) -> tuple[ModelPick, CatalogResult | None]:
    """The automatic pick for a page (with the one-line reason) and the listing it was made from.

    In Replay with a rehearsal that recorded this page at this provider: that model, pinned by the recording, and
    no listing read (on stage it may not be readable at all; another pick would make every question a new one)."""
    pinned = replay_pin(settings, page)
    if pinned is not None:
        return ModelPick(pinned, t("connection.replay_pinned", model_name=display_name(pinned)), False,
                         (pinned,)), None
    listing = models(settings)
    listed = listing.ids if listing is not None and listing.available else None
    explicit = settings.tools_model if page == "tools" else settings.vision_model
    p = settings.provider
    if p is None:
        return ModelPick(None, t("connection.no_provider")), None
    pick = pick_model(p, page, listed, explicit, client.skipped_models(settings.endpoint),
                      server_version=server_version(settings))
    if listing is not None and not listing.available and pick.model and not explicit:
        # A visitor's own typed address gets no reason (reached or not, refused or not: no port scanner here).
        why = "" if st.session_state.get("_visitor_endpoint") else f" ({say(listing.shown_error)})"
        pick = ModelPick(pick.model, t("connection.cannot_list", host=say(p.noun_msg), why=why, model=pick.model),
                         pick.exact, pick.options)
    return pick, listing


def server_version(settings: Settings) -> str | None:
    """The server software's version where it matters for which models run (Ollama's `GET /api/version`)."""
    return ollama_version(settings.endpoint) if settings.provider_id == "ollama" and settings.endpoint else None


def next_model_fn(settings: Settings, page: Page) -> Callable[[str], str | None]:
    """For the tool loop / vision answer: the model to try after one answered "retired" or "not found".

    The listing is read now, in the script's thread: the function may be called from a worker thread.
    """
    listing = models(settings)
    listed = listing.ids if listing is not None and listing.available else None
    version = server_version(settings)

    def pick_next(current: str) -> str | None:
        p = settings.provider
        if p is None:
            return None
        return next_model(p, page, listed, current, client.skipped_models(settings.endpoint), server_version=version)

    return pick_next


def _use_typed_model(field: str) -> None:
    """The page's model field was filled: use that name (what Connection settings' model field would set)."""
    typed = (st.session_state.get(f"typed_{field}") or "").strip()
    if typed:
        st.session_state[field] = typed[:200]


def model_picker(settings: Settings, page: Page) -> str | None:
    """Show which model the page uses and why (one line), with a picker when there is a choice."""
    pick, listing = choose_model(settings, page)
    if pick.model is None:
        st.warning(say(pick.shown_reason), icon="⚠️")
        if settings.provider is not None and settings.can_send:  # a way forward: name a model this host serves
            field = f"{page}_model_{settings.provider_id}"
            st.text_input(t("connection.type_model"), key=f"typed_{field}",
                          placeholder=t("connection.type_model_placeholder"), on_change=_use_typed_model,
                          args=(field,), help=t("connection.type_model_help"))
        return None
    if replay_pin(settings, page) == pick.model:  # pinned by the rehearsal: no choice, and the picker's kept
        st.markdown(t("connection.model_line", model_name=display_name(pick.model), model=pick.model))
        st.caption(f"🎬 {say(pick.shown_reason)}")
        RUN.meter_model, RUN.page = (client.quota_key(settings), pick.model), page
        return pick.model
    options = list(pick.options) or [pick.model]
    if pick.model not in options:
        options.insert(0, pick.model)
    digest = hashlib.sha256(settings.endpoint.encode()).hexdigest()[:8]
    key = f"{page}_model_{settings.provider_id}_{digest}"
    state.keep(key, pick.model)
    if st.session_state.get(key) not in options:
        st.session_state[key] = pick.model
    chosen: str = st.session_state[key]
    # ⚠️ when the host's model list could not be read: the pick is a guess until the first answer.
    icon = "⚠️" if listing is not None and not listing.available else "✅" if pick.exact else "🔁"
    note = ""
    if len(options) > 1:
        chosen = st.selectbox(
            t("connection.model"), options, key=key,
            format_func=lambda m: f"{display_name(m)} · {m}" if display_name(m) != m else m,
            help=t("connection.model_help", provider=say(settings.label_msg)),
        )
    else:
        st.markdown(t("connection.model_line", model_name=display_name(chosen), model=chosen))
    state.remember(key)
    st.caption(f"{icon} {say(pick.shown_reason)}{note}")
    RUN.meter_model = (client.quota_key(settings), chosen)  # the sidebar's meter: the limits of this model
    RUN.page = page
    return chosen


def context_tokens(settings: Settings, model: str | None) -> int | None:
    """The input limit for `model`: the listing's figure, else the provider table's, else 8000."""
    p = settings.provider
    if p is None or not model:
        return None
    listing = models(settings)
    info = listing.find(model) if listing is not None and listing.available else None
    return context_limit(p, model, info.context_length if info else None)


def server_options(settings: Settings, model: str | None) -> dict[str, Any]:
    """What the tool loop needs to know of a server that renders Meta's template itself (vLLM, llama.cpp): send the
    built-in tools as `chat_template_kwargs`, and count tokens with the server's own tokenizer."""
    if not client.server_of(settings, model):
        return {}
    return {"server_template": True, "count_tokens": client.token_counter(settings, model)}
