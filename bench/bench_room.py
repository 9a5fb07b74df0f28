"""A room of 300: many people asking at once, the app beside a 40-line Streamlit chat, over Streamlit's own protocol.

    python -m bench.bench_room                     # about 14 minutes on 2 cores; prints the rows
    python -m bench.bench_room --update-results    # also writes its section at the end of bench/RESULTS.md
    python -m bench.bench_room --sizes 20,50 --app-url http://127.0.0.1:8080/tool_calling [--pid PID ...]
                                                   # servers someone else started (e.g. two behind a proxy)

A Streamlit server is one Python process. This starts, on 127.0.0.1, a model double answering every question in
2 s (20 pieces 0.1 s apart: tests/api_double.py with a paced `Reply`, in a process of its own), the app
(`streamlit run app.py`, the tools page) with `runner.postScriptGC` on and off (set on the command line, whatever
.streamlit/config.toml says), two app processes as an operator starts them (`deploy.room.start_room(2)`: Caddy with
sticky cookies, a Redis of their own; the app as configured; CPU and RSS summed over all four processes) and the
peer (`bench/room_peer.py`: `st.chat_input` + `st.write_stream`, Streamlit's defaults). For each room size (20, 50, 100, 300) each server is fresh; N protocol clients (no browser: websocket +
Streamlit's protobufs, see `Session`) open the page, 10 at a time, then all ask a different question at the same
moment (distinct questions: the app's replay cache answers an identical one from memory). Per client: time from the
question to the first answer text, to the end of the run (`ForwardMsg.script_finished`: the last token drawn) and
whether the text came in more than one delta. Per server: its CPU during the questions (/proc/<pid>/stat, % of one
core), VmRSS before the room, after every answer and after 30 s more idle with every session still open; at 50, RSS
after each of 4 rounds of questions. The servers of a size are measured one after the other, in an order that
rotates; a row during which the rest of the machine was half a core busier than during the block's calmest row is
run again on a fresh server (rows up to 100). Page views get 150 s and answers 90 s; a row not done by then is
reported as such and its server stopped. Last, the two processes against the double playing a host with a
concurrency cap (OpenRouter's: 2 at a time), 20 questions at once: the most answers the double streamed at one moment
(the cap must hold across the processes) and the requests the shared quota counted against those it answered.

`run_clients(url, n, questions)` is the reusable part: point it (or `--app-url`, repeatable: clients are spread over
the URLs in turn) at any deployment.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import atexit
import datetime as _dt
import itertools
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit

from bench._common import Result, fmt_ratio, machine_speed_ms

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "room"

SIZES = (20, 50, 100, 300)
PIECES = 20
PIECE_S = 0.1  # the double: 20 pieces 0.1 s apart, 2 s per answer
MODEL_S = PIECES * PIECE_S
MARK = "Llamaroom"  # the answer's first word: the first frame holding it is the first text on screen
APP_PAGE = "tool_calling"
LOAD_AT_ONCE = 10  # page views opened at a time before the room asks (people arriving, not the measurement)
IDLE_S = 30.0
LOAD_TIMEOUT_S = 150.0  # a row's page views; what is not done by then is reported as such
ASK_TIMEOUT_S = 90.0  # a row's answers, from the moment the questions leave
TURNS_AT = {50: 4}  # room size -> questions per session (RSS after each round): does memory creep run after run?
MEMORY_SLACK = 1.25  # RSS off / on accepted: CPython's full collection waits until long-lived objects grow by 25%
DISTURBED_CORES = 0.5  # other processes' CPU during a row, over the block's calmest row, that has it run again
REPEAT_UP_TO = 100  # rows this size or smaller are repeated when disturbed (a 300-row takes minutes)
QUIET_WAIT_S = 5.0  # before a row: wait up to this long for a second in which the machine is busy under 0.5 cores


# --- the model double, paced (a process of its own) ----------------------------------------------------------------


def answer_text() -> str:
    words = ["the", "herd", "walked", "over", "a", "high", "plateau", "under", "thin", "silver", "light", "while",
             "herders", "sang", "about", "rivers", "bread", "and", "wool"]
    return " ".join([MARK, *(words[i % len(words)] for i in range(PIECES - 1))]) + "."


def set_pieces(pieces: int) -> None:
    """Answers of `pieces` pieces (one per word, as a server streams tokens) over the same 2 s; a length other than
    the default writes its own section of RESULTS.md ("room, 200 pieces an answer")."""
    global PIECES, PIECE_S, SECTION
    if pieces < 2:
        raise SystemExit("--pieces: 2 or more")
    PIECES, PIECE_S = pieces, MODEL_S / pieces
    SECTION = "room" if pieces == 20 else f"room, {pieces} pieces an answer"


def serve_double(port: int, log_path: Path) -> None:
    """The API double on `port`, every chat answered in PIECES pieces PIECE_S apart; each streamed answer's
    duration appended to `log_path` ("<end monotonic> <seconds>")."""
    from tests import api_double
    from tests.api_double import ApiDouble, Reply

    api_double._Server.request_queue_size = 1024  # 300 connections at once: no SYN retransmits behind a backlog of 5
    handler = api_double._Handler
    plain_stream = handler._stream
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process

    def timed_stream(self: Any, *args: Any, **kwargs: Any) -> None:
        start = time.monotonic()
        try:
            plain_stream(self, *args, **kwargs)
        finally:
            end = time.monotonic()
            log.write(f"{end:.4f} {end - start:.4f}\n")

    handler._stream = timed_stream  # type: ignore[method-assign]
    double = ApiDouble(port=port, responder=lambda body: Reply(text=answer_text(), chunk_delay_s=PIECE_S))
    print(f"paced double on {double.url}", flush=True)
    double._server.serve_forever()


# --- processes --------------------------------------------------------------------------------------------------

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_of(pids: Sequence[int]) -> float:
    """CPU seconds used so far by these processes, summed."""
    return sum(cpu_s(p) for p in pids)


def rss_of(pids: Sequence[int]) -> float:
    """Their VmRSS, summed, in MB."""
    return sum(rss_mb(p) for p in pids)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy so far (/proc/stat), for telling what other processes took."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / _TICK


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


_STARTED: list["Process"] = []


@atexit.register
def _stop_started() -> None:
    """Whatever ends this bench (an error, Ctrl-C, SIGTERM), the processes it started end with it."""
    for process in _STARTED:
        if process.proc.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Process:
    """A command in its own process group, its output in a log file; stopped by its group id."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pid = self.proc.pid
        _STARTED.append(self)

    def wait_url(self, url: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.log_path.name}: exited with {self.proc.returncode}\n{self.tail()}")
            try:
                with _NO_PROXY.open(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{url} did not answer within {timeout_s} s\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._log.close()


def server_env(endpoint: str) -> dict[str, str]:
    """The servers' environment: the paced double as the only host, no key or proxy from this machine."""
    drop = ("GITHUB_TOKEN", "MODELS_PROVIDER", "MODELS_ENDPOINT", "MODELS_API_KEY", "AZURE_AI_CHAT_ENDPOINT",
            "AZURE_AI_CHAT_KEY", "NVIDIA_API_KEY", "OPENROUTER_API_KEY", "HF_TOKEN", "OLLAMA_HOST", "TOOLS_MODEL",
            "VISION_MODEL")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("STREAMLIT_") and k not in drop and "proxy" not in k.lower()}
    env.update(MODELS_PROVIDER="custom", MODELS_ENDPOINT=endpoint, MODELS_API_KEY="bench-room-key",
               OLLAMA_HOST="127.0.0.1:9", REQUEST_TIMEOUT_S="120", PYTHONUNBUFFERED="1",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return env


@dataclass
class Variant:
    key: str  # "peer" | "gc-on" | "gc-off" | "two"
    label: str
    script: str
    page: str
    post_script_gc: bool
    cwd: Path = ROOT  # its .streamlit/config.toml applies
    processes: int = 1  # more than one: `deploy.room` (the processes behind Caddy, their shared state on Redis)


VARIANTS = (
    # Streamlit's defaults: started in bench/, which has no .streamlit/config.toml
    Variant("peer", "peer (40-line chat)", "room_peer.py", "", True, ROOT / "bench"),
    Variant("gc-on", "app, postScriptGC on", "app.py", APP_PAGE, True),
    Variant("gc-off", "app, postScriptGC off", "app.py", APP_PAGE, False),
    # deploy.room as an operator starts it: the app as configured (postScriptGC off), Caddy, Redis
    Variant("two", "app, 2 processes (Caddy, Redis)", "app.py", APP_PAGE, False, processes=2),
)


class Server:
    """`streamlit run <script>` on a free port, `runner.postScriptGC` given explicitly (the config file's value,
    whatever it is, doesn't decide the rows)."""

    def __init__(self, variant: Variant, endpoint: str, logs: Path, tag: str) -> None:
        self.variant = variant
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/{variant.page}"
        argv = [sys.executable, "-m", "streamlit", "run", variant.script,
                "--server.port", str(self.port), "--server.address", "127.0.0.1", "--server.headless", "true",
                "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
                "--runner.postScriptGC", "true" if variant.post_script_gc else "false"]
        self.proc = Process(argv, logs / f"{variant.key}-{tag}.log", server_env(endpoint), variant.cwd)
        self.pids = [self.proc.pid]

    def wait(self) -> None:
        self.proc.wait_url(self.base + "/_stcore/health")

    def stop(self) -> None:
        self.proc.stop()

    def tail(self) -> str:
        return self.proc.tail()

    def process_urls(self) -> list[str]:
        """The page on each process, directly."""
        return [self.url]


class RoomServer:
    """`deploy.room.start_room(n)`: n app processes behind Caddy with their state on a Redis of their own, as an
    operator starts them. Its CPU and RSS are those of every process of it (the apps, Caddy, Redis) summed; clients
    GET the page first and keep the sticky cookie, as browsers do."""

    def __init__(self, variant: Variant, endpoint: str, logs: Path, tag: str, env: dict[str, str] | None = None) -> None:
        from deploy.room import start_room

        self.variant = variant
        self.room = start_room(variant.processes, server_env(endpoint) if env is None else env,
                               logs / f"{variant.key}-{tag}")
        self.base = self.room.url
        self.url = f"{self.base}/{variant.page}"
        self.pids = [p.pid for p in self.room.processes if p.pid] + [
            c.pid for c in (self.room.proxy, self.room.redis) if c is not None and c.pid]

    def wait(self) -> None:
        """`start_room` returned once Caddy proxied every process's health check."""

    def stop(self) -> None:
        self.room.close()

    def process_urls(self) -> list[str]:
        """The page on each app process, directly (not through Caddy)."""
        return [f"{p.url}/{self.variant.page}" for p in self.room.processes]

    def tail(self) -> str:
        from deploy.room import _tail

        return "\n".join(_tail(p.log) for p in self.room.processes)


def start_server(variant: Variant, endpoint: str, logs: Path, tag: str) -> "Server | RoomServer":
    """A fresh server of this variant."""
    if variant.processes > 1:
        return RoomServer(variant, endpoint, logs, tag)
    return Server(variant, endpoint, logs, tag)


# --- the protocol client ------------------------------------------------------------------------------------------


def endpoint_of(url: str, page: str | None = None) -> tuple[str, str]:
    """(websocket URL, page url_path) for a page URL: `http://host:port[/base]/tool_calling` ->
    (`ws://host:port[/base]/_stcore/stream`, "tool_calling"); `http://host:port/` -> the main page (""). A ws:// URL
    is taken as it is, the page from `page`."""
    parts = urlsplit(url)
    if parts.scheme in ("ws", "wss"):
        return url, page or ""
    base, _, last = parts.path.rstrip("/").rpartition("/")
    if page is not None:
        base, last = parts.path.rstrip("/"), page
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{base}/_stcore/stream", last


@dataclass
class Answer:
    """One client's question, timed from the moment its rerun_script left."""

    ok: bool = False
    error: str = ""
    first_text_s: float | None = None
    last_token_s: float | None = None  # the question's run finished (ForwardMsg.script_finished)
    text_frames: int = 0  # frames carrying answer text
    last_text_s: float | None = None
    frames: int = 0
    bytes: int = 0

    @property
    def streamed(self) -> bool:
        """Text in more than one delta, spread over a quarter of the model's time or more (not dumped at the end)."""
        return (self.ok and self.text_frames >= 2 and self.first_text_s is not None and self.last_text_s is not None
                and self.last_text_s - self.first_text_s >= MODEL_S / 4)


class Session:
    """One browser tab, spoken to in Streamlit's protocol (websocket frames of protobufs, no browser).

    What the server needs (Streamlit 1.67, starlette server: web/server/starlette/starlette_websocket.py): a
    websocket at `[base]/_stcore/stream` with `Sec-WebSocket-Protocol: streamlit` (entries after the first, an XSRF
    token and a session id to reconnect to, are optional); a missing Origin header is accepted (only a browser's
    Origin is checked against the Host). Nothing runs until the client sends a `BackMsg.rerun_script`
    (`ClientState`) with `page_name` = the page's url path (st.navigation matches it against `url_pathname`) and the
    query string; later reruns also carry the `page_script_hash` the `navigation` ForwardMsg named. Every ForwardMsg
    is a binary frame; a run ends with `script_finished` (FINISHED_SUCCESSFULLY; FINISHED_EARLY_FOR_RERUN when
    st.rerun() starts another). A typed chat question is the next rerun_script with a `WidgetState` whose id is the
    chat input's (`Element.chat_input.id` in the delta that drew it) and whose `chat_input_value.data` is the text;
    when a fragment drew the chat input (`Delta.fragment_id`), the rerun names that fragment (`ClientState.fragment_id`),
    as the browser does, and the run ends with FINISHED_FRAGMENT_RUN_SUCCESSFULLY.
    Like the browser, the client lists the hashes of the cacheable elements (`metadata.cacheable`: new elements of at
    least `global.minCachedMessageSize` bytes) of its last `global.maxCachedMessageAge` runs in `cached_message_hashes`, so an unchanged one
    comes back as a `ref_hash` reference.
    """

    def __init__(self, ws_url: str, page: str, page_url: str | None = None) -> None:
        self.ws_url, self.page, self.page_url = ws_url, page, page_url
        self.ws: Any = None
        self.chat_id: str | None = None
        self.chat_fragment = ""  # the fragment that drew the chat input (Delta.fragment_id), "" if none
        self.page_hash = ""
        self.query = ""
        self._frames: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self.closed = False
        self.trace: list[tuple[float, str, int, bool]] | None = None  # a list: (s, what, bytes, text) per frame
        # cacheable elements' hashes of the last runs, as many as the server's global.maxCachedMessageAge (its
        # new_session says), as a browser keeps them
        self._runs: collections.deque[set[str]] = collections.deque([set(), set()], maxlen=2)
        self.cookies = ""  # what the page view set (like_browser): a proxy's sticky cookie says where this session is

    async def connect(self, timeout_s: float = 60) -> None:
        from websockets.asyncio.client import connect

        headers = {}
        if self.page_url:  # as a browser: the page first, then the websocket with the cookies it set (a proxy's
            # sticky-session cookie: the websocket goes to the process that served the page)
            cookies = await asyncio.wait_for(asyncio.to_thread(page_cookies, self.page_url), timeout_s)
            if cookies:
                headers["Cookie"] = self.cookies = cookies
        self.ws = await connect(self.ws_url, subprotocols=["streamlit"], proxy=None, open_timeout=timeout_s,
                                ping_interval=None, max_size=None, max_queue=None, additional_headers=headers)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                self._frames.put_nowait((time.perf_counter(), frame))
        except Exception:  # noqa: BLE001 - a closed connection ends the reader; the waiting call reports it
            pass
        finally:
            self.closed = True
            self._frames.put_nowait((time.perf_counter(), b""))

    async def _send_rerun(self, widget_text: str | None = None) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.page_name = self.page
        if self.page_hash:
            state.page_script_hash = self.page_hash
        state.cached_message_hashes.extend(sorted(set().union(*self._runs)))
        if widget_text is not None:
            widget = state.widget_states.widgets.add()
            widget.id = self.chat_id
            widget.chat_input_value.data = widget_text
            if self.chat_fragment:  # as the browser does: a widget drawn by a fragment reruns that fragment only
                state.fragment_id = self.chat_fragment
        await self.ws.send(msg.SerializeToString())

    async def _until_finished(self, answer: Answer, started: float, mark: bytes | None, timeout_s: float) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        deadline = time.perf_counter() + timeout_s
        seen: set[str] = set()
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no end of run within {timeout_s:.0f} s")
            try:
                at, frame = await asyncio.wait_for(self._frames.get(), left)
            except TimeoutError:
                raise TimeoutError(f"no end of run within {timeout_s:.0f} s") from None
            if not frame:
                raise ConnectionError("the server closed the websocket")
            answer.frames += 1
            answer.bytes += len(frame)
            msg = ForwardMsg()
            msg.ParseFromString(frame)
            kind = msg.WhichOneof("type")
            if kind == "ref_hash":
                seen.add(msg.ref_hash)
            elif msg.metadata.cacheable and msg.hash:
                seen.add(msg.hash)
            if self.trace is not None:
                what = kind or ""
                if kind == "delta":
                    what += "." + (msg.delta.WhichOneof("type") or "")
                    if msg.delta.WhichOneof("type") == "new_element":
                        what += "." + (msg.delta.new_element.WhichOneof("type") or "")
                self.trace.append((at - started, what, len(frame), bool(mark and mark in frame)))
            if kind == "delta":
                if mark is not None and mark in frame:
                    answer.text_frames += 1
                    answer.last_text_s = at - started
                    if answer.first_text_s is None:
                        answer.first_text_s = at - started
                delta = msg.delta
                if (delta.WhichOneof("type") == "new_element"
                        and delta.new_element.WhichOneof("type") == "chat_input"):
                    self.chat_id = delta.new_element.chat_input.id
                    self.chat_fragment = delta.fragment_id
            elif kind == "new_session" and msg.new_session.config.max_cached_message_age != self._runs.maxlen:
                self._runs = collections.deque(self._runs, maxlen=max(1, msg.new_session.config.max_cached_message_age))
            if kind == "new_session" and not self.page_hash:
                self.page_hash = msg.new_session.page_script_hash  # without st.navigation: the page run
            elif kind == "navigation":
                self.page_hash = msg.navigation.page_script_hash  # with st.navigation: the page it chose
            elif kind == "page_info_changed":
                self.query = msg.page_info_changed.query_string
            elif kind == "script_finished":
                if msg.script_finished in (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
                                           ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
                    answer.last_token_s = at - started
                    answer.ok = msg.script_finished != ForwardMsg.FINISHED_WITH_COMPILE_ERROR
                    self._runs.append(seen)
                    if not answer.ok:
                        answer.error = "compile error"
                    return

    async def load(self, timeout_s: float = LOAD_TIMEOUT_S) -> Answer:
        """Open the page (the first run of a new tab); the chat input's id is known after it."""
        result = Answer()
        started = time.perf_counter()
        await self._send_rerun()
        await self._until_finished(result, started, None, timeout_s)
        if self.chat_id is None:
            raise RuntimeError("the page drew no st.chat_input")
        return result

    async def ask(self, question: str, timeout_s: float = ASK_TIMEOUT_S, mark: str = MARK) -> Answer:
        """Type `question` into the chat input and wait for the end of the run it starts; frames holding `mark` (the
        answer's first words) count as answer text."""
        result = Answer()
        while not self._frames.empty():  # anything that came while idle is not part of this answer
            self._frames.get_nowait()
        started = time.perf_counter()
        try:
            await self._send_rerun(question)
            await self._until_finished(result, started, mark.encode(), timeout_s)
        except Exception as exc:  # noqa: BLE001 - reported per client
            result.ok, result.error = False, f"{type(exc).__name__}: {exc}"
        return result

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


_RUN = f"{os.getpid():x}{int(time.time()) % 0x10000:x}"
_BATCHES = itertools.count(1)


def questions_for(n: int, tag: str = "") -> list[str]:
    """n questions no server has been asked before, in this run or an earlier one (the replay cache answers an
    identical question from memory)."""
    batch = f"{_RUN}.{next(_BATCHES)}{tag}"
    return [f"Room question {i + 1} ({batch}): what do llamas eat in month {i % 12 + 1}, seat {i + 1}?"
            for i in range(n)]


def page_cookies(url: str) -> str:
    """GET a page as a browser would before its websocket; the cookies it set, as a Cookie header's value."""
    with _NO_PROXY.open(url, timeout=30) as resp:
        resp.read()
        return "; ".join(c.split(";", 1)[0].strip() for c in resp.headers.get_all("Set-Cookie") or [])


class Room:
    """n sessions over one or more page URLs (in turn), opened a few at a time, then asking all at once.
    `like_browser`: each session GETs its page URL first and opens the websocket with the cookies that set."""

    def __init__(self, urls: str | Sequence[str], n: int, page: str | None = None, like_browser: bool = False) -> None:
        urls = [urls] if isinstance(urls, str) else list(urls)
        targets = [(*endpoint_of(u, page), u if like_browser and u.startswith("http") else None) for u in urls]
        self.sessions = [Session(*targets[i % len(targets)]) for i in range(n)]
        self.load_s = 0.0
        self.opened = 0

    async def open(self, at_once: int = LOAD_AT_ONCE, timeout_s: float = LOAD_TIMEOUT_S) -> None:
        gate = asyncio.Semaphore(at_once)
        start = time.perf_counter()

        async def one(session: Session) -> None:
            async with gate:
                left = timeout_s - (time.perf_counter() - start)
                if left <= 0:
                    raise TimeoutError(f"the room was not open within {timeout_s:.0f} s")
                await session.connect(left)
                await session.load(left)
                self.opened += 1

        results = await asyncio.gather(*(one(s) for s in self.sessions), return_exceptions=True)
        self.load_s = time.perf_counter() - start
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            other = next((e for e in errors if not isinstance(e, TimeoutError)), None)
            raise RuntimeError(f"{self.opened} of {len(self.sessions)} page views opened in {self.load_s:.0f} s"
                               + (f" ({type(other).__name__}: {other})" if other else ""))

    async def ask(self, questions: Sequence[str], timeout_s: float = ASK_TIMEOUT_S) -> list[Answer]:
        return list(await asyncio.gather(*(s.ask(q, timeout_s) for s, q in zip(self.sessions, questions))))

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sessions), return_exceptions=True)


