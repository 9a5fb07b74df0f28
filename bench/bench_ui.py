"""The app in a real browser: websocket bytes per streamed answer, a checkbox click at 0 vs 30 turns, cold start vs
a bare Streamlit page, and the server's memory over 30 vision sessions.

    python -m bench.bench_ui          # about 3 minutes; prints the rows

Everything runs on 127.0.0.1: `streamlit run app.py` in a subprocess (started as tests/test_browser.py starts it,
every non-local request routed to a trap that refuses it), the API double (tests/api_double.py) and the tool stub
(tests/stubs.py), driven by headless Chromium (/usr/bin/chromium) through Playwright's sync API. In one run:

(1) websocket bytes for one streamed answer on the tool page: `framereceived` bytes of the page's websocket from
    pressing Enter in the chat input until the run has settled (its final redraw included), for a ~2.2 KB answer
    of 340 words (10 ms between pieces, no tool call) and, interleaved, a 20-word answer (what every answer costs
    whatever its length, so the difference is what the text itself costs); and the time from Enter to the answer's
    first word on screen vs to the double starting its answer (first token), both from the same wall clock;
(2) a tool checkbox clicked on the tool page of a session with no conversation, of one with 30 turns (imported
    as a JSON transcript through "Open a transcript") as the page draws them (the latest 10, the rest behind "Show
    20 earlier turns"), and of one with that button clicked (all 30 drawn): from the click to the end of the run it
    starts (the tool panel is a fragment: only it reruns), that is the run's last websocket message, timestamped in
    the page, or the app's data-test-script-state turning notRunning if that comes later; 11 clicks each, the three
    sessions taking turns;
(3) cold start: from launching `streamlit run` (a fresh process) to Home idle in the browser with its title shown,
    for app.py (its modules byte-compiled first) and for a bare page (`st.title("Bare")`), 15 runs each,
    interleaved; and whether the app's server
    has pandas / pyarrow loaded once Home is shown (their shared objects in /proc/<pid>/maps);
(4) one fresh server, 30 browser sessions one after another each opening the vision page, uploading a ~3 MB
    photo-like JPEG, clicking "Ask Llama", waiting for the answer and closing: the server's VmRSS before and after
    1, 10, 20 and 30 sessions.

Only ratios inside this run matter; absolute times on this shared 2-core machine are indicative.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench._common import Result, fmt_s, median, quiet, settings_for

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
CHAT_INPUT = '[data-testid="stChatInputTextArea"]'
EXCEPTION = '[data-testid="stException"]'
TIMEOUT_MS = 30_000

STREAM_PAIRS = 2  # (1): long, long in paragraphs and short answers, interleaved
LONG_WORDS, SHORT_WORDS = 340, 20  # 340 words: about 2.2 KB, some 400 Llama tokens
PARAGRAPH_WORDS = 85  # the paragraphed variant: four paragraphs, as Llama usually writes 400 tokens
CHUNK_DELAY_S = 0.01
TTFT_S = 0.3  # (1b): a hosted model's time to first token (often more); the double waits this long first
TTFT_REPS = 3
# (1c): the app before its turns were answered in place (the last commit before that work), measured in the same
# run from `git archive`, so "first text no later" compares like with like.
BEFORE_REV = "ccf226f"
CLICKS = 11  # (2): per session (a click varies 40-130 ms here, with the browser's garbage collection)
TURNS = 30
COLD_RUNS = 15  # (3): per side. A launch varies by ±0.1 s here: with 7 the ratio of medians moved by
# ±0.05 from one run to the next (1.01, 1.05, 1.11 in three runs of the same code); two runs with 15: 1.04, 1.05
VISION_SESSIONS = 30  # (4)
RSS_AT = (1, 10, 20, 30)
# (4): Streamlit keeps a closed tab's session for server.disconnectedSessionTTL (120 s by default); the vision
# server here keeps it 30 s, so the readings also show what happens once sessions expire, without a 2-minute wait.
VISION_TTL_S = 30
PHOTO_SIZE = (3264, 2448)  # 8 MP, about 2.9 MB at q92 with bench_images' camera-like texture
CHECKBOX = "Local time (offline)"  # a tool that needs no network and is off by default

VOCABULARY = (
    "the llama walked slowly across a high windy plateau where grass grew thin and silver under morning light "
    "while herders sang old songs about rivers mountains stars bread wool markets journeys home and friends who "
    "waited patiently beside warm fires telling stories of clever animals brave children distant cities quiet "
    "valleys"
).split()


def story(words: int, seed: int) -> str:
    """A plain-prose answer of `words` words: a unique first word (to spot the first text) and a unique last one."""
    rng = random.Random(seed)
    body = [rng.choice(VOCABULARY) for _ in range(words - 2)]
    for i in range(12, len(body), 13):
        body[i] += "."
    return " ".join(["Llamastory", *body, "Finis."])


def paragraphed(words: int, seed: int, every: int = PARAGRAPH_WORDS) -> str:
    """`story`, split into paragraphs of about `every` words (at a sentence end)."""
    out, count = [], 0
    for word in story(words, seed).split(" "):
        out.append(word)
        count += 1
        if count >= every and word.endswith(".") and word != "Finis.":
            out.append("\n\n")
            count = 0
    return " ".join(out).replace(" \n\n ", "\n\n")


# --- servers and browser -----------------------------------------------------------------------------------------


class Launched:
    """`streamlit run <script>` in `cwd` (tests.test_browser.AppServer), timed from the launch (cold start)."""

    def __init__(self, script: str, cwd: Path, env: dict[str, str], log: Path) -> None:
        from tests.test_browser import AppServer

        self._server = AppServer(env, log, cwd, script)
        self.started, self.url, self.proc = self._server.started, self._server.url, self._server.proc

    def wait_healthy(self, timeout_s: float = 30) -> None:
        self._server.wait_healthy(timeout_s, poll_s=0.02)  # polled often: the time to healthy is measured

    def stop(self) -> None:
        self._server.stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def loaded(pid: int, package: str) -> bool:
    """Whether any shared object of `package` (e.g. pyarrow) is mapped in the process."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return any(f"/{package}/" in line and ".so" in line for line in maps.splitlines())


