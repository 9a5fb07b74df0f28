"""Tools registry, configuration and the offline tools (local time, unit conversion, maths planning)."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib import tools
from lib.tools import TOOLS, ToolConfig, ToolResult, meta_definitions, run, status
from lib.tools import local_time, math_fallback

OFFLINE = ToolConfig()


# --- registry ---------------------------------------------------------------------------------------


def test_registry_lists_builtins_first_then_custom_tools() -> None:
    assert list(TOOLS)[:5] == ["brave_search", "wolfram_alpha", "code_interpreter", "get_weather", "get_local_time"]
    assert [n for n, s in TOOLS.items() if s.builtin] == ["brave_search", "wolfram_alpha", "code_interpreter"]
    assert TOOLS["brave_search"].title == "Web search (Brave)"
    assert TOOLS["get_weather"].online and not TOOLS["get_local_time"].online


@pytest.mark.parametrize("name", list(TOOLS))
def test_every_tool_has_a_usable_json_schema(name: str) -> None:
    spec = TOOLS[name]
    assert spec.name == name
    assert spec.description and "\n" not in spec.description
    params = spec.parameters
    assert params["type"] == "object"
    assert params["required"], "every tool needs at least one argument"
    assert set(params["required"]) <= set(params["properties"])
    for prop in params["properties"].values():
        assert prop["type"] in {"string", "number", "integer", "boolean"}
        assert prop["description"]
    json.dumps(params)


def test_meta_definitions_describe_only_the_custom_tools_in_meta_format() -> None:
    defs = meta_definitions(["brave_search", "get_weather", "code_interpreter", "get_local_time", "nope",
                             "get_weather"])
    assert [d["function"]["name"] for d in defs] == ["get_weather", "get_local_time"]
    for d in defs:
        assert d["type"] == "function"
        assert set(d["function"]) == {"name", "description", "parameters"}
        assert d["function"]["parameters"]["type"] == "object"
    assert json.loads(json.dumps(defs)) == defs
    defs[0]["function"]["parameters"]["properties"].clear()  # callers cannot damage the registry
    assert TOOLS["get_weather"].parameters["properties"]


def test_meta_definitions_of_builtins_only_is_empty() -> None:
    assert meta_definitions(["brave_search", "wolfram_alpha", "code_interpreter"]) == []


def test_status_notes_tell_the_user_what_each_tool_will_do() -> None:
    keyed = ToolConfig(brave_api_key="k" * 20, wolfram_app_id="APP-1", allow_code_interpreter=True)
    assert status("brave_search", keyed).note == "Brave API key found"
    assert not status("brave_search", keyed).uses_fallback
    plain = status("brave_search", OFFLINE)
    assert plain.available and plain.uses_fallback
    assert plain.note == "No BRAVE_API_KEY: searches Wikipedia instead"
    assert "SymPy" in status("wolfram_alpha", OFFLINE).note and status("wolfram_alpha", OFFLINE).uses_fallback
    assert "App ID found" in status("wolfram_alpha", keyed).note
    off = status("code_interpreter", OFFLINE)
    assert not off.available
    assert off.note == "Disabled: set ALLOW_CODE_INTERPRETER=1 to let the model run Python in a sandbox"
    assert status("code_interpreter", keyed).available
    assert status("get_weather", OFFLINE).available and status("get_local_time", OFFLINE).available
    assert not status("teleport", OFFLINE).available
    for name in TOOLS:  # no note ever shows a key
        assert "k" * 20 not in status(name, keyed).note and "APP-1" not in status(name, keyed).note


# --- configuration ----------------------------------------------------------------------------------


def test_config_from_lookup_reads_every_documented_key() -> None:
    env = {
        "BRAVE_API_KEY": "brave-secret", "BRAVE_SEARCH_URL": "http://127.0.0.1:1/b",
        "WOLFRAM_ALPHA_APP_ID": "WA-SECRET", "WOLFRAM_ALPHA_URL": "http://127.0.0.1:1/w",
        "OPEN_METEO_GEOCODING_URL": "http://127.0.0.1:1/g", "OPEN_METEO_FORECAST_URL": "http://127.0.0.1:1/f",
        "WIKIPEDIA_SEARCH_URL": "http://127.0.0.1:1/wiki", "ALLOW_CODE_INTERPRETER": "Yes", "TOOL_TIMEOUT_S": "2.5",
    }
    config = ToolConfig.from_lookup(env.get)
    assert config == ToolConfig(
        brave_api_key="brave-secret", brave_search_url="http://127.0.0.1:1/b", wolfram_app_id="WA-SECRET",
        wolfram_url="http://127.0.0.1:1/w", open_meteo_geocoding_url="http://127.0.0.1:1/g",
        open_meteo_forecast_url="http://127.0.0.1:1/f", wikipedia_search_url="http://127.0.0.1:1/wiki",
        allow_code_interpreter=True, timeout_s=2.5,
    )
    assert "brave-secret" not in repr(config) and "WA-SECRET" not in repr(config)


@pytest.mark.parametrize("raw, allowed", [("1", True), ("true", True), ("ON", True), ("yes", True),
                                          ("0", False), ("no", False), ("", False), (None, False)])
def test_code_interpreter_switch_values(raw: str | None, allowed: bool) -> None:
    assert ToolConfig.from_lookup({"ALLOW_CODE_INTERPRETER": raw}.get).allow_code_interpreter is allowed


def test_config_defaults_for_blank_or_broken_values() -> None:
    config = ToolConfig.from_lookup({"BRAVE_API_KEY": "  ", "TOOL_TIMEOUT_S": "soon", "BRAVE_SEARCH_URL": ""}.get)
    assert config == ToolConfig()

    def broken(key: str) -> str | None:
        raise RuntimeError("secrets file unreadable")

    assert ToolConfig.from_lookup(broken) == ToolConfig()


# --- run(): contract -------------------------------------------------------------------------------


def test_unknown_tool_tells_the_model_which_tools_exist() -> None:
    result = run("foo", {"x": 1}, OFFLINE, enabled=["brave_search", "get_weather"])
    assert isinstance(result, ToolResult)
    assert not result.ok
    assert "Unknown tool 'foo'. Available tools: brave_search, get_weather" in result.content
    assert result.name == "foo" and result.arguments == {"x": 1}


def test_a_tool_not_offered_to_the_model_is_refused() -> None:
    result = run("get_local_time", {"city_or_timezone": "Tokyo"}, OFFLINE, enabled=["get_weather"])
    assert not result.ok and "Unknown tool 'get_local_time'" in result.content


def test_missing_argument_is_named() -> None:
    result = run("get_weather", {}, OFFLINE)
    assert not result.ok
    assert "missing required argument 'city'" in result.content
    result = run("convert_units", {"value": 3, "from_unit": "km"}, OFFLINE)
    assert "'to_unit'" in result.content and not result.ok


@pytest.mark.parametrize("arguments", [None, "Stockholm", ["Stockholm"], 42])
def test_arguments_that_are_not_an_object_give_a_clear_error(arguments: object) -> None:
    result = run("get_local_time", arguments, OFFLINE)  # type: ignore[arg-type]
    assert not result.ok and result.content.startswith("error:")


def test_wrong_argument_types_are_reported() -> None:
    result = run("convert_units", {"value": "lots", "from_unit": "km", "to_unit": "mi"}, OFFLINE)
    assert not result.ok and "'value'" in result.content and "number" in result.content
    result = run("get_local_time", {"city_or_timezone": {"name": "Oslo"}}, OFFLINE)
    assert not result.ok and "must be a string" in result.content


def test_common_argument_aliases_are_accepted() -> None:
    assert run("get_local_time", {"timezone": "Asia/Tokyo"}, OFFLINE).ok
    assert run("convert_units", {"value": 1, "from": "mi", "to": "km"}, OFFLINE).content == "1 mi = 1.60934 km"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["get_local_time", "convert_units", "code_interpreter", "nope", ""]),
    arguments=st.dictionaries(
        st.sampled_from(["city_or_timezone", "value", "from_unit", "to_unit", "code", "city", "zzz"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                  st.lists(st.integers(), max_size=3)),
        max_size=4,
    ),
)
def test_run_never_raises_on_arbitrary_arguments(name: str, arguments: dict) -> None:
    result = run(name, arguments, OFFLINE)
    assert isinstance(result, ToolResult)
    assert result.ok or result.content.startswith("error:")
    assert len(result.content) <= OFFLINE.max_result_chars


# --- get_local_time ---------------------------------------------------------------------------------

FIXED = dt.datetime(2026, 11, 26, 16, 5, tzinfo=dt.timezone.utc)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_time, "_now", lambda: FIXED)


def test_local_time_for_a_city(frozen_clock: None) -> None:
    result = run("get_local_time", {"city_or_timezone": "Stockholm"}, OFFLINE)
    assert result.ok and result.source == "local clock" and not result.fallback and result.url is None
    assert result.content == "Stockholm: Thursday 26 November 2026, 17:05 (CET, UTC+01:00)"


@pytest.mark.parametrize(
    "place, expected",
    [
        ("Europe/Stockholm", "Europe/Stockholm: Thursday 26 November 2026, 17:05 (CET, UTC+01:00)"),
        ("america/new_york", "America/New_York: Thursday 26 November 2026, 11:05 (EST, UTC-05:00)"),
        ("new york", "New York: Thursday 26 November 2026, 11:05 (EST, UTC-05:00)"),
        ("Mumbai", "Mumbai: Thursday 26 November 2026, 21:35 (IST, UTC+05:30)"),
        ("Tokyo, Japan", "Tokyo: Friday 27 November 2026, 01:05 (JST, UTC+09:00)"),
        ("Kathmandu", "Kathmandu: Thursday 26 November 2026, 21:50 (UTC+05:45)"),
        ("UTC", "UTC: Thursday 26 November 2026, 16:05 (UTC+00:00)"),
        ("UTC-3", "UTC-3: Thursday 26 November 2026, 13:05 (UTC-03:00)"),
    ],
)
def test_local_time_accepts_zones_cities_and_offsets(frozen_clock: None, place: str, expected: str) -> None:
    result = run("get_local_time", {"city_or_timezone": place}, OFFLINE)
    assert result.ok, result.content
    assert result.content == expected


def test_local_time_follows_daylight_saving(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_time, "_now", lambda: dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.timezone.utc))
    content = run("get_local_time", {"city_or_timezone": "Stockholm"}, OFFLINE).content
    assert content == "Stockholm: Wednesday 1 July 2026, 14:00 (CEST, UTC+02:00)"


def test_local_time_unknown_place_explains_how_to_ask() -> None:
    result = run("get_local_time", {"city_or_timezone": "Atlantis"}, OFFLINE)
    assert not result.ok
    assert "'Atlantis'" in result.content and "Europe/Stockholm" in result.content


def test_local_time_uses_the_real_clock_by_default() -> None:
    before = dt.datetime.now(dt.timezone.utc)
    content = run("get_local_time", {"city_or_timezone": "UTC"}, OFFLINE).content
    assert f"{before:%H:%M}" in content or f"{before + dt.timedelta(minutes=1):%H:%M}" in content


# --- convert_units ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, src, dst, expected",
    [
        (10, "km", "mi", "10 km = 6.21371 mi"),
        (100, "fahrenheit", "celsius", "100 °F = 37.7778 °C"),
        (0, "C", "K", "0 °C = 273.15 K"),
        (5, "pounds", "kg", "5 lb = 2.26796 kg"),
        ("2.5", "l", "cups", "2.5 l = 10.5669 cup"),
        (100, "km/h", "mph", "100 km/h = 62.1371 mph"),
    ],
)
def test_convert_units(value: object, src: str, dst: str, expected: str) -> None:
    result = run("convert_units", {"value": value, "from_unit": src, "to_unit": dst}, OFFLINE)
    assert result.ok and result.content == expected


@pytest.mark.parametrize(
    "src, dst, fragment",
    [("km", "kg", "cannot convert length"), ("parsec", "km", "unknown unit 'parsec'"),
     ("C", "km", "cannot convert between")],
)
def test_convert_units_refuses_nonsense(src: str, dst: str, fragment: str) -> None:
    result = run("convert_units", {"value": 1, "from_unit": src, "to_unit": dst}, OFFLINE)
    assert not result.ok and fragment in result.content


def test_convert_units_refuses_below_absolute_zero() -> None:
    result = run("convert_units", {"value": -500, "from_unit": "C", "to_unit": "F"}, OFFLINE)
    assert not result.ok and "absolute zero" in result.content


# --- size cap -----------------------------------------------------------------------------------------


def test_content_is_capped_with_a_truncation_marker() -> None:
    assert tools.base.cap("x" * 50, 100) == "x" * 50
    capped = tools.base.cap("y" * 5000, 120)
    assert len(capped) == 120 and capped.endswith("[truncated]") and capped.startswith("y")


# --- maths fallback planning (parent side, no SymPy) ---------------------------------------------------


@pytest.mark.parametrize(
    "query, op, expr",
    [
        ("integral of x^2 sin x", "integral", "x^2 sin(x)"),
        ("integrate x^2*sin(x) dx", "integral", "x^2*sin(x)"),
        ("∫ x^2 sin x dx", "integral", "x^2 sin(x)"),
        ("integral from 0 to 1 of x^2 dx", "integral", "x^2"),
        ("derivative of x^3 + 2x", "derivative", "x^3 + 2x"),
        ("d/dx sin(x)^2", "derivative", "sin(x)^2"),
        ("solve x^2 - 4 = 0", "solve", "x^2 - 4 = 0"),
        ("limit of sin(x)/x as x -> 0", "limit", "sin(x)/x"),
        ("What is 2^100?", "evaluate", "2^100"),
        ("sqrt(2)*3", "evaluate", "sqrt(2)*3"),
        ("factor x^2 - 1", "factor", "x^2 - 1"),
    ],
)
def test_maths_questions_are_recognised(query: str, op: str, expr: str) -> None:
    plan = math_fallback.plan(query)
    assert plan is not None and plan.op == op and plan.expr == expr


@pytest.mark.parametrize(
    "query",
    ["population of France", "who won the 2022 world cup", "what is love", "x",
     "__import__('os').system('id')", "x.__class__", "().__class__.__bases__", "[1, 2] * 3",
     "lambda x: x", "open('/etc/passwd')", "exec(1)", "eval 2+2", "getattr(x, 1)", "2 + 2; import os"],
)
def test_non_maths_and_code_are_not_treated_as_maths(query: str) -> None:
    assert math_fallback.plan(query) is None


_ACCEPTED = re.compile(r"^[a-z0-9+\-*/^().,!= ]+$")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80) |
       st.text(alphabet="abcxyz_().[]'\"=+-*/^ 0123456789sinqrtd", max_size=60))
def test_plan_never_raises_and_only_passes_whitelisted_text(query: str) -> None:
    plan = math_fallback.plan(query)
    if plan is not None:
        for part in (plan.expr, plan.lower or "0", plan.upper or "0"):
            assert _ACCEPTED.match(part), part
            assert "__" not in part and "'" not in part and "[" not in part
            for word in re.findall(r"[a-z]+", part):
                assert len(word) == 1 or word in math_fallback.FUNCTIONS | math_fallback.CONSTANTS, word


# --- failures, as the tool loop reads them (issue 20) ---------------------------------------------------------------
# The tool loop ends a turn when a tool fails the same way twice, telling the presenter why: it reads the kind of
# failure from the message the model receives. Each tool's real failure messages must map to the right kind.


@pytest.fixture
def stub():
    from tests.stubs import StubServer

    with StubServer() as s:
        yield s


def _closed_url(path: str) -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@pytest.mark.parametrize("route, script, kind", [
    ("brave", {"status": 401, "body": "{}"}, "key"),
    ("brave", {"status": 429, "body": "{}", "headers": {"Retry-After": "60"}}, "quota"),
    ("brave", {"status": 500, "body": "{}"}, "server"),
    ("brave", {"status": 404, "body": "{}"}, "address"),
    ("brave", {"malformed": True}, "garbled"),
    ("brave", {"delay": 2.0}, "slow"),
    ("wolfram", {"status": 403, "body": ""}, "key"),
    ("wolfram", {"status": 501, "body": "Wolfram|Alpha did not understand your input"}, "input"),
])
def test_each_http_failure_is_a_kind_the_tool_loop_can_explain(stub, route: str, script: dict, kind: str) -> None:
    from lib.tool_calling.loop import ENVIRONMENT_FAILURES, failure_kind

    stub.script(route, **script)
    name, args = ("brave_search", {"query": "llamas"}) if route == "brave" else ("wolfram_alpha", {"query": "2+2"})
    result = run(name, args, stub.tool_config(timeout_s=1.0))
    assert not result.ok
    assert failure_kind(result) == kind, result.content
    assert (kind in ENVIRONMENT_FAILURES) == (kind != "input")


def test_offline_failures_and_the_apps_own_refusals_have_their_kinds(stub) -> None:
    from lib.tool_calling.loop import failure_kind

    cases = [
        (run("brave_search", {"query": "llamas"}, stub.tool_config(brave_search_url=_closed_url("/s"))), "offline"),
        (run("get_weather", {"city": "Stockholm"},
             stub.tool_config(open_meteo_geocoding_url=_closed_url("/v1/search"))), "offline"),
        (run("get_weather", {"city": "Atlantis"}, stub.tool_config()), "input"),
        (run("get_local_time", {"city_or_timezone": "Nowhere Land"}, OFFLINE), "input"),
        (run("convert_units", {"value": 1, "from_unit": "km", "to_unit": "kg"}, OFFLINE), "input"),
        (run("code_interpreter", {"code": "print(1)"}, OFFLINE), "switched_off"),
        (run("launch_rockets", {}, OFFLINE), "unknown_tool"),
        (run("brave_search", {}, OFFLINE), "arguments"),
        (run("wolfram_alpha", {"query": "who is the pope"}, OFFLINE), "no_fallback"),
    ]
    for result, kind in cases:
        assert not result.ok
        assert failure_kind(result) == kind, result.content
    assert failure_kind(run("convert_units", {"value": 1, "from_unit": "km", "to_unit": "mi"}, OFFLINE)) is None
