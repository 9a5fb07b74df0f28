"""The app's shell: the pages and the navigation, built the same way by app.py and by a page that finds itself
run without it. The pages' titles are in the session's language (lib/i18n/*/nav.toml); their addresses never change."""

from __future__ import annotations

import importlib
import sys
import threading

import streamlit as st

from ui.i18n import t

_RAN = "_shell_ran_for"


def pages() -> list:
    """The three pages, in menu order, titled in this session's language (Home's address is "/", the others' their
    `url_path`, in every language).

    No icons: an emoji icon makes Streamlit build its emoji table (a regex of every emoji, ~30 ms of a server's
    first page view) before anything is drawn, and a Material one becomes the favicon until the app sets its own,
    fetched from fonts.gstatic.com (outside, and not there offline)."""
    return [
        st.Page("pages/home.py", title=t("nav.home"), default=True),
        st.Page("pages/tool_calling.py", title=t("nav.tools"), url_path="tool_calling"),
        st.Page("pages/vision.py", title=t("nav.vision"), url_path="vision"),
    ]


def skip_repl_check() -> None:
    """Spare a fresh server's first page view Streamlit's once-per-process "are we in a REPL?" check.

    Before the first element of a process, Streamlit decides whether to warn that the script should be started
    with `streamlit run`, by walking `inspect.stack()`, which looks up the source file of every frame: ~30 ms before
    the first page view of a fresh server shows anything. Under `streamlit run` (the runtime exists) the warning is
    never given, so the check is marked done. Elsewhere (AppTest, a plain `python app.py`) Streamlit's own check
    runs as before; if Streamlit renames the flag this does nothing."""
    from streamlit import delta_generator, runtime

    if runtime.exists() and hasattr(delta_generator, "_use_warning_has_been_displayed"):
        delta_generator._use_warning_has_been_displayed = True


def mark_shell() -> None:
    """Called by app.py before it runs a page."""
    st.session_state[_RAN] = True


def ensure_shell() -> None:
    """First line of every page.

    With a `pages/` folder next to app.py, a freshly started server opened at a deep link (/vision) runs the page
    file on its own until st.navigation has been called once; the page then hands itself back to the shell.
    """
    if not st.session_state.get(_RAN):
        st.navigation(pages(), position="top")
        st.session_state[_RAN] = True
        st.rerun()


FAVICON = "🦙"
_EMOJI_TABLE = "streamlit.emojis"
_emoji_table_loading = threading.Lock()


def favicon() -> None:
    """The 🦙 favicon, set at the end of the run once Streamlit's emoji table is loaded.

    Streamlit checks an emoji icon against its table of every emoji, which takes ~35 ms to build, once per server:
    the first page view of a fresh server would wait for it at the end of its run. That run loads it in the
    background instead (the page is already drawn), and every run after it, in any session, sets the icon at no
    cost. No icon at all is no better: a Material one is fetched from fonts.gstatic.com."""
    if _EMOJI_TABLE in sys.modules:
        st.set_page_config(page_icon=FAVICON)
    elif _emoji_table_loading.acquire(blocking=False):  # one loader per server; it keeps the lock
        threading.Thread(target=importlib.import_module, args=(_EMOJI_TABLE,), name="emoji-table",
                         daemon=True).start()
