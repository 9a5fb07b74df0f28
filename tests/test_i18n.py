"""The catalogues: every key in both languages, every template's fields the same, the language chosen as asked."""

from __future__ import annotations

import re
import string

import pytest

from lib.i18n import (LANGUAGES, Msg, Ordinal, Seconds, catalogue, choose, duration, from_accept_language, msg, say,
                      text)


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


def test_a_message_made_in_lib_reads_in_either_language_with_its_durations_and_places() -> None:
    m = msg("shell.language")
    assert str(m) == "Language" and m.in_("ko") == "언어"
    assert duration("en", 24367) == "6 h 46 min" and duration("ko", 24367) == "6시간 46분"
    assert duration("en", 150) == "2 min 30 s" and duration("ko", 42) == "42초"
    assert say("ko", Msg("shell.language")) == "언어" and say("ko", "a server's own words") == "a server's own words"
    with pytest.raises(KeyError):
        msg("no.such.key")


def test_a_message_survives_json_with_its_typed_values() -> None:
    import json
    m = Msg("shell.language", (("wait", Seconds(90)), ("place", Ordinal(3)), ("inner", msg("shell.language"))))
    back = Msg.from_json(json.loads(json.dumps(m.to_json())))
    assert back == m and isinstance(dict(back.values)["wait"], Seconds)
    assert Msg.from_json({"key": "no.such.key", "values": {}}) is None
    assert Msg.from_json("Language") is None


def test_streamlits_own_uploader_words_are_ours_with_each_uploaders_limit() -> None:
    from ui.presenter import streamlit_words_css
    words = {k: text("ko", f"shell.streamlit.{k}") for k in
             ("upload", "per_file", "camera_ask", "camera_how", "take_photo", "clear_photo")}
    css = streamlit_words_css(words, 30, {"vision_import": 5})
    assert '"파일당 최대 30MB"' in css and '.st-key-vision_import [data-testid="stFileUploaderDropzoneInstructions"]' \
        ' > div::after { content: "파일당 최대 5MB"; }' in css
    assert '"파일 올리기"' in css and '"사진 찍기"' in css and '"사진 지우기"' in css
    assert "Upload" not in css.replace("stFileUploader", "")