def new_page(browser: Any, width: int = 1400, height: int = 1000) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


def settle(page: Any) -> None:
    """tests.test_browser.settle: idle twice, 400 ms apart (a turn ends with a rerun that redraws it)."""
    from tests.test_browser import settle as _settle

    _settle(page, TIMEOUT_MS)


def healthy(page: Any) -> None:
    if page.locator(EXCEPTION).count():
        raise RuntimeError("the page shows an exception: " + page.locator(EXCEPTION).first.inner_text()[:300])


# --- (1) websocket bytes for one streamed answer -----------------------------------------------------------------

FIRST_TEXT_JS = """(marker) => {
    window.__firstText = null;
    const seen = () => [...document.querySelectorAll(
        '[data-testid="stChatMessage"] [data-testid="stMarkdownContainer"]')].some(e => e.textContent.includes(marker));
    const obs = new MutationObserver(() => {
        if (window.__firstText === null && seen()) { window.__firstText = Date.now(); obs.disconnect(); }
    });
    obs.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def one_answer(browser: Any, app: Any, double: Any, text: str, seed: int, ttft_s: float = 0.0) -> dict[str, float]:
    """A fresh session asks one question; the double waits `ttft_s`, then streams `text` (it starts with
    "Llamastory" and ends with "Finis."). Bytes, script runs and first-text times."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from tests.api_double import Reply

    context, page = new_page(browser)
    received = [0, 0, 0]  # bytes, frames, script runs (each starts with a new_session message)

    def on_ws(ws: Any) -> None:
        def frame(payload: Any) -> None:
            data = payload.encode() if isinstance(payload, str) else payload
            received[0] += len(data)
            received[1] += 1
            msg = ForwardMsg()
            msg.ParseFromString(data)
            received[2] += msg.WhichOneof("type") == "new_session"

        ws.on("framereceived", frame)

    page.on("websocket", on_ws)
    try:
        page.goto(f"{app.url}/tool_calling")
        page.locator(CHAT_INPUT).wait_for()
        settle(page)
        healthy(page)
        stamps: list[float] = []
        original = double._take  # the double's one way to the next reply (scripted or not)

        def stamped(body: dict[str, Any]) -> Any:
            stamps.append(time.time())  # the double answers at once (no delay_s): its first token leaves now
            return original(body)

        double._take = stamped
        double.queue(Reply(text=text, delay_s=ttft_s, chunk_delay_s=CHUNK_DELAY_S))
        page.evaluate(FIRST_TEXT_JS, "Llamastory")
        page.wait_for_timeout(300)  # let Playwright deliver any frame still pending before the snapshot
        before_bytes, before_frames, before_runs = received
        box = page.locator(CHAT_INPUT)
        box.fill(f"Tell me a story, number {seed}")
        sent = time.time()
        box.press("Enter")
        page.locator('[data-testid="stChatMessage"]').filter(has_text="Finis.").first.wait_for()
        settle(page)
        page.wait_for_timeout(300)
        healthy(page)
        double._take = original
        first_text = page.evaluate("window.__firstText")
        if not stamps or first_text is None:
            raise RuntimeError("the answer did not arrive as expected")
        return {
            "bytes": received[0] - before_bytes,
            "frames": received[1] - before_frames,
            "runs": received[2] - before_runs,
            "answer": len(text.encode()),
            "first_text_s": first_text / 1000 - sent,
            "first_token_s": stamps[0] + ttft_s - sent,
        }
    finally:
        double.__dict__.pop("_take", None)  # the double's own method again
        context.close()


