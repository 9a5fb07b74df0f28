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

Texts made in `lib/` (an error's explanation, a tool's status line, a footer) are kept as `Msg`: a key and its
values, rendered in the page's language where it is shown (`say(lang, m)`); `str(m)` is the English text, so logs,
transcripts' JSON and English pages read as before. Values that read differently per language are typed:
`Seconds` (a duration: "6 h 46 min", "6시간 46분"), `Ordinal` ("3rd", "3번째") and a nested `Msg`.
"""

from __future__ import annotations

import functools
import math
import tomllib
from dataclasses import dataclass
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


class Seconds(float):
    """A duration among a `Msg`'s values, said the page's way: 42 → "42 s" / "42초", 24367 → "6 h 46 min"."""


class Ordinal(int):
    """A place in line among a `Msg`'s values: 3 → "3rd" / "3번째"."""


_UNITS = {"en": ("{} s", "{} min", "{} h", " "), "ko": ("{}초", "{}분", "{}시간", " ")}


def duration(lang: str, seconds: float) -> str:
    """Whole seconds rounded up, in the largest two units: 42 → "42 s", 150 → "2 min 30 s", 24367 → "6 h 46 min"."""
    sec, mins, hours, gap = _UNITS.get(lang, _UNITS[DEFAULT])
    s = max(0, int(math.ceil(seconds)))
    if s < 60:
        return sec.format(s)
    if s < 3600:
        m, r = divmod(s, 60)
        return mins.format(m) + (gap + sec.format(r) if r else "")
    h, r = divmod(s, 3600)
    m = r // 60
    return hours.format(h) + (gap + mins.format(m) if m else "")


def short_duration(lang: str, seconds: float) -> str:
    """A limit as set ("120 s", "0.5 s"), ten minutes and more as `duration` says them ("15 min")."""
    if seconds >= 600:
        return duration(lang, seconds)
    return _UNITS.get(lang, _UNITS[DEFAULT])[0].format(f"{seconds:g}")


def ordinal(lang: str, n: int) -> str:
    """1 → "1st" ("1번째"), 2 → "2nd", 11 → "11th", 23 → "23rd"."""
    if lang == "ko":
        return f"{n}번째"
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}" + {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


@dataclass(frozen=True)
class Msg:
    """A text kept as its catalogue key and values, rendered in whichever language shows it; `str()` is English."""

    key: str
    values: tuple[tuple[str, object], ...] = ()

    def __str__(self) -> str:
        return say(DEFAULT, self)

    def in_(self, lang: str) -> str:
        """This text in `lang`."""
        return say(lang, self)

    def to_json(self) -> dict[str, object]:
        """A plain-JSON form (session store, transcripts): `Msg.from_json` reads it back, types and all."""
        return {"key": self.key, "values": {k: _tagged(v) for k, v in self.values}}

    @classmethod
    def from_json(cls, data: object) -> "Msg | None":
        """The `Msg` `to_json` wrote, or None for anything else (an older or hand-made file: show its English)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("key"), str):
            return None
        if data["key"] not in catalogue(DEFAULT):
            return None
        values = data.get("values")
        if not isinstance(values, Mapping):
            return None
        return cls(data["key"], tuple((str(k), _untagged(v)) for k, v in values.items()))


def msg(key: str, /, **values: object) -> Msg:
    """A `Msg` for `key` (checked at once: a key no catalogue has raises KeyError)."""
    catalogue(DEFAULT)[key]
    return Msg(key, tuple(values.items()))


def _tagged(value: object) -> object:
    if isinstance(value, Msg):
        return {"msg": value.to_json()}
    if isinstance(value, Seconds):
        return {"seconds": float(value)}
    if isinstance(value, Ordinal):
        return {"ordinal": int(value)}
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _untagged(value: object) -> object:
    if isinstance(value, Mapping) and len(value) == 1:
        (tag, inner), = value.items()
        if tag == "msg":
            return Msg.from_json(inner) or ""
        if tag == "seconds" and isinstance(inner, (int, float)):
            return Seconds(inner)
        if tag == "ordinal" and isinstance(inner, int):
            return Ordinal(inner)
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _value(lang: str, value: object) -> object:
    if isinstance(value, Msg):
        return say(lang, value)
    if isinstance(value, Seconds):
        return duration(lang, value)
    if isinstance(value, Ordinal):
        return ordinal(lang, value)
    return value


def say(lang: str, what: object) -> str:
    """`what` in `lang`: a `Msg` rendered (its values too), anything else (a server's own words) as it is."""
    if isinstance(what, Msg):
        return text(lang, what.key, **{k: _value(lang, v) for k, v in what.values})
    return "" if what is None else str(what)
