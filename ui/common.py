"""Streamlit view helpers shared by the pages: this session's settings, the sidebar, model choice, errors, setup."""

from __future__ import annotations

import hashlib
import threading
from typing import Any, Callable

import streamlit as st

from lib import client
from lib.hosts.catalog import CatalogResult
from lib.hosts.config import Settings, best_host, load_settings, ollama_version
from lib.hosts.endpoint_guard import EndpointRefused, check_url, flag, policy, visitor_is_local
from lib.hosts.errors import UserError
from lib.answers.pacing import FREEZE, Streamer
from lib.hosts.providers import (
    CHECKED_ON,
    GITHUB_RETIRED,
    PROVIDER_IDS,
    PROVIDERS,
    ModelPick,
    Page,
    context_limit,
    display_name,
    next_model,
    pick_model,
    provider,
)
from lib.common.redact import redact
from lib.answers.rehearsal import Rehearsal
from lib.common.safe_text import display_markdown, literal
from lib.answers.transcript import SHOWN_TURNS, hidden_turns
from ui import presenter, state


def _secrets() -> dict[str, Any]:
    """`st.secrets` as a plain dict; an absent or broken secrets.toml is simply empty."""
    try:
        return {k: st.secrets[k] for k in st.secrets.keys()}
    except Exception:  # noqa: BLE001 - FileNotFoundError / parse errors: fall back to the environment
        return {}


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


def endpoint_refusal(pid: str) -> str | None:
    """Why the base URL typed for `pid` is not used (None: it is, or none was typed)."""
    endpoint = _typed(f"endpoint_{pid}")
    if endpoint is None:
        return None
    base = base_settings()
    if not typed_endpoints_allowed(base):
        return "This server's operator doesn't allow typed addresses (ALLOW_TYPED_ENDPOINTS)."
    return _checked_endpoint(base, endpoint)[1]


def _checked_endpoint(base: Settings, endpoint: str) -> tuple[str | None, str | None]:
    allow_private = operator_view() or flag(base.get("ALLOW_PRIVATE_ENDPOINTS"))
    checks: dict = st.session_state.setdefault("_endpoint_checks", {})
    key = f"{int(allow_private)} {endpoint}"
    if key not in checks:
        if len(checks) > 50:
            checks.clear()
        try:
            checks[key] = (check_url(endpoint, allow_private=allow_private), None)
        except EndpointRefused as exc:
            checks[key] = (None, str(exc))
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
    labels = {h.provider_id: h.label for h in hosts}
    st.selectbox("Host for this page", ids, key=key,
                 format_func=lambda i: f"Best: {auto.label}" if i == AUTO_HOST else labels[i],
                 help="Each demo page runs on the configured host with the best model for it; pick one here to "
                      "run this page somewhere else (this browser session only).")


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


def _stash_key(pid: str) -> None:
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


def sidebar(settings: Settings, page: Page | None = None) -> None:
    """Where Llama runs: which provider, and the switch and its fields folded under "Connection settings".

    The fields are drawn only while that box is open (open at first when nothing can be sent yet): a radio of
    six providers and three text boxes were about a quarter of the browser's work for the first page view.
    """
    base = base_settings()
    ss = st.session_state
    with st.sidebar:
        presenter.toggle()
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
                on_change=_stash_key, args=(pid,),
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


METER = "meter"  # this tab's request count, kept with its conversations (ui.state) so a reload keeps it


class _Run(threading.local):
    """What one script run passes from its start to its end (each session's runs are on their own thread)."""

    meter_model: tuple[str, str] | None = None  # (quota key, model) the page's model picker chose this run
    page: str | None = None  # "tools" / "vision": the demo page that drew its model picker this run
    rehearsal_slot: Any = None  # where the rehearsal box's count and Save button go, once the page has run


_RUN = _Run()


