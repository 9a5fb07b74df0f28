"""Presenter mode and the app's look: large text, readable captions, no configuration jargon on stage.

Presenter mode is a sidebar toggle, or `?present=1` in the URL (it stays in the URL so a reload keeps it). In it,
body text is 20 px, captions are 17 px and 7:1 or more against the background, and pages show plain lines
("Web search: Wikipedia (no Brave key)") instead of setting names, URLs and error class names.
Outside it, captions are at least 4.5:1 through the theme alone: Streamlit draws them in the text colour at 60%
opacity (`ui/a11y.py` moves that fade into the text colour, so inline code keeps its own), and
`.streamlit/config.toml`'s light text colour is dark enough for that (4.9:1 on white, 4.7:1 on the sidebar; the dark
theme's is 6.1:1 or more). Caption colours are derived from the theme's own text colour, never picked per theme
here: the server learns a theme chosen in the ⋮ menu late (`st.context.theme`), and a light caption colour on the
dark theme was 2.4:1.
The CSS below is static text written here, never model output, and is drawn only where it is needed: the demo
pages' progress spinners, and the tool page's rule that makes the tool choices and suggestions inert while a
typed question is answered in place (its Stop button, `.st-key-tool_stop`, exists only then): the same widgets
serve before, during and after the turn, so the page is not drawn a second time to re-enable them. Home has none
of these: a CSS element is a part of the browser's work for a first page view (~20 ms of it here); in Korean, every
page has one more, its line breaking (between words, never inside one). Every page has one element of `ui/a11y.py`
(its skip link, landmark, announcement, theme-proof colours and <html lang>), the same on every run.
"""

from __future__ import annotations

import json

import streamlit as st

from lib.answers.transcript import MAX_JSON_BYTES
from ui import a11y
from ui.i18n import language, t

_KEY = "presenter_mode"

# On the demo pages: an answer's progress icon spins (still where the user asks for less motion).
_PROGRESS_CSS = """
<style>
:is(.st-key-tool_progress, .st-key-vision_progress) [data-testid="stMarkdown"] [data-testid="stIconMaterial"] {
  display: inline-block; animation: llama-spin 1s linear infinite; }
@keyframes llama-spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) {
  :is(.st-key-tool_progress, .st-key-vision_progress) [data-testid="stIconMaterial"] { animation: none; } }
</style>
"""
# On the tool page: the tool choices and suggestions are inert while a typed question is answered in place.
_TOOL_CSS = """
<style>
[data-testid="stApp"][data-test-script-state="running"]:has(.st-key-tool_stop) :is(
  .st-key-tool_panel [data-testid="stCheckbox"], .st-key-tool_suggestions button) { pointer-events: none; opacity: .45; }
/* a first question typed (only the conversation reruns): the suggestions make way as soon as it shows, and
   "New chat" comes (kept in its place, hidden, while there is nothing to clear) */
[data-testid="stMain"]:has(.st-key-tool_conversation [data-testid="stChatMessage"]) .st-key-tool_first_steps {
  display: none; }
[data-testid="stMain"]:not(:has(.st-key-tool_conversation [data-testid="stChatMessage"])) .st-key-tool_new_chat {
  visibility: hidden; }
</style>
"""
# Presenter mode. Captions for a projector: the theme's text colour at 75% (in both themes, however it was chosen):
# light (#0D1317) 8.4:1 on #FFFFFF, 7.9:1 on the sidebar's #F1F4F9; dark (#F2F4F8) 9.8:1 on #0E1117, 8.7:1 on #1B2130.
_PRESENT_CSS = """
<style>
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
[data-testid="stChatMessage"] p, [data-testid="stWidgetLabel"] p, .stButton button p,
[data-testid="stChatInputTextArea"] { font-size: 20px !important; line-height: 1.5; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 17px !important; }
[data-testid="stCaptionContainer"] { color: color-mix(in srgb, currentColor 75%%, transparent) !important; opacity: 1; }
h1 { font-size: 2.6rem !important; }
[data-testid="stChatMessage"] { scroll-margin-top: 4.5rem; }
[class*="st-key-vision_card_"] [data-testid="stElementContainer"] { min-width: 0; flex: 0 1 auto; }
[class*="st-key-vision_card_"] button { max-width: 100%%; height: auto; }
[class*="st-key-vision_card_"] button p { font-size: 17px !important; white-space: normal !important;
  text-overflow: clip !important; overflow: visible !important; line-height: 1.25; text-align: left;
  overflow-wrap: normal !important; word-break: keep-all !important; }  /* below the top bar when brought into view */
/* one Stop on stage: the page's own (Streamlit's toolbar shows "Running… Stop" too) */
[data-testid="stStatusWidget"] { display: none !important; }
/* labels wrap instead of ending in "…" at 20 px ("Computation (Wolfram…") */
[data-testid="stMarkdownContainer"].stMarkdownEllipsis, .stMarkdownEllipsis p {
  white-space: normal !important; text-overflow: clip !important; overflow: visible !important; }
[data-testid="stSidebar"] :is(h2, h3) { font-size: 1.5rem !important; }  /* above its 20 px lines */
[data-testid="stCode"] pre, [data-testid="stCode"] code { font-size: 17px !important; }
</style>
"""
# On the vision page in presenter mode: the photo stays in view beside a follow-up's answer.
_VISION_STAGE_CSS = """
<style>
[data-testid="stLayoutWrapper"]:has(> .st-key-vision_image_area), .st-key-vision_image_area {
  position: sticky; top: 3.75rem; z-index: 3; background: var(--llama-bg, %(background)s); }  /* ui/a11y.py */
</style>
"""
# In Korean (<html lang="ko">, set by ui/a11y.py's script): a line breaks between words (spaces), never inside one
# ("답변을" is one word); only a word wider than its whole column breaks where it must. Both properties are inherited:
# set on the body, they reach every text, tooltips and toasts included, in normal and presenter mode; the elements
# listed set their own (Streamlit's Markdown: break-word) and get them again. The vision cards keep their own rule.
_KOREAN_CSS = """
<style>
html:lang(ko) body, html:lang(ko) body :is([data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"],
  [data-testid="stWidgetLabel"], [data-testid="stAlert"], summary, button, label, p, li, h1, h2, h3, h4, td, th) {
  word-break: keep-all; overflow-wrap: anywhere; }
</style>
"""


