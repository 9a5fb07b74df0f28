"""parse_tool_call (lib/tool_calling/llama_prompt.py) cost on normal, long and adversarial model output.

The parser runs on every assistant turn (and on streamed prefixes), so hostile or runaway output must not make it
blow up. It has work caps: input over MAX_INPUT_CHARS (50 000) is refused outright, brackets are matched over at
most MAX_AST_CHARS, and at most MAX_CALL_SEARCHES `.call(` / MAX_JSON_ATTEMPTS `{` candidates are tried.

Inputs: (a) a normal ~80-char built-in call, (b) 10 KB of prose, (c) 100 KB of adversarial fragments ('{', '.call(',
'<function=f>{', '[f(', quotes...) as the brief asks — larger than the input cap, so it is refused at once — and,
to see the real work, the same adversarial mix and the worst pattern found while writing this bench
('a.call(' repeated: each of the first MAX_CALL_SEARCHES matches starts a character-by-character bracket scan
of up to MAX_AST_CHARS that never closes) at 10 KB and at 49 KB (just under the cap).
"""

from __future__ import annotations

import random
import time

from bench._common import Result, fmt_s, median, quiet

BUDGET_S = 0.050
REPS = 9

NORMAL = '<|python_tag|>brave_search.call(query="weather in Stockholm tomorrow")<|eom_id|>'
_PROSE = (
    "Stockholm is built on fourteen islands where Lake Malaren meets the Baltic Sea. In winter the days are short "
    "and the light is low, but the city stays busy: ferries cross the water, and people skate on the lakes when "
    "the ice is thick enough. The old town, Gamla stan, keeps its medieval street plan. "
)
_FRAGMENTS = ('{', '{"name": ', 'x.call(', '.call(', 'brave_search.call(query="', '[f(', '<function=f>{', '"', "'",
              ' {"a": [', 'wolfram_alpha.call(', '(', '[', ' word ')


def prose(n: int) -> str:
    return (_PROSE * (n // len(_PROSE) + 1))[:n]


def adversarial(n: int, seed: int = 1) -> str:
    rnd = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < n:
        parts.append(rnd.choice(_FRAGMENTS))
        size += len(parts[-1])
    return "".join(parts)[:n]


def worst_pattern(n: int) -> str:
    return ("a.call(" * (n // 7 + 1))[:n]


def loops_for(fn, arg: str) -> int:
    """Calls per sample so that one sample lasts ~20 ms (1 for the slow inputs)."""
    loops = 1
    while True:
        t = time.perf_counter()
        for _ in range(loops):
            fn(arg)
        if time.perf_counter() - t > 0.02 or loops >= 100_000:
            return loops
        loops *= 4


def per_call_interleaved(fn, inputs: dict[str, str]) -> dict[str, float]:
    """Median seconds per call for each input; the REPS samples of all inputs are taken round-robin, so a burst of
    load from other processes on this shared machine hits every input rather than one."""
    loops = {k: loops_for(fn, v) for k, v in inputs.items()}
    samples: dict[str, list[float]] = {k: [] for k in inputs}
    for _ in range(REPS):
        for k, v in inputs.items():
            t = time.perf_counter()
            for _ in range(loops[k]):
                fn(v)
            samples[k].append((time.perf_counter() - t) / loops[k])
    return {k: median(xs) for k, xs in samples.items()}


def run() -> Result:
    quiet()
    from lib.tool_calling.llama_prompt import MAX_INPUT_CHARS, parse_tool_call

    t0 = time.perf_counter()
    inputs = {
        "(a) normal call, 80 chars": NORMAL,
        "(b) prose, 10 KB": prose(10_000),
        "(c) adversarial mix, 100 KB (over the input cap)": adversarial(100_000),
        "adversarial mix, 10 KB": adversarial(10_000),
        f"adversarial mix, {(MAX_INPUT_CHARS - 1000) // 1000} KB (just under the cap)": adversarial(MAX_INPUT_CHARS - 1000),
        "'a.call(' repeated, 10 KB": worst_pattern(10_000),
        f"'a.call(' repeated, {(MAX_INPUT_CHARS - 1000) // 1000} KB": worst_pattern(MAX_INPUT_CHARS - 1000),
    }
    got = {k: parse_tool_call(v) for k, v in inputs.items()}
    times = per_call_interleaved(parse_tool_call, inputs)
    keys = list(inputs)
    worst_key = max(times, key=times.get)
    rows = []
    for k in keys:
        call = got[k]
        outcome = "None" if call is None else f"{call.form}:{call.name}"
        rows.append((k, f"{fmt_s(times[k])}/call  -> {outcome}"))
    b, c = times[keys[1]], times[keys[2]]
    mix_scale = times[keys[4]] / times[keys[3]]
    worst_scale = times[keys[6]] / times[keys[5]]
    size_scale = len(inputs[keys[4]]) / len(inputs[keys[3]])
    rows.append(("worst input", f"{worst_key}: median {fmt_s(times[worst_key])}, "
                                f"{'within' if times[worst_key] < BUDGET_S else 'OVER'} the {BUDGET_S * 1e3:.0f} ms budget"))
    res = Result(
        name="parser: parse_tool_call cost scaling",
        measures=f"Median time per call: {REPS} samples per input, taken round-robin over all inputs; loops calibrated to ~20 ms per sample.",
        rows=rows,
        ratios=[
            ("(c)/(b) 100 KB adversarial / 10 KB prose", c / b),
            (f"adversarial mix {size_scale:.1f}x longer -> time x", mix_scale),
            (f"'a.call(' repeated {size_scale:.1f}x longer -> time x", worst_scale),
            ("worst median / 50 ms budget", times[worst_key] / BUDGET_S),
        ],
        interpretation=(
            f"No super-linear blow-up: {size_scale:.1f}x more adversarial text costs {mix_scale:.1f}x / {worst_scale:.1f}x "
            f"(the caps bound the work), 100 KB is refused in {fmt_s(c)}; the worst input found takes "
            f"{fmt_s(times[worst_key])} per call ({times[worst_key] / BUDGET_S:.0%} of a 50 ms budget): bounded, "
            f"but up to MAX_CALL_SEARCHES bracket scans of MAX_AST_CHARS characters in pure Python."
        ),
    )
    res.seconds = time.perf_counter() - t0
    return res


if __name__ == "__main__":
    print(run().show())
