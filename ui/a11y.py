"""What Streamlit's own markup leaves out for keyboard and screen-reader users, added by one small static script and
its stylesheet, drawn once on every page (from `ui/presenter.py: apply_style`):

- **"Skip to the question box"**: the first Tab stop of a page with a chat box (the box is otherwise the ~30th, after
  the sidebar, the navigation and every tool and suggestion); Enter puts the cursor in the box.
- **The conversation is a landmark**: the page's conversation container (`st.container(key="tool_conversation")`,
  `key="vision_conversation"`) becomes `role="region"` named "Conversation".
- **An answer is announced once, when it is complete**: a polite live region outside the page reads the finished
  answer's text after the run that produced it ends, never the streaming element (which would be read word by
  word, or not at all).
- **The page's language** on `<html lang>` (given by the caller: `ui/i18n.py`'s choice), so a screen reader reads
  Korean as Korean and the browser breaks Korean lines between words; it rides in this element, which every page
  has anyway, rather than in one of its own (a 1 px element at the top of the sidebar left a gap there).
- **Colours that hold in both themes**, whichever way the theme was chosen (the browser's preference or the ⋮ menu,
  which the server learns late): a caption's inline code is as readable as its text (Streamlit fades the whole
  caption, code included: 3.0:1); a selected pill or segment is written in the text colour and bold (Streamlit's
  blue on its own blue tint is 4.2:1, and bold says "selected" without colour); a primary button's text is the
  page's background colour at rest (white on the dark theme's blue was 3.2:1); `--llama-bg` is the page's actual
  background for CSS that paints over the page (presenter mode's sticky photo).

Everything here is static text written in this file, never model output. The script installs itself once per
browser tab (a flag on `window`) and then only reacts when a script run ends.
"""

from __future__ import annotations

import json

import streamlit as st

_KEY = "a11y_support"
SKIP_TEXT = "Skip to the question box"
REGION_NAME = "Conversation"
ANSWERED = "Llama answered:"
CONVERSATIONS = ".st-key-tool_conversation, .st-key-vision_conversation, .st-key-vision_compare_conversation"

# Not %-formatted: written as is.
_CSS = """
<style>
/* The container of this element takes no room (and no gap) in the sidebar. */
[data-testid="stLayoutWrapper"]:has(> .st-key-a11y_support), .st-key-a11y_support { display: none !important; }
/* Captions: Streamlit fades the whole element (opacity .6), which fades its inline code's own colour too (3.0:1
   on white, 4.4:1 on dark). The same fade moves into the text colour, so code, links and icons keep theirs. */
[data-testid="stCaptionContainer"] { opacity: 1; color: color-mix(in srgb, currentColor 60%, transparent); }
/* A selected pill or segment: the text colour, bold (selected is not told by colour alone); the blue border and
   tint stay. */
[data-testid="stButtonGroup"] button[aria-checked="true"] { color: inherit !important; }
[data-testid="stButtonGroup"] button[aria-checked="true"] p { font-weight: 600; }
/* A primary button: at rest its text is the page's background colour, white while hovered or focused (when
   Streamlit darkens its blue). White on the dark theme's #4C8DFF was 3.2:1; the page's #0E1117 on it is 5.9:1, white
   on its hover blue #005EFF 5.1:1. The light theme keeps white: 4.8:1 on #0866FF, more on its hover #0048BD. */
[data-testid="stBaseButton-primary"]:not(:disabled) { color: var(--llama-bg, #FFFFFF) !important; }
[data-testid="stBaseButton-primary"]:not(:disabled):is(:hover, :focus-visible, :active) { color: #FFFFFF !important; }
.llama-skip { position: fixed; top: .5rem; left: .5rem; z-index: 1000100; padding: .6rem 1rem; border-radius: .5rem;
  background: #0D1317; color: #FFFFFF; border: 2px solid #FFFFFF; font: 600 1rem/1.4 "Source Sans", sans-serif;
  text-decoration: none; transform: translateY(-300%); }
.llama-skip:focus { transform: none; outline: 3px solid #4C8DFF; outline-offset: 2px; }
.llama-sr-only { position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; border: 0; }
</style>
"""