def run_clients(url_path_or_ws_url: str | Sequence[str], n: int, questions: Sequence[str] | None = None,
                page: str | None = None, like_browser: bool = False) -> list[Answer]:
    """n protocol clients open the page at `url_path_or_ws_url` (a page URL, `http://host:port/tool_calling`, or
    a `ws://…/_stcore/stream` URL with `page`; a list: clients spread over them in turn), then ask `questions`
    (n distinct ones by default) all at once; one `Answer` per client, in order. Closes the sessions after.
    `like_browser`: GET the page first and send the cookies it set with the websocket (behind a proxy with sticky
    sessions, as a browser is routed)."""

    async def go() -> list[Answer]:
        room = Room(url_path_or_ws_url, n, page, like_browser)
        try:
            await room.open()
            return await room.ask(list(questions or questions_for(n)))
        finally:
            await room.close()

    return asyncio.run(go())


# --- one row ------------------------------------------------------------------------------------------------------


def pct(xs: Sequence[float], q: float) -> float:
    """The q-quantile (0..1), nearest rank."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


@dataclass
class Row:
    variant: str
    n: int
    answers: list[Answer] = field(default_factory=list)
    load_s: float = 0.0
    wall_s: float = 0.0
    server_cpu_s: float = 0.0
    double_cpu_s: float = 0.0
    bench_cpu_s: float = 0.0
    others_cores: float = 0.0  # what other processes used during the questions, in cores
    rss_start: float = 0.0
    rss_before: float = 0.0
    rss_after: float = 0.0
    rss_idle: float | None = None
    idle_s: float = 0.0
    model_times: list[float] = field(default_factory=list)
    rss_turns: list[float] = field(default_factory=list)  # RSS after each round of questions (TURNS_AT)
    opened: int = 0  # sessions whose page view ended
    double_peak: int = 0  # the most answers the double streamed at one moment
    error: str = ""
    attempt: int = 1
    ended: float = 0.0

    @property
    def done(self) -> list[Answer]:
        return [a for a in self.answers if a.ok]

    def last(self, q: float) -> float | None:
        xs = [a.last_token_s for a in self.done if a.last_token_s is not None]
        return pct(xs, q) if xs and len(self.done) == self.n else None

    def first(self, q: float) -> float | None:
        xs = [a.first_text_s for a in self.done if a.first_text_s is not None]
        return pct(xs, q) if xs else None

    @property
    def cpu_pct(self) -> float:
        return 100 * self.server_cpu_s / self.wall_s if self.wall_s else 0.0

    @property
    def per_session_mb(self) -> float:
        return (self.rss_after - self.rss_before) / max(1, self.opened)


def peak_in_flight(log: Path, since: float, until: float) -> int:
    """The most answers the double was streaming at one moment, among those that ended in [since, until]."""
    edges = []
    for line in log.read_text().splitlines():
        end, seconds = (float(v) for v in line.split())
        if since <= end <= until:
            edges += [(end - seconds, 1), (end, -1)]
    peak = now = 0
    for _, step in sorted(edges):
        now += step
        peak = max(peak, now)
    return peak


def model_times(log: Path, since: float, until: float) -> list[float]:
    """The double's own streamed-answer durations that ended in [since, until] (time.monotonic)."""
    out = []
    for line in log.read_text().splitlines():
        end, seconds = (float(v) for v in line.split())
        if since <= end <= until:
            out.append(seconds)
    return out


