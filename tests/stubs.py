"""# STUB — a local test double for the tools' web APIs. Never the real services; canned data only.

One HTTP server on 127.0.0.1 imitating, with the request/response shapes in shared/FACTS.md:

| route       | path                          | imitates                                           |
|-------------|-------------------------------|----------------------------------------------------|
| `brave`     | `/res/v1/web/search`          | Brave Search web search (JSON, X-Subscription-Token) |
| `wolfram`   | `/api/v1/llm-api`             | Wolfram|Alpha LLM API (plain text, appid)          |
| `geocoding` | `/v1/search`                  | Open-Meteo geocoding                               |
| `forecast`  | `/v1/forecast`                | Open-Meteo forecast (current weather)              |
| `wikipedia` | `/w/rest.php/v1/search/page`  | Wikipedia REST page search                         |
| `article`   | `/wiki/<key>`                 | a one-line HTML page per article (links resolve)   |

Tests use it as a context manager::

    with StubServer() as stub:
        stub.script("brave", status=429, headers={"Retry-After": "60"})   # next brave requests fail
        result = run("brave_search", {"query": "llamas"}, stub.tool_config(timeout_s=2))
        assert stub.requests_to("brave")[0].headers["X-Subscription-Token"] == STUB_BRAVE_KEY

By hand (browser tests, offline demos)::

    python -m tests.stubs --port 8765      # prints the environment variables to set
"""
from __future__ import annotations

import argparse
import json
import math
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from lib.tools import ToolConfig

STUB_BRAVE_KEY = "stub-brave-key-0123456789"
STUB_WOLFRAM_APP_ID = "STUB-APPID-42"

ROUTES: dict[str, str] = {
    "brave": "/res/v1/web/search",
    "wolfram": "/api/v1/llm-api",
    "geocoding": "/v1/search",
    "forecast": "/v1/forecast",
    "wikipedia": "/w/rest.php/v1/search/page",
}
MALFORMED_JSON = '{"web": {"results": [ {"title": "cut off'

# --- canned data ---------------------------------------------------------------------------------

CITIES: list[dict[str, Any]] = [
    {"id": 2673730, "name": "Stockholm", "latitude": 59.32938, "longitude": 18.06871, "elevation": 17.0,
     "feature_code": "PPLC", "country_code": "SE", "timezone": "Europe/Stockholm", "population": 1515017,
     "country_id": 2661886, "country": "Sweden", "admin1": "Stockholm"},
    {"id": 2988507, "name": "Paris", "latitude": 48.85341, "longitude": 2.3488, "elevation": 42.0,
     "feature_code": "PPLC", "country_code": "FR", "timezone": "Europe/Paris", "population": 2138551,
     "country_id": 3017382, "country": "France", "admin1": "Île-de-France"},
    {"id": 4717560, "name": "Paris", "latitude": 33.66094, "longitude": -95.55551, "elevation": 183.0,
     "feature_code": "PPLA2", "country_code": "US", "timezone": "America/Chicago", "population": 24782,
     "country_id": 6252001, "country": "United States", "admin1": "Texas"},
    {"id": 1850147, "name": "Tokyo", "latitude": 35.6895, "longitude": 139.69171, "elevation": 44.0,
     "feature_code": "PPLC", "country_code": "JP", "timezone": "Asia/Tokyo", "population": 8336599,
     "country_id": 1861060, "country": "Japan", "admin1": "Tokyo"},
    {"id": 5128581, "name": "New York", "latitude": 40.71427, "longitude": -74.00597, "elevation": 10.0,
     "feature_code": "PPL", "country_code": "US", "timezone": "America/New_York", "population": 8804190,
     "country_id": 6252001, "country": "United States", "admin1": "New York"},
    {"id": 2643743, "name": "London", "latitude": 51.50853, "longitude": -0.12574, "elevation": 25.0,
     "feature_code": "PPLC", "country_code": "GB", "timezone": "Europe/London", "population": 8961989,
     "country_id": 2635167, "country": "United Kingdom", "admin1": "England"},
]
# (temperature °C, WMO code, wind km/h, local time) per city id
WEATHER: dict[int, tuple[float, int, float, str]] = {
    2673730: (3.2, 3, 14.0, "2026-11-26T16:00"),
    2988507: (8.4, 61, 11.2, "2026-11-26T16:00"),
    4717560: (14.9, 1, 9.7, "2026-11-26T09:00"),
    1850147: (12.1, 0, 6.5, "2026-11-27T00:00"),
    5128581: (5.6, 2, 18.4, "2026-11-26T10:00"),
    2643743: (7.9, 45, 7.2, "2026-11-26T15:00"),
}