# Streamlit's own words in its uploaders and camera (Streamlit 1.67 has no setting for them), in a Korean page: each
# English text is hidden (display: none, so screen readers skip it too) and ours drawn in its place (generated text,
# which names a button for screen readers as well). The camera button's word is a text of the button itself: it is
# drawn at size 0 (screen readers then read both). An uploader's "N MB per file": the server's limit, or a widget's
# own (`limits`: key -> MB); pages/vision.py's photo uploader states its page's limit in its own words.
_DROPZONE = '[data-testid="stFileUploaderDropzone"]'
_UPLOAD_WORD = f'{_DROPZONE} button [data-testid="stMarkdownContainer"]'
_PER_FILE = '[data-testid="stFileUploaderDropzoneInstructions"]'
_CAMERA = '[data-testid="stCameraInputWebcamComponent"]'
_CAMERA_BUTTON = '[data-testid="stCameraInputButton"]'
UPLOAD_LIMITS_MB = {"vision_import": max(1, MAX_JSON_BYTES // 1_000_000)}
"""Uploaders with a limit of their own (pages/vision.py's transcript opener: `max_upload_size`), by key."""


def streamlit_words_css(words: dict[str, str], server_mb: int, limits: dict[str, int]) -> str:
    """CSS that shows `words` (`shell.streamlit.*` in the page's language) in place of Streamlit's English ones."""
    def said(text: str) -> str:
        return json.dumps(" ".join(text.split()), ensure_ascii=False)  # a CSS string (JSON's escapes are CSS's)

    per_file = words["per_file"]
    rules = [
        f"{_UPLOAD_WORD} p, {_PER_FILE} span, {_CAMERA} > div > p {{ display: none; }}",
        f"{_UPLOAD_WORD}::after {{ content: {said(words['upload'])}; }}",
        f"{_PER_FILE} > div::after {{ content: {said(per_file.format(mb=server_mb))}; font-size: 0.875rem; }}",
        *(f".st-key-{key} {_PER_FILE} > div::after {{ content: {said(per_file.format(mb=mb))}; }}"
          for key, mb in limits.items()),
        f"{_CAMERA} > div:has(> p)::after {{ content: {said(words['camera_ask'] + ' ' + words['camera_how'])}; "
        "text-align: center; padding: 0 1rem; }",
        f"{_CAMERA_BUTTON} {{ font-size: 0 !important; }}",
        f"{_CAMERA_BUTTON}::after {{ content: {said(words['take_photo'])}; font-size: 1rem; }}",
        f'[data-testid="stCameraInput"]:has(img) {_CAMERA_BUTTON}::after {{ content: {said(words["clear_photo"])}; }}',
    ]
    return "<style>\n" + "\n".join(rules) + "\n</style>"


_PAGE_CSS = {"tool_calling": _PROGRESS_CSS + _TOOL_CSS, "vision": _PROGRESS_CSS}
_STAGE_CSS = {"vision": _VISION_STAGE_CSS}


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
    _sync_url()  # a page switch drops the URL's parameters: put it back, so a reload stays in presenter mode
    return bool(ss[_KEY])


def _sync_url() -> None:
    if st.session_state.get(_KEY):
        if st.query_params.get("present") != "1":
            st.query_params["present"] = "1"
    elif "present" in st.query_params:
        del st.query_params["present"]


def toggle() -> None:
    """The sidebar switch (drawn by app.py on every page)."""
    presenting()
    st.toggle(t("presenter.toggle"), key=_KEY, on_change=_sync_url, help=t("presenter.toggle_help"))


def apply_style(page: str) -> None:
    """Inject the CSS the page at `page` (its URL path, "" for Home) needs, presenter mode's large text, and the
    accessibility script and stylesheet every page has (`ui/a11y.py`, in this session's language, which it also
    marks on <html lang>), and, in Korean, line breaks between words."""
    lang = language()
    a11y.support(skip=t("a11y.skip"), region=t("a11y.region"), answered=t("a11y.answered"), lang=lang)
    css = _PAGE_CSS.get(page, "")
    if presenting():
        colours = {"background": "#0E1117" if _dark() else "#FFFFFF"}  # until the page's script says which
        css += (_PRESENT_CSS + _STAGE_CSS.get(page, "")) % colours
    if lang == "ko":
        css += _KOREAN_CSS
        words = {k: t(f"shell.streamlit.{k}") for k in
                 ("upload", "per_file", "camera_ask", "camera_how", "take_photo", "clear_photo")}
        css += streamlit_words_css(words, int(st.get_option("server.maxUploadSize")), UPLOAD_LIMITS_MB)
    if css:
        st.html(css)


# Scrolls the main area so the latest question is at the top (its answer starts right below it). The script is our
# own static text; it runs once per new turn, shortly after the page has drawn.
_FOLLOW_JS = """<script>(function(){
var d = window.frameElement ? window.parent.document : document;
var top = %s;
function follow(){
  var asked = d.querySelectorAll('[data-testid="stChatMessage"]:has([data-testid="stChatMessageAvatarUser"])');
  if (!top && asked.length) { asked[asked.length - 1].scrollIntoView({block: "start", behavior: "instant"}); return; }
  var main = d.querySelector('[data-testid="stAppScrollToBottomContainer"], [data-testid="stMain"]');
  // Only while nothing has been asked: a question asked meanwhile keeps the page where its answer streams.
  if (top && main && !asked.length && !d.querySelector('[data-testid="stChatMessage"]'))
    main.scrollTo({top: 0, behavior: "instant"});
}
[400, 1000, 1800].forEach(function(ms){ setTimeout(follow, ms); });
})();</script>"""


def follow_question(signature: tuple[str, int, int]) -> None:
    """Where the screen looks when `signature` (the page and its number of tool and vision turns) changes: a page
    without a conversation opens at its top (a chat page would otherwise open scrolled down to its chat box); in
    presenter mode the latest question comes to the top, so the question and the start of its answer are seen
    together on a projector."""
    page, tool_turns, vision_turns = signature
    turns = tool_turns if page == "tool_calling" else vision_turns if page == "vision" else 0
    if page not in ("tool_calling", "vision") or (turns and not presenting()):
        return
    ss = st.session_state
    if ss.get("_follow") == signature:
        return
    ss["_follow"] = signature
    ss["_follow_n"] = n = ss.get("_follow_n", 0) + 1  # a new element each time: its script runs when it mounts
    with st.sidebar, st.container(key=f"follow_question_{n}", height=1, border=False):
        st.html(_FOLLOW_JS % ("false" if turns else "true"), unsafe_allow_javascript=True)


def bring_question_into_view() -> None:
    """In presenter mode, now (as an answer starts streaming): the question to the top, its answer below it."""
    if not presenting():
        return
    ss = st.session_state
    ss["_follow_n"] = n = ss.get("_follow_n", 0) + 1
    with st.sidebar, st.container(key=f"follow_question_{n}", height=1, border=False):
        st.html(_FOLLOW_JS % "false", unsafe_allow_javascript=True)