def session_meter() -> client.SessionMeter:
    """This tab's request meter: every request the host accepted, counted as it is sent (so one stopped later
    counts too; one refused with a 429 doesn't), and kept on the server under this tab's id, so a reload finds the
    same count."""
    ss = st.session_state
    meter = ss.get("_meter")
    if not isinstance(meter, client.SessionMeter):
        # A read-only shared view sends nothing and has no tab id of its own to keep a count under.
        saved = (state.load(METER) or {}) if state.shared_view() is None else {}
        count = saved.get("requests") if isinstance(saved, dict) else 0
        count = count if isinstance(count, int) and not isinstance(count, bool) and 0 <= count < 10**9 else 0
        meter = ss["_meter"] = client.SessionMeter(count, _meter_keeper())
    ss["session_requests"] = meter.count
    return meter


def _meter_keeper() -> Callable[[int], Any] | None:
    """Saves the count under this tab's id from whichever thread counts (a request is counted in the worker that
    sends it, which has no Streamlit session): the id and the client are read now, in the script's thread."""
    if state.shared_view() is not None:
        return None  # a read-only shared view sends nothing and keeps nothing
    try:
        from lib.common.session_store import STORE

        sid = state.session_id()
        who = state._client()  # noqa: SLF001 - the same per-client bounds as state.save
    except Exception:  # noqa: BLE001 - outside a browser session: the count lives as long as the session
        return None

    def keep(count: int) -> None:
        STORE.save(sid, METER, {"requests": count}, client=who)

    return keep


def count_requests(n: int = 0) -> None:
    """Pages call this after a turn. The meter already counted its requests as they were sent (`session_meter`:
    cached and replayed answers cost none, a stopped request that reached the host counts); this brings
    `st.session_state["session_requests"]` up to date. `n` is ignored (kept for the pages' calls)."""
    session_meter()


def model_in_use(settings: Settings) -> str | None:
    """The model this run's page uses at these settings (None on Home, or when it uses none)."""
    chosen = _RUN.meter_model
    if chosen is None or not settings.provider:
        return None
    where, model = chosen
    return model if where == client.quota_key(settings) else None


def quota_lines(settings: Settings) -> tuple[list[str], str | None]:
    """The meter for the provider and model in use: this session, this server today and this minute against the
    limits that hold for that model (a paid model has none of a free tier's), the server's own remaining counts;
    and a warning when the daily budget is nearly spent or the host said it is spent.

    What the host said wins: a daily limit it reported reads as all used ("50 of 50 today: daily limit reached"),
    whatever this server counted. Requests wait for the per-minute window (lib.hosts.limits.RATES) rather than exceed it,
    so "this minute" never reads above a known limit; while one waits, the line says for how long."""
    from lib.hosts.errors import format_wait
    from lib.hosts.limits import RATES, limits_for, rate_key

    snap = client.QUOTA.snapshot()
    p = settings.provider
    lines = [f"This session: {session_meter().count}"]
    if p is None:
        return lines, None
    where = client.quota_key(settings)
    model = model_in_use(settings)
    limits = limits_for(p, model)
    applies: Callable[[str], bool] | None = None
    scope = ""
    if limits.only_suffix:  # the published figures hold for some models only (OpenRouter's :free)
        free = model is None or limits.applies_to(model)  # no model here (Home): the free tier, against its limits
        table = limits_for(p, "any" + limits.only_suffix)
        if free:
            limits, scope = table, f" ({limits.only_suffix} models)"
            applies = table.applies_to
        else:
            scope = " (paid models)"
            applies = lambda m: not table.applies_to(m)  # noqa: E731
    today, minute = snap.usage(where, applies)
    day_until = snap.limit_reached(where, "day", applies)
    minute_until = snap.limit_reached(where, "minute", applies)
    if day_until is not None:
        used = f"{limits.per_day} of {limits.per_day} today" if limits.per_day else "today"
        day = f"{used}: daily limit reached ({settings.label} said so; {today} sent from this server)"
    elif limits.per_day and today >= limits.per_day:
        day = f"{today} of {limits.per_day} today: daily limit reached"
    else:
        day = f"{today}{f' of {limits.per_day}' if limits.per_day else ''} today"
    if limits.per_minute:
        key = rate_key(where, limits)
        shown = max(minute, limits.per_minute) if minute_until is not None else minute  # the host said: all used
        this_minute = f"{shown} of {limits.per_minute} this minute"
        wait = RATES.free_in(key, limits.per_minute) if RATES.used(key) >= limits.per_minute else 0.0
        if minute_until is not None:
            wait = max(wait, minute_until - snap.now)
        if wait > 0 or RATES.waiting(key):
            waiting = RATES.waiting(key)
            this_minute += f": the next request waits {format_wait(wait)}" + (
                f" ({waiting} in line)" if waiting else "")
    else:
        this_minute = f"{minute} this minute" + (" (the host said: limit reached)" if minute_until else "")
    lines.append(f"This server, {settings.label}{scope}: {day} · {this_minute}")
    for header, value in sorted(snap.remaining.get(where, {}).items()):
        lines.append(f"{settings.label} says {header.removeprefix('x-ratelimit-')}: {value}")
    warning = None
    if day_until is not None or (limits.per_day and today >= limits.per_day):
        resets = f" It resets in about {format_wait(day_until - snap.now)}." if day_until is not None else ""
        warning = (f"{settings.label}'s daily limit{scope} is reached: requests are refused until it resets."
                   f"{resets} Turn on Rehearsal → Replay, or switch provider.")
    elif limits.per_day and today >= 0.8 * limits.per_day:
        left = max(0, limits.per_day - today)
        warning = (f"{today} of {settings.label}'s {limits.per_day} free requests today are used: {left} left. "
                   "Turn on Rehearsal → Replay, or switch provider, before it runs out.")
    return lines, warning