def stream_bytes(browser: Any, apps: dict[str, Any], double: Any) -> dict[str, dict[str, list[dict[str, float]]]]:
    """(1) and (1b) for each app ("now", and "before" when it could be built), interleaved."""
    out: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {"long": [], "paragraphs": [], "short": [], "ttft": []} for name in apps}
    for i in range(max(STREAM_PAIRS, TTFT_REPS)):
        kinds = [("long", lambda seed: story(LONG_WORDS, seed), 0.0), ("short", lambda seed: story(SHORT_WORDS, seed), 0.0),
                 ("paragraphs", lambda seed: paragraphed(LONG_WORDS, seed), 0.0)] if i < STREAM_PAIRS else []
        kinds.append(("ttft", lambda seed: story(SHORT_WORDS, seed), TTFT_S))
        for kind, text, ttft in kinds if i % 2 == 0 else kinds[::-1]:
            names = list(apps) if (i + len(kind)) % 2 == 0 else list(apps)[::-1]
            seed = 100 * i + list(out[names[0]]).index(kind)  # a new question each time: no replay-cache hit
            for name in names:
                out[name][kind].append(one_answer(browser, apps[name], double, text(seed), seed=seed, ttft_s=ttft))
    return out


def before_app(env: dict[str, str], tmp: Path, rev: str) -> Any:
    """`streamlit run app.py` of the app at git revision `rev` (exported with `git archive`)."""
    where = tmp / f"before-{rev}"
    where.mkdir()
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    from tests.test_browser import start_app

    return start_app(env, where, cwd=where)


# --- (2) checkbox click at 0 vs 30 turns -------------------------------------------------------------------------

# Every websocket message's arrival is timestamped in the page (a run ends with the server's "script finished"
# message), and so are the app's data-test-script-state changes: a very quick run can go running -> notRunning
# within one render, leaving no attribute change to see.
WS_TIMES_JS = """(() => {
    window.__wsTimes = [];
    window.__wsBytes = [];
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
        constructor(...args) {
            super(...args);
            this.addEventListener('message', (e) => {
                window.__wsTimes.push(performance.now());
                window.__wsBytes.push((e.data && (e.data.byteLength ?? e.data.size ?? e.data.length)) || 0);
            });
        }
    };
})();"""
WATCH_RUNS_JS = """() => {
    window.__runs = [];
    window.__clickAt = null;
    const app = document.querySelector('[data-testid="stApp"]');
    new MutationObserver(() => window.__runs.push([app.getAttribute('data-test-script-state'), performance.now()]))
        .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
    document.addEventListener('click', () => { if (window.__clickAt === null) window.__clickAt = performance.now(); },
                              true);
}"""
QUIET_MS = 500
RUN_OVER_JS = """(quietMs) => {
    const t = window.__clickAt;
    if (t === null) return false;
    const msgs = window.__wsTimes.filter(x => x > t);
    const state = document.querySelector('[data-testid="stApp"]').getAttribute('data-test-script-state');
    return msgs.length > 0 && state === 'notRunning' && performance.now() - msgs[msgs.length - 1] > quietMs;
}"""
CLICK_TIME_JS = """() => {
    const t = window.__clickAt;
    const ends = window.__wsTimes.filter(x => x > t)
        .concat(window.__runs.filter(r => r[1] > t && r[0] === 'notRunning').map(r => r[1]));
    const bytes = window.__wsBytes.filter((b, i) => window.__wsTimes[i] > t).reduce((a, b) => a + b, 0);
    return [Math.max(...ends) - t, bytes];
}"""


def transcript_json(endpoint: str, n: int = TURNS) -> str:
    """A tool-page transcript of `n` finished turns, each with a Brave Search step and a ~1 KB answer."""
    import datetime as dt

    from lib.hosts.budget import fit_messages
    from lib.tool_calling.llama_prompt import ToolCall
    from lib.hosts.providers import context_limit
    from lib.tool_calling.loop import RETURN_MODES, ToolStep, Turn, build_messages
    from lib.tools.base import ToolResult
    from lib.answers.transcript import to_json, tool_transcript

    model = "meta-llama/Llama-3.1-405B-Instruct"
    settings = settings_for(endpoint)
    limit = context_limit(settings.provider, model) if settings.provider else 8000
    turns: list[Turn] = []
    for i in range(n):
        query = f"weather in town number {i}"
        results = "\n".join(f"{k + 1}. Weather report {k} for town {i}: " + story(14, 1000 * i + k)
                            for k in range(8))  # ~800 characters, like the stub's search results
        step = ToolStep(raw_output=f'<|python_tag|>brave_search.call(query="{query}")<|eom_id|>',
                        call=ToolCall("brave_search", {"query": query}, form="builtin"),
                        result=ToolResult("brave_search", {"query": query}, results, True, "Brave Search API", False,
                                          0.42, "https://api.search.brave.com/res/v1/web/search"),
                        model=model)
        answer = story(180, i)  # ~1 KB
        turn = Turn(question=f"What is the weather in town number {i}?", steps=[step], answer=answer,
                    answer_raw=answer, model=model, endpoint=endpoint, provider="Custom", provider_id="custom",
                    keyed=True, return_mode=RETURN_MODES[0], elapsed_s=2.1, requests=2, tokens=1800)
        sent = build_messages(turns, turn, ["brave_search", "wolfram_alpha"], RETURN_MODES[0], dt.date(2026, 11, 27))
        turn.messages_sent = fit_messages(sent, limit, 1024)[0]
        turns.append(turn)
    return to_json(tool_transcript(turns, provider="Custom", model=model))


