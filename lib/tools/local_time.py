"""get_local_time: the current local time in a city or IANA time zone (offline, zoneinfo)."""
from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from lib.i18n import msg

from . import korean_names
from .base import CallContext, Outcome, ToolConfig, ToolFailure, ToolSpec, ToolStatus

SPEC = ToolSpec(
    name="get_local_time",
    title="Local time (offline)",
    description="Get the current local date and time in a city or IANA time zone such as 'Europe/Stockholm'.",
    parameters={
        "type": "object",
        "properties": {
            "city_or_timezone": {
                "type": "string",
                "description": "A major city ('Tokyo') or an IANA time zone ('America/New_York')",
            }
        },
        "required": ["city_or_timezone"],
    },
    builtin=False,
    online=False,
)
ALIASES = {"city": "city_or_timezone", "timezone": "city_or_timezone", "location": "city_or_timezone",
           "tz": "city_or_timezone", "time_zone": "city_or_timezone", "zone": "city_or_timezone"}

SOURCE = "local clock"

# Major cities whose name is not itself the last part of an IANA zone name.
CITY_ZONES: dict[str, str] = {
    "stockholm": "Europe/Stockholm", "london": "Europe/London", "paris": "Europe/Paris",
    "berlin": "Europe/Berlin", "madrid": "Europe/Madrid", "rome": "Europe/Rome",
    "amsterdam": "Europe/Amsterdam", "oslo": "Europe/Oslo", "copenhagen": "Europe/Copenhagen",
    "helsinki": "Europe/Helsinki", "dublin": "Europe/Dublin", "lisbon": "Europe/Lisbon",
    "vienna": "Europe/Vienna", "zurich": "Europe/Zurich", "geneva": "Europe/Zurich",
    "warsaw": "Europe/Warsaw", "athens": "Europe/Athens", "kyiv": "Europe/Kyiv", "kiev": "Europe/Kyiv",
    "moscow": "Europe/Moscow", "istanbul": "Europe/Istanbul", "munich": "Europe/Berlin",
    "barcelona": "Europe/Madrid", "milan": "Europe/Rome", "gothenburg": "Europe/Stockholm",
    "cairo": "Africa/Cairo", "lagos": "Africa/Lagos", "nairobi": "Africa/Nairobi",
    "johannesburg": "Africa/Johannesburg", "cape town": "Africa/Johannesburg",
    "dubai": "Asia/Dubai", "abu dhabi": "Asia/Dubai", "riyadh": "Asia/Riyadh", "tehran": "Asia/Tehran",
    "karachi": "Asia/Karachi", "mumbai": "Asia/Kolkata", "bombay": "Asia/Kolkata", "delhi": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata", "bangalore": "Asia/Kolkata", "bengaluru": "Asia/Kolkata",
    "kolkata": "Asia/Kolkata", "chennai": "Asia/Kolkata", "dhaka": "Asia/Dhaka",
    "bangkok": "Asia/Bangkok", "singapore": "Asia/Singapore", "kuala lumpur": "Asia/Kuala_Lumpur",
    "jakarta": "Asia/Jakarta", "manila": "Asia/Manila", "hong kong": "Asia/Hong_Kong",
    "beijing": "Asia/Shanghai", "shanghai": "Asia/Shanghai", "shenzhen": "Asia/Shanghai",
    "taipei": "Asia/Taipei", "seoul": "Asia/Seoul", "tokyo": "Asia/Tokyo", "osaka": "Asia/Tokyo",
    "sydney": "Australia/Sydney", "melbourne": "Australia/Melbourne", "brisbane": "Australia/Brisbane",
    "perth": "Australia/Perth", "auckland": "Pacific/Auckland", "honolulu": "Pacific/Honolulu",
    "anchorage": "America/Anchorage", "los angeles": "America/Los_Angeles", "la": "America/Los_Angeles",
    "san francisco": "America/Los_Angeles", "seattle": "America/Los_Angeles",
    "vancouver": "America/Vancouver", "las vegas": "America/Los_Angeles", "denver": "America/Denver",
    "phoenix": "America/Phoenix", "chicago": "America/Chicago", "dallas": "America/Chicago",
    "houston": "America/Chicago", "mexico city": "America/Mexico_City", "atlanta": "America/New_York",
    "miami": "America/New_York", "new york": "America/New_York", "new york city": "America/New_York",
    "nyc": "America/New_York", "boston": "America/New_York", "washington": "America/New_York",
    "washington dc": "America/New_York", "washington, d.c.": "America/New_York",
    "toronto": "America/Toronto", "montreal": "America/Toronto",
    "bogota": "America/Bogota", "bogotá": "America/Bogota", "lima": "America/Lima",
    "santiago": "America/Santiago", "buenos aires": "America/Argentina/Buenos_Aires",
    "sao paulo": "America/Sao_Paulo", "são paulo": "America/Sao_Paulo", "rio de janeiro": "America/Sao_Paulo",
    "reykjavik": "Atlantic/Reykjavik",
    # Cities a Korean room asks about (korean_names.PLACES names them in Korean).
    "busan": "Asia/Seoul", "incheon": "Asia/Seoul", "daegu": "Asia/Seoul", "daejeon": "Asia/Seoul",
    "gwangju": "Asia/Seoul", "ulsan": "Asia/Seoul", "suwon": "Asia/Seoul", "sejong": "Asia/Seoul",
    "jeju": "Asia/Seoul", "kyoto": "Asia/Tokyo", "fukuoka": "Asia/Tokyo", "sapporo": "Asia/Tokyo",
    "nagoya": "Asia/Tokyo", "yokohama": "Asia/Tokyo", "naha": "Asia/Tokyo", "guangzhou": "Asia/Shanghai",
    "hanoi": "Asia/Ho_Chi_Minh", "ho chi minh city": "Asia/Ho_Chi_Minh", "saigon": "Asia/Ho_Chi_Minh",
    "da nang": "Asia/Ho_Chi_Minh", "frankfurt": "Europe/Berlin",
    # Countries whose people (nearly) all keep one time: "한국 시간", "Japan time" (the capital's zone).
    "south korea": "Asia/Seoul", "korea": "Asia/Seoul", "north korea": "Asia/Pyongyang",
    "japan": "Asia/Tokyo", "china": "Asia/Shanghai", "taiwan": "Asia/Taipei", "thailand": "Asia/Bangkok",
    "vietnam": "Asia/Ho_Chi_Minh", "philippines": "Asia/Manila", "malaysia": "Asia/Kuala_Lumpur",
    "india": "Asia/Kolkata", "united arab emirates": "Asia/Dubai", "uae": "Asia/Dubai",
    "turkey": "Europe/Istanbul", "egypt": "Africa/Cairo", "argentina": "America/Argentina/Buenos_Aires",
    "united kingdom": "Europe/London", "uk": "Europe/London", "france": "Europe/Paris",
    "germany": "Europe/Berlin", "italy": "Europe/Rome", "spain": "Europe/Madrid", "portugal": "Europe/Lisbon",
    "netherlands": "Europe/Amsterdam", "belgium": "Europe/Brussels", "switzerland": "Europe/Zurich",
    "austria": "Europe/Vienna", "sweden": "Europe/Stockholm", "norway": "Europe/Oslo",
    "denmark": "Europe/Copenhagen", "finland": "Europe/Helsinki", "ireland": "Europe/Dublin",
    "iceland": "Atlantic/Reykjavik", "poland": "Europe/Warsaw", "czechia": "Europe/Prague",
    "czech republic": "Europe/Prague", "hungary": "Europe/Budapest", "greece": "Europe/Athens",
    "ukraine": "Europe/Kyiv", "new zealand": "Pacific/Auckland", "south africa": "Africa/Johannesburg",
    "kenya": "Africa/Nairobi", "nigeria": "Africa/Lagos",
}


