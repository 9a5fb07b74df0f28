"""convert_units: offline conversion of length, mass, volume, speed and temperature."""
from __future__ import annotations

import math
import unicodedata

from lib.i18n import msg

from . import korean_names
from .base import CallContext, Outcome, ToolConfig, ToolFailure, ToolSpec, ToolStatus

SPEC = ToolSpec(
    name="convert_units",
    title="Unit conversion (offline)",
    description="Convert a value between units of length, mass, volume, speed or temperature (e.g. km to mi, °F to °C).",
    parameters={
        "type": "object",
        "properties": {
            "value": {"type": "number", "description": "The amount to convert"},
            "from_unit": {"type": "string", "description": "Unit of the value, e.g. 'km', 'lb', 'fahrenheit'"},
            "to_unit": {"type": "string", "description": "Unit wanted, e.g. 'mi', 'kg', 'celsius'"},
        },
        "required": ["value", "from_unit", "to_unit"],
    },
    builtin=False,
    online=False,
)
ALIASES = {"from": "from_unit", "to": "to_unit", "amount": "value", "unit_from": "from_unit", "unit_to": "to_unit"}

SOURCE = "local unit table"

# unit → (dimension, factor to the dimension's base unit, display symbol)
_UNITS: dict[str, tuple[str, float, str]] = {}


def _add(dimension: str, factor: float, symbol: str, *names: str) -> None:
    for name in (symbol, *names):
        _UNITS[name.lower()] = (dimension, factor, symbol)


_add("length", 1.0, "m", "meter", "meters", "metre", "metres")
_add("length", 1000.0, "km", "kilometer", "kilometers", "kilometre", "kilometres")
_add("length", 0.01, "cm", "centimeter", "centimeters", "centimetre", "centimetres")
_add("length", 0.001, "mm", "millimeter", "millimeters", "millimetre", "millimetres")
_add("length", 1609.344, "mi", "mile", "miles")
_add("length", 0.9144, "yd", "yard", "yards")
_add("length", 0.3048, "ft", "foot", "feet")
_add("length", 0.0254, "in", "inch", "inches")
_add("length", 1852.0, "nmi", "nautical mile", "nautical miles")
_add("length", 42195.0, "marathon", "marathons")
_add("length", 21097.5, "half marathon", "half marathons", "half-marathon", "half-marathons")
_add("mass", 1.0, "kg", "kilogram", "kilograms", "kilo", "kilos")
_add("mass", 0.001, "g", "gram", "grams")
_add("mass", 1e-6, "mg", "milligram", "milligrams")
_add("mass", 1000.0, "t", "tonne", "tonnes", "metric ton", "metric tons")
_add("mass", 0.45359237, "lb", "lbs", "pound", "pounds")
_add("mass", 0.028349523125, "oz", "ounce", "ounces")
_add("mass", 6.35029318, "st", "stone", "stones")
_add("volume", 1.0, "l", "liter", "liters", "litre", "litres")
_add("volume", 0.001, "ml", "milliliter", "milliliters", "millilitre", "millilitres")
_add("volume", 1000.0, "m³", "m3", "cubic meter", "cubic meters", "cubic metre", "cubic metres")
_add("volume", 3.785411784, "gal", "gallon", "gallons", "us gallon", "us gallons")
_add("volume", 0.946352946, "qt", "quart", "quarts")
_add("volume", 0.2365882365, "cup", "cups")
_add("volume", 0.0295735295625, "fl oz", "floz", "fluid ounce", "fluid ounces")
_add("speed", 1.0, "m/s", "meters per second", "metres per second", "mps")
_add("speed", 1 / 3.6, "km/h", "kmh", "kph", "kilometers per hour", "kilometres per hour")
_add("speed", 0.44704, "mph", "miles per hour", "mi/h")
_add("speed", 1852.0 / 3600.0, "kn", "knot", "knots", "kt")
_add("speed", 0.3048, "ft/s", "feet per second", "fps")

_TEMPERATURE = {
    "c": "°C", "°c": "°C", "celsius": "°C", "degc": "°C", "degrees celsius": "°C",
    "f": "°F", "°f": "°F", "fahrenheit": "°F", "degf": "°F", "degrees fahrenheit": "°F",
    "k": "K", "kelvin": "K", "kelvins": "K",
}


def status(config: ToolConfig) -> ToolStatus:
    """Always available."""
    return ToolStatus.said(True, False, msg("toolnotes.status.units"))


def unit_key(name: str) -> str:
    """The table key for a unit name: as given, else its NFKC form ("℃", "㎞"), else its Korean name's.

    >>> unit_key("킬로미터"), unit_key("℃"), unit_key("parsec")
    ('kilometer', '°c', 'parsec')
    """
    key = name.strip().lower()
    if key in _UNITS or key in _TEMPERATURE:
        return key
    folded = " ".join(unicodedata.normalize("NFKC", key).replace("∕", "/").split()).lower()
    if folded in _UNITS or folded in _TEMPERATURE:
        return folded
    return korean_names.unit(name) or key


def convert(value: float, from_unit: str, to_unit: str) -> tuple[float, str, str]:
    """(converted value, from symbol, to symbol); ValueError with a readable message otherwise."""
    a, b = unit_key(from_unit), unit_key(to_unit)
    if a in _TEMPERATURE or b in _TEMPERATURE:
        if a not in _TEMPERATURE or b not in _TEMPERATURE:
            raise ValueError(f"cannot convert between {from_unit!r} and {to_unit!r}")
        src, dst = _TEMPERATURE[a], _TEMPERATURE[b]
        kelvin = {"°C": value + 273.15, "°F": (value - 32) * 5 / 9 + 273.15, "K": value}[src]
        if kelvin < -1e-9:
            raise ValueError("that temperature is below absolute zero")
        out = {"°C": kelvin - 273.15, "°F": (kelvin - 273.15) * 9 / 5 + 32, "K": kelvin}[dst]
        return out, src, dst
    for unit, given in ((a, from_unit), (b, to_unit)):
        if unit not in _UNITS:
            raise ValueError(f"unknown unit {given!r}")
    dim_a, fac_a, sym_a = _UNITS[a]
    dim_b, fac_b, sym_b = _UNITS[b]
    if dim_a != dim_b:
        raise ValueError(f"cannot convert {dim_a} ({sym_a}) to {dim_b} ({sym_b})")
    return value * fac_a / fac_b, sym_a, sym_b


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:.6g}" if abs(x) < 1e15 else f"{x:.6e}"


def call(arguments: dict, ctx: CallContext) -> Outcome:
    """Convert and answer "10 km = 6.21371 mi"."""
    value = float(arguments["value"])
    if not math.isfinite(value):
        raise ToolFailure("the value must be a finite number", SOURCE)
    try:
        out, src, dst = convert(value, str(arguments["from_unit"]), str(arguments["to_unit"]))
    except ValueError as exc:
        raise ToolFailure(str(exc), SOURCE) from None
    return Outcome(f"{_fmt(value)} {src} = {_fmt(out)} {dst}", SOURCE)