def click_time(page: Any) -> tuple[float, int]:
    """(seconds from the click to the last message of the run it starts, or to the last change to notRunning if
    later; websocket bytes that run sent)."""
    page.evaluate("window.__clickAt = null")
    page.get_by_text(CHECKBOX, exact=True).click()
    page.wait_for_function(RUN_OVER_JS, arg=QUIET_MS, timeout=TIMEOUT_MS)
    ms, received = page.evaluate(CLICK_TIME_JS)
    return ms / 1000, int(received)


def _open_transcript(page: Any, path: Path) -> None:
    """Open a JSON transcript through "Open a transcript" and wait for its latest question on screen."""
    page.get_by_text("Open a transcript").click()
    page.locator('[data-testid="stPopover"] [data-testid="stFileUploaderDropzoneInput"], '
                 '[data-testid="stPopoverBody"] [data-testid="stFileUploaderDropzoneInput"]').first \
        .set_input_files(str(path))
    page.get_by_text(f"What is the weather in town number {TURNS - 1}?", exact=True).wait_for()
    settle(page)
    page.keyboard.press("Escape")
    settle(page)


def checkbox(browser: Any, app: Any, double: Any, tmp: Path) -> dict[str, Any]:
    """Click times in three sessions: no conversation; 30 turns as the page draws them (the latest SHOWN_TURNS,
    the rest behind "Show N earlier turns"); 30 turns with that button clicked, all drawn."""
    path = tmp / "thirty-turns.json"
    path.write_text(transcript_json(double.endpoint), encoding="utf-8")
    sessions = {name: new_page(browser) for name in ("empty", "full", "all")}
    for context, _ in sessions.values():
        context.add_init_script(WS_TIMES_JS)
    try:
        for _, page in sessions.values():
            page.goto(f"{app.url}/tool_calling")
            page.get_by_text(CHECKBOX, exact=True).wait_for()
            settle(page)
            healthy(page)
        for name in ("full", "all"):
            _open_transcript(sessions[name][1], path)
        earlier = sessions["all"][1].get_by_text(re.compile(r"^Show \d+ earlier turns?$"))
        if earlier.count():
            earlier.first.click()
            sessions["all"][1].get_by_text("What is the weather in town number 0?", exact=True).wait_for()
            settle(sessions["all"][1])
        shown = {name: sessions[name][1].get_by_role("group", name="Chat message from user").count()
                 for name in ("full", "all")}
        for _, page in sessions.values():
            healthy(page)
            page.evaluate(WATCH_RUNS_JS)
        times: dict[str, list[float]] = {name: [] for name in sessions}
        sent: dict[str, list[int]] = {name: [] for name in sessions}
        order = list(sessions)
        for i in range(CLICKS):
            for name in order[i % len(order):] + order[:i % len(order)]:  # each session leads in turn
                seconds, received = click_time(sessions[name][1])
                times[name].append(seconds)
                sent[name].append(received)
        for _, page in sessions.values():
            healthy(page)
        return {"times": times, "bytes": sent, "turns_shown": shown["full"], "all_shown": shown["all"],
                "json_kb": path.stat().st_size / 1024}
    finally:
        for context, _ in sessions.values():
            context.close()


# --- (3) cold start ----------------------------------------------------------------------------------------------


def cold_once(browser: Any, script: str, cwd: Path, env: dict[str, str], title: str, log: Path) -> dict[str, Any]:
    server = Launched(script, cwd, env, log)
    context = None
    try:
        server.wait_healthy()
        healthy_s = time.perf_counter() - server.started
        context, page = new_page(browser)
        page.goto(server.url)
        page.get_by_role("heading", name=title).wait_for()
        page.locator(IDLE).wait_for()
        seconds = time.perf_counter() - server.started
        healthy(page)
        pid = server.proc.pid
        return {"s": seconds, "health_s": healthy_s, "pandas": loaded(pid, "pandas"), "pyarrow": loaded(pid, "pyarrow"),
                "rss": rss_mb(pid)}
    finally:
        if context is not None:
            context.close()
        server.stop()


