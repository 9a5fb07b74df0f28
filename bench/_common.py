"""Helpers shared by the benchmarks: quiet logging, settings pointing at the API double, timing, formatting."""

from __future__ import annotations

import logging
import statistics
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

MODEL = "meta/Meta-Llama-3.1-405B-Instruct"
MESSAGES = [{"role": "user", "content": "Hello"}]
TOKEN = "bench-token"


def quiet() -> None:
    """Silence azure-core retry logs and Streamlit's 'no runtime' cache warnings (the bench runs outside Streamlit)."""
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")


def settings_for(endpoint: str, timeout_s: float = 10.0) -> Any:
    """Project settings that talk to the API double, built the way tests/conftest.py builds them."""
    from lib.hosts.config import load_settings

    return load_settings(
        environ={"MODELS_PROVIDER": "custom", "MODELS_ENDPOINT": endpoint, "MODELS_API_KEY": TOKEN,
                 "REQUEST_TIMEOUT_S": str(timeout_s)},
        probe=lambda url: False,
    )


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result or the exception raised) of one call."""
    start = time.perf_counter()
    try:
        result: Any = fn()
    except Exception as exc:  # noqa: BLE001 - the error is the expected outcome in some benchmarks
        result = exc
    return time.perf_counter() - start, result


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def fmt_s(seconds: float) -> str:
    """A duration with a sensible unit."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} µs"


def fmt_ratio(r: float) -> str:
    """0.0003x, 1.49x, 21.6x, 1,661,900x."""
    if r >= 1000:
        return f"{r:,.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    if r < 0.01:
        return f"{r:.1g}x"
    return f"{r:.2f}x"


@dataclass
class Result:
    """What one benchmark reports; run_all turns a list of these into the table and RESULTS.md."""

    name: str
    measures: str  # one or two sentences: what is timed and how
    rows: list[tuple[str, str]] = field(default_factory=list)  # (what, number)
    ratios: list[tuple[str, float]] = field(default_factory=list)  # (label, ratio) — the headline numbers
    interpretation: str = ""
    seconds: float = 0.0  # wall time of the benchmark itself

    def show(self) -> str:
        lines = [f"== {self.name} ({self.seconds:.1f} s)", f"   {self.measures}"]
        lines += [f"   {k:<58} {v}" for k, v in self.rows]
        lines += [f"   RATIO {k:<52} {fmt_ratio(v)}" for k, v in self.ratios]
        lines.append(f"   -> {self.interpretation}")
        return "\n".join(lines)


def machine_speed_ms(repeats: int = 5) -> float:
    """How fast this machine runs plain Python right now: the best of `repeats` timings of a fixed loop (10^6
    additions), in ms. Printed with time-based results so runs on different days (a shared machine's speed varies
    by more than 2x) can be compared; lower is faster."""
    import time

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - start)
    return 1000 * best