async def quiet_moment(max_wait_s: float = QUIET_WAIT_S, cores: float = DISTURBED_CORES) -> float:
    """Wait (up to `max_wait_s`) for a second in which the machine is busy under `cores` (this process included:
    its sessions are idle by then); the last second's load, in cores."""
    deadline = time.monotonic() + max_wait_s
    while True:
        b0 = machine_busy_s()
        await asyncio.sleep(1.0)
        load = machine_busy_s() - b0
        if load < cores or time.monotonic() >= deadline:
            return load


async def measure(row: Row, room: Room, pids: Sequence[int], double_pid: int | None, double_log: Path | None,
                  turns: int = 1) -> None:
    """Open the room, ask, and read the server's CPU and memory around the questions; with `turns` > 1 every
    session then asks again, round after round (RSS after each; the times are the first round's)."""
    if pids:
        row.rss_before = rss_of(pids)
    try:
        await room.open()
    except Exception as exc:  # noqa: BLE001 - reported in the row
        row.error, row.load_s, row.opened = f"{exc}"[:200], room.load_s, room.opened
        row.ended = time.monotonic()
        if pids:
            row.rss_after = rss_of(pids)
        return
    row.opened = room.opened
    row.load_s = room.load_s
    await asyncio.sleep(1.0)  # the page views' runs are over; let the server settle
    questions = questions_for(row.n, f"-{row.variant}-{row.attempt}")
    t0, m0, busy0, me0 = time.perf_counter(), time.monotonic(), machine_busy_s(), self_cpu_s()
    c0 = cpu_of(pids) if pids else 0.0
    d0 = cpu_s(double_pid) if double_pid else 0.0
    row.answers = await room.ask(questions)
    row.wall_s = time.perf_counter() - t0
    row.ended = time.monotonic()
    row.server_cpu_s = cpu_of(pids) - c0 if pids else 0.0
    row.double_cpu_s = cpu_s(double_pid) - d0 if double_pid else 0.0
    row.bench_cpu_s = self_cpu_s() - me0
    busy = machine_busy_s() - busy0
    if pids and double_pid:
        row.others_cores = max(0.0, busy - row.server_cpu_s - row.double_cpu_s - row.bench_cpu_s) / row.wall_s
    if pids:
        row.rss_after = rss_of(pids)
    if double_log is not None:
        row.model_times = model_times(double_log, m0, time.monotonic())
        row.double_peak = peak_in_flight(double_log, m0, time.monotonic())
    failed = [a for a in row.answers if not a.ok]
    if failed:
        texts = sum(a.first_text_s is not None for a in row.answers)
        timeouts = all(a.error.startswith("TimeoutError") for a in failed)
        row.error = (f"{row.n - len(failed)} of {row.n} answered within {ASK_TIMEOUT_S:.0f} s, {texts} showed any "
                     "text" + ("" if timeouts else f" ({failed[0].error[:120]})"))
        return
    if pids and turns > 1:
        row.rss_turns.append(row.rss_after)
        for turn in range(2, turns + 1):
            later = await room.ask(questions_for(row.n, f"-{row.variant}-{row.attempt}-turn{turn}"))
            row.rss_turns.append(rss_of(pids))
            if not all(a.ok for a in later):
                row.error = f"turn {turn}: {sum(not a.ok for a in later)} of {row.n} not answered"
                break
        row.ended = time.monotonic()


