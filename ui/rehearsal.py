"""The answer sources a presenter controls: the replay cache toggle and the Record / Replay box in the sidebar, and
how a page opens a model stream or runs a tool through them (each request that reaches the host counted by the meter).

May import lib.* and ui.i18n, ui.meter, ui.state (never ui.connection, ui.sidebar, ui.conversation, pages or app)."""

from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from lib import client, tools
from lib.i18n import DEFAULT, catalogue
from lib.answers.rehearsal import Rehearsal
from lib.common.safe_text import as_text
from lib.hosts.config import Settings
from lib.tool_calling.loop import _run_tool
from ui import state
from ui.i18n import say, t
from ui.meter import PAGE_RERUN, RUN, session_meter


def rehearsal() -> Rehearsal:
    """This session's rehearsal recording (a presenter's own; saved and loaded as a JSON file)."""
    return st.session_state.setdefault("_rehearsal", Rehearsal())


def rehearsal_mode() -> str:
    """"off", "record" or "replay"."""
    return st.session_state.get("rehearsal_mode", "off")


def replay_pin(settings: Settings, page: str) -> str | None:
    """In Replay: the model `page` ("tools", "vision", or Compare's other side "tools_compare" / "vision_compare")
    was rehearsed with at this provider (None: not replaying, or not recorded)."""
    recorded = st.session_state.get("_rehearsal")
    if rehearsal_mode() != "replay" or not isinstance(recorded, Rehearsal) or not settings.provider_id:
        return None
    return recorded.pinned_model(settings.provider_id, page)


def _chosen_tools() -> list[str]:
    """The tools ticked on the tool page now (as the page reads them when a turn starts; on another page, where
    Streamlit has let go of the boxes' values, as `ui.state.keep` kept them)."""
    ss = st.session_state
    kept = ss.get("_kept") or {}  # ui.state's mirror of widget values
    return [name for name in tools.TOOLS if ss.get(f"tool_{name}", kept.get(f"tool_{name}"))]


def stream_opener(fresh: bool = False, side: str = "") -> Callable[..., Any]:
    """How a page opens a model stream: through the shared cache (when on) and the rehearsal (when on), every
    request that reaches the host counted by this tab's meter as it is sent. Called in the script's thread.
    `side="compare"`: Compare's other side (its model is pinned apart in a rehearsal)."""
    mode = rehearsal_mode()
    use_cache = st.session_state.get("dedupe_on", True)
    meter = session_meter()
    if mode == "off" and not use_cache:
        return client.counted(client.stream, meter.add)
    opener = rehearsal().opener(mode, fresh=fresh or not use_cache,  # type: ignore[arg-type]
                                tools=_chosen_tools() if mode == "record" else None, side=side)
    return client.counted(opener, meter.add)


def rehearsal_tools() -> Callable[..., Any]:
    """How the tool loop runs tools: replayed or recorded with the rehearsal, cached when the cache is on."""
    mode = rehearsal_mode()
    if mode == "off" and not st.session_state.get("dedupe_on", True):
        return _run_tool
    return rehearsal().tool_runner(_run_tool, mode)  # type: ignore[arg-type]


def _use_pinned_tools(recorded: Rehearsal) -> list[str] | None:
    """Tick the tools the rehearsal's tool turn had, if the ticks differ (a callback: before any widget is drawn);
    the tool titles now ticked, or None when nothing changed (or nothing was recorded on the tool page)."""
    wanted = _pinned_ticks(recorded)
    if wanted is None or _chosen_tools() == wanted:
        return None
    ss = st.session_state
    for name in tools.TOOLS:
        ss[f"tool_{name}"] = name in wanted
        state.remember(f"tool_{name}")  # the page's mirror (ui.state.keep) restores these, not the old ticks
    # Each title as the tool page names it, in this session's language (a tool the catalogue lacks: lib's title).
    keys = {name: f"tools.tool.{name}.title" for name in wanted}
    return [t(keys[name]) if keys[name] in catalogue(DEFAULT) else tools.TOOLS[name].title for name in wanted]


def _pinned_ticks(recorded: Rehearsal) -> list[str] | None:
    """The tools (this app knows) the rehearsal's latest tool turn had ticked, in the page's order; None: none
    recorded."""
    pinned = recorded.pinned_tools
    return None if pinned is None else [name for name in tools.TOOLS if name in pinned]


def _tools_note(titles: list[str] | None) -> str:
    if titles is None:
        return ""
    return " " + (t("rehearsal.tools_ticked", tools=", ".join(titles)) if titles else t("rehearsal.tools_unticked"))


