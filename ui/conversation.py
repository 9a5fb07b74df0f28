"""What the conversation area shows while a page answers: the streamed answer and its live progress line, an error
box, and the "Show N earlier turns" button of a long conversation.

May import lib.* and ui.presenter, ui.i18n (no other ui module). Its words: lib/i18n/*/conversation.toml."""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib.answers.pacing import FREEZE, Streamer
from lib.answers.transcript import SHOWN_TURNS, hidden_turns
from lib.common.redact import redact
from lib.common.safe_text import as_text, display_markdown, literal
from lib.hosts.errors import UserError
from ui import presenter
from ui.i18n import language, t


def earlier_turns(count: int, key: str) -> int:
    """How many of the conversation's `count` turns to leave undrawn (see `lib.answers.transcript.SHOWN_TURNS`), with a
    "Show N earlier turns" button drawn here when there are any. A click draws them all until the conversation is
    short again (a new chat or a new image)."""
    ss = st.session_state
    if count <= SHOWN_TURNS:
        ss.pop(key, None)
    hidden = hidden_turns(count, bool(ss.get(key)))
    if hidden:
        st.button(t("conversation.earlier_many" if hidden > 1 else "conversation.earlier_one", count=hidden),
                  key=f"{key}_button", icon=":material/expand_less:", type="tertiary", on_click=ss.__setitem__,
                  args=(key, True), help=t("conversation.earlier_help", shown=SHOWN_TURNS))
    return hidden


def show_error(err: UserError) -> None:
    """An error box with the title, what to do, and the server's words (never a traceback, never a key)."""
    icon = "⏳" if err.is_rate_limit else "⚠️"
    # Title and message are ours, or came from an imported transcript: no image there is ever fetched. The server's
    # own words are untrusted text and show exactly as written (no image, no link, no formatting).
    if st.session_state.get("_visitor_endpoint") and not err.is_rate_limit:
        st.error(t("conversation.error.visitor_endpoint"), icon=icon)
        return
    title, message = err.shown(language())
    if (title, message) != (err.title, err.message):
        # Said here in the page's language from the catalogue: the values in it (a tool's own words, a tool name the
        # model wrote) show as written, as `error_as_text` makes the English ones show.
        title, message = as_text(title), as_text(message, keep_code=True)
    st.error(display_markdown(f"**{title}.** {message}"), icon=icon)
    if err.detail and not presenter.presenting():
        detail = literal(redact(err.detail))
        st.caption(t("conversation.error.server_said_status", detail=detail, status=err.status) if err.status
                   else t("conversation.error.server_said", detail=detail))


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