BRAVE_TOPICS: dict[str, list[tuple[str, str, str]]] = {
    "llama": [
        ("Introducing <strong>Llama</strong> 3.1: Our most capable models to date", "https://ai.meta.com/blog/meta-llama-3-1/",
         "Meta <strong>Llama</strong> 3.1 405B is the first openly available model that rivals the top AI models in general knowledge, steerability, math, tool use and multilingual translation."),
        ("meta-llama/llama-models: Utilities intended for use with <strong>Llama</strong> models", "https://github.com/meta-llama/llama-models",
         "Prompt formats, model cards and tool-calling documentation for <strong>Llama</strong> 3.1, 3.2, 3.3 and 4."),
        ("<strong>Llama</strong> - Wikipedia", "https://en.wikipedia.org/wiki/Llama",
         "The <strong>llama</strong> (Lama glama) is a domesticated South American camelid, widely used as a meat and pack animal by Andean cultures since the pre-Columbian era."),
        ("Model Cards &amp; Prompt formats | <strong>Llama</strong>", "https://www.llama.com/docs/model-cards-and-prompt-formats/",
         "Documentation of the special tokens and prompt formats used by Meta <strong>Llama</strong> models, including <code>&lt;|python_tag|&gt;</code>."),
        ("<strong>Llamas</strong> and alpacas: what is the difference?", "https://www.example.org/llamas-vs-alpacas",
         "Llamas are bigger, with banana-shaped ears; alpacas are smaller and bred for fleece."),
        ("<strong>Llama</strong> 3.2: Revolutionizing edge AI and vision", "https://ai.meta.com/blog/llama-3-2-connect-2024-vision-edge-mobile-devices/",
         "<strong>Llama</strong> 3.2 includes small and medium-sized vision LLMs (11B and 90B)."),
    ],
    "stockholm": [
        ("Weather in <strong>Stockholm</strong> - 10 day forecast", "https://www.example.com/weather/stockholm",
         "Overcast, 3 °C. Wind from the west at 14 km/h. Tonight light rain is expected in <strong>Stockholm</strong>."),
        ("<strong>Stockholm</strong> - Wikipedia", "https://en.wikipedia.org/wiki/Stockholm",
         "<strong>Stockholm</strong> is the capital and most populous city of Sweden, spread across 14 islands where Lake Mälaren meets the Baltic Sea."),
        ("Visit <strong>Stockholm</strong> - The official guide", "https://www.visitstockholm.com/",
         "Things to do, events, restaurants and hotels in <strong>Stockholm</strong>."),
    ],
}

WIKIPEDIA_TOPICS: dict[str, list[dict[str, Any]]] = {
    "llama": [
        {"id": 36896, "key": "Llama", "title": "Llama",
         "excerpt": "The <span class=\"searchmatch\">llama</span> (Lama glama) is a domesticated South American camelid",
         "matched_title": None, "description": "Domesticated South American camelid",
         "thumbnail": {"mimetype": "image/jpeg", "width": 60, "height": 80, "duration": None,
                       "url": "//upload.wikimedia.org/wikipedia/commons/thumb/llama.jpg/60px-llama.jpg"}},
        {"id": 73068286, "key": "Llama_(language_model)", "title": "Llama (language model)",
         "excerpt": "<span class=\"searchmatch\">Llama</span> is a family of large language models released by Meta AI starting in February 2023",
         "matched_title": None, "description": "Large language model by Meta AI", "thumbnail": None},
        {"id": 1419380, "key": "Llamas_with_Hats", "title": "Llamas with Hats",
         "excerpt": "<span class=\"searchmatch\">Llamas</span> with Hats is an animated web series",
         "matched_title": None, "description": "Web series", "thumbnail": None},
    ],
    "stockholm": [
        {"id": 27838, "key": "Stockholm", "title": "Stockholm",
         "excerpt": "<span class=\"searchmatch\">Stockholm</span> is the capital and most populous city of Sweden",
         "matched_title": None, "description": "Capital city of Sweden", "thumbnail": None},
        {"id": 28957, "key": "Stockholm_syndrome", "title": "Stockholm syndrome",
         "excerpt": "<span class=\"searchmatch\">Stockholm</span> syndrome is a proposed condition",
         "matched_title": None, "description": "Psychological phenomenon", "thumbnail": None},
    ],
}

