"""The online tools against the local STUB server (tests/stubs.py): results, fallbacks and every failure."""
from __future__ import annotations

import socket
from typing import Iterator

import pytest

from lib.tools import ToolResult, run
from tests.stubs import STUB_BRAVE_KEY, STUB_WOLFRAM_APP_ID, StubServer, tool_config

SECRETS = (STUB_BRAVE_KEY, STUB_WOLFRAM_APP_ID)


@pytest.fixture(scope="module")
def _server() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def stub(_server: StubServer) -> Iterator[StubServer]:
    _server.clear()
    yield _server
    _server.clear()


def assert_no_secrets(result: ToolResult) -> None:
    for secret in SECRETS:
        assert secret not in result.content
        assert secret not in (result.url or "")
        assert secret not in repr(result)


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# --- brave_search -------------------------------------------------------------------------------------


def test_brave_search_lists_numbered_results_as_plain_text(stub: StubServer) -> None:
    result = run("brave_search", {"query": "Llama 3.1 tool calling"}, stub.tool_config())
    assert result.ok and result.source == "Brave Search API" and not result.fallback
    lines = result.content.splitlines()
    assert lines[0] == ("1. Introducing Llama 3.1: Our most capable models to date — "
                        "https://ai.meta.com/blog/meta-llama-3-1/")
    assert lines[1].startswith("   Meta Llama 3.1 405B is the first openly available model")
    assert "<strong>" not in result.content and "&amp;" not in result.content
    assert "Model Cards & Prompt formats | Llama" in result.content
    assert "5. " in result.content and "6. " not in result.content
    (request,) = stub.requests_to("brave")
    assert request.query == {"q": "Llama 3.1 tool calling", "count": "5"}
    assert request.headers["X-Subscription-Token"] == STUB_BRAVE_KEY
    assert result.url == stub.route_url("brave") + "?q=Llama+3.1+tool+calling&count=5"
    assert_no_secrets(result)


def test_special_tokens_inside_results_cannot_pass_as_llama_tokens(stub: StubServer) -> None:
    content = run("brave_search", {"query": "llama prompt format"}, stub.tool_config()).content
    assert "python_tag" in content and "<|python_tag|>" not in content


def test_brave_without_a_key_searches_wikipedia_instead(stub: StubServer) -> None:
    result = run("brave_search", {"query": "llama"}, stub.tool_config(brave_api_key=None))
    assert result.ok and result.fallback and result.source == "Wikipedia search (fallback)"
    assert "1. Llama — " + stub.url + "/wiki/Llama" in result.content
    assert "2. Llama (language model) — " + stub.url + "/wiki/Llama_(language_model)" in result.content
    assert "searchmatch" not in result.content and "<span" not in result.content
    assert stub.requests_to("brave") == []
    (request,) = stub.requests_to("wikipedia")
    assert request.query == {"q": "llama", "limit": "5"}
    assert "X-Subscription-Token" not in request.headers
    assert request.headers["User-Agent"].startswith("LlamaHerdStudio/")
    assert result.url == stub.route_url("wikipedia") + "?q=llama&limit=5"


def test_wikipedia_links_point_at_the_real_wikipedia_by_default() -> None:
    from lib.tools.brave_search import _article_base

    assert _article_base("https://en.wikipedia.org/w/rest.php/v1/search/page") == "https://en.wikipedia.org/wiki/"
    assert _article_base("https://de.wikipedia.org/w/rest.php/v1/search/page") == "https://de.wikipedia.org/wiki/"


def test_wikipedia_fallback_with_no_matches(stub: StubServer) -> None:
    result = run("brave_search", {"query": "zzzqqq"}, stub.tool_config(brave_api_key=None))
    assert result.ok and result.content == "No Wikipedia articles match 'zzzqqq'."


def test_brave_with_a_wrong_key_says_the_key_was_rejected(stub: StubServer) -> None:
    result = run("brave_search", {"query": "llama"}, stub.tool_config(brave_api_key="wrong-key-123"))
    assert not result.ok
    assert result.content == "error: Brave Search rejected the API key (401)"
    assert "wrong-key-123" not in result.content + (result.url or "")


@pytest.mark.parametrize(
    "status, body, headers, expected",
    [
        (403, '{"type":"ErrorResponse"}', {}, "error: Brave Search rejected the API key (403)"),
        (422, '{"error":{"code":"SUBSCRIPTION_TOKEN_INVALID"}}', {}, "error: Brave Search rejected the API key (422)"),
        (429, '{"error":{"code":"RATE_LIMITED"}}', {"Retry-After": "1"},
         "error: Brave Search rate limit reached (429): the plan's quota is used up, try again later"),
        (500, "Internal Server Error", {}, "error: Brave Search server error (500)"),
        (503, "", {}, "error: Brave Search server error (503)"),
        (200, '{"web": {"results": [ {"title": "cut', {}, "error: Brave Search returned malformed JSON"),
        (200, '{"type": "ErrorResponse"}', {}, "error: Brave Search returned an unexpected response (no web.results)"),
        (200, '[1, 2, 3]', {}, "error: Brave Search returned an unexpected response (no web.results)"),
    ],
)
def test_brave_failures_become_short_errors(stub: StubServer, status: int, body: str, headers: dict,
                                            expected: str) -> None:
    stub.script("brave", status=status, body=body, headers=headers)
    result = run("brave_search", {"query": "llama"}, stub.tool_config())
    assert not result.ok
    assert result.content == expected
    assert result.source == "Brave Search API"
    assert "Traceback" not in result.content
    assert_no_secrets(result)


