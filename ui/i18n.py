"""The language a person sees: `?lang=ko`, the sidebar's choice, or the browser's; and `t()`, every page's words.

The catalogues and the choice itself are `lib.i18n`; this module keeps the choice in the session and in the address
(a page switch drops the URL's parameters: it is put back, so a reload keeps the language), and marks the page's
language on <html lang> for screen readers and the browser's line breaking. May import lib.* only."""

from __future__ import annotations

import streamlit as st

from lib.i18n import DEFAULT, LANGUAGES, choose, text

_KEY = "lang"


def _accept_language() -> str | None:
    try:
        value = st.context.headers.get("Accept-Language")
    except Exception:  # noqa: BLE001 - outside a browser session (AppTest)
        return None
    return value if isinstance(value, str) else None


def language() -> str:
    """This session's language ("en" or "ko"), decided on its first run and kept."""
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


def t(key: str, /, **values: object) -> str:
    """`key`'s text in this session's language (`lib.i18n.text`)."""
    return text(language(), key, **values)


def language_picker() -> None:
    """The sidebar's language switch (drawn by app.py on every page)."""
    language()
    st.segmented_control(t("shell.language"), list(LANGUAGES), format_func=LANGUAGES.__getitem__, key=_KEY,
                         required=True, on_change=_sync_url, label_visibility="collapsed")


_MARK_JS = """<script>
(() => { const d = window.frameElement ? window.parent.document : document; d.documentElement.lang = %s; })();
</script>"""


def mark_language() -> None:
    """Tell the browser the page's language (<html lang>): screen readers read Korean as Korean, and the browser
    breaks Korean lines between words. Sent once per session and language (the attribute outlives the element)."""
    ss = st.session_state
    lang = language()
    if ss.get("_lang_marked") == lang:
        return
    ss["_lang_marked"] = lang
    with st.sidebar, st.container(key=f"lang_mark_{lang}", height=1, border=False):
        st.html(_MARK_JS % ('"ko"' if lang == "ko" else '"en"'), unsafe_allow_javascript=True)