def show_row(row: Row) -> str:
    def s(x: float | None) -> str:
        return f"{x:.2f} s" if x is not None else "-"

    streamed = sum(a.streamed for a in row.answers)
    text = (f"  {row.variant:<7} n={row.n:<4} last token median {s(row.last(0.5))} p90 {s(row.last(0.9))}, first text "
            f"median {s(row.first(0.5))}, streamed {streamed}/{row.n}, server CPU {row.cpu_pct:.0f}% "
            f"({row.server_cpu_s:.1f} s in {row.wall_s:.1f} s), RSS {row.rss_before:.0f}->{row.rss_after:.0f} MB, "
            f"page views {row.load_s:.1f} s, others {row.others_cores:.2f} cores")
    if row.model_times:
        text += f", model median {statistics.median(row.model_times):.2f} s"
    if row.error:
        text += f"  [{row.error}]"
    return text


# --- the whole bench ------------------------------------------------------------------------------------------------


CAPPED_AT_ONCE = 20  # questions at once for the cap row (a cap of 2 and 2 s answers: about 20 s)


@dataclass
class Capped:
    """The cap row: the room's processes against a host with a concurrency cap."""
    n: int
    cap: int
    peak: int  # the most answers the double streamed at one moment
    answered: int  # answers the double streamed during the row
    counted: int  # requests the shared quota counted during the row
    done: int
    last: float | None
    wall_s: float
    error: str = ""


