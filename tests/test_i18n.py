"""The catalogues: every key in both languages, every template's fields the same, the language chosen as asked."""

from __future__ import annotations

import re
import string

import pytest

from lib.i18n import LANGUAGES, catalogue, choose, from_accept_language, text


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_key_is_in_both_languages() -> None:
    en, ko = catalogue("en"), catalogue("ko")
    assert en, "the English catalogue is empty"
    assert sorted(set(en) - set(ko)) == [], "keys missing in Korean"
    assert sorted(set(ko) - set(en)) == [], "keys only in Korean (a typo, or English is missing them)"


def test_templates_have_the_same_fields_in_both_languages() -> None:
    en, ko = catalogue("en"), catalogue("ko")
    wrong = {k: (_fields(en[k]), _fields(ko[k])) for k in en if k in ko and _fields(en[k]) != _fields(ko[k])}
    assert wrong == {}


def test_korean_texts_are_korean_and_not_left_in_english() -> None:
    """A Korean value identical to the English one is a forgotten translation, unless it has no words at all
    (no word of four letters) or its key ends in _model, _name or _code (a model's, a tool's or a setting's own name)."""
    en, ko = catalogue("en"), catalogue("ko")
    same = [k for k in ko if ko[k] == en.get(k) and re.search(r"[A-Za-z]{4,}", ko[k])
            and not k.endswith(("_model", "_name", "_code"))]
    assert same == []


def test_text_formats_and_falls_back_to_english_for_an_unknown_language() -> None:
    assert text("ko", "shell.language") == "언어"
    assert text("fr", "shell.language") == "Language"
    with pytest.raises(KeyError):
        text("en", "no.such.key")


@pytest.mark.parametrize("query, chosen, accept, expected", [
    ("ko", None, None, "ko"),
    (None, "ko", "en-US", "ko"),
    (None, None, "ko-KR,ko;q=0.9,en;q=0.8", "ko"),
    (None, None, "en-US,en;q=0.9,ko;q=0.8", "en"),
    (None, None, "fr-FR,fr;q=0.9", "en"),
    ("xx", None, "ko", "ko"),  # an unknown ?lang= is ignored
    ("KO", None, None, "ko"),
])
def test_the_language_follows_the_address_then_the_sidebar_then_the_browser(query, chosen, accept, expected) -> None:
    assert choose(query, chosen, accept) == expected


def test_accept_language_respects_q_values() -> None:
    assert from_accept_language("en;q=0.5, ko;q=0.9") == "ko"
    assert from_accept_language("ko;q=0") is None
    assert set(LANGUAGES) == {"en", "ko"}
