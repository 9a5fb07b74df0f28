"""The language a person sees: `?lang=ko`, the sidebar's choice, or the browser's; and `t()`, every page's words.

The catalogues and the choice itself are `lib.i18n`; this module keeps the choice in the session and in the address
(a page switch drops the URL's parameters: it is put back, so a reload keeps the language); the page's language
reaches <html lang> through ui/a11y.py's element (`mark_language()`). May import lib.* only."""

from __future__ import annotations

import threading

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from lib import i18n
from lib.i18n import DEFAULT, LANGUAGES, choose, text

_KEY = "lang"


def _accept_language() -> str | None:
    try:
        value = st.context.headers.get("Accept-Language")
    except Exception:  # noqa: BLE001 - outside a browser session (AppTest)
        return None
    return value if isinstance(value, str) else None


def language() -> str:
    """This session's language ("en" or "ko"), decided on its first run and kept (and once per run: `mark_language`)."""
    if (settled := _this_run()) is not None:
        return settled
    ss = st.session_state
    asked = st.query_params.get("lang")
    if isinstance(asked, str) and asked.strip().lower() in LANGUAGES and asked.strip().lower() != ss.get(_KEY):
        ss[_KEY] = asked.strip().lower()  # an address with ?lang= wins, also mid-session
    if _KEY not in ss:
        ss[_KEY] = choose(None, None, _accept_language())
    _sync_url()
    return str(ss[_KEY])


def _sync_url() -> None:
    lang = st.session_state.get(_KEY, DEFAULT)
    if lang != DEFAULT:
        if st.query_params.get("lang") != lang:
            st.query_params["lang"] = lang
    elif "lang" in st.query_params:
        del st.query_params["lang"]


# This run's language, settled once at its start (`mark_language`): `t()` is called hundreds of times a run, and
# `language()` reads the address and the session each time (8 % of the server's CPU with 50 people asking at once).
# Per thread (a run's script thread) and per session, so a fragment's rerun or a reused thread never reads another
# session's; anywhere else (a worker thread) `language()` decides.
_RUN = threading.local()


def _this_run() -> str | None:
    cached = getattr(_RUN, "lang", None)
    if cached is None:
        return None
    ctx = get_script_run_ctx()
    return cached[1] if ctx is not None and ctx.session_id == cached[0] else None


def t(key: str, /, **values: object) -> str:
    """`key`'s text in this session's language (`lib.i18n.text`)."""
    return text(language(), key, **values)


def say(what: object) -> str:
    """A text made in `lib/` (`lib.i18n.Msg`) in this session's language; a plain string (a server's or a model's
    own words) as it is."""
    return i18n.say(language(), what)


def _picked() -> None:
    choice = st.session_state.get("lang_choice")
    if choice in LANGUAGES:
        st.session_state[_KEY] = choice
    _sync_url()


def language_picker() -> None:
    """The sidebar's language switch (drawn by app.py on every page). Its own key, started from the session's
    language: a widget whose value is set through its key before it is drawn made the browser send it back, which
    cost every first page view a second run."""
    lang = language()
    if st.session_state.get("lang_choice") != lang:
        st.session_state.pop("lang_choice", None)  # ?lang= changed it: the switch follows
    # A radio, not a segmented control: Streamlit checks a button group's options against its emoji table, which
    # would load it (~35 ms) during a fresh server's first page view (see ui/shell.py favicon()).
    st.radio(t("shell.language"), list(LANGUAGES), format_func=LANGUAGES.__getitem__, key="lang_choice",
             index=list(LANGUAGES).index(lang), horizontal=True, on_change=_picked, label_visibility="collapsed")


def mark_language() -> None:
    """Settle the page's language before anything is drawn (app.py, on every run).

    The browser is told it on <html lang> (screen readers read Korean as Korean, the browser breaks Korean lines
    between words) by the accessibility element every page already has (`ui/presenter.py: apply_style` hands
    `language()` to `ui/a11y.py: support`), whose script runs once per tab and language; not by an element of its
    own: a 1 px container at the top of the sidebar left a 17 px gap above its first line. Also settles it for the
    rest of this run (`t()`, `say()`)."""
    _RUN.lang = None
    lang = language()
    ctx = get_script_run_ctx()
    if ctx is not None:
        _RUN.lang = (ctx.session_id, lang)