def sidebar_quota(settings: Settings) -> None:
    """Requests per provider (drawn after the page ran, so it includes this run's requests), and the rehearsal
    box's count and Save button (likewise: a turn recorded in this run is in them)."""
    from lib.hosts.limits import limits_for

    _rehearsal_status(settings)
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


def earlier_turns(count: int, key: str) -> int:
    """How many of the conversation's `count` turns to leave undrawn (see `lib.answers.transcript.SHOWN_TURNS`), with a
    "Show N earlier turns" button drawn here when there are any. A click draws them all until the conversation is
    short again (a new chat or a new image)."""
    ss = st.session_state
    if count <= SHOWN_TURNS:
        ss.pop(key, None)
    hidden = hidden_turns(count, bool(ss.get(key)))
    if hidden:
        st.button(f"Show {hidden} earlier turn{'s' if hidden > 1 else ''}", key=f"{key}_button",
                  icon=":material/expand_less:", type="tertiary", on_click=ss.__setitem__, args=(key, True),
                  help=f"Only the latest {SHOWN_TURNS} turns are drawn, so a long conversation stays quick to "
                       "use. The transcript downloads have every turn.")
    return hidden


def show_error(err: UserError) -> None:
    """An error box with the title, what to do, and the server's words (never a traceback, never a key)."""
    icon = "⏳" if err.is_rate_limit else "⚠️"
    # Title and message are ours, or came from an imported transcript: no image there is ever fetched. The server's
    # own words are untrusted text and show exactly as written (no image, no link, no formatting).
    if st.session_state.get("_visitor_endpoint") and not err.is_rate_limit:
        st.error("**That address didn't answer as a model server.** Check the base URL typed in Connection "
                 "settings, or pick one of the listed providers.", icon=icon)
        return
    st.error(display_markdown(f"**{err.title}.** {err.message}"), icon=icon)
    if err.detail and not presenter.presenting():
        st.caption(f"Server said: {literal(redact(err.detail))}" + (f" (HTTP {err.status})" if err.status else ""))


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
        return ModelPick(pinned, f"Replay: the model this page was rehearsed with, pinned by the recording "
                                 f"({display_name(pinned)}).", False, (pinned,)), None
    listing = models(settings)
    listed = listing.ids if listing is not None and listing.available else None
    explicit = settings.tools_model if page == "tools" else settings.vision_model
    p = settings.provider
    if p is None:
        return ModelPick(None, "No provider configured."), None
    pick = pick_model(p, page, listed, explicit, client.skipped_models(settings.endpoint),
                      server_version=server_version(settings))
    if listing is not None and not listing.available and pick.model and not explicit:
        # A visitor's own typed address gets no reason (reached or not, refused or not: no port scanner here).
        why = "" if st.session_state.get("_visitor_endpoint") else f" ({listing.error})"
        pick = ModelPick(pick.model, f"Couldn't list the models on {p.noun}{why}; trying "
                                     f"`{pick.model}`, the first candidate.", pick.exact, pick.options)
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
        st.warning(pick.reason, icon="⚠️")
        if settings.provider is not None and settings.can_send:  # a way forward: name a model this host serves
            field = f"{page}_model_{settings.provider_id}"
            st.text_input("Type the name of a model this host serves", key=f"typed_{field}",
                          placeholder="e.g. meta-llama/Llama-3.1-8B-Instruct", on_change=_use_typed_model,
                          args=(field,), help="Used as given for this page, in this browser session (the same "
                                              "as the model fields under Connection settings).")
        return None
    if replay_pin(settings, page) == pick.model:  # pinned by the rehearsal: no choice, and the picker's kept
        st.markdown(f"**Model:** {display_name(pick.model)} · `{pick.model}`")
        st.caption(f"🎬 {pick.reason}")
        _RUN.meter_model, _RUN.page = (client.quota_key(settings), pick.model), page
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
            "Model", options, key=key, format_func=lambda m: f"{display_name(m)} · {m}" if display_name(m) != m else m,
            help=f"Llama models that fit this page, best first, as listed by {settings.label}.",
        )
    else:
        st.markdown(f"**Model:** {display_name(chosen)} · `{chosen}`")
    state.remember(key)
    st.caption(f"{icon} {pick.reason}{note}")
    _RUN.meter_model = (client.quota_key(settings), chosen)  # the sidebar's meter: the limits of this model
    _RUN.page = page
    return chosen