def test_brave_with_no_results(stub: StubServer) -> None:
    stub.script("brave", json={"type": "search", "query": {"original": "q"}, "web": {"type": "search", "results": []}})
    result = run("brave_search", {"query": "qwzx"}, stub.tool_config())
    assert result.ok and result.content == "No web results for 'qwzx'."


def test_slow_api_times_out_within_the_configured_budget(stub: StubServer) -> None:
    stub.script("brave", delay=2.0)
    result = run("brave_search", {"query": "llama"}, stub.tool_config(timeout_s=0.5))
    assert not result.ok
    assert result.content == "error: Brave Search did not answer within 0.5 s"
    assert result.elapsed_s < 1.2  # not the 2 s the server takes
    assert_no_secrets(result)


def test_connection_refused_is_a_clear_error(closed_port: int) -> None:
    config = tool_config(f"http://127.0.0.1:{closed_port}", timeout_s=2)
    for name, args in [("brave_search", {"query": "x"}), ("wolfram_alpha", {"query": "population of France"}),
                       ("get_weather", {"city": "Stockholm"})]:
        result = run(name, args, config)
        assert not result.ok
        assert result.content.startswith("error: could not connect to ")
        assert f"127.0.0.1:{closed_port}" in result.content
        assert_no_secrets(result)


def test_wikipedia_fallback_errors_are_reported_as_fallback(stub: StubServer) -> None:
    stub.script("wikipedia", status=429, body="Too many requests", headers={"Retry-After": "30"})
    result = run("brave_search", {"query": "llama"}, stub.tool_config(brave_api_key=None))
    assert not result.ok and result.fallback and result.source == "Wikipedia search (fallback)"
    assert result.content == "error: Wikipedia search rate limit reached (429), retry after 30 s"
    stub.clear()
    stub.script("wikipedia", malformed=True)
    result = run("brave_search", {"query": "llama"}, stub.tool_config(brave_api_key=None))
    assert result.content == "error: Wikipedia search returned malformed JSON"


# --- wolfram_alpha -------------------------------------------------------------------------------------


def test_wolfram_returns_the_llm_api_text(stub: StubServer) -> None:
    result = run("wolfram_alpha", {"query": "population of France"}, stub.tool_config())
    assert result.ok and result.source == "Wolfram|Alpha LLM API" and not result.fallback
    assert "68.4 million people" in result.content
    (request,) = stub.requests_to("wolfram")
    assert request.query == {"input": "population of France", "appid": STUB_WOLFRAM_APP_ID, "maxchars": "2000"}
    assert result.url == stub.route_url("wolfram") + "?input=population+of+France&maxchars=2000"
    assert_no_secrets(result)


def test_wolfram_bad_app_id(stub: StubServer) -> None:
    result = run("wolfram_alpha", {"query": "population of France"}, stub.tool_config(wolfram_app_id="NOPE-1"))
    assert not result.ok
    assert result.content == "error: Wolfram|Alpha rejected the AppID (403): check WOLFRAM_ALPHA_APP_ID"
    assert "NOPE-1" not in result.content + (result.url or "")


def test_wolfram_did_not_understand(stub: StubServer) -> None:
    stub.script("wolfram", status=501, body="Wolfram|Alpha did not understand your input", content_type="text/plain")
    result = run("wolfram_alpha", {"query": "blorf the snark"}, stub.tool_config())
    assert not result.ok
    assert result.content.startswith("error: Wolfram|Alpha did not understand the input")


def test_an_api_echoing_the_key_in_an_error_body_does_not_leak_it(stub: StubServer) -> None:
    stub.script("wolfram", status=501, body=f"Error 1: Invalid appid {STUB_WOLFRAM_APP_ID}")
    result = run("wolfram_alpha", {"query": "population of France"}, stub.tool_config())
    assert not result.ok and "***" in result.content
    assert_no_secrets(result)


@pytest.mark.parametrize(
    "script, expected",
    [
        ({"status": 429, "body": "slow down"}, "error: Wolfram|Alpha rate limit reached (429), try again later"),
        ({"status": 502, "body": "bad gateway"}, "error: Wolfram|Alpha server error (502)"),
        ({"status": 200, "body": "   "}, "error: Wolfram|Alpha returned an empty answer"),
        ({"delay": 2.0}, "error: Wolfram|Alpha did not answer within 0.5 s"),
    ],
)
def test_wolfram_failures(stub: StubServer, script: dict, expected: str) -> None:
    stub.script("wolfram", **script)
    result = run("wolfram_alpha", {"query": "population of France"}, stub.tool_config(timeout_s=0.5))
    assert not result.ok and result.content == expected
    assert_no_secrets(result)