def _now() -> dt.datetime:
    """The current UTC time (tests replace this)."""
    return dt.datetime.now(dt.timezone.utc)


def status(config: ToolConfig) -> ToolStatus:
    """Offline; says so when the system has no time-zone database."""
    if not _zone_index():
        return ToolStatus.said(True, False, msg("toolnotes.status.time_no_tzdata"))
    return ToolStatus.said(True, False, msg("toolnotes.status.time_offline"))


@lru_cache(maxsize=1)
def _zone_index() -> dict[str, str]:
    """lower-case lookups → IANA name: full names ("europe/stockholm") and last parts ("stockholm")."""
    index: dict[str, str] = {}
    try:
        zones = available_timezones()
    except Exception:
        zones = set()
    for zone in sorted(zones):
        index[zone.lower()] = zone
    for zone in sorted(zones):
        if "/" in zone and not zone.startswith(("Etc/", "SystemV/", "posix/", "right/")):
            index.setdefault(zone.rsplit("/", 1)[1].replace("_", " ").lower(), zone)
    return index


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_OFFSET = re.compile(r"^(?:utc|gmt)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$")


def resolve(place: str) -> tuple[str, dt.tzinfo] | None:
    """(label, tzinfo) for a city, IANA zone or "UTC+2"; None when unknown."""
    text = re.sub(r"\s+", " ", place.strip())
    key = text.lower()
    if key in ("utc", "gmt", "z", "zulu"):
        return "UTC", dt.timezone.utc
    m = _OFFSET.match(key)
    if m:
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes >= 60:
            return None
        delta = dt.timedelta(hours=hours, minutes=minutes) * (1 if m.group(1) == "+" else -1)
        return text.upper(), dt.timezone(delta)
    index = _zone_index()
    candidates = [key, key.split(",")[0].strip()]
    for candidate in candidates:
        zone = CITY_ZONES.get(candidate) or index.get(candidate) or index.get(candidate.replace(" ", "_"))
        if zone:
            try:
                info = ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            if "/" in text:
                return zone, info
            name = text.split(",")[0].strip()
            return (name.title() if name.islower() else name), info
    # A Korean name resolves as its English one ("도쿄" → "Tokyo", "한국 시간" → "South Korea").
    first = text.split(",")[0]
    english = korean_names.place(first) or korean_names.country(first)
    return resolve(english) if english else None