_JS = """<script>(function(){
var d = window.frameElement ? window.parent.document : document, w = d.defaultView;
var T = %(texts)s;  // this run's words (its language): a tab where the script runs already only takes them
if (T.lang) d.documentElement.lang = T.lang;
if (w.__llamaA11y) { w.__llamaA11y(T); return; }
var BOX = '[data-testid="stChatInputTextArea"]', CONVERSATIONS = %(conversations)s;
var MAIN = '[data-testid="stMainBlockContainer"]';  // the page's own area (the main element's test id varies)
var app = d.querySelector('[data-testid="stApp"]');
if (!app) return;

var skip = d.createElement('a');
skip.href = '#';
skip.className = 'llama-skip';
skip.id = 'llama-skip-question';
skip.hidden = true;
skip.addEventListener('click', function(e){
  e.preventDefault();
  var box = d.querySelector(BOX);
  if (box) { box.scrollIntoView({block: 'nearest'}); box.focus(); }
});
d.body.insertBefore(skip, d.body.firstChild);

var said = d.createElement('div');
said.id = 'llama-answer-status';
said.className = 'llama-sr-only';
said.setAttribute('role', 'status');
said.setAttribute('aria-live', 'polite');
said.setAttribute('aria-atomic', 'true');
d.body.appendChild(said);
w.__llamaAnnounced = 0;

function mainBlock(){ return d.querySelector(MAIN + ' > [data-testid="stVerticalBlock"]'); }

function landmark(){
  var found = d.querySelectorAll(CONVERSATIONS);
  if (!found.length) {  // a page without the keyed container: the block that holds its messages and nothing else
    var msgs = d.querySelectorAll(MAIN + ' [data-testid="stChatMessage"]'), n = msgs.length ?
      msgs[0].parentElement : null;
    while (n && ![].every.call(msgs, function(m){ return n.contains(m); })) n = n.parentElement;
    if (n) n = n.closest('[data-testid="stVerticalBlock"]');
    found = n && n !== mainBlock() && n.closest(MAIN) ? [n] : [];
  }
  [].forEach.call(found, function(e){
    if (e.getAttribute('role') !== 'region') e.setAttribute('role', 'region');
    if (e.getAttribute('aria-label') !== T.region) e.setAttribute('aria-label', T.region);
  });
}

// What to say of the page's last answer: its own paragraphs (not tool steps, code or footers), or, where it has
// none, its notes and errors (a failed turn).
function lastAnswer(){
  var msgs = d.querySelectorAll(MAIN + ' [data-testid="stChatMessage"]' +
                                ':not(:has([data-testid="stChatMessageAvatarUser"]))');
  var m = msgs[msgs.length - 1];
  var block = m && m.querySelector('[data-testid="stChatMessageContent"] > [data-testid="stVerticalBlock"]');
  if (!block) return [msgs.length, ''];
  var parts = [], notes = [];
  [].forEach.call(block.children, function(c){
    if (!c.matches('[data-testid="stElementContainer"]')) return;
    var md = c.querySelector(':scope > [data-testid="stMarkdown"] [data-testid="stMarkdownContainer"]');
    var alert = c.querySelector(':scope > [data-testid="stAlert"], :scope > .stAlert');
    if (md) parts.push(md.innerText.trim());
    else if (alert) notes.push(alert.innerText.trim());
  });
  var text = parts.join('\\n').trim();
  return [msgs.length, text ? T.answered + ' ' + text : notes.join('\\n').trim()];
}

function idle(){ return app.getAttribute('data-test-script-state') !== 'running'; }
function refresh(){  // as soon as a run ends: the page is drawn
  landmark();
  skip.hidden = !d.querySelector(BOX);
  var bg = w.getComputedStyle(app).backgroundColor;
  if (bg) d.documentElement.style.setProperty('--llama-bg', bg);
}

// An answer is announced once the run that drew it has ended and the page stayed idle for a moment (a turn ends with
// a rerun that draws it again from history).
var seen = null, path = null, timer = null;
function settled(){
  timer = null;
  if (!idle()) return;
  var now = lastAnswer(), key = now[0] + '|' + now[1];
  if (path !== w.location.pathname) { path = w.location.pathname; seen = key; return; }  // a page opened: its past
  if (key === seen) return;
  seen = key;
  if (!now[1]) return;
  said.textContent = '';
  w.__llamaAnnounced += 1;
  setTimeout(function(){ said.textContent = now[1].slice(0, 1500); }, 100);
}
// A page's own past (opened, or reloaded with a restored conversation) is taken at its first idle moment, at once:
// waiting for `settled` let a question clicked within 0.5 s of the page opening (a busy machine) be taken as the past.
function opened(){
  if (path === w.location.pathname) return;
  path = w.location.pathname;
  var now = lastAnswer();
  seen = now[0] + '|' + now[1];
}
new MutationObserver(function(){
  if (!idle()) { if (timer) { clearTimeout(timer); timer = null; } return; }
  refresh();
  opened();
  if (!timer) timer = setTimeout(settled, 500);
}).observe(app, {attributes: true, attributeFilter: ['data-test-script-state', 'class']});
// Streamlit keeps the page at its bottom while a question is answered only for a chat box it placed there itself
// (then its main area is a "scroll to bottom" container); the tool page's is drawn by a fragment (st.bottom). The
// same here: a new question shown takes the page to its bottom, which follows the answer until its run ends or the
// reader scrolls up.
var asked = -1, stick = false;
function follow(){
  if (d.querySelector('[data-testid="stAppScrollToBottomContainer"]')) return;  // Streamlit does it
  // Only under a chat box pinned to the bottom (st.bottom): a box drawn in a column (the vision page's follow-up) has
  // its conversation beside other things, and the page's bottom is the other column's end.
  if (!d.querySelector('[data-testid="stBottom"] [data-testid="stChatInput"]')) return;
  var n = d.querySelectorAll(MAIN + ' [data-testid="stChatMessageAvatarUser"]').length;
  if (asked < 0 || path !== w.location.pathname) { asked = n; return; }
  if (n > asked) stick = true;  // (its run may already have ended: a quick answer is drawn in one go)
  asked = n;
  var s = d.querySelector('[data-testid="stMain"]');
  if (stick && s) s.scrollTop = s.scrollHeight;
  if (idle()) stick = false;
}
['wheel', 'touchmove'].forEach(function(e){ d.addEventListener(e, function(ev){
  if (ev.type !== 'wheel' || ev.deltaY < 0) stick = false; }, {passive: true}); });
d.addEventListener('keydown', function(e){ if (/^(PageUp|ArrowUp|Home)$/.test(e.key)) stick = false; });
// Parts of a page are drawn after its run has ended (a widget's code loads on first use): a look 0.2 s after the
// page's elements last changed, at most 5 times a second.
var later = null;
new MutationObserver(function(){
  follow();
  if (!later) later = setTimeout(function(){ later = null; refresh(); }, 200);
}).observe(app, {childList: true, subtree: true});
w.__llamaA11y = function(t){ T = t; skip.textContent = T.skip; if (idle()) refresh(); };
w.__llamaA11y(T);
if (idle()) { opened(); timer = setTimeout(settled, 500); }
})();</script>"""


def support(skip: str = SKIP_TEXT, region: str = REGION_NAME, answered: str = ANSWERED,
            lang: str | None = None) -> None:
    """Draw the accessibility script and stylesheet (one hidden element at the top of the sidebar; the same element
    on every run and page, so the browser runs the script once per tab). The three texts are the skip link's, the
    conversation region's name and the words before an announced answer; other words (another language) reach a
    tab's running script when the element is drawn with them. `lang` ("en", "ko"), when given, is written on
    <html lang> each time the element's script runs (once per tab and language)."""
    words = {"skip": skip, "region": region, "answered": answered} | ({"lang": lang} if lang else {})
    texts = json.dumps(words, ensure_ascii=False)
    texts = texts.replace("<", "\\u003c")  # never a "</script>" inside the script
    with st.sidebar, st.container(key=_KEY, height=1, border=False):
        st.html(_CSS + _JS % {"conversations": json.dumps(CONVERSATIONS), "texts": texts},
                unsafe_allow_javascript=True)