WOLFRAM_ANSWERS: dict[str, str] = {
    "population of france": (
        'Query:\n"population of France"\n\nInput interpretation:\nFrance | population\n\n'
        "Result:\n68.4 million people (world rank: 20th) (2024 estimate)\n\n"
        'Wolfram|Alpha website result for "population of France":\n'
        "https://www.wolframalpha.com/input?i=population+of+France"
    ),
    "integrate x^2 sin x": (
        'Query:\n"integrate x^2 sin x"\n\nInput interpretation:\nintegral x^2 sin(x) dx\n\n'
        "Indefinite integral:\nintegral x^2 sin(x) dx = 2 x sin(x) - (x^2 - 2) cos(x) + constant\n\n"
        'Wolfram|Alpha website result for "integrate x^2 sin x":\n'
        "https://www.wolframalpha.com/input?i=integrate+x%5E2+sin+x"
    ),
}


# --- the server ------------------------------------------------------------------------------------


@dataclass
class Scripted:
    """A scripted answer for one route; `status=None` and `body=None` mean "the canned answer"."""

    status: int | None = None
    body: str | bytes | None = None
    json: Any = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    times: int | None = None  # how many requests it answers (None: until cleared)


@dataclass(frozen=True)
class RecordedRequest:
    """What the stub received."""

    route: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    stub: "StubServer"

    def handle_error(self, request, client_address) -> None:  # noqa: D401 - quiet: clients time out on purpose
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave together: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        stub = self.server.stub
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        route = stub.route_for(parts.path)
        stub._record(RecordedRequest(route, "GET", parts.path, query, {k: v for k, v in self.headers.items()}))
        scripted = stub._take(route)
        if scripted is not None:
            if scripted.delay and not stub._sleep(scripted.delay):
                return
            if scripted.status is not None or scripted.body is not None or scripted.json is not None:
                body = scripted.body
                ctype = scripted.content_type
                if scripted.json is not None:
                    body = json.dumps(scripted.json)
                    ctype = ctype or "application/json"
                self._send(scripted.status or 200, body or "", ctype or "application/json", scripted.headers)
                return
        status, body, ctype, headers = stub.canned(route, parts.path, query, self.headers)
        if scripted is not None:
            headers = {**headers, **scripted.headers}
        self._send(status, body, ctype, headers)

    def _send(self, status: int, body: str | bytes, ctype: str, headers: dict[str, str]) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        try:
            self.send_response(status)
            if "charset" not in ctype and (ctype.startswith("text/") or ctype.endswith("json")):
                ctype += "; charset=utf-8"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


