"""The tool registry: TOOLS, status(), meta_definitions() and run() (which never raises)."""
from __future__ import annotations

import copy
import re
import threading
import time
from types import ModuleType
from typing import Callable, Mapping, Sequence

from lib.i18n import DEFAULT, Msg, catalogue, msg

from . import brave_search, code_interpreter, local_time, units, weather, wolfram_alpha
from .base import (
    CallContext,
    Outcome,
    ToolConfig,
    ToolFailure,
    ToolResult,
    ToolSpec,
    ToolStatus,
    cap,
    scrub,
)

_MODULES: dict[str, ModuleType] = {
    m.SPEC.name: m
    for m in (brave_search, wolfram_alpha, code_interpreter, weather, local_time, units)
}

TOOLS: dict[str, ToolSpec] = {name: m.SPEC for name, m in _MODULES.items()}
"""Every tool, in display order: built-ins first (brave_search, wolfram_alpha, code_interpreter), then custom."""

REGISTRY_SOURCE = "tool registry"


def status(name: str, config: ToolConfig) -> ToolStatus:
    """How `name` behaves under `config` (one line for the UI); unknown names are unavailable."""
    module = _MODULES.get(name)
    if module is None:
        return ToolStatus.said(False, False, msg("toolnotes.status.unknown_tool", name=repr(name)))
    return module.status(config)


def meta_definitions(names: Sequence[str], include_builtin: bool = False) -> list[dict]:
    """Meta's JSON function definitions for the custom (non-built-in) tools among `names`.

    With `include_builtin`, built-in tools are defined too (for models without Llama 3.1's built-in tools).

    >>> [d["function"]["name"] for d in meta_definitions(["brave_search", "get_weather"])]
    ['get_weather']
    """
    seen: set[str] = set()
    out: list[dict] = []
    for name in names:
        spec = TOOLS.get(name)
        if spec is None or (spec.builtin and not include_builtin) or name in seen:
            continue
        seen.add(name)
        out.append(
            {
                "type": "function",
                "function": {
                    "name": spec.name,
                    "description": spec.description,
                    "parameters": copy.deepcopy(spec.parameters),
                },
            }
        )
    return out


def _source(module: ModuleType | None, config: ToolConfig) -> tuple[str, bool]:
    if module is None:
        return REGISTRY_SOURCE, False
    if hasattr(module, "source"):
        return module.source(config)
    return getattr(module, "SOURCE", REGISTRY_SOURCE), False


def _validate(spec: ToolSpec, aliases: dict[str, str], arguments: object,
              choices: Mapping[str, Callable[[str], str | None]] | None = None) -> dict:
    """Arguments checked against the spec's schema (aliases mapped, numbers/strings coerced).

    `choices` (a tool's CHOICES) may name an enum value another way: {"unit": korean_names.unit} reads
    "섭씨" as "celsius"; what it returns must still be one of the enum's values.

    Raises ValueError with a short message naming the offending argument.
    """
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ValueError(f"arguments for {spec.name} must be a JSON object, got {type(arguments).__name__}")
    props: dict = spec.parameters.get("properties", {})
    args = dict(arguments)
    for alias, canonical in aliases.items():
        if canonical not in args and alias in args:
            args[canonical] = args.pop(alias)
    clean: dict = {}
    for key, schema in props.items():
        if key not in args or args[key] is None:
            continue
        value = args[key]
        kind = schema.get("type")
        if kind == "string":
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValueError(f"argument {key!r} for {spec.name} must be a string")
            value = str(value)
            if not value.strip():
                continue
            if "enum" in schema and value.strip().lower() not in schema["enum"]:
                other = (choices or {}).get(key)
                named = other(value) if other else None
                if named not in schema["enum"]:
                    raise ValueError(f"argument {key!r} for {spec.name} must be one of {', '.join(schema['enum'])}")
                value = named
        elif kind == "number":
            if isinstance(value, bool):
                raise ValueError(f"argument {key!r} for {spec.name} must be a number")
            try:
                value = float(str(value).strip().replace(",", "")) if isinstance(value, str) else float(value)
            except (TypeError, ValueError):
                raise ValueError(f"argument {key!r} for {spec.name} must be a number, got {value!r}") from None
        clean[key] = value
    missing = [key for key in spec.parameters.get("required", []) if key not in clean]
    if missing:
        expected = ", ".join(props)
        raise ValueError(
            f"missing required argument {missing[0]!r} for {spec.name} (expected: {expected})"
        )
    return clean


def run(
    name: str,
    arguments: dict,
    config: ToolConfig | None = None,
    *,
    enabled: Sequence[str] | None = None,
) -> ToolResult:
    """Run one tool call and return what the model should receive. Never raises.

    `enabled` (optional) is the set of tools offered to the model; a call to any other tool is
    answered like an unknown tool. The call is bounded by `config.timeout_s` of wall-clock time and
    its content by `config.max_result_chars`; API keys never appear in `content` or `url`.
    """
    start = time.monotonic()
    config = config if isinstance(config, ToolConfig) else ToolConfig()
    shown_args = dict(arguments) if isinstance(arguments, dict) else {}
    try:
        return _run(name, arguments, config, enabled, start, shown_args)
    except Exception as exc:  # the contract is "never raises"
        return _finish(
            str(name), shown_args, config, start,
            content=f"error: the tool {name!r} failed unexpectedly ({type(exc).__name__})",
            ok=False, source=REGISTRY_SOURCE, fallback=False, url=None,
        )


