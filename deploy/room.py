"""A room of a few hundred people: several `streamlit run app.py` processes behind Caddy, sharing state on Redis.

    python -m deploy.room --processes 4 --port 8080                # starts Redis too (nothing saved to disk)
    python -m deploy.room --processes 4 --port 8080 --redis-url redis://10.0.0.5:6379/0

What it starts, in this order, and stops in the reverse order on Ctrl-C or SIGTERM:

1. Redis (`redis-server --port P --bind 127.0.0.1 --save '' --appendonly no`), unless `--redis-url` (or
   `REDIS_URL` in the environment) names one already running.
2. N app processes on consecutive ports from `--app-port` (8501, 8502, …), each on 127.0.0.1 only, with the
   settings every process must share: the same `REDIS_URL`, the same Streamlit cookie secret (made once here, or
   `STREAMLIT_SERVER_COOKIE_SECRET` from the environment) and every other setting from this environment and
   `.streamlit/` (keys, hosts, `ALLOW_*`, limits).
3. Caddy on `--host`:`--port` (Caddyfile written from `deploy/Caddyfile.template`): sticky sessions by cookie,
   websockets, health checks on `/_stcore/health`, no buffering.

Nothing is restarted by itself: a process that exits is reported, and Caddy sends its visitors to the others.

For tests and scripts, `start_room(n, env, tmp)` gives a `Room` (`.url`, `.processes[i]` with `.port`, `.pid`,
`.stop()`, `.start()`, `.restart()`; `.redis` with `.stop()` / `.start()` on the same port; `.close()`), and
`Room.backend_of(cookie_value)` says which process a browser's sticky cookie points at.

Standard library only (the app's own packages are not imported): it runs wherever the app runs.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "Caddyfile.template"
ROUTE_COOKIE = "lhs_route"
"""The sticky-session cookie Caddy sets (`lb_policy cookie lhs_route <secret>`)."""
COOKIE_SECRET_ENV = "STREAMLIT_SERVER_COOKIE_SECRET"
"""Streamlit's `server.cookieSecret` as an environment variable (kept off the command line, so `ps` doesn't show it)."""
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0

_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 even if a proxy is set


class RoomError(RuntimeError):
    """Something the room needs is missing or did not start (the message says what to do)."""


# --- small helpers ---------------------------------------------------------------------------------------------------


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on `port` at `host` now (as servers do, with SO_REUSEADDR: a connection of a
    previous run still in TIME_WAIT doesn't count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, host: str = "127.0.0.1", attempts: int = 50) -> int:
    """The first of `count` consecutive free ports (the kernel picks a start; checked one by one)."""
    for _ in range(attempts):
        with socket.socket() as s:
            s.bind((host, 0))
            start = s.getsockname()[1]
        if start + count < 65536 and all(port_free(start + k, host) for k in range(count)):
            return start
    raise RoomError(f"found no {count} consecutive free ports on {host}")


def _need(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise RoomError(f"`{program}` not found: install it (Debian/Ubuntu: apt-get install {package})")
    return path


def stop_group(proc: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM `proc`'s process group (it was started in a session of its own), SIGKILL after `grace_s`."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
    except ProcessLookupError:
        proc.wait(timeout=10)


def _get(url: str, timeout_s: float = 2.0) -> bytes | None:
    try:
        with _LOCAL.open(url, timeout=timeout_s) as resp:
            return resp.read()
    except OSError:
        return None


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(log unreadable: {exc})"
    return f"--- last {lines} lines of {path} ---\n" + "\n".join(text.splitlines()[-lines:])


_SETPRIV = shutil.which("setpriv")  # util-linux (Debian: always there)


def _tied(argv: Sequence[str]) -> list[str]:
    """`argv`, run so that it gets SIGTERM if this process dies without stopping it (`setpriv --pdeathsig`: killed,
    crashed, a test run cut short): a room never outlives whoever started it. Linux's parent-death signal follows the
    thread that started the child, so start and restart a room's processes from one long-lived thread."""
    return [_SETPRIV, "--pdeathsig", "TERM", "--", *argv] if _SETPRIV else list(argv)


