"""Streamlit view helpers shared by the pages: this session's settings, the sidebar, model choice, errors, setup."""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import streamlit as st

from lib import client
from lib.catalog import CatalogResult
from lib.config import Settings, best_host, load_settings, ollama_version
from lib.endpoint_guard import EndpointRefused, check_url, flag, policy, visitor_is_local
from lib.errors import UserError
from lib.pacing import FREEZE, Streamer
from lib.providers import (
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
from lib.redact import redact
from lib.rehearsal import Rehearsal
from lib.safe_text import display_markdown, literal
from lib.transcript import SHOWN_TURNS, hidden_turns
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
    pin it; otherwise the best model for the page across every configured host wins (`lib.config.best_host`), so
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


def count_requests(n: int) -> None:
    """Pages call this with the model requests a turn cost (cached and replayed answers cost none)."""
    st.session_state["session_requests"] = st.session_state.get("session_requests", 0) + max(0, n)


def quota_lines(settings: Settings) -> tuple[list[str], str | None]:
    """The meter for the provider in use: this session, this server today and this minute against the published
    limits, the server's own remaining counts; and a warning when the daily budget is nearly spent."""
    snap = client.QUOTA.snapshot()
    where = client.quota_key(settings) if settings.provider else ""
    p = settings.provider
    today, minute = snap.today.get(where, 0), snap.last_minute.get(where, 0)
    lines = [f"This session: {st.session_state.get('session_requests', 0)}"]
    if p is not None:
        per_day = f" of {p.limits.per_day}" if p.limits.per_day else ""
        per_min = f" of {p.limits.per_minute}" if p.limits.per_minute else ""
        lines.append(f"This server, {settings.label}: {today}{per_day} today · {minute}{per_min} this minute")
        for header, value in sorted(snap.remaining.get(where, {}).items()):
            lines.append(f"{settings.label} says {header.removeprefix('x-ratelimit-')}: {value}")
    warning = None
    if p is not None and p.limits.per_day and today >= 0.8 * p.limits.per_day:
        left = max(0, p.limits.per_day - today)
        warning = (f"{today} of {settings.label}'s {p.limits.per_day} free requests today are used: {left} left. "
                   "Turn on Rehearsal → Replay, or switch provider, before it runs out.")
    return lines, warning


def sidebar_quota(settings: Settings) -> None:
    """Requests per provider (drawn after the page ran, so it includes this run's requests)."""
    lines, warning = quota_lines(settings)
    with st.sidebar:
        if warning:
            st.warning(warning, icon="⏳")
        if not presenter.presenting():
            st.subheader("Requests")
            p = settings.provider
            note = f"\n\n{p.label}: {p.limits.note}." if p is not None and p.limits.note else ""
            st.caption("  \n".join(lines) + note)


def earlier_turns(count: int, key: str) -> int:
    """How many of the conversation's `count` turns to leave undrawn (see `lib.transcript.SHOWN_TURNS`), with a
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
    """The dated table of where Llama runs, as Markdown (from lib/providers.py)."""
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
    """The automatic pick for a page (with the one-line reason) and the listing it was made from."""
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
        pick = ModelPick(pick.model, f"Couldn't list {settings.label}'s models{why}; trying "
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


def model_picker(settings: Settings, page: Page) -> str | None:
    """Show which model the page uses and why (one line), with a picker when there is a choice."""
    pick, listing = choose_model(settings, page)
    if pick.model is None:
        st.warning(pick.reason, icon="⚠️")
        return None
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
            help=f"Llama models {settings.label} offers that fit this page, best first.",
        )
    else:
        st.markdown(f"**Model:** {display_name(chosen)} · `{chosen}`")
    state.remember(key)
    st.caption(f"{icon} {pick.reason}{note}")
    return chosen


# --- saving quota and rehearsing -----------------------------------------------------------------------------------


def rehearsal() -> Rehearsal:
    """This session's rehearsal recording (a presenter's own; saved and loaded as a JSON file)."""
    return st.session_state.setdefault("_rehearsal", Rehearsal())


def rehearsal_mode() -> str:
    """"off", "record" or "replay"."""
    return st.session_state.get("rehearsal_mode", "off")


def stream_opener(fresh: bool = False) -> Callable[..., Any]:
    """How a page opens a model stream: through the shared cache (when on) and the rehearsal (when on)."""
    mode = rehearsal_mode()
    use_cache = st.session_state.get("dedupe_on", True)
    if mode == "off" and not use_cache:
        return client.stream
    return rehearsal().opener(mode, fresh=fresh or not use_cache)  # type: ignore[arg-type]


def rehearsal_tools() -> Callable[..., Any]:
    """How the tool loop runs tools: replayed or recorded with the rehearsal, cached when the cache is on."""
    from lib.tool_loop import _run_tool

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


def quota_controls(settings: Settings) -> None:
    """Sidebar: the replay cache toggle and the rehearsal recorder."""
    with st.sidebar:
        st.toggle("Reuse identical answers", value=True, key="dedupe_on",
                  help="The same question within 15 minutes is answered from the cache at a natural pace, "
                       "labelled 'no quota used'. Each cached answer has 'Ask again (fresh)'.")
        box = st.expander("Rehearsal", expanded=rehearsal_mode() != "off", key="rehearsal_box", on_change="rerun")
        if not box.open:  # drawn only when opened (a lighter first view); keep_sidebar_choices keeps the mode
            return
        with box:
            st.radio("Rehearsal", ["off", "record", "replay"], key="rehearsal_mode", horizontal=True,
                     label_visibility="collapsed",
                     format_func={"off": "Off", "record": "Record", "replay": "Replay"}.__getitem__,
                     help="Record: every answer and tool result is kept while you rehearse. Replay: on stage, "
                          "anything seen in the rehearsal is answered from it at the recorded pace; anything new "
                          "goes live.")
            recorded = rehearsal()
            st.caption(f"{len(recorded)} exchanges recorded." if len(recorded) else "Nothing recorded yet.")
            if len(recorded):
                st.download_button("Save recording (JSON)", recorded.store.to_json(secrets=settings.secrets()),
                                   "rehearsal.json", "application/json", icon=":material/download:",
                                   type="tertiary")
            upload = st.file_uploader("Load a recording", type=["json"], key="rehearsal_upload")
            if upload is not None and st.session_state.get("rehearsal_loaded") != upload.file_id:
                try:
                    n = recorded.store.from_json(upload.getvalue())
                except ValueError as exc:
                    st.error(f"That recording can't be used: {exc}", icon="🚫")
                else:
                    st.session_state["rehearsal_loaded"] = upload.file_id
                    st.session_state["rehearsal_mode"] = "replay"
                    st.toast(f"Loaded {n} recorded exchanges: replay is on.", icon="🎬")
                    st.rerun()


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
    current one redrawn with a cursor, all paced by `lib.pacing` so traffic stays a small multiple of the answer.
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
