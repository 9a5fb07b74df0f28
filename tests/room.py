"""Test helpers for a room: several app processes behind Caddy, sharing state on Redis (deploy/room.py).

    with running_room(tmp, n=2, MODELS_PROVIDER="custom", MODELS_ENDPOINT=double.endpoint) as room:
        page.goto(room.url + "/tool_calling")
        backend_of(page, room)        # 0 or 1: the process this browser's sticky cookie sends it to
        room.restart(0); room.redis.stop(); room.redis.start()

Built on tests/test_browser.py's helpers: the app processes get `app_env()` (no key from this machine, every
outbound request to a `ProxyTrap` that refuses it), and leaving `running_room` asserts that none tried. Importing
this module skips the importing test module when Chromium or Playwright is missing (as tests/test_browser.py does),
and `MISSING` names Caddy or Redis when they are not installed.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from deploy.room import ROUTE_COOKIE, Room, start_room
from tests.test_browser import SHOTS, ProxyTrap, app_env

from playwright.sync_api import Page  # noqa: E402 - after tests.test_browser, which skips without Playwright

MISSING = [f"{program} (apt-get install {package})" for program, package in (("caddy", "caddy"),
                                                                             ("redis-server", "redis-server"))
           if shutil.which(program) is None]
"""What a room needs and this machine lacks; a test module skips itself when this isn't empty."""

_rooms: list[Room] = []  # rooms running now, for `explained_room`'s notes


@contextlib.contextmanager
def running_room(tmp: Path, n: int = 2, **env: str) -> Iterator[Room]:
    """A fresh room of `n` app processes (deploy.room.start_room: Redis, the processes, Caddy) whose environment is
    `app_env(trap, **env)`; stopped after, with a check that no process tried to reach the internet."""
    trap = ProxyTrap()
    try:
        room = start_room(n, app_env(trap, **env), tmp)
    except BaseException:
        trap.close()
        raise
    _rooms.append(room)
    try:
        yield room
    finally:
        _rooms.remove(room)
        room.close()
        trap.close()
    assert trap.lines == [], f"a process of the room tried to reach the internet: {trap.lines}"


def route_cookie(page: Page, room: Room) -> str | None:
    """The value of the sticky cookie Caddy gave this page's browser (None before its first response)."""
    for cookie in page.context.cookies(room.url):
        if cookie["name"] == ROUTE_COOKIE:
            return cookie["value"]
    return None


def backend_of(page: Page, room: Room) -> int | None:
    """Which app process (index into `room.processes`) this page's browser is pinned to."""
    return room.backend_of(route_cookie(page, room))


def pin(page: Page, room: Room, i: int) -> None:
    """Point this page's browser at process `i` (its sticky cookie set as Caddy would set it)."""
    page.context.add_cookies([{"name": ROUTE_COOKIE, "value": room.route_cookie(i), "url": room.url}])


def room_logs(room: Room, lines: int = 25) -> str:
    """The last lines of every log of the room (the app processes', Caddy's, Redis's), for a failure's message."""
    parts = []
    for path in sorted(room.log_dir.glob("*.log")):
        try:
            text = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError as exc:
            text = [f"(unreadable: {exc})"]
        parts.append(f"--- {path.name} (last {lines} lines) ---\n" + "\n".join(text))
    return "\n".join(parts)


def explained_room(test: Callable[..., Any]) -> Callable[..., Any]:
    """Closes every browser context the test opened (the test need not), and on failure first takes a screenshot of
    each of their pages (/tmp/browser_shots/FAILED-<test>-<k>.png, at most 6) and adds the room's logs to the error.
    The test takes the Playwright `browser` fixture."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        browser = kwargs.get("browser")
        before = set(browser.contexts) if browser is not None else set()
        try:
            return test(*args, **kwargs)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, pytest.skip.Exception)):
                raise
            try:
                SHOTS.mkdir(parents=True, exist_ok=True)
                pages = [pg for c in (browser.contexts if browser else []) if c not in before for pg in c.pages]
                for k, pg in enumerate(pages[:6]):
                    pg.screenshot(path=str(SHOTS / f"FAILED-{test.__name__}-{k}.png"), full_page=True)
                if pages:
                    exc.add_note(f"screenshots: {SHOTS}/FAILED-{test.__name__}-*.png")
            except Exception:  # noqa: BLE001 - the original failure matters more
                pass
            for room in _rooms:
                exc.add_note(room_logs(room))
            raise
        finally:
            for context in (browser.contexts if browser is not None else []):
                if context not in before:
                    context.close()

    return wrapper
