"""What one live vision session costs the server: RSS growth per browser session that uploaded a 12-MP photo and
asked one question, and where Streamlit says the bytes are.

    python -m bench.bench_session_memory                     # this checkout, 10 sessions (about 2 minutes)
    python -m bench.bench_session_memory --before HEAD       # and the app at HEAD (a `git worktree`, removed after)
    python -m bench.bench_session_memory --app-dir /tmp/app  # another copy of the app instead of this checkout

What is measured: one fresh `streamlit run app.py` (started as tests/test_browser.py starts it, every non-local
request trapped) against the API double (tests/api_double.py), driven by headless Chromium (/usr/bin/chromium)
through Playwright. Each session is its own browser context that opens the vision page, uploads its own 12-MP
(4000×3000) camera-like JPEG (bench_images' texture, ~4.5 MB at q92; a different photo each, as visitors bring,
so neither the replay cache nor Streamlit's media store can share them), waits for the "sent to the model" caption,
clicks "Ask Llama", waits for the whole answer and stays open (a live session, as in a room). The server's VmRSS
is read after each session; two warm-up sessions come first (imports, Pillow's and the SDK's first use, the
first slot of every per-process table), and the growth is the least-squares slope of RSS over the sessions after
them, with the plain (last - first) / n beside it. Streamlit's own accounting (`/_stcore/metrics`,
`cache_memory_bytes`, with `server.enableExpensiveMemoryStats` so session state is sized deeply) says where the
bytes are: uploaded files, media files, session state. RSS includes what the allocator keeps after the transient
decode of each upload (~20 MB at its peak), so it moves by a few MB from run to run; the metrics do not.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
CHAT_INPUT = '[data-testid="stChatInputTextArea"]'
EXCEPTION = '[data-testid="stException"]'
UPLOAD_INPUT = '.st-key-vision_upload [data-testid="stFileUploaderDropzoneInput"]'
TIMEOUT_MS = 60_000
SESSIONS = 10
WARM_UP = 2
PHOTO_SIZE = (4000, 3000)  # 12 MP
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Run:
    """One server's readings: RSS (MB) after 0..n sessions, Streamlit's bytes by kind at the end, photo sizes."""

    label: str
    rss: list[float] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    photo_mb: float = 0.0
    sessions: int = 0
    error: str = ""

    def measured(self) -> list[float]:
        """RSS after the warm-up sessions and each measured one."""
        return self.rss[WARM_UP:]

    @property
    def slope_mb(self) -> float:
        """Least-squares RSS growth per session after the warm-up (MB)."""
        ys = self.measured()
        if len(ys) < 2:
            return float("nan")
        return statistics.linear_regression(range(len(ys)), ys).slope

    @property
    def mean_mb(self) -> float:
        ys = self.measured()
        return (ys[-1] - ys[0]) / (len(ys) - 1) if len(ys) > 1 else float("nan")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def streamlit_bytes(url: str) -> dict[str, float]:
    """`cache_memory_bytes` summed by cache type (MB), from the server's metrics endpoint."""
    with _NO_PROXY.open(url + "/_stcore/metrics?families=cache_memory_bytes", timeout=30) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r'cache_memory_bytes\{cache_type="([^"]+)"[^}]*\}\s+([0-9.e+]+)', line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2)) / 1e6
    return out


def photos(n: int, tmp: Path) -> list[Path]:
    """`n` different 12-MP camera-like JPEGs (one texture, a different patch on each)."""
    from PIL import ImageDraw

    from bench.bench_images import camera_like, jpeg_bytes

    base = camera_like(PHOTO_SIZE)
    out = []
    for i in range(n):
        img = base.copy()
        ImageDraw.Draw(img).rectangle((0, 0, 40 + 12 * i, 60), fill=(255 - 9 * i, 9 * i, 60))
        path = tmp / f"photo-{i + 1}.jpg"
        path.write_bytes(jpeg_bytes(img))
        out.append(path)
    return out