def compile_app() -> None:
    """Byte-compile the app's modules, as Python does on a first launch, unless PYTHONDONTWRITEBYTECODE is set (as
    it is on this machine): otherwise every launch here compiles ~30 modules again (~20 ms), which no installed
    app pays twice. The bare page has no modules of its own."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "app.py", "lib", "ui", "pages"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def cold_start(browser: Any, env: dict[str, str], tmp: Path) -> dict[str, list[dict[str, Any]]]:
    compile_app()
    bare_dir = tmp / "bare"
    bare_dir.mkdir()
    (bare_dir / "bare.py").write_text('import streamlit as st\n\nst.title("Bare")\n', encoding="utf-8")
    out: dict[str, list[dict[str, Any]]] = {"app": [], "bare": []}
    for i in range(COLD_RUNS):
        order = [("app", "app.py", ROOT, "Llama Herd Studio"), ("bare", "bare.py", bare_dir, "Bare")]
        for name, script, cwd, title in order if i % 2 == 0 else order[::-1]:
            out[name].append(cold_once(browser, script, cwd, env, title, tmp / f"cold-{name}-{i}.log"))
    return out


# --- (4) server memory over 30 vision sessions -------------------------------------------------------------------


def vision_session(browser: Any, app: Any, double: Any, photo: Path, n: int) -> None:
    from tests.api_double import Reply

    context, page = new_page(browser, 1280, 720)
    try:
        page.goto(f"{app.url}/vision")
        page.locator('.st-key-vision_upload [data-testid="stFileUploaderDropzoneInput"]').wait_for(state="attached")
        page.locator(IDLE).wait_for()
        healthy(page)
        page.locator('.st-key-vision_upload [data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
        ask = page.get_by_role("button", name="Ask Llama")
        page.wait_for_function(
            """() => [...document.querySelectorAll('button')].some(b => b.innerText.includes('Ask Llama') &&
                                                                         !b.disabled)""", timeout=TIMEOUT_MS)
        end = f"Visionend{n}."
        double.queue(Reply(text=f"(bench) A detailed photo with fine texture, session {n}. " + story(40, n)
                       + " " + end, chunk_delay_s=0.002))
        ask.click()
        page.locator('[data-testid="stChatMessage"]').filter(has_text=end).first.wait_for()
        # Disabled while the answer streams, enabled again by the rerun that follows it.
        page.locator(f"{CHAT_INPUT}:not([disabled])").wait_for()
        page.locator(IDLE).wait_for()
        healthy(page)
    finally:
        context.close()


def vision_memory(browser: Any, env: dict[str, str], double: Any, tmp: Path) -> dict[str, Any]:
    from PIL import ImageDraw

    from bench.bench_images import camera_like, jpeg_bytes
    from tests.test_browser import start_app

    base = camera_like(PHOTO_SIZE)
    photo = tmp / "photo.jpg"
    server = start_app({**env, "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(VISION_TTL_S)}, tmp)
    try:
        pid = server.proc.pid
        warm_ctx, warm = new_page(browser)  # Home once, so the baseline has the app imported
        warm.goto(server.url)
        warm.locator(IDLE).wait_for()
        warm_ctx.close()
        time.sleep(0.5)
        rss = {0: rss_mb(pid)}
        sizes = []
        t0 = time.perf_counter()
        error = ""
        for n in range(1, VISION_SESSIONS + 1):
            # Every visitor brings a different photo (the same bytes would be answered from the replay cache).
            img = base.copy()
            ImageDraw.Draw(img).rectangle((0, 0, 8 * n, 40), fill=(255 - 8 * n, 8 * n, 0))
            photo.write_bytes(jpeg_bytes(img))
            sizes.append(photo.stat().st_size / 1e6)
            try:
                vision_session(browser, server, double, photo, n)
            except Exception as exc:  # noqa: BLE001 - the readings so far are still reported
                error = f"session {n} failed: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
                break
            if n in RSS_AT:
                time.sleep(0.5)
                rss[n] = rss_mb(pid)
        if len(rss) == 1:
            raise RuntimeError(error or "no session completed")
        seconds = time.perf_counter() - t0
        if not error:  # every tab is closed: wait until Streamlit has dropped the last session, plus its cleanup
            time.sleep(VISION_TTL_S + 15)
            rss["expired"] = rss_mb(pid)
        return {"rss": rss, "photo_mb": median(sizes), "seconds": seconds, "error": error,
                "sessions": n if not error else n - 1}
    finally:
        with double._lock:
            double._script.clear()  # a reply left queued by a session that failed
        server.stop()


# --- the benchmark -----------------------------------------------------------------------------------------------


def _guarded(label: str, fn: Callable[[], Any], failures: dict[str, str]) -> Any:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - reported as "not measured" with the reason
        failures[label] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        print(f"   ({label} not measured: {failures[label]})", flush=True)
        return None


def run() -> Result:
    quiet()
    t0 = time.perf_counter()
    from playwright.sync_api import sync_playwright

    from scripts.screenshot import CHROMIUM_ARGS
    from tests.api_double import ApiDouble
    from tests.stubs import StubServer
    from tests.test_browser import ProxyTrap, app_env, start_app

    failures: dict[str, str] = {}
    trap = ProxyTrap()
    with ApiDouble() as double, StubServer() as stub, tempfile.TemporaryDirectory() as tmp_name, \
            sync_playwright() as pw:
        tmp = Path(tmp_name)
        env = app_env(trap, **stub.env(), MODELS_PROVIDER="custom", MODELS_ENDPOINT=double.endpoint,
                      MODELS_API_KEY="sk-bench-ui-key")
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            cold = _guarded("cold start", lambda: cold_start(browser, env, tmp), failures)
            (tmp / "tools").mkdir()
            app = start_app(env, tmp / "tools")
            before = _guarded(f"the app at {BEFORE_REV}", lambda: before_app(env, tmp, BEFORE_REV), failures)
            try:
                apps = {"now": app, **({"before": before} if before else {})}
                streams = _guarded("websocket bytes", lambda: stream_bytes(browser, apps, double), failures)
                if before:
                    before.stop()
                    before = None
                clicks = _guarded("checkbox click", lambda: checkbox(browser, app, double, tmp), failures)
            finally:
                app.stop()
                if before:
                    before.stop()
            (tmp / "vision").mkdir()
            memory = _guarded("vision sessions", lambda: vision_memory(browser, env, double, tmp / "vision"), failures)
        finally:
            browser.close()
    trap.close()
    outbound = list(trap.lines)

    rows: list[tuple[str, str]] = []
    ratios: list[tuple[str, float]] = []

    if streams:
        now = streams["now"]
        old_app = streams.get("before")

        def med(runs: list[dict[str, float]], key: str) -> float:
            return median([r[key] for r in runs])

        def kb(runs: list[dict[str, float]]) -> str:
            return ", ".join(f"{r['bytes'] / 1024:.1f}" for r in runs)

        long_b, short_b, para_b = med(now["long"], "bytes"), med(now["short"], "bytes"), med(now["paragraphs"], "bytes")
        long_a, short_a, para_a = now["long"][0]["answer"], now["short"][0]["answer"], now["paragraphs"][0]["answer"]
        per_byte = (long_b - short_b) / (long_a - short_a)
        instant = now["long"] + now["short"] + now["paragraphs"]
        first_ratio = median([r["first_text_s"] / r["first_token_s"] for r in instant])
        ttft_ratio = median([r["first_text_s"] / r["first_token_s"] for r in now["ttft"]])
        rows += [
            (f"(1) {LONG_WORDS}-word answer, one paragraph ({long_a / 1024:.1f} KB): websocket bytes received",
             f"{long_b / 1024:.1f} KB  (runs: {kb(now['long'])} KB; {med(now['long'], 'frames'):.0f} frames, "
             f"{med(now['long'], 'runs'):.0f} script run(s))"),
            (f"(1) {LONG_WORDS}-word answer in paragraphs of ~{PARAGRAPH_WORDS} words ({para_a / 1024:.1f} KB): "
             "websocket bytes received",
             f"{para_b / 1024:.1f} KB  (runs: {kb(now['paragraphs'])} KB)"),
            (f"(1) {SHORT_WORDS}-word answer ({short_a} B): websocket bytes received",
             f"{short_b / 1024:.1f} KB  (runs: {kb(now['short'])} KB; {med(now['short'], 'frames'):.0f} frames)"),
            ("(1) extra bytes per extra answer byte (long - short)", f"{per_byte:.2f}"),
            ("(1b) Enter -> double's first token / -> first answer text on screen, instant double",
             f"{fmt_s(med(instant, 'first_token_s'))} / {fmt_s(med(instant, 'first_text_s'))}  "
             f"(median of {len(instant)} answers)"),
            (f"(1b) the same, the double waiting {TTFT_S:.1f} s before its first token",
             f"{fmt_s(med(now['ttft'], 'first_token_s'))} / {fmt_s(med(now['ttft'], 'first_text_s'))}  "
             f"(median of {len(now['ttft'])} answers)"),
        ]
        ratios += [
            (f"websocket bytes / answer bytes, {LONG_WORDS}-word answer in one paragraph (target <= 10)",
             long_b / long_a),
            (f"websocket bytes / answer bytes, {LONG_WORDS}-word answer in paragraphs", para_b / para_a),
            ("websocket bytes per extra answer byte (long - short answer)", per_byte),
            ("Enter->first text on screen / Enter->double's first token, instant double", first_ratio),
            (f"Enter->first text on screen / Enter->double's first token, {TTFT_S:.1f} s to first token", ttft_ratio),
        ]
        if old_app:
            instant_old = old_app["long"] + old_app["short"] + old_app["paragraphs"]
            old_long_b = med(old_app["long"], "bytes")
            rows += [
                (f"(1c) the app at {BEFORE_REV}, same run: {LONG_WORDS}-word answer, one paragraph / in paragraphs / "
                 f"{SHORT_WORDS} words",
                 f"{old_long_b / 1024:.1f} / {med(old_app['paragraphs'], 'bytes') / 1024:.1f} / "
                 f"{med(old_app['short'], 'bytes') / 1024:.1f} KB  ({med(old_app['long'], 'runs'):.0f} script runs)"),
                (f"(1c) the app at {BEFORE_REV}: Enter -> first text on screen, instant double / "
                 f"{TTFT_S:.1f} s to first token",
                 f"{fmt_s(med(instant_old, 'first_text_s'))} / {fmt_s(med(old_app['ttft'], 'first_text_s'))}"),
            ]
            ratios += [
                (f"first text on screen, now / at {BEFORE_REV}, instant double (<= 1: no later)",
                 med(instant, "first_text_s") / med(instant_old, "first_text_s")),
                (f"first text on screen, now / at {BEFORE_REV}, {TTFT_S:.1f} s to first token (<= 1: no later)",
                 med(now["ttft"], "first_text_s") / med(old_app["ttft"], "first_text_s")),
                (f"websocket bytes, {LONG_WORDS}-word answer, now / at {BEFORE_REV}", long_b / old_long_b),
            ]
    else:
        rows.append(("(1) websocket bytes for one streamed answer", f"not measured: {failures.get('websocket bytes')}"))

    if clicks:
        e, f, every = clicks["times"]["empty"], clicks["times"]["full"], clicks["times"]["all"]
        rows += [
            ("(2) checkbox click -> run over, 0 turns",
             f"{fmt_s(median(e))}  (min {fmt_s(min(e))}, max {fmt_s(max(e))}; {len(e)} clicks)"),
            (f"(2) checkbox click -> run over, {TURNS} turns (transcript {clicks['json_kb']:.0f} KB, "
             f"as the page draws them: {clicks['turns_shown']} questions on screen, the rest behind "
             "\"Show N earlier turns\")",
             f"{fmt_s(median(f))}  (min {fmt_s(min(f))}, max {fmt_s(max(f))}; {len(f)} clicks)"),
            (f"(2) checkbox click -> run over, {TURNS} turns all drawn (\"Show N earlier turns\" clicked: "
             f"{clicks['all_shown']} questions on screen)",
             f"{fmt_s(median(every))}  (min {fmt_s(min(every))}, max {fmt_s(max(every))}; {len(every)} clicks)"),
            (f"(2) websocket bytes for that click's run (the tool panel, a fragment), 0 / {TURNS} / {TURNS} all drawn",
             " / ".join(f"{median(clicks['bytes'][k]) / 1024:.1f} KB" for k in ("empty", "full", "all"))),
        ]
        ratios += [(f"checkbox click, {TURNS} turns / 0 turns (target <= 2)", median(f) / median(e)),
                   (f"checkbox click, {TURNS} turns all drawn / 0 turns", median(every) / median(e))]
    else:
        rows.append(("(2) checkbox click at 0 / 30 turns", f"not measured: {failures.get('checkbox click')}"))

    if cold:
        a, b = [r["s"] for r in cold["app"]], [r["s"] for r in cold["bare"]]

        def mods(runs: list[dict[str, Any]]) -> str:
            return ", ".join(f"{m} {'loaded' if any(r[m] for r in runs) else 'not loaded'}"
                             for m in ("pandas", "pyarrow"))

        rows += [
            ("(3) launch -> Home idle with its title, app.py",
             f"{fmt_s(median(a))}  (runs: {', '.join(f'{x:.2f}' for x in a)} s; RSS then "
             f"{median([r['rss'] for r in cold['app']]):.0f} MB)"),
            ("(3) launch -> page idle with its title, bare st.title page",
             f"{fmt_s(median(b))}  (runs: {', '.join(f'{x:.2f}' for x in b)} s; RSS then "
             f"{median([r['rss'] for r in cold['bare']]):.0f} MB)"),
            ("(3) of which launch -> /_stcore/health answers, app.py / bare",
             f"{fmt_s(median([r['health_s'] for r in cold['app']]))} / "
             f"{fmt_s(median([r['health_s'] for r in cold['bare']]))}"),
            ("(3) app server once Home is shown (/proc/<pid>/maps)", mods(cold["app"])),
            ("(3) bare page's server (/proc/<pid>/maps)", mods(cold["bare"])),
        ]
        ratios.append(("cold start to Home idle, app / bare page (target <= 1.1)", median(a) / median(b)))
    else:
        rows.append(("(3) cold start", f"not measured: {failures.get('cold start')}"))

    if memory:
        rss = memory["rss"]
        done = [k for k in RSS_AT if k in rss]
        rows.append((f"(4) server RSS before / after {', '.join(map(str, done))} vision sessions "
                     f"({memory['photo_mb']:.1f} MB JPEG each)",
                     " / ".join(f"{rss[k]:.0f}" for k in (0, *done)) + " MB"))
        if memory["error"]:
            rows.append(("(4) vision sessions stopped early", memory["error"]))
        if all(k in rss for k in (10, 20, 30)):
            first, second = (rss[20] - rss[10]) / 10, (rss[30] - rss[20]) / 10
            per_session = (rss[30] - rss[10]) / 20
            trend = ("levelled off" if second <= max(1.0, 0.25 * first) else
                     "still growing, more slowly" if second < first else "still growing, not levelling off")
            rows += [
                ("(4) RSS growth per session, sessions 10->20 / 20->30", f"{first:+.1f} / {second:+.1f} MB ({trend})"),
                ("(4) 30 sessions took", f"{memory['seconds']:.0f} s (a closed tab's session kept "
                                         f"{VISION_TTL_S} s: server.disconnectedSessionTTL)"),
            ]
            if "expired" in rss:
                rows.append((f"(4) RSS {VISION_TTL_S + 15} s after the last tab closed (every session expired)",
                             f"{rss['expired']:.0f} MB ({rss['expired'] - rss[0]:+.0f} MB over the start, "
                             f"{rss['expired'] - rss[30]:+.0f} MB from the peak)"))
                ratios.append(("RSS after every session expired: growth over the start / growth at 30 sessions",
                               (rss["expired"] - rss[0]) / (rss[30] - rss[0]) if rss[30] > rss[0] else float("nan")))
            ratios += [
                ("RSS growth per vision session (10->30) / upload size", per_session / memory["photo_mb"]),
                ("RSS growth per session, sessions 20->30 / 10->20 (< 1: slowing)",
                 second / first if first > 0 else float("nan")),
            ]
    else:
        rows.append(("(4) server RSS after 30 vision sessions", f"not measured: {failures.get('vision sessions')}"))
    rows.append(("requests the app tried to send off 127.0.0.1",
                 str(len(outbound)) + (f" ({outbound[:3]})" if outbound else "")))

    parts = []
    if streams:
        rerun = (f", {short_b / median(clicks['bytes']['empty']):.1f}x what a checkbox click sends "
                 f"({median(clicks['bytes']['empty']) / 1024:.1f} KB: the tool panel reruns alone)") if clicks else ""
        parts.append(
            f"A {long_a / 1024:.1f} KB streamed answer in one paragraph cost {long_b / 1024:.1f} KB of websocket "
            f"traffic ({long_b / long_a:.1f}x the answer, target <= 10x; in paragraphs {para_b / para_a:.1f}x). "
            f"What every answer costs whatever its length: a {SHORT_WORDS}-word answer costs {short_b / 1024:.1f} KB"
            f"{rerun}; each extra answer byte costs {per_byte:.1f} bytes. First text appeared {first_ratio:.2f}x the "
            f"time the instant double took to send its first token ({ttft_ratio:.2f}x with a {TTFT_S:.1f} s "
            "first token: the request now leaves before the page is drawn, so a real model's thinking hides the "
            "page draw).")
        if old_app:
            parts.append(
                f"Against the app at {BEFORE_REV} in the same run: {long_b / old_long_b:.2f}x its traffic for the "
                f"long answer, first text {med(instant, 'first_text_s') / med(instant_old, 'first_text_s'):.2f}x its "
                f"time with the instant double and "
                f"{med(now['ttft'], 'first_text_s') / med(old_app['ttft'], 'first_text_s'):.2f}x with a "
                f"{TTFT_S:.1f} s first token.")
    if clicks:
        parts.append(f"A checkbox click took {fmt_s(median(e))} with no conversation and {fmt_s(median(f))} with "
                     f"{TURNS} turns ({median(f) / median(e):.2f}x, target <= 2x), the page drawing the latest "
                     f"{clicks['turns_shown']} of them; with all {TURNS} drawn it took {fmt_s(median(every))} "
                     f"({median(every) / median(e):.2f}x): the browser redraws every drawn element on each run, "
                     "the tool panel's fragment runs included, while the server sends the same few KB.")
    if cold:
        parts.append(f"Cold start to Home idle: {median(a):.2f} s vs {median(b):.2f} s for a bare page "
                     f"({median(a) / median(b):.2f}x, target <= 1.1x); {mods(cold['app'])} in the app's server.")
    if memory and all(k in memory["rss"] for k in (10, 20, 30)):
        parts.append(f"Over 30 vision sessions the server's RSS went {memory['rss'][0]:.0f} -> "
                     f"{memory['rss'][30]:.0f} MB: {per_session:+.1f} MB per session after the first 10 "
                     f"({first:+.1f} then {second:+.1f} MB per session: {trend}) for a "
                     f"{memory['photo_mb']:.1f} MB upload each, a closed tab's session kept {VISION_TTL_S} s."
                     + (f" Once every session had expired it was {memory['rss']['expired']:.0f} MB."
                        if "expired" in memory["rss"] else ""))
    elif memory:
        parts.append(f"Vision sessions: {memory['error']}; readings so far are in the rows.")
    for label, why in failures.items():
        parts.append(f"Not measured: {label} ({why}).")
    res = Result(
        name="ui: the app in a browser (websocket bytes, checkbox at 30 turns, cold start, vision memory)",
        measures=(
            "A real `streamlit run app.py` against the API double and tool stub on 127.0.0.1, driven by headless "
            f"Chromium (Playwright). (1) websocket bytes from Enter to the run settled, {LONG_WORDS}-word answers "
            f"in one paragraph and in paragraphs and {SHORT_WORDS}-word ones, {STREAM_PAIRS} each, interleaved, "
            f"fresh session each; (1b) Enter to first text on screen, also with a double waiting {TTFT_S:.1f} s "
            f"({TTFT_REPS} answers); (1c) the same on the app at {BEFORE_REV} (git archive), interleaved; "
            "(2) checkbox click "
            f"to run over, {CLICKS} clicks each on a 0-turn session, a {TURNS}-turn one as drawn and a {TURNS}-turn "
            "one with every turn drawn, taking turns; (3) launch to "
            f"Home idle vs a bare page, {COLD_RUNS} fresh processes each, interleaved, the app's modules "
            "byte-compiled first (as a first launch does unless PYTHONDONTWRITEBYTECODE is set, as it is here); "
            "(4) server VmRSS over "
            f"{VISION_SESSIONS} vision sessions (upload, ask, answer, close) on one fresh server. Medians."
        ),
        rows=rows,
        ratios=ratios,
        interpretation=" ".join(parts),
    )
    res.seconds = time.perf_counter() - t0
    return res


if __name__ == "__main__":
    print(run().show())
