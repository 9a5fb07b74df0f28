"""The English phrases a Korean page must not show: taken from the catalogues, so a new English text is checked
as soon as it is added (the Korean browser tests: home, sidebar, tools, vision)."""

from __future__ import annotations

import re
import string
from typing import Iterable

from lib.i18n import catalogue


def english_phrases(areas: Iterable[str]) -> set[str]:
    """Every phrase of two or more words in the English texts of `areas` (catalogue files): each text split at its
    {fields}, its Markdown marks and line breaks, trimmed of punctuation at its ends; not what the Korean texts keep
    as it is (model, product and provider names: "Llama 3.1 405B", "Azure AI Foundry")."""
    areas = tuple(areas)
    kept = " ".join(" ".join(v.split()) for k, v in catalogue("ko").items() if k.split(".")[0] in areas)
    phrases: set[str] = set()
    for key, value in catalogue("en").items():
        if key.split(".")[0] not in areas:
            continue
        for literal, _, _, _ in string.Formatter().parse(value):
            for part in re.split(r"[`*\n|#]+|\s[—·→]\s", literal):
                part = " ".join(part.split()).strip(" .,:;()'\"…")
                if len([w for w in part.split() if re.search("[A-Za-z]", w)]) >= 2 and part not in kept:
                    phrases.add(part)
    return phrases


# What the page shows that is not the app's own words: the model's answers (the API double's all start "(API double"),
# and tool results and code (code blocks: a search result's text, the request's Python). English there is right.
_NOT_OURS = """main => {
    const out = [];
    for (const e of main.querySelectorAll('[data-testid="stMarkdownContainer"], pre')) {
        if (e.tagName === 'PRE' || e.innerText.trim().startsWith('(API double')) out.push(e.innerText);
    }
    return [main.innerText, out];
}"""


def ui_text(page: "object", selector: str) -> str:
    """The visible text of `selector` (a Playwright page's main area) without the model's answers and the code
    blocks (tool results, code): the words the app itself shows."""
    shown, theirs = page.locator(selector).evaluate(_NOT_OURS)  # type: ignore[attr-defined]
    for part in sorted(theirs, key=len, reverse=True):
        if part.strip():
            shown = shown.replace(part, " ")
    return shown