class Bench:
    def __init__(self, sizes: Sequence[int], logs: Path, idle_s: float = IDLE_S,
                 variants: Sequence[Variant] = VARIANTS) -> None:
        self.sizes, self.logs, self.idle_s, self.variants = sizes, logs, idle_s, list(variants)
        self.rows: list[Row] = []
        self.repeated: list[str] = []
        self.capped: Capped | None = None
        self.speed_ms = machine_speed_ms()  # before any server starts
        self.speeds: dict[int, float] = {}  # room size -> the machine's speed just before its block
        self.double_port = free_port()
        self.double_log = logs / "double-times.log"
        self.double_log.write_text("")
        self.double = Process([sys.executable, "-m", "bench.bench_room", "--serve-double", "--pieces", str(PIECES),
                               "--port", str(self.double_port), "--double-log", str(self.double_log)],
                              logs / "double.log", server_env("http://127.0.0.1:9/v1"))
        self.double.wait_url(f"http://127.0.0.1:{self.double_port}/v1/models")
        self.endpoint = f"http://127.0.0.1:{self.double_port}/v1"

    def start(self, variant: Variant, tag: str) -> "Server | RoomServer":
        return start_server(variant, self.endpoint, self.logs, tag)

    async def warm(self, server: "Server | RoomServer") -> float:
        """One page view and one question on each process (the SDK and the pages load on first use); RSS after."""
        await asyncio.to_thread(server.wait)
        urls = server.process_urls()
        room = Room(urls, len(urls))
        try:
            await room.open()
            answers = await room.ask(questions_for(len(urls), f"-warm-{server.variant.key}"))
            failed = [a for a in answers if not a.ok]
            if failed:
                raise RuntimeError(f"warm-up question failed on {server.variant.key}: {failed[0].error}\n"
                                   f"{server.tail()}")
        finally:
            await room.close()
        await asyncio.sleep(0.5)
        return rss_of(server.pids)

    @staticmethod
    async def drop(server: "Server | RoomServer", room: Room | None) -> None:
        """Stop a server, then hang up its sessions (a busy server would make each close handshake wait)."""
        await asyncio.to_thread(server.stop)
        if room is not None:
            await room.close()

    async def row_on(self, server: "Server | RoomServer", n: int, attempt: int = 1) -> tuple[Row, Room]:
        """Warm `server`, then one row on it. A row not answered within its budget stops its server at once: its
        sessions would go on asking and take the CPU from the rows after it."""
        rss = await self.warm(server)
        await quiet_moment()
        row = Row(server.variant.key, n, attempt=attempt, rss_start=rss)
        room = Room(server.url, n, like_browser=server.variant.processes > 1)
        await measure(row, room, server.pids, self.double.pid, self.double_log, TURNS_AT.get(n, 1))
        print(show_row(row), flush=True)
        if row.error:
            await self.drop(server, room)
        return row, room

    async def block(self, n: int, order: Sequence[Variant]) -> asyncio.Task[None]:
        """One room size: a fresh server per variant, measured one after the other (the others idle, started and
        warmed). A row during which other processes used DISTURBED_CORES more than during the least disturbed row of
        the block (a burst, not the machine's steady load) is run again on another fresh server; the less disturbed
        of the two is kept. Returns a task that reads each server's RSS once it has idled `idle_s` with its sessions
        open, then stops the servers: it runs while the next size starts."""
        servers = {v.key: self.start(v, f"{n}") for v in order}
        rooms: dict[str, Room] = {}
        rows: dict[str, Row] = {}
        try:
            for v in order:
                rows[v.key], rooms[v.key] = await self.row_on(servers[v.key], n)
            calm = min(r.others_cores for r in rows.values())
            for v in order:
                row = rows[v.key]
                if row.others_cores <= calm + DISTURBED_CORES or row.error or n > REPEAT_UP_TO:
                    continue
                again = self.start(v, f"{n}-again")
                try:
                    second, room = await self.row_on(again, n, attempt=2)
                except BaseException:
                    again.stop()
                    raise
                keep_second = second.others_cores < row.others_cores and not second.error
                self.repeated.append(f"{v.key} at {n} (other processes used {row.others_cores:.2f} cores, then "
                                     f"{second.others_cores:.2f}: the {'second' if keep_second else 'first'} kept)")
                if keep_second:
                    await self.drop(servers[v.key], rooms[v.key])
                    servers[v.key], rooms[v.key], rows[v.key] = again, room, second
                else:
                    await self.drop(again, room)
        except BaseException:
            await asyncio.gather(*(self.drop(sv, rooms.get(k)) for k, sv in servers.items()), return_exceptions=True)
            raise
        self.rows += [rows[v.key] for v in VARIANTS if v.key in rows]

        async def idle_then_stop() -> None:
            try:
                for v in sorted(order, key=lambda v: rows[v.key].ended):
                    row = rows[v.key]
                    if row.error:
                        continue
                    wait = row.ended + self.idle_s - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    row.idle_s = time.monotonic() - row.ended
                    row.rss_idle = rss_of(servers[v.key].pids)
            finally:
                await asyncio.gather(*(self.drop(sv, rooms.get(k)) for k, sv in servers.items()),
                                     return_exceptions=True)

        return asyncio.create_task(idle_then_stop())

    async def run_all(self) -> None:
        pending: list[asyncio.Task[None]] = []
        try:
            for i, n in enumerate(self.sizes):
                order = [self.variants[(i + k) % len(self.variants)] for k in range(len(self.variants))]
                self.speeds[n] = machine_speed_ms(3)
                print(f"room of {n}: {', '.join(v.key for v in order)} (machine: {self.speeds[n]:.0f} ms for 10^6 "
                      "additions)", flush=True)
                pending.append(await self.block(n, order))
        finally:
            await asyncio.gather(*pending, return_exceptions=True)
        rooms = [v for v in self.variants if v.processes > 1]
        if rooms:
            self.capped = await self.cap_row(rooms[0], CAPPED_AT_ONCE)

    async def cap_row(self, variant: Variant, n: int) -> "Capped":
        """The room's processes on a host with a concurrency cap (the double as OpenRouter: 2 at a time), n questions
        at once: the most the double streamed at one moment, and the requests the shared quota counted against the
        requests the double answered."""
        from lib.client import QuotaTracker
        from lib.common.shared_state import SharedLink
        from lib.hosts.limits import cap_for
        from lib.hosts.providers import provider

        env = {k: v for k, v in server_env(self.endpoint).items() if k not in ("MODELS_ENDPOINT", "MODELS_API_KEY")}
        base = self.endpoint.rsplit("/v1", 1)[0]
        env.update(MODELS_PROVIDER="openrouter", OPENROUTER_API_KEY="sk-or-bench-room-key",
                   OPENROUTER_BASE_URL=f"{base}/openrouter/v1")
        server = RoomServer(variant, self.endpoint, self.logs, "capped", env)
        room: Room | None = None
        try:
            await self.warm(server)
            quota = QuotaTracker(link=SharedLink(server.room.redis_url))
            counted0 = sum(quota.snapshot().today.values())
            row = Row(variant.key, n)
            room = Room(server.url, n, like_browser=True)
            await measure(row, room, server.pids, self.double.pid, self.double_log)
            counted = sum(quota.snapshot().today.values()) - counted0
            capped = Capped(n=n, cap=cap_for(provider("openrouter"), "meta-llama/llama-3.3-70b-instruct") or 0,
                            peak=row.double_peak, answered=len(row.model_times), counted=counted,
                            done=len(row.done), last=row.last(0.5), wall_s=row.wall_s, error=row.error)
            print(f"  capped  n={n} cap {capped.cap}, at most {capped.peak} in flight at the double, "
                  f"{capped.answered} answered there, {capped.counted} counted by the shared quota, "
                  f"{capped.done}/{n} answered, last token median {_s(capped.last)}", flush=True)
            return capped
        finally:
            await self.drop(server, room)

    def run(self) -> None:
        try:
            asyncio.run(self.run_all())
        finally:
            self.double.stop()

    def row(self, key: str, n: int) -> Row | None:
        return next((r for r in self.rows if r.variant == key and r.n == n), None)