# --- saving quota and rehearsing -----------------------------------------------------------------------------------


def rehearsal() -> Rehearsal:
    """This session's rehearsal recording (a presenter's own; saved and loaded as a JSON file)."""
    return st.session_state.setdefault("_rehearsal", Rehearsal())


def rehearsal_mode() -> str:
    """"off", "record" or "replay"."""
    return st.session_state.get("rehearsal_mode", "off")


def replay_pin(settings: Settings, page: Page) -> str | None:
    """In Replay: the model `page` was rehearsed with at this provider (None: not replaying, or not recorded)."""
    recorded = st.session_state.get("_rehearsal")
    if rehearsal_mode() != "replay" or not isinstance(recorded, Rehearsal) or not settings.provider_id:
        return None
    return recorded.pinned_model(settings.provider_id, page)


def _chosen_tools() -> list[str]:
    """The tools ticked on the tool page now (as the page reads them when a turn starts; on another page, where
    Streamlit has let go of the boxes' values, as `ui.state.keep` kept them)."""
    from lib import tools

    ss = st.session_state
    kept = ss.get("_kept") or {}  # ui.state's mirror of widget values
    return [name for name in tools.TOOLS if ss.get(f"tool_{name}", kept.get(f"tool_{name}"))]


def stream_opener(fresh: bool = False) -> Callable[..., Any]:
    """How a page opens a model stream: through the shared cache (when on) and the rehearsal (when on), every
    request that reaches the host counted by this tab's meter as it is sent. Called in the script's thread."""
    mode = rehearsal_mode()
    use_cache = st.session_state.get("dedupe_on", True)
    meter = session_meter()
    if mode == "off" and not use_cache:
        return client.counted(client.stream, meter.add)
    opener = rehearsal().opener(mode, fresh=fresh or not use_cache,  # type: ignore[arg-type]
                                tools=_chosen_tools() if mode == "record" else None)
    return client.counted(opener, meter.add)


def rehearsal_tools() -> Callable[..., Any]:
    """How the tool loop runs tools: replayed or recorded with the rehearsal, cached when the cache is on."""
    from lib.tool_calling.loop import _run_tool

    mode = rehearsal_mode()
    if mode == "off" and not st.session_state.get("dedupe_on", True):
        return _run_tool
    return rehearsal().tool_runner(_run_tool, mode)  # type: ignore[arg-type]


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


