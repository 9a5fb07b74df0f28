"""Sharing a conversation on purpose: a "Share" popover that makes a read-only, revocable link, and the read-only
view that link opens (`?view=<token>`).

The page address (`?s=…`) is bound to its browser (ui/state.py) and opens a fresh page anywhere else; a share link
is the only way another browser sees a conversation. It shows the conversation as it is now (it follows new turns),
writes nothing, offers no input, and stops working the moment its owner clicks "Stop sharing" (or the conversation
expires from the server's store).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import streamlit as st

from lib.vision import conversation as vs
from lib.vision.crop import shown_note
from lib.common.safe_text import as_text, display_markdown
from lib.answers.transcript import TranscriptError, tool_turns_from_transcript
from ui import state
from ui.i18n import language, t
from ui.tool_views import render_turn

Page = Literal["tools", "vision"]
_URL_PATH = {"tools": "tool_calling", "vision": "vision"}


def share_link(page: Page, token: str) -> str:
    """The absolute read-only link for `token` on `page` (the address the browser shows, without its query)."""
    try:
        url = st.context.url or ""
    except Exception:  # noqa: BLE001 - outside a browser session
        url = ""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return f"/{_URL_PATH[page]}?{state.SHARE_PARAM}={token}"
    path = parts.path.rstrip("/")
    if not path.endswith("/" + _URL_PATH[page]):
        path = f"{path}/{_URL_PATH[page]}" if path else f"/{_URL_PATH[page]}"
    return urlunsplit((parts.scheme, parts.netloc, path, f"{state.SHARE_PARAM}={token}", ""))


def share_controls(page: Page, *, disabled: bool = False) -> None:
    """A "Share" popover: make a read-only link to this conversation, copy it, or stop sharing (revokes it).

    The buttons act in callbacks (before the page is drawn), so the popover stays open and shows the result at once.
    """
    token = state.share_token(page)
    with st.popover(t("sharing.share"), icon=":material/share:", type="tertiary", disabled=disabled,
                    key=f"share_box_{page}", help=t("sharing.shared_help") if token else None):
        if token is None:
            st.caption(t("sharing.explain"))
            st.button(t("sharing.make_link"), key=f"share_make_{page}", icon=":material/link:",
                      on_click=_make, args=(page,))
            if st.session_state.pop(f"share_nothing_{page}", False):
                st.warning(t("sharing.nothing_yet"))
        else:
            st.caption(t("sharing.link_caption"))
            st.code(share_link(page, token), language=None, wrap_lines=True)
            st.button(t("sharing.stop"), key=f"share_stop_{page}", icon=":material/link_off:", on_click=state.unshare,
                      args=(page,), help=t("sharing.stop_help"))


def _make(page: Page) -> None:
    if state.share(page) is None:
        st.session_state[f"share_nothing_{page}"] = True


def show_shared_view(page: Page) -> bool:
    """On a `?view=` address: draw the shared conversation read-only and return True (the page then stops)."""
    token = state.shared_view()
    if token is None:
        return False
    found = state.shared(token)
    st.title(t("sharing.title_tools") if page == "tools" else t("sharing.title_vision"))
    if found is None:
        st.info(t("sharing.link_gone"), icon="🔒")
        st.page_link(f"pages/{'tool_calling' if page == 'tools' else 'vision'}.py", label=t("sharing.start_own"),
                     icon=":material/arrow_forward:")
        return True
    st.caption(t("sharing.read_only"))
    data, blob = found
    if page == "tools":
        _tools(data)
    else:
        _vision(data, blob)
    return True


def _tools(data: dict) -> None:
    try:
        turns = tool_turns_from_transcript(data) if data else []
    except (TranscriptError, KeyError, TypeError, ValueError):
        turns = []
    if not turns:
        st.info(t("sharing.nothing_asked"), icon="💬")
    for i, turn in enumerate(turns):
        render_turn(turn, i, latest=False)


def _vision(data: dict, blob: bytes | None) -> None:
    view: dict = {}
    vs.init_state(view)
    lang = language()
    if vs.restore(view, data, blob, lang=lang) is None:
        st.info(t("sharing.nothing_asked_photo"), icon="📷")
        return
    image: vs.CurrentImage | None = view[vs.IMAGE]
    left, right = st.columns([2, 3], gap="large")
    with left:
        if image is not None:
            st.image(image.master.data, width="stretch", alt=t("vision.image.alt_file", name=image.name,
                                                               width=image.master.width, height=image.master.height))
            st.caption(f"{as_text(image.name)} · {image.master.width}×{image.master.height}")
    with right:
        for i, (role, text) in enumerate(view[vs.TURNS]):
            with st.chat_message(role, avatar="🦙" if role == "assistant" else None):
                st.markdown(display_markdown(text) if text else f"*{t('sharing.no_text')}*")
                if i in view[vs.META]:
                    meta = view[vs.META][i]
                    st.caption(as_text(shown_note(meta, lang) if role == "user" else meta))