class _Child:
    """One program the room runs: in a session of its own (Ctrl-C in the terminal reaches only `deploy.room`,
    which stops its children in order), output appended to `log`, stopped if `deploy.room` dies (`_tied`)."""

    name = "process"

    def __init__(self, log: Path) -> None:
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None) -> None:
        if self.running:
            raise RoomError(f"{self.name} is already running (pid {self.pid})")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(_tied(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after a grace period); nothing if it isn't running."""
        if self.proc is not None:
            stop_group(self.proc)

    def _wait(self, ready: Callable[[], bool], what: str, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise RoomError(f"{self.name} exited with code {code} before {what}\n{_tail(self.log)}")
            if ready():
                return
            time.sleep(0.1)
        raise RoomError(f"{self.name} did not {what} within {timeout_s:.0f} s\n{_tail(self.log)}")


# --- the three kinds of process --------------------------------------------------------------------------------------


class RedisServer(_Child):
    """A Redis for the room only: 127.0.0.1, no snapshots, no append-only file (nothing on disk; state lasts as long
    as this process). `stop()` then `start()` brings it back on the same port, empty."""

    name = "redis"

    def __init__(self, port: int, workdir: Path, env: Mapping[str, str]) -> None:
        super().__init__(workdir / "redis.log")
        self.port = port
        self.workdir = workdir
        self.env = dict(env)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        argv = [_need("redis-server", "redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "no",
                "--protected-mode", "yes", "--logfile", ""]
        self._spawn(argv, self.env)
        self._wait(self.ping, f"answer PING on port {self.port}", 20)
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False


class AppProcess(_Child):
    """One `streamlit run app.py` of the room, on 127.0.0.1:`port` (only Caddy is reachable from outside)."""

    def __init__(self, index: int, port: int, env: Mapping[str, str], app_dir: Path, log_dir: Path) -> None:
        super().__init__(log_dir / f"app-{index + 1}.log")
        self.index = index
        self.port = port
        self.env = dict(env)
        self.app_dir = app_dir
        self.name = f"app {index + 1} (port {port})"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dial(self) -> str:
        """The address Caddy dials, as written in the Caddyfile (what the sticky cookie is a hash of)."""
        return f"127.0.0.1:{self.port}"

    def launch(self) -> None:
        """Start it without waiting (several start at once; `wait_healthy()` after)."""
        # deploy.serve: `streamlit run app.py` with ui/reconnect.py in place before the first tab (a failover's
        # question is then asked even as a brand-new process's very first message)
        argv = [sys.executable, "-m", "deploy.serve",
                "--server.port", str(self.port), "--server.address", "127.0.0.1",
                "--server.headless", "true", "--server.fileWatcherType", "none",
                "--browser.gatherUsageStats", "false"]
        self._spawn(argv, self.env, cwd=self.app_dir)

    def healthy(self) -> bool:
        return (_get(self.url + "/_stcore/health") or b"").strip() == b"ok"

    def wait_healthy(self, timeout_s: float = START_TIMEOUT_S) -> None:
        self._wait(self.healthy, "answer /_stcore/health", timeout_s)

    def start(self) -> "AppProcess":
        self.launch()
        self.wait_healthy()
        return self

    def restart(self) -> "AppProcess":
        """Stop it and start a fresh process on the same port (a new pid, empty memory)."""
        self.stop()
        return self.start()


class CaddyProxy(_Child):
    """Caddy in front of the app processes, from `deploy/Caddyfile.template`."""

    name = "caddy"

    def __init__(self, port: int, bind: str, upstreams: Sequence[str], workdir: Path, env: Mapping[str, str],
                 route_secret: str) -> None:
        super().__init__(workdir / "caddy.log")
        self.port = port
        self.bind = bind
        self.workdir = workdir
        self.caddyfile = workdir / "Caddyfile"
        self.route_secret = route_secret
        self.upstreams = list(upstreams)
        data = workdir / "caddy-home"
        data.mkdir(exist_ok=True)
        # Caddy keeps its state under $HOME / XDG dirs: this room's folder instead of the operator's home.
        self.env = {**dict(env), "HOME": str(data), "XDG_CONFIG_HOME": str(data / "config"),
                    "XDG_DATA_HOME": str(data / "data")}

    def write_config(self) -> Path:
        text = string.Template(TEMPLATE.read_text()).substitute(
            port=self.port, bind=self.bind, upstreams=" ".join(self.upstreams), cookie_name=ROUTE_COOKIE,
            cookie_secret=self.route_secret)
        self.caddyfile.write_text(text)
        self.caddyfile.chmod(0o600)  # it holds the route cookie's secret
        return self.caddyfile

    def start(self) -> "CaddyProxy":
        argv = [_need("caddy", "caddy"), "run", "--config", str(self.write_config()), "--adapter", "caddyfile"]
        self._spawn(argv, self.env, cwd=self.workdir)
        local = "127.0.0.1" if self.bind in ("0.0.0.0", "::", "") else self.bind
        self._wait(lambda: (_get(f"http://{local}:{self.port}/_stcore/health") or b"").strip() == b"ok",
                   f"proxy /_stcore/health on port {self.port}", 20)
        return self


# --- the room --------------------------------------------------------------------------------------------------------


@dataclass
class Room:
    """A running room: `url` is the address to hand out; `processes[i]`, `redis` (None for an external Redis) and
    `proxy` are its parts. `close()` stops everything."""

    url: str
    processes: list[AppProcess]
    redis: RedisServer | None
    redis_url: str
    proxy: CaddyProxy
    log_dir: Path
    cookie_secret: str = field(repr=False)
    route_secret: str = field(repr=False)

    def stop(self, i: int) -> None:
        """Stop app process `i` (Caddy notices within a couple of seconds and sends its visitors elsewhere)."""
        self.processes[i].stop()

    def start(self, i: int) -> None:
        """Start app process `i` again (same port, same settings), once it answers its health check and Caddy sends
        its sticky cookie's requests to it again."""
        self.processes[i].start()
        self.wait_routed(i)

    def restart(self, i: int) -> None:
        """`stop(i)` then `start(i)`: a fresh process with empty memory on the same port."""
        self.processes[i].restart()
        self.wait_routed(i)

    def wait_routed(self, i: int, timeout_s: float = 15.0) -> None:
        """Wait until Caddy sends a request carrying process `i`'s sticky cookie to process `i` (a process Caddy
        marked unhealthy gets requests again only after its next good health check, within 2 s)."""
        cookie = f"{ROUTE_COOKIE}={self.route_cookie(i)}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            request = urllib.request.Request(self.url + "/_stcore/health", headers={"Cookie": cookie})
            try:
                with _LOCAL.open(request, timeout=2) as resp:
                    moved = any(c.startswith(ROUTE_COOKIE + "=") for c in resp.headers.get_all("Set-Cookie") or ())
                    if resp.status == 200 and not moved:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RoomError(f"Caddy did not route to app {i + 1} within {timeout_s:.0f} s\n{_tail(self.proxy.log)}")

    def route_cookie(self, i: int) -> str:
        """The sticky cookie's value for process `i`: Caddy's HMAC-SHA256 of its dial address, keyed by the secret."""
        return hmac.new(self.route_secret.encode(), self.processes[i].dial.encode(), hashlib.sha256).hexdigest()

    def backend_of(self, cookie_value: str | None) -> int | None:
        """Which process a browser's `lhs_route` cookie sends it to (None: no cookie, or none of ours)."""
        for i in range(len(self.processes)):
            if cookie_value and hmac.compare_digest(cookie_value, self.route_cookie(i)):
                return i
        return None

    def close(self) -> None:
        """Stop Caddy, then every app process (at once), then Redis if the room started it."""
        self.proxy.stop()
        for p in self.processes:
            if p.running:
                try:
                    assert p.proc is not None
                    os.killpg(p.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.processes:
            p.stop()
        if self.redis is not None:
            self.redis.stop()

    def __enter__(self) -> "Room":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def app_environment(env: Mapping[str, str], redis_url: str, cookie_secret: str) -> dict[str, str]:
    """What every app process gets: `env` as given, and the settings they must share."""
    return {**dict(env), "REDIS_URL": redis_url, COOKIE_SECRET_ENV: cookie_secret, "PYTHONUNBUFFERED": "1"}


def start_room(n: int, env: Mapping[str, str] | None = None, tmp: Path | None = None, *, port: int | None = None,
               host: str = "127.0.0.1", app_port: int | None = None, redis_url: str | None = None,
               redis_port: int | None = None, app_dir: Path = ROOT) -> Room:
    """Start a room of `n` app processes and return it once Caddy proxies their health checks.

    `env`: the app processes' environment (default: this one). `tmp`: where logs, the Caddyfile and Redis's working
    folder go (default: a new temporary folder). `port` / `app_port` / `redis_port`: Caddy's port, the first app
    port, Redis's port (default: free ones). `redis_url`: an existing Redis (default: start one). The cookie secret
    comes from `env[STREAMLIT_SERVER_COOKIE_SECRET]` if set, else is made here, once for every process.
    """
    if n < 1:
        raise RoomError("a room needs at least one app process")
    env = dict(os.environ if env is None else env)
    _need("caddy", "caddy")
    if redis_url is None:
        _need("redis-server", "redis-server")
    log_dir = Path(tmp) if tmp is not None else Path(tempfile.mkdtemp(prefix="llama-herd-room-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    listen = "0.0.0.0" if host in ("0.0.0.0", "::", "") else host
    port = free_ports(1, listen) if port is None else port
    app_port = free_ports(n) if app_port is None else app_port
    taken = ([port] if not port_free(port, listen) else []) + [p for p in range(app_port, app_port + n)
                                                                 if not port_free(p)]
    if taken:
        raise RoomError(f"port(s) {', '.join(map(str, taken))} already in use: choose --port / --app-port")
    cookie_secret = env.get(COOKIE_SECRET_ENV) or secrets.token_urlsafe(32)
    route_secret = secrets.token_hex(16)
    # Redis and Caddy get a plain environment: no app keys (they need none), the same proxy settings.
    plain = {k: v for k, v in env.items() if k in ("PATH", "LANG", "LC_ALL", "TZ") or k.lower().endswith("_proxy")}
    plain.setdefault("PATH", os.defpath)

    redis: RedisServer | None = None
    processes: list[AppProcess] = []
    proxy: CaddyProxy | None = None
    try:
        if redis_url is None:
            redis_port = free_ports(1) if redis_port is None else redis_port
            if not port_free(redis_port):
                raise RoomError(f"Redis port {redis_port} already in use: choose --redis-port, or --redis-url")
            redis = RedisServer(redis_port, log_dir, plain).start()
            redis_url = redis.url
        shared = app_environment(env, redis_url, cookie_secret)
        processes = [AppProcess(i, app_port + i, shared, app_dir, log_dir) for i in range(n)]
        for p in processes:
            p.launch()
        for p in processes:
            p.wait_healthy()
        proxy = CaddyProxy(port, host, [p.dial for p in processes], log_dir, plain, route_secret).start()
    except BaseException:
        if proxy is not None:
            proxy.stop()
        for p in processes:
            p.stop()
        if redis is not None:
            redis.stop()
        raise
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return Room(url=f"http://{shown}:{port}", processes=processes, redis=redis, redis_url=redis_url, proxy=proxy,
                log_dir=log_dir, cookie_secret=cookie_secret, route_secret=route_secret)


# --- the command -----------------------------------------------------------------------------------------------------


def _network_address() -> str | None:
    """This machine's address on its main network (no packet is sent: a UDP socket only picks a route)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def _shown_redis(url: str) -> str:
    """A Redis URL without its password, for printing."""
    head, sep, tail = url.partition("@")
    if not sep:
        return url
    scheme, _, _ = head.partition("://")
    return f"{scheme}://…@{tail}"


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.room",
        description="Several app processes behind Caddy (sticky sessions, websockets), sharing state on Redis.")
    parser.add_argument("--processes", "-n", type=int, default=2, help="app processes (default 2)")
    parser.add_argument("--port", type=int, default=8080, help="the room's port, Caddy's (default 8080)")
    parser.add_argument("--host", default="0.0.0.0",
                        help="address Caddy listens on (default 0.0.0.0: every interface, for the room's laptops)")
    parser.add_argument("--app-port", type=int, default=8501,
                        help="first app process port on 127.0.0.1; the others follow (default 8501)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--redis-url", default=None,
                       help="use this Redis (default: REDIS_URL from the environment, else start one)")
    where.add_argument("--start-redis", action="store_true",
                       help="start a Redis for the room even if REDIS_URL is set (nothing saved to disk)")
    parser.add_argument("--redis-port", type=int, default=None,
                        help="port for the Redis started here, on 127.0.0.1 (default: a free one; only the room uses it)")
    parser.add_argument("--log-dir", type=Path, default=None,
                        help="where the logs and the Caddyfile go (default: a new folder under /tmp)")
    args = parser.parse_args(argv)

    redis_url = None if args.start_redis else (args.redis_url or os.environ.get("REDIS_URL") or None)
    signal.signal(signal.SIGTERM, _raise_exit)
    started = time.monotonic()
    print(f"Starting {args.processes} app process(es), "
          f"{'Redis at ' + _shown_redis(redis_url) if redis_url else 'a Redis'} and Caddy …", flush=True)
    try:
        room = start_room(args.processes, os.environ, args.log_dir, port=args.port, host=args.host,
                          app_port=args.app_port, redis_url=redis_url, redis_port=args.redis_port)
    except RoomError as exc:
        print(f"deploy.room: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemExit):
        print("\nStopped before the room was ready.", flush=True)
        return 130

    print(f"Ready in {time.monotonic() - started:.1f} s.")
    print(f"  Redis   {_shown_redis(room.redis_url)}"
          + (f" (started here, pid {room.redis.pid}; nothing saved to disk)" if room.redis else " (yours)"))
    for p in room.processes:
        print(f"  app {p.index + 1}   {p.url} (pid {p.pid})")
    print(f"  Caddy   {args.host}:{args.port} (pid {room.proxy.pid}), sticky cookie `{ROUTE_COOKIE}`")
    print(f"  logs    {room.log_dir}")
    network = _network_address() if args.host in ("0.0.0.0", "::") else None
    print(f"\nOpen {f'http://{network}:{args.port}' if network else room.url}"
          + (f"  (on this machine: {room.url})" if network else ""))
    print("Ctrl-C stops everything. Nothing is restarted by itself.", flush=True)

    code = 0
    reported: set[int] = set()  # app processes whose exit was reported
    redis_reported = False
    try:
        while True:
            time.sleep(1)
            if not room.proxy.running:
                print(f"Caddy exited (code {room.proxy.proc.returncode if room.proxy.proc else '?'}): the room is "
                      f"unreachable, stopping.\n{_tail(room.proxy.log, 15)}", file=sys.stderr, flush=True)
                code = 1
                break
            for p in room.processes:
                if not p.running and p.index not in reported:
                    reported.add(p.index)
                    print(f"app {p.index + 1} (pid {p.pid}) exited with code {p.proc.returncode if p.proc else '?'}; "
                          "not restarted: Caddy sends its visitors to the others. Log: "
                          f"{p.log}", file=sys.stderr, flush=True)
            if len(reported) == len(room.processes):
                print("Every app process has exited: stopping.", file=sys.stderr, flush=True)
                code = 1
                break
            if room.redis is not None and not room.redis.running and not redis_reported:
                redis_reported = True
                print("Redis exited: the app processes carry on, each on its own memory, and say so on the page.",
                      file=sys.stderr, flush=True)
    except (KeyboardInterrupt, SystemExit):
        pass  # Ctrl-C or SIGTERM: the way to stop a room
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave processes behind
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\nStopping Caddy, the app processes and Redis …", flush=True)
        room.close()
        print("Stopped.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
