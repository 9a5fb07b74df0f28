"""Presenter mode and the app's look: large text, readable captions, no configuration jargon on stage.

Presenter mode is a sidebar toggle, or `?present=1` in the URL (it stays in the URL so a reload keeps it). In it,
body text is 20 px, captions are 17 px and at least 4.5:1 against the background (outside it too), and pages show
plain lines ("Web search: Wikipedia (no Brave key)") instead of setting names, URLs and error class names.
The CSS below is static text written here, never model output. It also makes the tool choices and suggestions
inert while a typed question is answered in place (its Stop button, `.st-key-tool_stop`, exists only then): the
same widgets serve before, during and after the turn, so the page is not drawn a second time to re-enable them.
"""

from __future__ import annotations

import streamlit as st

_KEY = "presenter_mode"

# Caption colours chosen for contrast: #4A5160 on #FFFFFF is 8.1:1, on the sidebar's #F1F4F9 7.4:1;
# #C3C8D2 on #0E1117 is 11.6:1, on #1B2130 9.6:1 (WCAG AA asks 4.5:1).
_BASE_CSS = """
<style>
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { color: %(caption)s !important; opacity: 1; }
[data-testid="stApp"][data-test-script-state="running"]:has(.st-key-tool_stop) :is(
  .st-key-tool_panel [data-testid="stCheckbox"], .st-key-tool_suggestions button) { pointer-events: none; opacity: .45; }
:is(.st-key-tool_progress, .st-key-vision_progress) [data-testid="stMarkdown"] [data-testid="stIconMaterial"] {
  display: inline-block; animation: llama-spin 1s linear infinite; }
@keyframes llama-spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) {
  :is(.st-key-tool_progress, .st-key-vision_progress) [data-testid="stIconMaterial"] { animation: none; } }
</style>
"""
_PRESENT_CSS = """
<style>
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
[data-testid="stChatMessage"] p, [data-testid="stWidgetLabel"] p, .stButton button p,
[data-testid="stChatInputTextArea"] { font-size: 20px !important; line-height: 1.5; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 17px !important; }
h1 { font-size: 2.6rem !important; }
[data-testid="stCode"] pre, [data-testid="stCode"] code { font-size: 17px !important; }
</style>
"""


def _dark() -> bool:
    try:
        return getattr(st.context.theme, "type", "light") == "dark"
    except Exception:  # noqa: BLE001 - outside a browser session (AppTest)
        return False


def presenting() -> bool:
    """Whether presenter mode is on for this session (`?present=1` or the sidebar toggle)."""
    ss = st.session_state
    if _KEY not in ss:
        ss[_KEY] = st.query_params.get("present") in ("1", "true", "yes", "on")
    return bool(ss[_KEY])


def _sync_url() -> None:
    if st.session_state.get(_KEY):
        st.query_params["present"] = "1"
    elif "present" in st.query_params:
        del st.query_params["present"]


def toggle() -> None:
    """The sidebar switch (drawn by app.py on every page)."""
    presenting()
    st.toggle("Presenter mode", key=_KEY, on_change=_sync_url,
              help="Large text, no settings jargon, one-click scenarios. Also ?present=1 in the URL. "
                   "Dark theme: the ⋮ menu at the top right.")


def apply_style() -> None:
    """Inject the app's CSS: readable captions always, large text in presenter mode."""
    css = _BASE_CSS % {"caption": "#C3C8D2" if _dark() else "#4A5160"}
    if presenting():
        css += _PRESENT_CSS
    st.html(css)
