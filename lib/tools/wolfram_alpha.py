"""wolfram_alpha: the Wolfram|Alpha LLM API, or a local SymPy answer for maths when no App ID is set."""
from __future__ import annotations

import math

from lib.i18n import msg

from . import math_fallback
from .base import (
    CallContext,
    Outcome,
    ToolConfig,
    ToolFailure,
    ToolSpec,
    ToolStatus,
    endpoint_msg,
    http_get,
    http_status_failure,
    strip_html,
    url_with,
)

SPEC = ToolSpec(
    name="wolfram_alpha",
    title="Computation (Wolfram|Alpha)",
    description="Answer maths, science, unit and factual computation questions with Wolfram|Alpha.",
    parameters={
        "type": "object",
        "properties": {"query": {"type": "string", "description": "The question or expression"}},
        "required": ["query"],
    },
    builtin=True,
    online=True,
)
ALIASES = {"input": "query", "q": "query", "expression": "query"}

WOLFRAM = "Wolfram|Alpha LLM API"
SYMPY = "SymPy (local fallback)"
MAX_CHARS = 2000
CPU_LIMIT_S = 5


def source(config: ToolConfig) -> tuple[str, bool]:
    """(source label, fallback?) this configuration uses."""
    return (WOLFRAM, False) if config.wolfram_app_id else (SYMPY, True)


def status(config: ToolConfig) -> ToolStatus:
    """Wolfram|Alpha with an App ID, SymPy for maths without."""
    if config.wolfram_app_id:
        note = endpoint_msg(config.wolfram_url, ToolConfig().wolfram_url)
        return ToolStatus.said(True, False, msg("toolnotes.status.wolfram_key", endpoint=note))
    return ToolStatus.said(True, True, msg("toolnotes.status.wolfram_none"))


def call(arguments: dict, ctx: CallContext) -> Outcome:
    """Ask Wolfram|Alpha when configured, else try the local maths fallback."""
    query = arguments["query"].strip()
    if ctx.config.wolfram_app_id:
        return _wolfram(query, ctx)
    return _sympy(query, ctx)


def _wolfram(query: str, ctx: CallContext) -> Outcome:
    config = ctx.config
    shown = url_with(config.wolfram_url, {"input": query, "maxchars": MAX_CHARS})
    response = http_get(
        ctx,
        config.wolfram_url,
        params={"input": query, "appid": config.wolfram_app_id, "maxchars": MAX_CHARS},
        service="Wolfram|Alpha",
        source=WOLFRAM,
        display_url=shown,
        headers={"Accept": "text/plain"},
    )
    code = response.status_code
    body = response.text.strip() if response.content else ""
    if code == 403:
        raise ToolFailure(
            "Wolfram|Alpha rejected the AppID (403): check WOLFRAM_ALPHA_APP_ID", WOLFRAM, False, shown
        )
    if code == 501:
        hint = _short(body)
        detail = f": {hint}" if hint else ""
        raise ToolFailure(f"Wolfram|Alpha did not understand the input{detail}", WOLFRAM, False, shown)
    if code == 400:
        raise ToolFailure("Wolfram|Alpha: the input is missing or invalid (400)", WOLFRAM, False, shown)
    if code != 200:
        raise http_status_failure(response, "Wolfram|Alpha", WOLFRAM, False, shown)
    if not body:
        raise ToolFailure("Wolfram|Alpha returned an empty answer", WOLFRAM, False, shown)
    return Outcome(body, WOLFRAM, False, shown)


def _sympy(query: str, ctx: CallContext) -> Outcome:
    plan = math_fallback.plan(query)
    if plan is None:
        raise ToolFailure(
            "Wolfram|Alpha is not configured (no WOLFRAM_ALPHA_APP_ID) and this is not a math "
            "question the local fallback can answer",
            SYMPY, True,
        )
    budget = ctx.remaining()
    cpu = max(1, min(CPU_LIMIT_S, math.floor(budget)))
    try:
        answer = math_fallback.solve_in_child(plan, timeout_s=budget, cpu_s=cpu)
    except math_fallback.MathError as exc:
        raise ToolFailure(f"local maths fallback: {exc}", SYMPY, True) from None
    return Outcome(answer, SYMPY, True)


def _short(text: str, limit: int = 300) -> str:
    text = strip_html(text).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
