"""Korean place, country and unit names in the tools' arguments (issue 24): the same answers as in English."""
from __future__ import annotations

import datetime as dt
import json
import unicodedata


import pytest

from lib.tool_calling.loop import Done, run_turn
from lib.tools import ToolConfig, korean_names, local_time, run
from lib.tools.units import _TEMPERATURE, _UNITS, unit_key
from tests.api_double import ApiDouble, Reply
from tests.stubs import StubServer

OFFLINE = ToolConfig()
FIXED = dt.datetime(2026, 11, 26, 16, 5, tzinfo=dt.timezone.utc)

SEOUL = {"id": 1835848, "name": "Seoul", "latitude": 37.566, "longitude": 126.9784, "elevation": 38.0,
         "feature_code": "PPLC", "country_code": "KR", "timezone": "Asia/Seoul", "population": 10349312,
         "country_id": 1835841, "country": "South Korea", "admin1": "Seoul"}


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_time, "_now", lambda: FIXED)


from tests.test_tools_http import _server, stub  # noqa: E402,F401 - the same stub fixtures


def local(place: str) -> str:
    return run("get_local_time", {"city_or_timezone": place}, OFFLINE).content


def convert(value: float, src: str, dst: str) -> str:
    return run("convert_units", {"value": value, "from_unit": src, "to_unit": dst}, OFFLINE).content


# --- the tables -------------------------------------------------------------------------------------


def test_every_table_key_is_korean_and_already_in_lookup_form() -> None:
    tables = (korean_names.PLACES, korean_names.COUNTRIES, korean_names.UNITS)
    for table in tables:
        for key in table:
            assert korean_names.normalise(key) == key
            assert korean_names._HANGUL.search(key), key
    assert len(korean_names.PLACES) >= 100 and len(korean_names.UNITS) >= 50


def test_every_korean_place_names_a_city_the_clock_knows() -> None:
    unknown = [english for english in korean_names.PLACES.values() if local_time.resolve(english) is None]
    assert unknown == []


def test_every_korean_unit_names_a_unit_the_table_knows() -> None:
    for korean, english in korean_names.UNITS.items():
        assert english in _UNITS or english in _TEMPERATURE, korean
        assert unit_key(korean) == english


def test_every_country_has_an_iso_code() -> None:
    for english, code in korean_names.COUNTRIES.values():
        assert english and len(code) == 2 and code.isupper()


def test_no_key_is_reached_from_another_key_by_taking_a_suffix_off() -> None:
    """A known name always wins as itself: "하노이" is Hanoi, never "하노" + the particle "이"."""
    for key, english in korean_names.PLACES.items():
        assert korean_names.place(key) == english
    for key, english in korean_names.UNITS.items():
        assert korean_names.unit(key) == english


# --- get_local_time ---------------------------------------------------------------------------------


@pytest.mark.parametrize("korean, english", sorted(korean_names.PLACES.items()))
def test_each_korean_city_tells_the_time_of_its_english_name(frozen_clock: None, korean: str, english: str) -> None:
    assert local(korean) == local(english)
    assert not local(korean).startswith("error")


def test_the_brief_s_examples(frozen_clock: None) -> None:
    assert local("서울") == local("Seoul") == "Seoul: Friday 27 November 2026, 01:05 (KST, UTC+09:00)"
    assert local("지금 도쿄 시각") == local("Tokyo") == "Tokyo: Friday 27 November 2026, 01:05 (JST, UTC+09:00)"
    assert local("뉴욕") == "New York: Thursday 26 November 2026, 11:05 (EST, UTC-05:00)"


@pytest.mark.parametrize("variant", [
    "서울의", "서울시", "서울 시", "서울특별시", "서울에서", "서울에서의", "서울은", "서울 날씨", "서울 시간",
    "서울특별시의", " 서울 ", "서울?", "'서울'", "한국 서울", "대한민국 서울", "지금 서울", "서울, 대한민국",
    "서울, South Korea", unicodedata.normalize("NFD", "서울"),
])
def test_particles_suffixes_and_spacing_still_mean_seoul(frozen_clock: None, variant: str) -> None:
    assert korean_names.place(variant.split(",")[0]) == "Seoul"
    assert local(variant) == local("Seoul")


@pytest.mark.parametrize("variant, english", [
    ("도쿄도", "Tokyo"), ("동경", "Tokyo"), ("부산광역시", "Busan"), ("제주도", "Jeju"), ("제주특별자치도", "Jeju"),
    ("오사카부", "Osaka"), ("로스 앤젤레스", "Los Angeles"), ("로스앤젤레스에서", "Los Angeles"),
    ("샌프란시스코의", "San Francisco"), ("하노이시", "Hanoi"), ("홍콩", "Hong Kong"), ("일본 교토", "Kyoto"),
])
def test_other_suffix_variants(frozen_clock: None, variant: str, english: str) -> None:
    assert korean_names.place(variant) == english
    assert local(variant) == local(english)


