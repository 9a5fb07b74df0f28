"""Run every benchmark, print a table and write bench/RESULTS.md.

    python -m bench.run_all            # from the repo root; about 7 minutes (the browser benchmark: about 5)
    python -m bench.bench_images       # any one benchmark alone, printed only
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

from bench import bench_client_reuse, bench_images, bench_parser, bench_requests, bench_retry, bench_ui
from bench._common import Result, fmt_ratio

# CPU-bound benchmarks first; the retry one mostly sleeps; the browser one (a Streamlit server and Chromium) last.
BENCHMARKS = (bench_parser, bench_images, bench_client_reuse, bench_requests, bench_retry, bench_ui)
RESULTS = Path(__file__).with_name("RESULTS.md")

HOW_TO_RUN = """\
# Benchmarks — results of one run

## How to run

From the repository root:

```
python -m bench.run_all
```

It runs the six benchmarks below (about 7 minutes: some 5 for the browser benchmark, about 1 for the retry
benchmark's deliberate sleeps), prints a table and rewrites this file. One benchmark alone, printed only:
`python -m bench.bench_parser`, `python -m bench.bench_images`, `python -m bench.bench_client_reuse`,
`python -m bench.bench_requests`, `python -m bench.bench_retry`, `python -m bench.bench_ui`.
Everything is local: the API double from `tests/api_double.py` and the tool stub from `tests/stubs.py` on
127.0.0.1, generated images, and for the ui benchmark a real `streamlit run app.py` driven by headless Chromium
(`/usr/bin/chromium` through Playwright); no network. The ui benchmark also starts the app as it was at commit
`ccf226f` (before its turns were answered in place; exported with `git archive`, so it needs the repository's
history) and measures both in the same run, so "first text no later" compares like with like.

The images section below comes from `bench_images.run()` in this run. Its "before (REV)" memory rows, the same
cases measured with an older `lib/vision/images.py`, are not part of it (four 79-MP decodes at once take about 2.4 GB):
`python -m bench.bench_images --update-results --before REV` adds them, rewriting only the images part.

The machine this runs on is shared and noisy, so the numbers that matter are **ratios measured inside one run**
(medians of interleaved repetitions of both sides); absolute times are only indicative. Nothing in `tests/`
asserts on timings.
"""

NOTES = """\
## Notes

- The retry benchmark's "default would sleep" figures are computed (3 status retries × Retry-After), not measured.
  With a *short* Retry-After (2 s) the project's policy waits too, by design (it retries waits up to 3 s, twice).
- The images benchmark's output from `prepare_image` is somewhat larger than the naive pipeline's: it encodes with
  4:4:4 chroma (text in photos stays sharp) where Pillow's default is 4:2:0.
- The parser's "worst median / 50 ms budget" row is the only absolute comparison here. While writing the bench it
  landed on both sides of 1.0 in different runs on this shared machine (worst input ~45–145 ms per call); the
  scaling ratios were stable. The bound comes from the parser's caps (input length, searches, scan length), and
  the cost is the pure-Python bracket scan.
"""


def environment() -> list[tuple[str, str]]:
    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    return [
        ("date (UTC)", _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")),
        ("machine", f"{platform.system()} {platform.machine()}, nproc {os.cpu_count()}"),
        ("python", sys.version.split()[0]),
        ("packages", ", ".join(f"{p} {version(p)}" for p in ("azure-ai-inference", "azure-core", "pillow", "streamlit",
                                                         "playwright"))),
    ]


def markdown(results: list[Result], env: list[tuple[str, str]], total_s: float) -> str:
    out = [HOW_TO_RUN, "## This run", ""]
    out += [f"- {k}: {v}" for k, v in env]
    out.append(f"- whole run: {total_s:.0f} s")
    out += ["", "## Headline ratios", "", "| benchmark | ratio | value |", "|---|---|---|"]
    for r in results:
        for label, value in r.ratios:
            out.append(f"| {r.name.split(':')[0]} | {label} | **{fmt_ratio(value)}** |")
    for r in results:
        out += ["", f"## {r.name}", "", f"What it measures: {r.measures}", "", "| measurement | result |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in r.rows]
        out += [f"| **ratio: {k}** | **{fmt_ratio(v)}** |" for k, v in r.ratios]
        out += ["", f"Interpretation: {r.interpretation}", "", f"(benchmark wall time {r.seconds:.1f} s)"]
    out += ["", NOTES]
    return "\n".join(out)


KEPT = ("## room:",)
"""Sections another script writes at the end of RESULTS.md (bench/bench_room.py: it takes ~10 minutes alone, so
this run leaves them as they are)."""


def kept_sections() -> str:
    """The sections of the current RESULTS.md that this run does not write (from the first kept heading on)."""
    if not RESULTS.exists():
        return ""
    text = RESULTS.read_text(encoding="utf-8")
    starts = [i for i in (text.find("\n" + h) for h in KEPT) if i >= 0]
    return "\n" + text[min(starts):].rstrip("\n") + "\n" if starts else ""


def main() -> None:
    t0 = time.perf_counter()
    env = environment()
    results = []
    for module in BENCHMARKS:
        print(f"running {module.__name__} ...", flush=True)
        result = module.run()
        print(result.show(), flush=True)
        results.append(result)
    total = time.perf_counter() - t0
    print("\n" + "=" * 100)
    print(f"{'benchmark: ratio':<88} {'value':>10}")
    for r in results:
        for label, value in r.ratios:
            print(f"{(r.name.split(':')[0] + ': ' + label)[:88]:<88} {fmt_ratio(value):>10}")
    print(f"whole run {total:.0f} s")
    RESULTS.write_text(markdown(results, env, total) + kept_sections(), encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