# --- the report -------------------------------------------------------------------------------------------------------

LABELS = {v.key: v.label for v in VARIANTS}


def _s(x: float | None) -> str:
    return f"{x:.2f} s" if x is not None else "—"


def _vs_peer(bench: Bench, row: Row) -> float | None:
    peer = bench.row("peer", row.n)
    if row.variant == "peer" or peer is None or not row.last(0.5) or not peer.last(0.5):
        return None
    return row.last(0.5) / peer.last(0.5)  # type: ignore[operator]


def _model(row: Row) -> str:
    return f"{statistics.median(row.model_times):.2f} s" if row.model_times else f"{MODEL_S:.1f} s"


def _rss(row: Row) -> str:
    idle = f" → {row.rss_idle:.0f} ({row.idle_s:.0f} s idle)" if row.rss_idle is not None else " → — (stopped)"
    return f"{row.rss_before:.0f} → {row.rss_after:.0f}{idle} MB"


def _cells(bench: Bench, row: Row) -> list[str]:
    """The wide table's cells for one row."""
    streamed = sum(a.streamed for a in row.answers)
    ratio = _vs_peer(bench, row)
    last = f"{_s(row.last(0.5))} / {_s(row.last(0.9))}" if row.last(0.5) else f"not all answered: {row.error}"
    asked = bool(row.answers)
    per = f"; {1000 * row.server_cpu_s / row.n:.0f} ms a question" if row.last(0.5) else ""
    cpu = f"{row.cpu_pct:.0f}% ({row.server_cpu_s:.1f} s in {row.wall_s:.1f} s{per})" if asked else "—"
    return [str(row.n), LABELS[row.variant], last, f"**{ratio:.2f}x**" if ratio else "—", _s(row.first(0.5)),
            f"{streamed} of {row.n}" if asked else "—", _model(row) if asked else "—", cpu, _rss(row),
            f"{row.per_session_mb:+.2f} MB" + (f" ({row.opened} open)" if row.opened < row.n else ""),
            f"{row.load_s:.1f} s", f"{row.others_cores:.2f}" if asked else "—"]


HEADER = ["at once", "server", "time to last token, median / p90", "÷ peer", "first text, median", "streamed",
          "model's own time", "server CPU, % of a core", "RSS before → after → idle", "RSS per live session",
          f"page views before ({LOAD_AT_ONCE} at a time)", "other processes meanwhile, cores"]


def ratios_of(bench: Bench) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for n in bench.sizes:
        on, off = bench.row("gc-on", n), bench.row("gc-off", n)
        for row in (on, off):
            if row is not None and (ratio := _vs_peer(bench, row)) is not None:
                out.append((f"{n} at once: time to last token, {LABELS[row.variant]} / peer (median)", ratio))
        if on and off and on.last(0.5) and off.last(0.5):
            out.append((f"{n} at once: time to last token, postScriptGC off / on (median)",
                         off.last(0.5) / on.last(0.5)))  # type: ignore[operator]
        if on and off and on.rss_idle and off.rss_idle:
            out.append((f"{n} at once: RSS after {bench.idle_s:.0f} s idle, postScriptGC off / on",
                        off.rss_idle / on.rss_idle))
        two = bench.row("two", n)
        if two is not None and (ratio := _vs_peer(bench, two)) is not None:
            out.append((f"{n} at once: time to last token, {LABELS['two']} / peer (median)", ratio))
        if two and off and two.last(0.5) and off.last(0.5):
            out.append((f"{n} at once: time to last token, two processes / one (median)",
                        two.last(0.5) / off.last(0.5)))  # type: ignore[operator]
            out.append((f"{n} at once: server CPU per question, two processes (with Caddy and Redis) / one",
                        two.server_cpu_s / off.server_cpu_s if off.server_cpu_s else float("nan")))
    for n in TURNS_AT:
        on, off = bench.row("gc-on", n), bench.row("gc-off", n)
        if on and off and len(on.rss_turns) > 1 and len(off.rss_turns) == len(on.rss_turns):
            grow_on, grow_off = on.rss_turns[-1] - on.rss_turns[0], off.rss_turns[-1] - off.rss_turns[0]
            if grow_on > 0:
                out.append((f"{n} sessions, turns 1->{len(on.rss_turns)}: RSS growth postScriptGC off / on",
                            grow_off / grow_on))
    return out


def notes_of(bench: Bench) -> list[str]:
    notes = []
    if bench.rows:
        worst = max(bench.rows, key=lambda r: r.bench_cpu_s / r.wall_s if r.wall_s else 0)
        notes.append(f"During the questions this bench's own clients used at most {worst.bench_cpu_s:.1f} s of CPU "
                     f"in {worst.wall_s:.1f} s ({worst.n} x {LABELS[worst.variant]}) and the double at most "
                     f"{max(r.double_cpu_s for r in bench.rows):.1f} s in a row; \"other processes\" is the rest of "
                     "the machine's busy time (/proc/stat) over the questions, the other engineers' runs included.")
    setting = post_script_gc_setting()
    notes.append(f"The app as configured now: `runner.postScriptGC = {setting}` in .streamlit/config.toml"
                 if setting is not None else "The app as configured now: Streamlit's default `runner.postScriptGC` "
                 "(on); the rows above set it on the command line either way.")
    if bench.repeated:
        notes.append("rows run again (a burst of other processes): " + "; ".join(bench.repeated))
    return notes