@pytest.mark.parametrize("korean, english", [
    ("한국", "South Korea"), ("한국 시간", "South Korea"), ("대한민국", "South Korea"), ("일본", "Japan"),
    ("중국 시간", "China"), ("영국", "United Kingdom"), ("독일 현지시간", "Germany"),
])
def test_a_country_with_one_time_zone_tells_its_time(frozen_clock: None, korean: str, english: str) -> None:
    assert local(korean) == local(english)
    assert not local(korean).startswith("error")


@pytest.mark.parametrize("korean, english", [("아틀란티스", "Atlantis"), ("미국", "United States"),
                                             ("호주", "Australia")])
def test_an_unknown_or_ambiguous_place_is_refused_like_its_english_name(korean: str, english: str) -> None:
    """Not known, or a country with several time zones: the same "unknown city" answer, naming what was asked."""
    result = run("get_local_time", {"city_or_timezone": korean}, OFFLINE)
    assert not result.ok
    assert result.content == local(english).replace(repr(english), repr(korean))
    assert result.content.startswith(f"error: unknown city or time zone {korean!r}: ask with an IANA time zone")


@pytest.mark.parametrize("word", [
    "서", "서울대", "서울대학교", "서울숲", "서울역사", "서면", "서산", "부산행", "파리바게뜨", "시", "도", "의", "에서",
    "서울서울", "빈", "일본도", "도쿄타워", "뉴욕커", "인도네시아어", pytest.param("서울" * 21, id="longer-than-a-name"), "",
])
def test_no_false_matches(word: str) -> None:
    assert korean_names.place(word) is None and korean_names.country(word) is None
    assert local_time.resolve(word) is None


def test_english_and_other_text_is_not_looked_up_in_the_korean_tables() -> None:
    assert korean_names.place("Seoul") is None and korean_names.unit("km") is None
    assert korean_names.place(None) is None and korean_names.unit(42) is None  # type: ignore[arg-type]


# --- convert_units ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value, korean, english", [
    (42.195, ("킬로미터", "마일"), ("km", "mi")),
    (1, ("마라톤", "마일"), ("marathon", "mi")),
    (1, ("마라톤", "킬로미터"), ("marathon", "km")),
    (1, ("하프 마라톤", "마일"), ("half marathon", "mi")),
    (100, ("미터", "피트"), ("m", "ft")),
    (10, ("인치", "센티미터"), ("in", "cm")),
    (100, ("야드", "미터"), ("yd", "m")),
    (1, ("해리", "킬로미터"), ("nmi", "km")),
    (5, ("밀리미터", "인치"), ("mm", "in")),
    (70, ("킬로그램", "파운드"), ("kg", "lb")),
    (8, ("온스", "그램"), ("oz", "g")),
    (500, ("밀리그램", "그램"), ("mg", "g")),
    (2, ("톤", "파운드"), ("t", "lb")),
    (10, ("스톤", "킬로그램"), ("st", "kg")),
    (10, ("리터", "갤런"), ("l", "gal")),
    (2, ("컵", "밀리리터"), ("cup", "ml")),
    (1, ("세제곱미터", "리터"), ("m3", "l")),
    (1, ("쿼트", "리터"), ("qt", "l")),
    (1, ("액량 온스", "밀리리터"), ("fl oz", "ml")),
    (100, ("시속 킬로미터", "마일 매 시"), ("km/h", "mph")),
    (10, ("미터/초", "킬로미터/시"), ("m/s", "km/h")),
    (20, ("노트", "킬로미터 매 시간"), ("kn", "km/h")),
    (100, ("섭씨", "화씨"), ("celsius", "fahrenheit")),
    (98.6, ("화씨", "섭씨"), ("F", "C")),
    (0, ("섭씨 온도", "켈빈"), ("°C", "K")),
])
def test_each_korean_unit_converts_like_its_english_name(value: float, korean: tuple[str, str],
                                                         english: tuple[str, str]) -> None:
    assert convert(value, *korean) == convert(value, *english)
    assert not convert(value, *korean).startswith("error")


def test_the_marathon_in_miles() -> None:
    assert convert(42.195, "킬로미터", "마일") == "42.195 km = 26.2188 mi"
    assert convert(1, "마라톤", "마일") == "1 marathon = 26.2188 mi"


@pytest.mark.parametrize("src, dst", [
    ("킬로미터를", "마일로"), ("킬로미터에서", "마일으로"), ("킬로미터 단위", "마일 단위"), ("㎞", "마일"), ("ｋｍ", "mi"),
    (" 킬로미터 ", "마일?"),
])
def test_unit_particles_and_forms(src: str, dst: str) -> None:
    assert convert(42.195, src, dst) == "42.195 km = 26.2188 mi"


def test_symbols_from_korean_keyboards() -> None:
    assert convert(100, "℃", "℉") == convert(100, "C", "F") == "100 °C = 212 °F"