def format_time(label: str, moment: dt.datetime) -> str:
    """"Stockholm: Thursday 26 November 2026, 17:05 (CET, UTC+01:00)"."""
    offset = moment.utcoffset() or dt.timedelta(0)
    total = int(offset.total_seconds() // 60)
    sign = "+" if total >= 0 else "-"
    hours, minutes = divmod(abs(total), 60)
    abbrev = moment.tzname() or ""
    utc = f"UTC{sign}{hours:02d}:{minutes:02d}"
    zone_part = f"{abbrev}, {utc}" if abbrev and not abbrev.startswith(("UTC", "+", "-")) else utc
    day = _DAYS[moment.weekday()]
    month = _MONTHS[moment.month - 1]
    return f"{label}: {day} {moment.day} {month} {moment.year}, {moment:%H:%M} ({zone_part})"


def call(arguments: dict, ctx: CallContext) -> Outcome:
    """Current local time for the requested place."""
    place = arguments["city_or_timezone"].strip()
    found = resolve(place)
    if found is None:
        raise ToolFailure(
            f"unknown city or time zone {place!r}: ask with an IANA time zone name such as "
            "'Europe/Stockholm' or 'America/New_York', a major city such as 'Tokyo', or an offset like 'UTC+2'",
            SOURCE,
        )
    label, info = found
    return Outcome(format_time(label, _now().astimezone(info)), SOURCE)