def _use_pinned_tools(recorded: Rehearsal) -> list[str] | None:
    """Tick the tools the rehearsal's tool turn had, if the ticks differ (a callback: before any widget is drawn);
    the tool titles now ticked, or None when nothing changed (or nothing was recorded on the tool page)."""
    from lib import tools

    wanted = _pinned_ticks(recorded)
    if wanted is None or _chosen_tools() == wanted:
        return None
    ss = st.session_state
    for name in tools.TOOLS:
        ss[f"tool_{name}"] = name in wanted
        state.remember(f"tool_{name}")  # the page's mirror (ui.state.keep) restores these, not the old ticks
    return [tools.TOOLS[name].title for name in wanted]


def _pinned_ticks(recorded: Rehearsal) -> list[str] | None:
    """The tools (this app knows) the rehearsal's latest tool turn had ticked, in the page's order; None: none
    recorded."""
    from lib import tools

    pinned = recorded.pinned_tools
    return None if pinned is None else [name for name in tools.TOOLS if name in pinned]


def _tools_note(titles: list[str] | None) -> str:
    if titles is None:
        return ""
    return (" Tools ticked as rehearsed: " + ", ".join(titles) + "." if titles
            else " Tools unticked, as rehearsed.")


def _load_recording() -> None:
    """"Load a recording" (the uploader's callback, so it runs before any widget is drawn): add its answers and
    pins, switch to Replay, tick the rehearsal's tools; a file that can't be used is said so, nothing changes."""
    from lib.common.safe_text import as_text

    ss = st.session_state
    upload = ss.get("rehearsal_upload")
    if upload is None or ss.get("rehearsal_loaded") == upload.file_id:
        return
    recorded = rehearsal()
    try:
        n = recorded.from_json(upload.getvalue())
    except ValueError as exc:
        ss["_rehearsal_note"] = ("error", f"That recording can't be used: {as_text(str(exc))}")
        return
    ss["rehearsal_loaded"] = upload.file_id
    ss["rehearsal_mode"] = "replay"
    ss["_rehearsal_note"] = ("success", f"Loaded {n} recorded exchanges: replay is on."
                             + _tools_note(_use_pinned_tools(recorded)))


def _mode_changed() -> None:
    """The Record / Replay switch (a callback): entering Replay ticks the rehearsal's tools, if they differ."""
    ss = st.session_state
    recorded = ss.get("_rehearsal")
    if ss.get("rehearsal_mode") == "replay" and isinstance(recorded, Rehearsal):
        titles = _use_pinned_tools(recorded)
        if titles is not None:
            ss["_rehearsal_note"] = ("success", "Replay is on." + _tools_note(titles))


def _tools_back() -> None:
    """"Tick the rehearsal's tools" (a callback)."""
    recorded = st.session_state.get("_rehearsal")
    if isinstance(recorded, Rehearsal):
        st.session_state["_rehearsal_note"] = ("success", "Replay is on." + _tools_note(_use_pinned_tools(recorded)))


def _recorded_line(recorded: Rehearsal) -> str:
    count = len(recorded)
    return f"{count} exchange{'s' if count != 1 else ''} recorded." if count else "Nothing recorded yet."


def quota_controls(settings: Settings) -> None:
    """Sidebar: the replay cache toggle and the rehearsal recorder (its count and Save button are completed by
    `sidebar_quota`, after the page ran: a turn recorded in this run is in them).

    Every change to a widget's value happens in a callback (before the widgets are drawn): a value set after its
    widget was drawn in the run raises StreamlitWidgetAlreadyInstantiatedError."""
    _RUN.meter_model = _RUN.page = _RUN.rehearsal_slot = None
    session_meter()
    with st.sidebar:
        st.toggle("Reuse identical answers", value=True, key="dedupe_on",
                  help="The same question within 15 minutes is answered from the cache at a natural pace, "
                       "labelled 'no quota used'. Each cached answer has 'Ask again (fresh)'.")
        box = st.expander("Rehearsal", expanded=rehearsal_mode() != "off", key="rehearsal_box", on_change="rerun")
        note = st.session_state.pop("_rehearsal_note", None)
        if note is not None and note[0] == "success":
            st.toast(note[1], icon="🎬")
        if not box.open:  # drawn only when opened (a lighter first view); keep_sidebar_choices keeps the mode
            return
        with box:
            st.radio("Rehearsal", ["off", "record", "replay"], key="rehearsal_mode", horizontal=True,
                     label_visibility="collapsed", on_change=_mode_changed,
                     format_func={"off": "Off", "record": "Record", "replay": "Replay"}.__getitem__,
                     help="Record: every answer and tool result is kept while you rehearse. Replay: on stage, "
                          "anything seen in the rehearsal is answered from it at the recorded pace, with the model "
                          "and tools it was recorded with; anything new goes live.")
            slot = st.empty()
            slot.caption(_recorded_line(rehearsal()))  # until the page has run (then with the Save button)
            _RUN.rehearsal_slot = slot
            st.file_uploader("Load a recording", type=["json"], key="rehearsal_upload", on_change=_load_recording)
            if note is not None and note[0] == "error":
                st.error(note[1], icon="🚫")


