"""get_weather: current weather for a city from Open-Meteo (geocoding, then forecast; no key)."""
from __future__ import annotations

from lib.i18n import msg

from . import korean_names
from .base import (
    CallContext,
    Outcome,
    ToolConfig,
    ToolFailure,
    ToolSpec,
    ToolStatus,
    endpoint_msg,
    get_json,
)

SPEC = ToolSpec(
    name="get_weather",
    title="Current weather (Open-Meteo)",
    description="Get the current temperature, conditions and wind for a city.",
    parameters={
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name, optionally with country, e.g. 'Paris, France'"},
            "unit": {
                "type": "string",
                "enum": ["celsius", "fahrenheit"],
                "description": "Temperature unit (default celsius)",
            },
        },
        "required": ["city"],
    },
    builtin=False,
    online=True,
)
ALIASES = {"location": "city", "place": "city", "name": "city"}
CHOICES = {"unit": korean_names.unit}  # "섭씨" / "화씨" read as celsius / fahrenheit

SOURCE = "Open-Meteo"
SERVICE = "Open-Meteo"

# WMO weather interpretation codes (Open-Meteo documentation).
WMO_CODES: dict[int, str] = {
    0: "clear sky", 1: "mainly clear", 2: "partly cloudy", 3: "overcast",
    45: "fog", 48: "depositing rime fog",
    51: "light drizzle", 53: "moderate drizzle", 55: "dense drizzle",
    56: "light freezing drizzle", 57: "dense freezing drizzle",
    61: "slight rain", 63: "moderate rain", 65: "heavy rain",
    66: "light freezing rain", 67: "heavy freezing rain",
    71: "slight snowfall", 73: "moderate snowfall", 75: "heavy snowfall", 77: "snow grains",
    80: "slight rain showers", 81: "moderate rain showers", 82: "violent rain showers",
    85: "slight snow showers", 86: "heavy snow showers",
    95: "thunderstorm", 96: "thunderstorm with slight hail", 99: "thunderstorm with heavy hail",
}


def describe_code(code: object) -> str:
    """Words for a WMO weather code ("overcast"); unknown codes are named as such."""
    try:
        number = int(code)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "unknown conditions"
    return WMO_CODES.get(number, f"weather code {number}")


def status(config: ToolConfig) -> ToolStatus:
    """Always available (no key needed)."""
    note = endpoint_msg(config.open_meteo_forecast_url, ToolConfig().open_meteo_forecast_url)
    return ToolStatus.said(True, False, msg("toolnotes.status.weather", endpoint=note))


def call(arguments: dict, ctx: CallContext) -> Outcome:
    """Geocode the city, then read the current conditions there."""
    config = ctx.config
    raw = arguments["city"].strip()
    name, _, qualifier = (part.strip() for part in raw.partition(","))
    # A Korean name asks the geocoder for its English one ("서울, 한국" → "Seoul" in KR): the same place.
    name = korean_names.place(name) or name
    if qualifier:
        qualifier = korean_names.country_code(qualifier) or korean_names.place(qualifier) or qualifier
    unit = str(arguments.get("unit") or "celsius").strip().lower()
    fahrenheit = unit.startswith("f")

    data, geo_shown = get_json(
        ctx, config.open_meteo_geocoding_url, service="Open-Meteo geocoding", source=SOURCE,
        params={"name": name or raw, "count": 10 if qualifier else 1, "language": "en", "format": "json"},
    )
    if not isinstance(data, dict):
        raise ToolFailure("Open-Meteo geocoding returned an unexpected response", SOURCE, False, geo_shown)
    results = data.get("results") or []
    place = _pick(results, qualifier)
    if place is None:
        raise ToolFailure(
            f"no place called {raw!r} was found; try the city's English name, e.g. 'Stockholm'",
            SOURCE, False, geo_shown,
        )
    try:
        lat, lon = float(place["latitude"]), float(place["longitude"])
    except (KeyError, TypeError, ValueError):
        raise ToolFailure("Open-Meteo geocoding returned a place without coordinates", SOURCE, False, geo_shown) from None

    params = {
        "latitude": f"{lat:.4f}",
        "longitude": f"{lon:.4f}",
        "current": "temperature_2m,weather_code,wind_speed_10m",
        "timezone": "auto",
    }
    if fahrenheit:
        params["temperature_unit"] = "fahrenheit"
    forecast, shown = get_json(
        ctx, config.open_meteo_forecast_url, params=params, service="Open-Meteo forecast", source=SOURCE,
    )
    current = forecast.get("current") if isinstance(forecast, dict) else None
    if not isinstance(current, dict) or current.get("temperature_2m") is None:
        raise ToolFailure(
            "Open-Meteo forecast returned an unexpected response (no current weather)", SOURCE, False, shown
        )
    units = forecast.get("current_units") if isinstance(forecast.get("current_units"), dict) else {}
    temp_unit = units.get("temperature_2m") or ("°F" if fahrenheit else "°C")
    wind_unit = units.get("wind_speed_10m") or "km/h"
    place_name = place.get("name") or name
    region = place.get("admin1") if qualifier and place.get("admin1") != place_name else None
    label = ", ".join(str(p) for p in (place_name, region, place.get("country")) if p)
    parts = [f"{_num(current.get('temperature_2m'))} {temp_unit}", describe_code(current.get("weather_code"))]
    if current.get("wind_speed_10m") is not None:
        parts.append(f"wind {_num(current.get('wind_speed_10m'), whole=True)} {wind_unit}")
    when = current.get("time")
    tail = f" (Open-Meteo, {when})" if when else " (Open-Meteo)"
    return Outcome(f"{label}: {', '.join(parts)}{tail}", SOURCE, False, shown)


def _pick(results: object, qualifier: str) -> dict | None:
    """The first result, or the first whose country/region matches "Paris, <qualifier>"."""
    if not isinstance(results, list):
        return None
    places = [r for r in results if isinstance(r, dict)]
    if not places:
        return None
    if qualifier:
        q = qualifier.lower()
        for place in places:
            fields = (place.get("country"), place.get("country_code"), place.get("admin1"))
            if any(isinstance(f, str) and f.lower() == q for f in fields):
                return place
    return places[0]


def _num(value: object, whole: bool = False) -> str:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if whole:
        return f"{number:.0f}"
    return f"{number:.1f}"
