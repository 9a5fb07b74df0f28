"""Shared fixtures: the API double, settings pointing at it, a clean client memory between tests."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterator

import pytest

from lib import client

from lib.common import redact
from lib.answers.cache import DEDUPE
from lib.hosts.config import clear_probe_cache
from lib.hosts.config import Settings, load_settings
from tests import real_servers
from tests.api_double import ApiDouble

TEST_TOKEN = "sk-test-KEY-abcdef0123456789"


@pytest.fixture(autouse=True)
def _quiet_and_clean() -> Iterator[None]:
    logging.getLogger("azure").setLevel(logging.ERROR)
    client.forget_all()
    clear_probe_cache()
    DEDUPE.clear()
    yield
    client.forget_all()
    redact.forget_all()


@pytest.fixture
def double() -> Iterator[ApiDouble]:
    """A running API double on 127.0.0.1 (ephemeral port)."""
    with ApiDouble() as d:
        yield d


@pytest.fixture
def settings(double: ApiDouble) -> Settings:
    """Settings that talk to the double (as a vLLM server of your own) with a test key."""
    return load_settings(
        environ={
            "MODELS_PROVIDER": "custom",
            "MODELS_ENDPOINT": double.endpoint,
            "MODELS_API_KEY": TEST_TOKEN,
            "REQUEST_TIMEOUT_S": "5",
        },
        probe=lambda url: False,
    )


@pytest.fixture(autouse=True)
def _page_errors_fail_tests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page error must fail the test that caused it: under AppTest the app's last-net handler (ui/crash.py)
    re-raises, so `at.exception` sees it. Tests of the handler itself are marked `real_crash_handler`."""
    if request.node.get_closest_marker("real_crash_handler"):
        return

    def reraise(exception: BaseException) -> None:
        raise exception

    monkeypatch.setattr("ui.crash.show", reraise)


def _xdist_controller(config: pytest.Config) -> bool:
    """True in pytest-xdist's controller process (it runs no test; its workers do)."""
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


def _whole_or_real(config: pytest.Config) -> bool:
    """Whether this run may select real-server tests: the whole suite, or a path that names that tier."""
    args = [str(a) for a in config.args]
    return not args or any(a.rstrip("/") in ("tests", ".") or "real" in a or "parity" in a for a in args)


def pytest_configure(config: pytest.Config) -> None:
    """With pytest-xdist (`-n 2`, the default in pytest.ini), install the real-server tier once in the controller,
    before the workers start, so two workers never install it at the same time on a fresh machine."""
    if _xdist_controller(config) and real_servers.enabled() and _whole_or_real(config):
        started = time.monotonic()
        paths = real_servers.setup("vllm", "litellm")
        print(f"\nreal-server tier ready in {time.monotonic() - started:.0f} s: {paths}")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups into the test ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Install the real-server tier (cached venvs and model, tests/real_servers/setup.sh) once, before any test runs
    and outside the per-test timeout, when a selected test needs it. A first install takes a few minutes.

    Under pytest-xdist (`--dist loadgroup`) each test file runs in one worker (its module-scoped app server and
    Chromium start once), and every real-server test in one worker (vLLM starts once per run)."""
    for item in items:
        group = "real-servers" if item.get_closest_marker("real_server") else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))
    if real_servers.enabled() and any(item.get_closest_marker("real_server") for item in items):
        started = time.monotonic()
        config.stash[REAL_PATHS] = real_servers.setup("vllm", "litellm")
        print(f"\nreal-server tier ready in {time.monotonic() - started:.0f} s: {config.stash[REAL_PATHS]}")


REAL_PATHS = pytest.StashKey[dict]()


# The real-server tier's servers: started once per test session, shared by the library and the browser tests.


@pytest.fixture(scope="session")
def real_paths(request: pytest.FixtureRequest) -> dict[str, str]:
    return request.config.stash.get(REAL_PATHS, None) or real_servers.setup("vllm", "litellm")


@pytest.fixture(scope="session")
def real_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("real-servers")


@pytest.fixture(scope="session")
def vllm(real_paths: dict[str, str], real_logs: Path) -> Iterator[real_servers.RealServer]:
    server = real_servers.start_vllm(real_paths, real_logs)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def litellm(real_paths: dict[str, str], real_logs: Path, vllm: real_servers.RealServer) -> Iterator[real_servers.RealServer]:
    server = real_servers.start_litellm(real_paths, real_logs, vllm.url)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