@pytest.mark.parametrize("korean, english", [("평", "acre"), ("킬로", "parsec"), ("마일리지", "mileage")])
def test_an_unknown_korean_unit_is_refused_like_an_english_one(korean: str, english: str) -> None:
    """"킬로" alone could be km or kg, so it is not guessed."""
    assert convert(1, korean, "미터") == f"error: unknown unit {korean!r}"
    assert convert(1, english, "m") == f"error: unknown unit {english!r}"


def test_korean_units_of_different_kinds_are_refused_like_english_ones() -> None:
    assert convert(1, "킬로미터", "킬로그램") == convert(1, "km", "kg") == "error: cannot convert length (km) to mass (kg)"
    assert convert(1, "섭씨", "마일") == "error: cannot convert between '섭씨' and '마일'"


# --- get_weather ------------------------------------------------------------------------------------


@pytest.mark.parametrize("korean, english", [
    ("도쿄", "Tokyo"), ("뉴욕", "New York"), ("런던시", "London"), ("스톡홀름의", "Stockholm"),
    ("파리, 프랑스", "Paris, France"), ("파리, 미국", "Paris, United States"), ("도쿄, 일본", "Tokyo, Japan"),
    ("Paris, 미국", "Paris, United States"),
])
def test_weather_for_a_korean_place_is_the_weather_for_its_english_name(stub: StubServer, korean: str,
                                                                        english: str) -> None:
    config = stub.tool_config()
    in_english = run("get_weather", {"city": english}, config)
    stub.clear()
    in_korean = run("get_weather", {"city": korean}, config)
    assert in_korean.ok and in_korean.content == in_english.content
    (geo,) = stub.requests_to("geocoding")
    assert geo.query["name"] == english.split(",")[0]


def test_weather_for_seoul_asks_the_geocoder_for_seoul(stub: StubServer) -> None:
    stub.script("geocoding", json={"results": [SEOUL], "generationtime_ms": 0.4})
    result = run("get_weather", {"location": "서울"}, stub.tool_config())
    assert result.ok and result.content.startswith("Seoul, South Korea: ")
    (geo,) = stub.requests_to("geocoding")
    assert geo.query["name"] == "Seoul" and geo.query["language"] == "en"
    (forecast,) = stub.requests_to("forecast")
    assert (forecast.query["latitude"], forecast.query["longitude"]) == ("37.5660", "126.9784")


def test_weather_unit_in_korean(stub: StubServer) -> None:
    config = stub.tool_config()
    assert run("get_weather", {"city": "도쿄", "unit": "화씨"}, config).content == \
        run("get_weather", {"city": "Tokyo", "unit": "fahrenheit"}, config).content
    assert stub.requests_to("forecast")[0].query["temperature_unit"] == "fahrenheit"
    assert run("get_weather", {"city": "도쿄", "unit": "섭씨"}, config).content.startswith("Tokyo, Japan: 12.1 °C")
    refused = run("get_weather", {"city": "도쿄", "unit": "켈빈"}, config)
    assert refused.content == "error: argument 'unit' for get_weather must be one of celsius, fahrenheit"


def test_weather_for_an_unknown_korean_place_is_refused_like_an_english_one(stub: StubServer) -> None:
    result = run("get_weather", {"city": "아틀란티스"}, stub.tool_config())
    assert not result.ok
    assert result.content == ("error: no place called '아틀란티스' was found; try the city's English name, "
                              "e.g. 'Stockholm'")
    assert result.content == run("get_weather", {"city": "Atlantis"}, stub.tool_config()).content.replace(
        "Atlantis", "아틀란티스")
    assert stub.requests_to("geocoding")[0].query["name"] == "아틀란티스", "an unknown name is passed on as asked"


# --- the tool loop, end to end ------------------------------------------------------------------------


def test_the_model_asking_for_seoul_in_korean_gets_seoul_s_weather(double: ApiDouble, settings,
                                                                   stub: StubServer) -> None:
    stub.script("geocoding", json={"results": [SEOUL]})

    def answer(body: dict) -> Reply:
        (tool_msg,) = [m for m in body["messages"] if m["role"] == "tool"]
        assert tool_msg["content"].startswith("Seoul, South Korea: ")
        return Reply(text="서울은 지금 맑습니다.")

    double.queue(Reply(text=json.dumps({"name": "get_weather", "parameters": {"location": "서울"}},
                                       ensure_ascii=False)))
    double.responder = answer
    events = list(run_turn(settings, "meta/Meta-Llama-3.1-405B-Instruct", [], "서울 날씨", ["get_weather"],
                           stub.tool_config(timeout_s=3), today=dt.date(2026, 11, 26)))
    assert isinstance(events[-1], Done)
    turn = events[-1].turn
    assert turn.error is None and turn.answer == "서울은 지금 맑습니다."
    (step,) = turn.steps
    assert step.call.name == "get_weather" and step.call.arguments == {"location": "서울"}
    assert step.result.ok and step.result.content.startswith("Seoul, South Korea: ")
    assert stub.requests_to("geocoding")[0].query["name"] == "Seoul"
