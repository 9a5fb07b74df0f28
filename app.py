"""Llama Herd Studio — entry point: page config, navigation, the shared sidebar."""

import streamlit as st

from ui.reconnect import keep_first_questions

keep_first_questions()  # first: a question typed into a reconnected tab is asked, not dropped (ui/reconnect.py)

from lib.common.memory import freeze_long_lived, release_large_buffers
from ui import crash, state
from ui.connection import current_settings, remember_connection, restore_connection, use_shared_state
from ui.rehearsal import quota_controls
from ui.sidebar import sidebar, sidebar_quota
from ui import presenter
from ui.presenter import apply_style
from ui.i18n import mark_language, t
from ui.shell import favicon, mark_shell, pages, skip_repl_check

skip_repl_check()  # first: before any element (see ui/shell.py)
st.set_page_config(
    page_title=t("nav.app_name"),
    layout="wide",
    # Menu items make the ⋮ menu appear, and with it the Light / Dark / System theme choice.
    menu_items={"About": t("nav.about")},
)

use_shared_state()  # REDIS_URL: the cap, quota counts, caches and saved conversations shared by every process
release_large_buffers()  # freed photo buffers go back to the OS (glibc), so RSS doesn't grow with every visitor
freeze_long_lived()  # first run only: what is loaded by now lives as long as the process; Streamlit's gc skips it
nav = st.navigation(pages(), position="top")
mark_shell()
mark_language()  # <html lang>: the session's language (?lang=ko, the sidebar's choice, the browser's)
apply_style(nav.url_path)
# The sidebar speaks of the host this page runs on (each demo page may run on its own host; Home: the configured one).
if state.shared_view() is None:
    restore_connection()  # a reload: this browser's provider, typed address and model names (never a key)
demo = {"tool_calling": "tools", "vision": "vision"}.get(nav.url_path)
settings = current_settings(demo)  # type: ignore[arg-type]
sidebar(settings, demo)  # type: ignore[arg-type]
quota_controls(settings)
if state.shared_view() is None and (note := state.restore_note()):  # another browser's address, a restart
    st.toast(note, icon="🔒" if note == state.NOTE_FOREIGN else "ℹ️", duration="long")
with crash.guard():
    nav.run()
sidebar_quota(settings)
presenter.follow_question((nav.url_path,  # compared questions count too: on stage, the newest comes into view
                           len(st.session_state.get("tool_turns") or ())
                           + len(st.session_state.get("tool_compare_turns") or ()),
                           len(st.session_state.get("vision_turns") or ())
                           + len(st.session_state.get("vision_compare_pairs") or ())))
if state.shared_view() is None:
    remember_connection()
state.plant_cookie()  # a first visit: the browser keeps its secret, so a reload finds this tab's conversation
favicon()  # last, and from the second run of a fresh server on (see ui/shell.py); a run that ends early keeps it
