"""The interface's words in English and Korean: one catalogue per language, the same keys in both.

Each language is a folder of TOML files (`lib/i18n/en/*.toml`, `lib/i18n/ko/*.toml`), one file per part of the
app (`tools.toml` holds `tools.*` keys); `text("ko", "tools.new_chat")` looks a key up. Why plain TOML files and not
gettext/Babel: gettext keys messages by their English text and needs a compile step (.po → .mo) and its tooling in
CI, for two languages that change with every page edit; TOML is read by Python's own `tomllib`, keeps multi-line
texts and translators' comments readable, and a key's absence in either language is a plain set difference that a
test checks (tests/test_i18n.py). Values are `str.format` templates (`{model}`); a missing Korean text falls back to
English (and the test fails), a missing key everywhere raises KeyError at once.

The language a session shows: `?lang=ko` in the address, else the sidebar's choice, else the browser's
Accept-Language, else English (`choose()`). Imports nothing of ours.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Mapping

LANGUAGES: dict[str, str] = {"en": "English", "ko": "한국어"}
DEFAULT = "en"
_HERE = Path(__file__).parent


def _flatten(prefix: str, table: Mapping[str, object], out: dict[str, str]) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            _flatten(name, value, out)
        elif isinstance(value, str):
            out[name] = value
        else:
            raise ValueError(f"{name}: a catalogue value must be text")


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    """Every text of `lang`, by key ("tools.new_chat"); {} for a language with no folder."""
    out: dict[str, str] = {}
    folder = _HERE / lang
    if lang not in LANGUAGES or not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.toml")):
        with path.open("rb") as f:
            _flatten(path.stem, tomllib.load(f), out)
    return out


def text(lang: str, key: str, /, **values: object) -> str:
    """The text for `key` in `lang` (English when that language lacks it), formatted with `values`."""
    found = catalogue(lang).get(key)
    if found is None:
        found = catalogue(DEFAULT)[key]  # KeyError: a key no catalogue has is a bug, caught by the tests
    return found.format(**values) if values else found


def from_accept_language(header: str | None) -> str | None:
    """The first language of an Accept-Language header this app speaks, by the browser's preference order.

    >>> from_accept_language("ko-KR,ko;q=0.9,en-US;q=0.8")
    'ko'
    >>> from_accept_language("fr-FR,fr;q=0.9") is None
    True
    """
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > 0:
            ranked.append((-q, i, primary))
    return min(ranked)[2] if ranked else None


def choose(query: str | None, chosen: str | None, accept: str | None) -> str:
    """The language to show: `?lang=` first, then the sidebar's choice, then the browser's, then English."""
    for candidate in (query, chosen):
        if isinstance(candidate, str) and candidate.strip().lower() in LANGUAGES:
            return candidate.strip().lower()
    return from_accept_language(accept) or DEFAULT