class StubServer:
    """The stub on 127.0.0.1 (port 0 = ephemeral) in a daemon thread; use as a context manager."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self._server = _Server((host, port), _Handler)
        self._server.stub = self
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._scripts: dict[str, list[Scripted]] = {}
        self.requests: list[RecordedRequest] = []
        self.brave_key = STUB_BRAVE_KEY
        self.wolfram_app_id = STUB_WOLFRAM_APP_ID

    # lifecycle
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "StubServer":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="tools-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "StubServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # scripting
    def script(self, route: str, status: int | None = None, body: str | bytes | None = None, *,
               json: Any = None, delay: float = 0.0, headers: dict[str, str] | None = None,
               content_type: str | None = None, times: int | None = None, malformed: bool = False) -> None:
        """Make the next requests to `route` answer differently (status/body/json, a delay, bad JSON)."""
        if route not in ROUTES and route != "article":
            raise ValueError(f"unknown route {route!r}; one of {', '.join(ROUTES)}, article")
        if malformed:
            body, status = MALFORMED_JSON, status or 200
        with self._lock:
            self._scripts.setdefault(route, []).append(
                Scripted(status, body, json, delay, dict(headers or {}), content_type, times)
            )

    def clear(self) -> None:
        """Forget scripts and recorded requests."""
        with self._lock:
            self._scripts.clear()
            self.requests.clear()

    def requests_to(self, route: str) -> list[RecordedRequest]:
        """Recorded requests for one route, oldest first."""
        with self._lock:
            return [r for r in self.requests if r.route == route]

    # URLs and config
    def route_url(self, route: str) -> str:
        return self.url + ROUTES[route]

    def tool_config(self, **overrides: Any) -> ToolConfig:
        """A ToolConfig whose every URL points at this stub, with keys the stub accepts."""
        return tool_config(self.url, **overrides)

    def env(self) -> dict[str, str]:
        """The environment variables that point the app at this stub."""
        return {
            "BRAVE_API_KEY": self.brave_key,
            "BRAVE_SEARCH_URL": self.route_url("brave"),
            "WOLFRAM_ALPHA_APP_ID": self.wolfram_app_id,
            "WOLFRAM_ALPHA_URL": self.route_url("wolfram"),
            "OPEN_METEO_GEOCODING_URL": self.route_url("geocoding"),
            "OPEN_METEO_FORECAST_URL": self.route_url("forecast"),
            "WIKIPEDIA_SEARCH_URL": self.route_url("wikipedia"),
        }

    # internals
    def route_for(self, path: str) -> str:
        for name, route_path in ROUTES.items():
            if path == route_path:
                return name
        return "article" if path.startswith("/wiki/") else "unknown"

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _take(self, route: str) -> Scripted | None:
        with self._lock:
            queue = self._scripts.get(route)
            if not queue:
                return None
            current = queue[0]
            if current.times is not None:
                current.times -= 1
                if current.times <= 0:
                    queue.pop(0)
            return current

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; False if stopped."""
        return not self._stop.wait(seconds)

    def canned(self, route: str, path: str, query: dict[str, str], headers: Any) -> tuple[int, str, str, dict]:
        """(status, body, content type, headers) of the realistic default answer."""
        if route == "brave":
            return self._brave(query, headers)
        if route == "wolfram":
            return self._wolfram(query)
        if route == "geocoding":
            return self._geocoding(query)
        if route == "forecast":
            return self._forecast(query)
        if route == "wikipedia":
            return self._wikipedia(query)
        if route == "article":
            title = unquote(path[len("/wiki/"):]).replace("_", " ")
            return 200, f"<!doctype html><title>{title} (STUB)</title><h1>{title}</h1><p>Stub article.</p>", \
                "text/html", {}
        return 404, json.dumps({"error": "not found", "path": path}), "application/json", {}

    def _brave(self, query: dict[str, str], headers: Any) -> tuple[int, str, str, dict]:
        token = headers.get("X-Subscription-Token")
        if token != self.brave_key:
            body = {"type": "ErrorResponse", "error": {
                "id": "3b1d6a1a-2f0e-4a54-9a6e-9f9c1b0b0c11", "status": 401, "code": "SUBSCRIPTION_TOKEN_INVALID",
                "detail": "The provided subscription token is invalid.", "meta": {"component": "authentication"}},
                "time": 1795708800}
            return 401, json.dumps(body), "application/json", {}
        q = query.get("q", "")
        if not q:
            body = {"type": "ErrorResponse", "error": {"status": 422, "code": "VALIDATION",
                                                       "detail": "Unable to validate request parameter(s)"}}
            return 422, json.dumps(body), "application/json", {}
        count = _int(query.get("count"), 20)
        topic = next((items for word, items in BRAVE_TOPICS.items() if word in q.lower()), None)
        if topic is None:
            safe = quote(q.replace(" ", "-").lower())
            topic = [(f"{q.title()} — overview", f"https://www.example.org/{safe}",
                      f"Everything about <strong>{q}</strong>: background, recent news and references."),
                     (f"<strong>{q}</strong> explained", f"https://www.example.com/explained/{safe}",
                      f"A plain-language explanation of <strong>{q}</strong>.")]
        results = []
        for title, url, description in topic[:count]:
            host = urlsplit(url).hostname or ""
            results.append({
                "type": "search_result", "subtype": "generic", "title": title, "url": url,
                "description": description, "is_source_local": False, "is_source_both": False,
                "language": "en", "family_friendly": True, "age": "November 20, 2026",
                "profile": {"name": host, "url": url, "long_name": host,
                            "img": "https://imgs.search.brave.com/stub-favicon.png"},
                "meta_url": {"scheme": "https", "netloc": host, "hostname": host, "favicon": "", "path": ""},
            })
        body = {"type": "search",
                "query": {"original": q, "show_strict_warning": False, "is_navigational": False,
                          "more_results_available": True, "country": "us"},
                "mixed": {"type": "mixed", "main": [{"type": "web", "index": i, "all": False}
                                                    for i in range(len(results))]},
                "web": {"type": "search", "results": results, "family_friendly": True}}
        return 200, json.dumps(body), "application/json", {
            "X-RateLimit-Limit": "1, 15000", "X-RateLimit-Remaining": "0, 14999"}

    def _wolfram(self, query: dict[str, str]) -> tuple[int, str, str, dict]:
        appid = query.get("appid")
        if not appid:
            return 403, "Error 2: Appid missing", "text/plain", {}
        if appid != self.wolfram_app_id:
            return 403, "Error 1: Invalid appid", "text/plain", {}
        text_in = query.get("input", "").strip()
        if not text_in:
            return 400, "Error 3: Input missing", "text/plain", {}
        answer = WOLFRAM_ANSWERS.get(text_in.lower())
        if answer is None:
            answer = (f'Query:\n"{text_in}"\n\nInput interpretation:\n{text_in}\n\nResult:\n42\n\n'
                      f'Wolfram|Alpha website result for "{text_in}":\n'
                      f"https://www.wolframalpha.com/input?i={quote(text_in)}")
        maxchars = _int(query.get("maxchars"), 6800)
        return 200, answer[:maxchars], "text/plain", {}

    def _geocoding(self, query: dict[str, str]) -> tuple[int, str, str, dict]:
        name = query.get("name", "").strip().lower()
        count = _int(query.get("count"), 10)
        matches = [dict(c) for c in CITIES if c["name"].lower().startswith(name)] if len(name) >= 2 else []
        body: dict[str, Any] = {"generationtime_ms": 0.53}
        if matches:
            body["results"] = matches[:count]
        return 200, json.dumps(body), "application/json", {}

    def _forecast(self, query: dict[str, str]) -> tuple[int, str, str, dict]:
        try:
            lat, lon = float(query["latitude"]), float(query["longitude"])
        except (KeyError, ValueError):
            return 400, json.dumps({"error": True, "reason": "Parameter 'latitude' and 'longitude' must be set"}), \
                "application/json", {}
        city = min(CITIES, key=lambda c: math.hypot(c["latitude"] - lat, c["longitude"] - lon))
        temp, code, wind, when = WEATHER[city["id"]]
        unit = "°C"
        if query.get("temperature_unit") == "fahrenheit":
            temp, unit = round(temp * 9 / 5 + 32, 1), "°F"
        body = {
            "latitude": round(lat, 3), "longitude": round(lon, 3), "generationtime_ms": 0.04,
            "utc_offset_seconds": 3600, "timezone": city["timezone"], "timezone_abbreviation": "GMT+1",
            "elevation": city["elevation"],
            "current_units": {"time": "iso8601", "interval": "seconds", "temperature_2m": unit,
                              "weather_code": "wmo code", "wind_speed_10m": "km/h"},
            "current": {"time": when, "interval": 900, "temperature_2m": temp, "weather_code": code,
                        "wind_speed_10m": wind},
        }
        return 200, json.dumps(body), "application/json", {}

    def _wikipedia(self, query: dict[str, str]) -> tuple[int, str, str, dict]:
        q = query.get("q", "").strip()
        limit = _int(query.get("limit"), 10)
        pages = next((items for word, items in WIKIPEDIA_TOPICS.items() if word in q.lower()), None)
        if pages is None:
            pages = [] if not q or q.lower().startswith("zzz") else [{
                "id": 1, "key": q.replace(" ", "_").title(), "title": q.title(),
                "excerpt": f"<span class=\"searchmatch\">{q}</span> is a topic with a stub article",
                "matched_title": None, "description": None, "thumbnail": None}]
        return 200, json.dumps({"pages": pages[:limit]}), "application/json", {}