# --- get_weather ---------------------------------------------------------------------------------------


def test_weather_for_stockholm(stub: StubServer) -> None:
    result = run("get_weather", {"city": "Stockholm"}, stub.tool_config())
    assert result.ok and result.source == "Open-Meteo" and not result.fallback
    assert result.content == "Stockholm, Sweden: 3.2 °C, overcast, wind 14 km/h (Open-Meteo, 2026-11-26T16:00)"
    (geo,) = stub.requests_to("geocoding")
    assert geo.query["name"] == "Stockholm" and geo.query["count"] == "1"
    (forecast,) = stub.requests_to("forecast")
    assert forecast.query["current"] == "temperature_2m,weather_code,wind_speed_10m"
    assert (forecast.query["latitude"], forecast.query["longitude"]) == ("59.3294", "18.0687")
    assert result.url and result.url.startswith(stub.route_url("forecast"))


def test_weather_picks_the_place_the_user_qualified(stub: StubServer) -> None:
    result = run("get_weather", {"city": "Paris, Texas", "unit": "fahrenheit"}, stub.tool_config())
    assert result.ok
    assert result.content == ("Paris, Texas, United States: 58.8 °F, mainly clear, wind 10 km/h "
                              "(Open-Meteo, 2026-11-26T09:00)")
    assert stub.requests_to("forecast")[0].query["temperature_unit"] == "fahrenheit"
    assert run("get_weather", {"city": "Paris, France"}, stub.tool_config()).content.startswith(
        "Paris, Île-de-France, France: 8.4 °C, slight rain")


def test_weather_for_an_unknown_city(stub: StubServer) -> None:
    result = run("get_weather", {"city": "Atlantis"}, stub.tool_config())
    assert not result.ok
    assert result.content == "error: no place called 'Atlantis' was found; try the city's English name, e.g. 'Stockholm'"
    assert stub.requests_to("forecast") == []


@pytest.mark.parametrize(
    "route, script, expected",
    [
        ("geocoding", {"malformed": True}, "error: Open-Meteo geocoding returned malformed JSON"),
        ("geocoding", {"status": 503, "body": "down"}, "error: Open-Meteo geocoding server error (503)"),
        ("forecast", {"status": 400, "json": {"error": True, "reason": "Cannot initialize WeatherVariable"}},
         "error: Open-Meteo forecast returned HTTP 400"),
        ("forecast", {"json": {"latitude": 59.3, "hourly": {}}},
         "error: Open-Meteo forecast returned an unexpected response (no current weather)"),
        ("forecast", {"delay": 2.0}, "error: Open-Meteo forecast did not answer within 0.5 s"),
    ],
)
def test_weather_failures(stub: StubServer, route: str, script: dict, expected: str) -> None:
    stub.script(route, **script)
    result = run("get_weather", {"city": "Stockholm"}, stub.tool_config(timeout_s=0.5))
    assert not result.ok and result.content == expected


def test_weather_codes_become_words() -> None:
    from lib.tools.weather import describe_code

    assert [describe_code(c) for c in (0, 3, 45, 63, 75, 95, 99)] == [
        "clear sky", "overcast", "fog", "moderate rain", "heavy snowfall", "thunderstorm",
        "thunderstorm with heavy hail"]
    assert describe_code(42) == "weather code 42" and describe_code(None) == "unknown conditions"


# --- cross-cutting -------------------------------------------------------------------------------------


def test_results_are_capped_for_the_model(stub: StubServer) -> None:
    result = run("brave_search", {"query": "llama"}, stub.tool_config(max_result_chars=200))
    assert result.ok
    assert len(result.content) <= 200
    assert result.content.endswith("[truncated]")
    assert result.content.startswith("1. ")


def test_status_notes_say_when_a_tool_talks_to_a_custom_endpoint(stub: StubServer) -> None:
    from lib.tools import status

    host = stub.url.removeprefix("http://")
    assert status("brave_search", stub.tool_config()).note == f"Brave API key found (custom endpoint {host})"
    assert status("brave_search", stub.tool_config(brave_api_key=None)).note == (
        f"No BRAVE_API_KEY: searches Wikipedia instead (custom endpoint {host})")
    assert status("wolfram_alpha", stub.tool_config()).note.endswith(f"(custom endpoint {host})")
    assert status("get_weather", stub.tool_config()).note.endswith(f"(custom endpoint {host})")


def test_the_stub_serves_article_links_and_can_be_pointed_at_by_env(stub: StubServer) -> None:
    import requests

    response = requests.get(stub.url + "/wiki/Llama_(language_model)", timeout=2)
    assert response.status_code == 200 and "STUB" in response.text
    env = stub.env()
    assert env["BRAVE_SEARCH_URL"] == stub.url + "/res/v1/web/search"
    from lib.tools import ToolConfig

    assert ToolConfig.from_lookup(env.get) == stub.tool_config(timeout_s=10.0)