def _load_recording() -> None:
    """"Load a recording" (the uploader's callback, so it runs before any widget is drawn): add its answers and
    pins, switch to Replay, tick the rehearsal's tools; a file that can't be used is said so, nothing changes."""
    ss = st.session_state
    upload = ss.get("rehearsal_upload")
    if upload is None or ss.get("rehearsal_loaded") == upload.file_id:
        return
    recorded = rehearsal()
    try:
        n = recorded.from_json(upload.getvalue())
    except ValueError as exc:
        ss["_rehearsal_note"] = ("error", t("rehearsal.cannot_use", reason=as_text(say(getattr(exc, "reason", exc)))))
        return
    ss["rehearsal_loaded"] = upload.file_id
    ss["rehearsal_mode"] = "replay"
    ss["_rehearsal_note"] = ("success", t("rehearsal.loaded", count=n) + _tools_note(_use_pinned_tools(recorded)))


def _mode_changed() -> None:
    """The Record / Replay switch (a callback): entering Replay ticks the rehearsal's tools, if they differ."""
    ss = st.session_state
    recorded = ss.get("_rehearsal")
    if ss.get("rehearsal_mode") == "replay" and isinstance(recorded, Rehearsal):
        titles = _use_pinned_tools(recorded)
        if titles is not None:
            ss["_rehearsal_note"] = ("success", t("rehearsal.replay_on") + _tools_note(titles))


def _tools_back() -> None:
    """"Tick the rehearsal's tools" (a callback)."""
    recorded = st.session_state.get("_rehearsal")
    st.session_state[PAGE_RERUN] = True  # drawn from the tool page's conversation fragment: the panel must redraw
    if isinstance(recorded, Rehearsal):
        st.session_state["_rehearsal_note"] = ("success", t("rehearsal.replay_on")
                                               + _tools_note(_use_pinned_tools(recorded)))


def _recorded_line(recorded: Rehearsal) -> str:
    count = len(recorded)
    if not count:
        return t("rehearsal.nothing_recorded")
    return t("rehearsal.recorded_one" if count == 1 else "rehearsal.recorded_many", count=count)


def quota_controls(settings: Settings) -> None:
    """Sidebar: the replay cache toggle and the rehearsal recorder (its count and Save button are completed by
    `sidebar_quota`, after the page ran: a turn recorded in this run is in them).

    Every change to a widget's value happens in a callback (before the widgets are drawn): a value set after its
    widget was drawn in the run raises StreamlitWidgetAlreadyInstantiatedError."""
    RUN.meter_model = RUN.page = RUN.rehearsal_slot = None  # (RUN.outage_slot: set by ui.sidebar.sidebar, before)
    RUN.quota_drawn = False
    st.session_state.pop(PAGE_RERUN, None)  # this run draws the whole page anyway
    session_meter()
    with st.sidebar:
        st.toggle(t("rehearsal.reuse_answers"), value=True, key="dedupe_on", help=t("rehearsal.reuse_answers_help"))
        # Its label is part of its identity: ui.connection.keep_sidebar_choices keeps it open across a language change.
        box = st.expander(t("rehearsal.box"), expanded=rehearsal_mode() != "off", key="rehearsal_box",
                          on_change="rerun")
        note = st.session_state.pop("_rehearsal_note", None)
        if note is not None and note[0] == "success":
            st.toast(note[1], icon="🎬")
        if not box.open:  # drawn only when opened (a lighter first view); keep_sidebar_choices keeps the mode
            return
        with box:
            st.radio(t("rehearsal.box"), ["off", "record", "replay"], key="rehearsal_mode", horizontal=True,
                     label_visibility="collapsed", on_change=_mode_changed,
                     format_func=lambda mode: t(f"rehearsal.mode.{mode}"), help=t("rehearsal.mode_help"))
            slot = st.empty()
            slot.caption(_recorded_line(rehearsal()))  # until the page has run (then with the Save button)
            RUN.rehearsal_slot = slot
            st.file_uploader(t("rehearsal.load"), type=["json"], key="rehearsal_upload", on_change=_load_recording)
            if note is not None and note[0] == "error":
                st.error(note[1], icon="🚫")


def rehearsal_status(settings: Settings) -> None:
    """The rehearsal box's count, what it pins, and "Save recording", drawn once the page has run. The file is
    made when the button is clicked, so it holds every exchange recorded until then."""
    slot, RUN.rehearsal_slot = RUN.rehearsal_slot, None
    if slot is None:
        return
    recorded = rehearsal()
    with slot.container():
        st.caption(_recorded_line(recorded))
        wanted = _pinned_ticks(recorded)
        if rehearsal_mode() == "replay" and wanted is not None and RUN.page == "tools" and _chosen_tools() != wanted:
            st.button(t("rehearsal.tools_back"), key="rehearsal_tools_back", icon=":material/build:",
                      type="tertiary", on_click=_tools_back, help=t("rehearsal.tools_back_help"))
        if len(recorded):
            secrets = settings.secrets()
            st.download_button(t("rehearsal.save"), lambda: recorded.to_json(secrets), "rehearsal.json",
                               "application/json", icon=":material/download:", type="tertiary", on_click="ignore",
                               key="rehearsal_save")