def _rehearsal_status(settings: Settings) -> None:
    """The rehearsal box's count, what it pins, and "Save recording", drawn once the page has run. The file is
    made when the button is clicked, so it holds every exchange recorded until then."""
    slot, _RUN.rehearsal_slot = _RUN.rehearsal_slot, None
    if slot is None:
        return
    recorded = rehearsal()
    with slot.container():
        st.caption(_recorded_line(recorded))
        wanted = _pinned_ticks(recorded)
        if rehearsal_mode() == "replay" and wanted is not None and _RUN.page == "tools" and _chosen_tools() != wanted:
            st.button("Tick the rehearsal's tools", key="rehearsal_tools_back", icon=":material/build:",
                      type="tertiary", on_click=_tools_back,
                      help="The tools ticked now differ from those the rehearsal was recorded with: a question is "
                           "replayed only with the same tools.")
        if len(recorded):
            secrets = settings.secrets()
            st.download_button("Save recording (JSON)", lambda: recorded.to_json(secrets), "rehearsal.json",
                               "application/json", icon=":material/download:", type="tertiary", on_click="ignore",
                               key="rehearsal_save")


class ProgressLine:
    """A live one-line status in a slot: a spinning icon (CSS in ui/presenter.py, inside a container keyed
    `*_progress`) and a text such as "Llama 3.3 70B is thinking… **3 s**", sent again only when it changes."""

    def __init__(self, slot: Any) -> None:
        self._slot = slot
        self._shown = ""

    def show(self, text: str) -> None:
        """Show `text` after the icon, unless it is already shown."""
        line = f":material/progress_activity: {text}"
        if line != self._shown:
            self._slot.markdown(line)
            self._shown = line


class LiveAnswer:
    """A streamed answer drawn into `slot` (an `st.empty()`): finished paragraphs frozen in their own elements, the
    current one redrawn with a cursor, all paced by `lib.answers.pacing` so traffic stays a small multiple of the answer.
    `finish()` draws the whole answer once in place of the pieces."""

    def __init__(self, slot: Any) -> None:
        self._slot = slot
        self._pieces: Any = None
        self._tail: Any = None
        self.streamer = Streamer()

    @property
    def text(self) -> str:
        """Everything received so far."""
        return self.streamer.text

    def add(self, piece: str) -> None:
        """Take the next streamed piece; draw what the pacer allows."""
        for kind, text in self.streamer.feed(piece):
            if self._pieces is None:
                self._pieces = self._slot.container()
                self._tail = self._pieces.empty()
            if kind == FREEZE:
                self._tail.markdown(display_markdown(text))
                self._tail = self._pieces.empty()
            else:
                self._tail.markdown(display_markdown(text) + " ▌")

    def clear(self) -> None:
        """Forget and remove what was drawn (the text turned out to be a tool call)."""
        self._slot.empty()
        self._pieces = self._tail = None
        self.streamer.reset()

    def finish(self, text: str | None = None) -> None:
        """Draw the whole answer (or `text`) as one element, or nothing if it is empty."""
        final = self.text if text is None else text
        if final:
            self._slot.markdown(display_markdown(final))
        else:
            self._slot.empty()