def _int(value: str | None, default: int) -> int:
    try:
        return max(0, int(value)) if value is not None else default
    except ValueError:
        return default


def tool_config(base_url: str, **overrides: Any) -> ToolConfig:
    """A ToolConfig pointing every tool URL at a stub at `base_url`, with the stub's keys (overridable)."""
    base = base_url.rstrip("/")
    values: dict[str, Any] = {
        "brave_api_key": STUB_BRAVE_KEY,
        "brave_search_url": base + ROUTES["brave"],
        "wolfram_app_id": STUB_WOLFRAM_APP_ID,
        "wolfram_url": base + ROUTES["wolfram"],
        "open_meteo_geocoding_url": base + ROUTES["geocoding"],
        "open_meteo_forecast_url": base + ROUTES["forecast"],
        "wikipedia_search_url": base + ROUTES["wikipedia"],
        "timeout_s": 5.0,
    }
    values.update(overrides)
    return ToolConfig(**values)


def main(argv: list[str] | None = None) -> None:
    """Serve forever (Ctrl-C to stop), printing the environment variables to use."""
    parser = argparse.ArgumentParser(description="STUB tools APIs (Brave, Wolfram, Open-Meteo, Wikipedia)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    stub = StubServer(port=args.port, host=args.host).start()
    print(f"# STUB tools APIs listening on {stub.url} (canned data, not the real services)")
    print("# Set these (e.g. `export ...` or in .streamlit/secrets.toml) to use it:")
    for key, value in stub.env().items():
        print(f"{key}={value}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()


if __name__ == "__main__":
    main()