def post_script_gc_setting() -> str | None:
    """`[runner] postScriptGC` in the app's .streamlit/config.toml, as written there (None: not set)."""
    import tomllib

    try:
        runner = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text()).get("runner", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    value = runner.get("postScriptGC")
    return None if value is None else str(value).lower()


def interpret(bench: Bench) -> str:
    parts = []
    for n in bench.sizes:
        bits = []
        for key in ("gc-on", "gc-off", "two"):
            row = bench.row(key, n)
            if row is None:
                continue
            ratio = _vs_peer(bench, row)
            name = "two processes" if key == "two" else "postScriptGC " + key.split("-")[1]
            if row.last(0.5):
                bits.append(f"{name} {row.last(0.5):.1f} s" + (f" ({ratio:.2f}x the peer)" if ratio else "")
                            + f", {row.cpu_pct:.0f}% CPU, streamed {sum(a.streamed for a in row.answers)}/{n}")
            else:
                bits.append(f"{name}: {row.error}")
        peer = bench.row("peer", n)
        if peer is not None:
            bits.append(f"peer {_s(peer.last(0.5))}" if peer.last(0.5) else f"peer: {peer.error}")
        parts.append(f"{n} at once: " + "; ".join(bits))
    if bench.capped is not None:
        parts.append(capped_text(bench.capped))
    for n in TURNS_AT:
        for key in ("gc-on", "gc-off"):
            row = bench.row(key, n)
            if row is not None and len(row.rss_turns) > 1:
                parts.append(f"{n} sessions asking {len(row.rss_turns)} times, postScriptGC {key.split('-')[1]}: RSS "
                             + " / ".join(f"{x:.0f}" for x in row.rss_turns) + " MB after each round")
    return ". ".join(parts) + ". " + verdict(bench)


def verdict(bench: Bench) -> str:
    """What the numbers say about `runner.postScriptGC`, at the largest size where both settings answered."""
    sizes = [n for n in bench.sizes if all((r := bench.row(k, n)) is not None and r.last(0.5)
                                           for k in ("gc-on", "gc-off"))]
    if not sizes:
        return "No size where both settings answered every question: no verdict."
    n = max(sizes)
    on, off, peer = bench.row("gc-on", n), bench.row("gc-off", n), bench.row("peer", n)
    assert on is not None and off is not None
    speed = off.last(0.5) / on.last(0.5)  # type: ignore[operator]
    memory = off.rss_idle / on.rss_idle if on.rss_idle and off.rss_idle else None
    grew = ""
    for t in TURNS_AT:
        a, b = bench.row("gc-on", t), bench.row("gc-off", t)
        if a and b and len(a.rss_turns) > 1 and len(b.rss_turns) == len(a.rss_turns):
            grew = (f"; {t} sessions asking {len(a.rss_turns)} times grew it "
                    f"{b.rss_turns[-1] - b.rss_turns[0]:+.0f} MB with it off, "
                    f"{a.rss_turns[-1] - a.rss_turns[0]:+.0f} MB with it on")
    fixed = speed < 0.8 and (memory is None or memory <= MEMORY_SLACK)
    vs_peer = ""
    if peer is not None and peer.last(0.5):
        vs_peer = f" and {_vs_peer(bench, off):.2f}x the peer's (on: {_vs_peer(bench, on):.2f}x)"
    text = (f"Verdict: at {n} at once, turning `runner.postScriptGC` off took {speed:.2f}x the time with it on"
            + vs_peer + f"; server CPU per question {1000 * off.server_cpu_s / n:.0f} ms off, "
            f"{1000 * on.server_cpu_s / n:.0f} ms on; RSS per live session {off.per_session_mb:+.2f} MB off, "
            f"{on.per_session_mb:+.2f} MB on"
            + (f", after {bench.idle_s:.0f} s idle {memory:.2f}x" if memory else "") + grew + ". ")
    if fixed:
        text += "Off removes the collapse"
        ran = [m for m in bench.sizes if all((r := bench.row(k, m)) is not None and r.last(0.5)
                                             for k in ("gc-on", "gc-off"))]
        if len(ran) > 1:
            def per(key: str, m: int) -> float:
                return 1000 * bench.row(key, m).server_cpu_s / m  # type: ignore[union-attr]

            text += (f": server CPU per question from {ran[0]} to {ran[-1]} at once went {per('gc-on', ran[0]):.0f} -> "
                     f"{per('gc-on', ran[-1]):.0f} ms with it on (the collection walks every live session), "
                     f"{per('gc-off', ran[0]):.0f} -> {per('gc-off', ran[-1]):.0f} ms off")
        text += (f". Memory stays within the slack Python's own collector allows (off / on at most {MEMORY_SLACK}: it "
                 "runs a full collection once the objects that survived the last one have grown by a quarter), so "
                 "reference cycles are still freed, later. ")
    else:
        text += (f"Off is not a clear win here (time off / on under 0.8 and memory off / on at most {MEMORY_SLACK} "
                 "wanted): keep Streamlit's default. ")
    short = [(m, r) for m in bench.sizes if (r := bench.row("gc-off", m)) is not None and r.answers
             and sum(a.streamed for a in r.answers) < m]
    if short:
        text += ("What it does not fix: one process spends "
                 + ", ".join(f"{1000 * r.server_cpu_s / m:.0f}" for m, r in short) + " ms of CPU on each question's "
                 "run, so with it off only " + ", ".join(f"{sum(a.streamed for a in r.answers)} of {m}"
                                                        for m, r in short)
                 + " answers streamed; a bigger room needs more processes behind a proxy, or a cheaper run.")
    if peer is not None and peer.answers:
        text += (f" The peer runs Streamlit's post-run collection over everything loaded (it freezes nothing, unlike "
                 f"the app's `lib/common/memory.py`): {1000 * peer.server_cpu_s / n:.0f} ms of CPU a question at {n}.")
    return text


def capped_text(c: Capped) -> str:
    """One sentence on the cap row."""
    if c.error:
        return f"Cap row ({c.n} at once, cap {c.cap}): {c.error}"
    held = "held" if c.peak <= c.cap else "NOT held"
    once = "counted once" if c.counted == c.answered else "NOT counted once"
    return (f"Cap across the two processes ({c.n} questions at once to a host capped at {c.cap}): {held}, at most "
            f"{c.peak} answers streamed at one moment at the double; the shared quota {once}: {c.counted} counted for "
            f"{c.answered} the double answered; {c.done} of {c.n} answered, last token median {_s(c.last)}")


def result_of(bench: Bench, seconds: float) -> Result:
    rows = []
    for row in bench.rows:
        c = _cells(bench, row)
        rows.append((f"{row.n} at once, {c[1]}", f"last token {c[2]}, {c[3].strip('*')} the peer; first text {c[4]}; "
                     f"streamed {c[5]}; model {c[6]}; CPU {c[7]}; RSS {c[8]}, {c[9]} per session; page views {c[10]}"
                     + (f"; RSS after each turn {' / '.join(f'{x:.0f}' for x in row.rss_turns)} MB"
                        if len(row.rss_turns) > 1 else "")))
    res = Result(
        name=f"{SECTION}: many questions at once, the app beside a 40-line Streamlit chat",
        measures=(
            f"Protocol-level Streamlit clients (websocket + protobufs, no browser; `Session` in bench/bench_room.py) "
            f"against `streamlit run app.py` (the tools page) with `runner.postScriptGC` on and off, and against "
            f"`bench/room_peer.py` (st.chat_input + st.write_stream, Streamlit's defaults), and against two app "
            f"processes as `deploy.room` starts them (Caddy with sticky cookies, Redis; its CPU and RSS are those of "
            f"all four processes), all asking the paced model "
            f"double ({PIECES} pieces over {MODEL_S:.0f} s) at the same moment, a different question each (the replay "
            f"cache stays out of it). A fresh server per row (one warm-up question first); the rows of a size one "
            f"after the other, their order rotating. Time from a client's question to the first frame with answer text "
            f"and to "
            f"`script_finished`; \"streamed\": text in 2+ frames spread over {MODEL_S / 4:.1f} s or more. Server CPU "
            f"from /proc/<pid>/stat over the questions; VmRSS before the room, after every answer and after "
            f"{bench.idle_s:.0f} s more idle with every session still open."
            + (f" At {', '.join(str(n) for n in TURNS_AT)}, every session then asks {max(TURNS_AT.values()) - 1} more "
               "times (RSS after each round)." if TURNS_AT else "")),
        rows=rows + [("note", note) for note in notes_of(bench)],  # shown by show(); the section lists them
        ratios=ratios_of(bench),
        interpretation=interpret(bench),
    )
    res.seconds = seconds
    return res


def section_of(bench: Bench, res: Result, command: str) -> str:
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    lines = [
        f"## {res.name}",
        "",
        f"Measured alone on {when} UTC with `{command}` (nproc {os.cpu_count()}, Streamlit {_version('streamlit')}; "
        f"this machine's speed at the start: {bench.speed_ms:.0f} ms for 10^6 Python additions, "
        "`bench._common.machine_speed_ms`, lower is faster"
        + ("; before each size: " + ", ".join(f"{n}: {ms:.0f} ms" for n, ms in bench.speeds.items())
           if bench.speeds else "") + "; "
        "the other sections are from the run above, and `python -m bench.run_all` rewrites this file without this "
        "section: run this again after it).",
        "",
        f"What it measures: {res.measures}",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *["| " + " | ".join(_cells(bench, row)) + " |" for row in bench.rows],
        "",
    ]
    if bench.capped is not None:
        c = bench.capped
        lines += ["| the room on a capped host | at once | cap | most in flight at the double | answered by the "
                  "double | counted by the shared quota | answered | time to last token, median |",
                  "|---|---|---|---|---|---|---|---|",
                  f"| {LABELS['two']}, the double as OpenRouter | {c.n} | {c.cap} | **{c.peak}** | {c.answered} | "
                  f"**{c.counted}** | {c.done} of {c.n} | {_s(c.last)} |", ""]
    turned = [r for r in bench.rows if len(r.rss_turns) > 1]
    if turned:
        turns = max(len(r.rss_turns) for r in turned)
        lines += [f"| {turned[0].n} sessions asking {turns} times | " + " | ".join(
                      f"RSS after round {i}" for i in range(1, turns + 1)) + " | growth per session per round |",
                  "|" + "---|" * (turns + 2)]
        for r in turned:
            per = (r.rss_turns[-1] - r.rss_turns[0]) / r.n / (len(r.rss_turns) - 1)
            lines.append(f"| {LABELS[r.variant]} | " + " | ".join(f"{x:.0f} MB" for x in r.rss_turns)
                         + f" | {per:+.2f} MB |")
        lines.append("")
    if res.ratios:
        lines += ["| ratio | value |", "|---|---|", *[f"| {k} | **{fmt_ratio(v)}** |" for k, v in res.ratios], ""]
    lines += [f"- {note}" for note in notes_of(bench)]
    lines += ["", f"Interpretation: {res.interpretation}", "", f"(benchmark wall time {res.seconds:.1f} s)", ""]
    return "\n".join(lines)


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def update_results(section: str, path: Path = RESULTS) -> None:
    """Write (or rewrite) this benchmark's section, kept at the end of RESULTS.md; the rest is left alone."""
    text = path.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(SECTION)}:.*?(?=^## |\Z)", text, flags=re.S | re.M)
    if match is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        rest = text[match.end():]
        text = text[: match.start()] + section + ("\n" + rest if rest else "")
    path.write_text(text, encoding="utf-8")


# --- against servers already running (e.g. two processes behind a proxy) ---------------------------------------------


def external(urls: Sequence[str], sizes: Iterable[int], pids: Sequence[int]) -> None:
    """Rows for servers someone else started (e.g. `python -m deploy.room`: processes behind a proxy): time to last
    token per size; CPU and RSS summed over `pids`. Each client GETs its page first and opens the websocket with the
    cookies that set, so a proxy's sticky-session cookie routes it as it routes a browser."""
    for n in sizes:
        row = Row("given", n)
        c0, r0 = cpu_of(pids), rss_of(pids)

        async def go() -> None:
            room = Room(urls, n, like_browser=True)
            try:
                await measure(row, room, [], None, None)
            finally:
                await room.close()

        asyncio.run(go())
        row.server_cpu_s = cpu_of(pids) - c0
        row.rss_before, row.rss_after = r0, rss_of(pids)
        print(show_row(row) + ("" if pids else "  (no --pid given: CPU and RSS not read)"), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update-results", action="store_true", help="write this benchmark's section of RESULTS.md")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="room sizes, comma-separated")
    parser.add_argument("--app-url", action="append", default=[], metavar="URL",
                        help="measure servers already running at this page URL (repeatable or comma-separated: "
                             "clients are spread over them in turn), e.g. http://127.0.0.1:8080/tool_calling")
    parser.add_argument("--pid", action="append", type=int, default=[],
                        help="with --app-url: server process ids whose CPU and RSS to read (summed)")
    parser.add_argument("--variants", default=",".join(v.key for v in VARIANTS),
                        help="which servers to start: peer, gc-on, gc-off (comma-separated)")
    parser.add_argument("--idle", type=float, default=IDLE_S, help="seconds of idle before the last RSS reading")
    parser.add_argument("--logs", default="/tmp/bench_room", help="server logs go here")
    parser.add_argument("--pieces", type=int, default=PIECES,
                        help="pieces (tokens) in each 2-second answer; other than 20: its own section of RESULTS.md")
    parser.add_argument("--serve-double", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--double-log", default="/tmp/bench_room/double-times.log", help=argparse.SUPPRESS)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `finally` blocks and atexit run: servers stopped
    set_pieces(args.pieces)
    if args.serve_double:
        serve_double(args.port, Path(args.double_log))
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.app_url:
        external([u for arg in args.app_url for u in arg.split(",") if u], sizes, args.pid)
        return
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    variants = [v for v in VARIANTS if v.key in args.variants.split(",")]
    bench = Bench(sizes, logs, args.idle, variants)
    bench.run()
    result = result_of(bench, time.perf_counter() - t0)
    (logs / "rows.json").write_text(json.dumps([asdict(r) for r in bench.rows], indent=1))
    print(result.show())
    if args.update_results:
        command = " ".join(["python -m bench.bench_room", *sys.argv[1:]])
        update_results(section_of(bench, result, command))
        print(f"wrote the room section of {RESULTS}")


if __name__ == "__main__":
    main()
