"""Model output is untrusted: shown as Markdown text, never as HTML, and never fetching remote images.

Streamlit escapes HTML in `st.markdown`, but Markdown image syntax (`![](https://host/x.png?data=...)`) would make
every viewer's browser request that URL — a way for a prompt-injected tool result to leak conversation data.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from typing import Any

_IMAGE = re.compile(r"!\[")


def display_markdown(text: str) -> str:
    """`text` with Markdown images turned into plain text (`![alt](url)` shows literally); links stay links."""
    return _IMAGE.sub(r"!\\[", text)


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$])")


def literal(text: str) -> str:
    """`text` with every Markdown character escaped: it shows exactly as written — no image is fetched, no link
    made, no emphasis — for a server's words and anything else that is neither ours nor the model's answer."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


# Characters that open Markdown (or Streamlit's Markdown) anywhere in a line: escapes, code, emphasis, strikethrough,
# links and images (and Streamlit's `:color[…]` directives, which need a bracket), autolinks and HTML, entities, math,
# tables, headings.
_INLINE_SPECIALS = re.compile(r"([\\`*_~\[\]<>&$|#:])")
# What opens a block only at the start of a line: a list item (`-`, `+`, `1.`, `1)`), a setext underline (`=`).
_LINE_START = re.compile(r"(?:^|(?<=[\r\n]))([ \t]*)([-+=]|\d{1,9}(?=[.)]))")
_BACKTICKS = re.compile(r"`+")


def _escape_plain(text: str) -> str:
    escaped = _INLINE_SPECIALS.sub(r"\\\1", text)
    escaped = _LINE_START.sub(lambda m: m.group(1) + (m.group(2) + "\\" if m.group(2)[0].isdigit()
                                                      else "\\" + m.group(2)), escaped)
    # Streamlit turns `:material/name:` into an icon before it parses the Markdown, escaped colons or not.
    return escaped.replace("material/", "material\\/")


def _code_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each one-line code span in `text`, found as CommonMark finds them: a run of n backticks up to
    the next run of exactly n. Linear in the text (a transcript's field may be megabytes of backticks)."""
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(text)]
    following: list[int | None] = [None] * len(runs)  # the next run of the same length
    seen: dict[int, int] = {}
    for i in range(len(runs) - 1, -1, -1):
        n = runs[i][1] - runs[i][0]
        following[i], seen[n] = seen.get(n), i
    breaks = [m.start() for m in re.finditer(r"[\r\n]", text)]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(runs):
        closer = following[i]
        if closer is not None and bisect.bisect_left(breaks, runs[i][1]) == bisect.bisect_left(breaks, runs[closer][0]):
            spans.append((runs[i][0], runs[closer][1]))  # no line break inside: one code span
            i = closer + 1
        else:
            i += 1
    return spans


def as_text(text: str, keep_code: bool = False) -> str:
    r"""Markdown that shows `text` as written: a tool's name, a model's or provider's name, a note, an error's title
    or message, a result's source, a footer — every string that is neither ours nor the model's answer.

    No image is fetched, no Markdown link made (`![x](u)`, `[x](u)`, `<http://…>`, `<img src=…>`, `![x][1]` with
    `[1]: u`, `&#…;` entities all show literally), no emphasis, heading, list, table or math. A bare http(s) URL (or
    e-mail address) still becomes a link to itself, showing its own address: Streamlit links those after parsing,
    escaped or not. Unlike `literal()`,
    only the characters that can open Markdown are escaped, so everyday names and numbers ("Llama 3.1 405B",
    "3.2 s") pass unchanged. With `keep_code`, one-line code spans (`` `MODEL_NAME` ``, as our own messages write them)
    stay code: nothing inside a code span is ever a link or an image.

    >>> as_text("![pixel](http://127.0.0.1:9/p.png) Llama 3.1 405B")
    '!\\[pixel\\](http\\://127.0.0.1\\:9/p.png) Llama 3.1 405B'
    """
    text = str(text)
    if not keep_code:
        return _escape_plain(text)
    spans = _code_spans(text)
    if not spans:
        return _escape_plain(text)
    cuts = [0, *(i for span in spans for i in span), len(text)]
    outside = [text[cuts[k]:cuts[k + 1]] for k in range(0, len(cuts), 2)]
    # Escaped in one pass (a field may hold a million code spans): the spans' places marked by a NUL, which the
    # escaping leaves alone (Markdown shows a NUL as U+FFFD: one in the text itself is shown that way first).
    outside = _escape_plain("\0".join(piece.replace("\0", "\ufffd") for piece in outside)).split("\0")
    out = [outside[0]]
    for (start, end), after in zip(spans, outside[1:]):
        out += [text[start:end], after]
    return "".join(out)


def code_span(text: str) -> str:
    """`text` as one inline code span (Markdown), however many backticks or line breaks it holds: it shows as
    written, in code font, and nothing in it can end the span early (a tool call's arguments, a URL, a model ID).

    >>> code_span('get("a`b")')
    '``get("a`b")``'
    """
    text = re.sub(r"\r\n?|\n", " ", str(text))
    if not text:
        return ""
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def error_as_text(err: Any) -> Any:
    """A copy of a `UserError` (any dataclass with `title` and `message`) whose title and message show as written,
    code spans kept, for `ui.conversation.show_error`: an imported transcript's error is untrusted text. The server's own
    words (`detail`) are escaped by `show_error` itself, and so is a title and message it says in another language
    from the error's `says` (kept as it is here; an imported transcript's error has none: it shows its own words)."""
    return dataclasses.replace(err, title=as_text(err.title), message=as_text(err.message, keep_code=True))


def plural(n: int, noun: str) -> str:
    """"1 model", "2 models", "0 models" (English: nouns that take an s)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
