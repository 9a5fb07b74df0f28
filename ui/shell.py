"""The app's shell: the pages and the navigation, built the same way by app.py and by a page that finds itself
run without it."""

from __future__ import annotations

import streamlit as st

_RAN = "_shell_ran_for"


def pages() -> list:
    """The three pages, in menu order.

    No icons: an emoji icon makes Streamlit build its emoji table (a regex of every emoji, ~30 ms of a server's
    first page view) before anything is drawn, and a Material one becomes the favicon until the app sets its own,
    fetched from fonts.gstatic.com (outside, and not there offline)."""
    return [
        st.Page("pages/home.py", title="Home", default=True),
        st.Page("pages/tool_calling.py", title="Tool calling", url_path="tool_calling"),
        st.Page("pages/vision.py", title="Vision", url_path="vision"),
    ]


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