def vision_session(browser: Any, url: str, double: Any, photo: Path, n: int) -> Any:
    """One visitor: open the vision page, upload `photo`, ask, wait for the whole answer. Returns the open context."""
    from tests.api_double import Reply

    context = browser.new_context(viewport={"width": 1280, "height": 720}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{url}/vision")
    page.locator(UPLOAD_INPUT).wait_for(state="attached")
    page.locator(IDLE).wait_for()
    page.locator(UPLOAD_INPUT).set_input_files(str(photo))
    page.locator('[data-testid="stCaptionContainer"]').filter(has_text=photo.name).filter(
        has_text="sent to the model").first.wait_for()
    page.locator(IDLE).wait_for()
    end = f"Sessionend{n}."
    double.queue(Reply(text=f"(bench) A detailed photo with fine texture, session {n}. {end}", chunk_delay_s=0.002))
    page.get_by_role("button", name="Ask Llama").click()
    page.locator('[data-testid="stChatMessage"]').filter(has_text=end).first.wait_for()
    page.locator(f"{CHAT_INPUT}:not([disabled])").wait_for()
    page.wait_for_timeout(300)
    page.locator(IDLE).wait_for()
    if page.locator(EXCEPTION).count():
        raise RuntimeError("the page shows an exception: " + page.locator(EXCEPTION).first.inner_text()[:300])
    return context


def measure(app_dir: Path, label: str, sessions: int, browser: Any, double: Any, env: dict[str, str],
            pictures: list[Path], tmp: Path) -> Run:
    from tests.test_browser import start_app

    run = Run(label, photo_mb=statistics.median(p.stat().st_size / 1e6 for p in pictures))
    logs = tmp / f"logs-{label.replace(' ', '_')}"
    logs.mkdir()
    server = start_app({**env, "STREAMLIT_SERVER_ENABLE_EXPENSIVE_MEMORY_STATS": "true"}, logs, cwd=app_dir)
    contexts = []
    try:
        home = browser.new_context()
        page = home.new_page()
        page.goto(server.url)
        page.locator(IDLE).wait_for(timeout=TIMEOUT_MS)
        home.close()
        time.sleep(1.0)
        run.rss.append(rss_mb(server.proc.pid))
        for n in range(1, WARM_UP + sessions + 1):
            try:
                contexts.append(vision_session(browser, server.url, double, pictures[n - 1], n))
            except Exception as exc:  # noqa: BLE001 - the readings so far are still reported
                run.error = f"session {n}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
                break
            time.sleep(0.5)
            run.rss.append(rss_mb(server.proc.pid))
            run.sessions = n
        run.metrics = streamlit_bytes(server.url)
    finally:
        for context in contexts:
            with contextlib.suppress(Exception):
                context.close()
        with double._lock:
            double._script.clear()  # a reply left queued by a session that failed
        server.stop()
    return run


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """The app at `rev`, checked out beside this one (`git worktree add --detach`; removed after)."""
    path = Path(tempfile.mkdtemp(prefix="session-memory-before-"))
    path.rmdir()
    subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, capture_output=True)


def report(runs: list[Run], sessions: int) -> str:
    lines = [f"{sessions} live vision sessions after {WARM_UP} warm-up ones, each a different 12-MP JPEG "
             f"({runs[0].photo_mb:.1f} MB median) and one question; RSS growth per session:"]
    for r in runs:
        per = max(1, r.sessions)
        kinds = ", ".join(f"{k} {v / per:.2f}" for k, v in sorted(r.metrics.items()))
        lines.append(f"  {r.label:<28} {r.slope_mb:6.2f} MB (slope)  {r.mean_mb:6.2f} MB (last-first)/n   "
                     f"Streamlit's bytes per session (MB): {kinds or 'none'}")
        lines.append(f"  {'':<28} RSS MB: {', '.join(f'{x:.0f}' for x in r.rss)}"
                     + (f"   [{r.error}]" if r.error else ""))
    if len(runs) == 2 and runs[1].slope_mb > 0:
        lines.append(f"  ratio {runs[0].label} / {runs[1].label}: {runs[0].slope_mb / runs[1].slope_mb:.1f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--before", metavar="REV", help="also measure the app at this git revision")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="the app to measure (default: this checkout)")
    parser.add_argument("--label", default="now")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from bench._common import quiet
    from scripts.screenshot import CHROMIUM_ARGS
    from tests.api_double import ApiDouble
    from tests.test_browser import ProxyTrap, app_env

    quiet()
    trap = ProxyTrap()
    runs: list[Run] = []
    with ApiDouble() as double, tempfile.TemporaryDirectory() as tmp_name, sync_playwright() as pw:
        tmp = Path(tmp_name)
        pictures = photos(WARM_UP + args.sessions, tmp)
        env = app_env(trap, MODELS_PROVIDER="custom", MODELS_ENDPOINT=double.endpoint,
                      MODELS_API_KEY="sk-bench-session-memory")
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            if args.before:
                with worktree(args.before) as before_dir:
                    runs.append(measure(before_dir, f"before ({args.before})", args.sessions, browser, double,
                                        env, pictures, tmp))
                    print(report(runs, args.sessions), flush=True)
            runs.append(measure(args.app_dir, args.label, args.sessions, browser, double, env, pictures, tmp))
        finally:
            browser.close()
            trap.close()
    print(report(runs, args.sessions))


if __name__ == "__main__":
    main()
