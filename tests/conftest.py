"""Shared fixtures: the API double, settings pointing at it, a clean client memory between tests."""

from __future__ import annotations

import logging
from typing import Iterator

import pytest

from lib import client, redact
from lib.dedupe import DEDUPE
from lib.config import clear_probe_cache
from lib.config import Settings, load_settings
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