def _finish(
    name: str, arguments: dict, config: ToolConfig, start: float, *,
    content: str, ok: bool, source: str, fallback: bool, url: str | None,
) -> ToolResult:
    secrets = config.secrets()
    # Text like "<|eom_id|>" inside a web page must not read as a Llama special token.
    content = scrub(content, secrets).replace("<|", "< |")
    content = cap(content, config.max_result_chars)
    url = scrub(url, secrets) if url else None
    return ToolResult(
        name=name, arguments=arguments, content=content, ok=ok, source=source,
        fallback=fallback, elapsed_s=round(time.monotonic() - start, 3), url=url,
    )


def _run(
    name: object, arguments: object, config: ToolConfig, enabled: Sequence[str] | None,
    start: float, shown_args: dict,
) -> ToolResult:
    key = name.strip() if isinstance(name, str) else ""
    offered = [n for n in TOOLS if enabled is None or n in enabled]
    module = _MODULES.get(key) if key in offered else None
    if module is None:
        listing = ", ".join(offered) if offered else "none"
        return _finish(
            str(name), shown_args, config, start,
            content=f"error: Unknown tool {str(name)!r}. Available tools: {listing}",
            ok=False, source=REGISTRY_SOURCE, fallback=False, url=None,
        )
    source, fallback = _source(module, config)
    try:
        args = _validate(module.SPEC, getattr(module, "ALIASES", {}), arguments, getattr(module, "CHOICES", None))
    except ValueError as exc:
        return _finish(key, shown_args, config, start, content=f"error: {exc}", ok=False,
                       source=source, fallback=fallback, url=None)

    timeout = max(0.1, float(config.timeout_s))
    margin = min(0.3, timeout * 0.15)  # inner steps stop first, so their specific message wins
    ctx = CallContext(config=config, deadline=start + timeout - margin)
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["outcome"] = module.call(args, ctx)
        except ToolFailure as failure:
            box["failure"] = failure
        except BaseException as exc:  # noqa: BLE001 - turned into a result below
            box["crash"] = exc

    worker = threading.Thread(target=target, name=f"tool-{key}", daemon=True)
    worker.start()
    worker.join(max(0.0, start + timeout - time.monotonic()))
    if worker.is_alive():
        return _finish(key, shown_args, config, start,
                       content=f"error: {key} did not finish within {timeout:g} s", ok=False,
                       source=source, fallback=fallback, url=None)
    outcome = box.get("outcome")
    if isinstance(outcome, Outcome):
        return _finish(key, shown_args, config, start, content=outcome.content, ok=outcome.ok,
                       source=outcome.source, fallback=outcome.fallback, url=outcome.url)
    failure = box.get("failure")
    if isinstance(failure, ToolFailure):
        return _finish(key, shown_args, config, start, content=f"error: {failure.message}", ok=False,
                       source=failure.source, fallback=failure.fallback, url=failure.url)
    crash = box.get("crash")
    return _finish(key, shown_args, config, start,
                   content=f"error: {key} failed unexpectedly ({type(crash).__name__})", ok=False,
                   source=source, fallback=fallback, url=None)


_STAGE = {
    "brave_search": ("Web search: Brave", "Web search: Wikipedia (no Brave key)"),
    "wolfram_alpha": ("Maths: Wolfram|Alpha", "Maths: solved on this machine with SymPy (no Wolfram key)"),
    "code_interpreter": ("Python: sandboxed on this machine", "Python: sandboxed on this machine"),
    "get_weather": ("Weather: Open-Meteo", "Weather: Open-Meteo"),
    "get_local_time": ("Clock: on this machine", "Clock: on this machine"),
    "convert_units": ("Units: on this machine", "Units: on this machine"),
}


def stage_status(name: str, config: ToolConfig) -> str:
    """One plain line for a presenter's screen: what the tool uses, no setting names or addresses."""
    st = status(name, config)
    if not st.available:
        return "Off"
    real, fallback = _STAGE.get(name, (name, name))
    return fallback if st.uses_fallback else real


def description_msg(name: str) -> Msg | str:
    """A tool's description for the page, in any language (its English is `TOOLS[name].description`, what the
    model reads); a tool the catalogue lacks keeps its own description, an unknown name gives ""."""
    spec = TOOLS.get(name)
    if spec is None:
        return ""
    key = f"toolnotes.description.{name}"
    return Msg(key) if key in catalogue(DEFAULT) else spec.description


def result_summary(result: ToolResult) -> str:
    """"3 results" for a search, "failed" for an error, else the length of what the model receives."""
    return str(result_summary_msg(result))


def result_summary_msg(result: ToolResult) -> Msg:
    """`result_summary` as a message for any language ("3 results", "결과 3개")."""
    if not result.ok:
        return msg("toolnotes.summary.failed")
    hits = len(re.findall(r"(?m)^\d+\. ", result.content))
    if hits:
        return msg("toolnotes.summary.results_one" if hits == 1 else "toolnotes.summary.results_many", count=hits)
    words = len(result.content.split())
    return msg("toolnotes.summary.words_one" if words == 1 else "toolnotes.summary.words_many", count=words)
