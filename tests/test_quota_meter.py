"""The sidebar's quota meter tells the truth (issue 20): the limits of the model in use (a paid model has none of a
free tier's), a daily limit the host reported reads as used up, at the per-minute limit it says how long the next
request waits, and "This session" is kept with the tab's conversations so a reload finds it.

Each test runs `ui.meter.quota_lines` in a Streamlit script (AppTest) against a request counter and per-minute
window of its own."""

from __future__ import annotations

import re
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from lib import client

from lib.hosts import limits
from lib.hosts.config import load_settings
from lib.hosts.limits import RateWindow, limits_for, rate_key
from lib.hosts.providers import provider

FREE = "meta-llama/llama-3.3-70b-instruct:free"
PAID = "meta-llama/llama-3.3-70b-instruct"
ENV = {"MODELS_PROVIDER": "openrouter", "OPENROUTER_API_KEY": "sk-or-meter-test-0123456789"}
WHERE = "OpenRouter (openrouter.ai)"


def _meter_page(environ: dict, model: str | None, add: int = 0) -> None:
    """The meter as the sidebar shows it, for `model` in use (None: Home), after `add` requests were sent."""
    import streamlit as st

    from lib import client
    from lib.hosts.config import load_settings
    from ui.meter import RUN, quota_lines, session_meter

    settings = load_settings(environ=environ, probe=lambda url: False)
    RUN.meter_model = (client.quota_key(settings), model) if model else None
    meter = session_meter()
    if add:
        meter.add(add)
    lines, warning = quota_lines(settings)
    for line in lines:
        st.text(line)
    if warning:
        st.warning(warning)


def _run(model: str | None, add: int = 0, sid: str | None = None) -> AppTest:
    at = AppTest.from_function(_meter_page, args=(ENV, model, add), default_timeout=30)
    if sid is not None:
        at.session_state["_sid"] = sid  # the same tab, reloaded (its id in the URL, bound to this browser)
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


@pytest.fixture
def quota(monkeypatch: pytest.MonkeyPatch) -> client.QuotaTracker:
    tracker = client.QuotaTracker()
    monkeypatch.setattr(client, "QUOTA", tracker)
    window = RateWindow()
    monkeypatch.setattr(limits, "RATES", window)
    monkeypatch.setattr("ui.meter.RATES", window)  # what ui.meter.quota_lines reads
    return tracker


def test_a_paid_model_is_not_held_to_the_free_tiers_limits(quota: client.QuotaTracker) -> None:
    assert client.quota_key(load_settings(environ=ENV, probe=lambda url: False)) == WHERE
    for _ in range(27):
        quota.count(WHERE, PAID)
    for _ in range(3):
        quota.count(WHERE, FREE)
    paid = _run(PAID)
    assert "This server, OpenRouter (paid models): 27 today · 27 this minute" in _texts(paid)
    assert not paid.warning, "27 paid requests in a minute are no free tier's business"
    free = _run(FREE)
    assert "This server, OpenRouter (:free models): 3 of 50 today · 3 of 20 this minute" in _texts(free)
    home = _run(None)  # Home uses no model: the free tier's models, against its limits
    assert "This server, OpenRouter (:free models): 3 of 50 today · 3 of 20 this minute" in _texts(home)


def test_the_host_saying_the_daily_limit_is_reached_reads_as_used_up(quota: client.QuotaTracker) -> None:
    quota.refused(WHERE, FREE, "day", 3 * 3600)
    at = _run(FREE)
    line = next(t for t in _texts(at) if t.startswith("This server"))
    assert line.startswith("This server, OpenRouter (:free models): 50 of 50 today: daily limit reached "
                           "(OpenRouter said so; 0 sent from this server)"), line
    [warning] = [w.value for w in at.warning]
    assert "OpenRouter's daily limit (:free models) is reached" in warning and "about 3 h" in warning
    assert not re.search(r"\b0 of 50", " ".join(_texts(at)))
    paid = _run(PAID)  # a paid model's requests were not refused
    assert not paid.warning and "daily limit" not in " ".join(_texts(paid))


def test_a_daily_budget_spent_from_this_server_says_so_and_warns_before(quota: client.QuotaTracker) -> None:
    for _ in range(42):
        quota.count(WHERE, FREE)
    at = _run(FREE)
    assert any("42 of OpenRouter's 50 free requests today are used: 8 left" in w.value for w in at.warning)
    for _ in range(8):
        quota.count(WHERE, FREE)
    at = _run(FREE)
    assert any("50 of 50 today: daily limit reached" in t for t in _texts(at))
    assert any("daily limit (:free models) is reached" in w.value for w in at.warning)


def test_at_the_per_minute_limit_the_meter_says_how_long_the_next_request_waits(
        quota: client.QuotaTracker) -> None:
    window = limits.RATES
    key = rate_key(WHERE, limits_for(provider("openrouter"), FREE))
    for _ in range(20):
        with window.admit(key, 20, timeout_s=1) as admission:
            admission.sent()
            quota.count(WHERE, FREE)
    line = next(t for t in _texts(_run(FREE)) if t.startswith("This server"))
    assert re.search(r"· 20 of 20 this minute: the next request waits (1 min|\d+ s)", line), line


def test_this_session_is_counted_as_sent_and_kept_for_a_reload_of_the_tab(quota: client.QuotaTracker) -> None:
    first = _run(FREE, add=3)
    assert "This session: 3" in _texts(first)
    sid = first.session_state["_sid"]
    reloaded = _run(FREE, add=1, sid=sid)  # a new session of the same tab
    assert "This session: 4" in _texts(reloaded)
    other_tab = _run(FREE)
    assert "This session: 0" in _texts(other_tab)


def test_the_session_meter_survives_a_keeper_that_fails() -> None:
    def broken(count: int) -> Any:
        raise OSError("store full")

    meter = client.SessionMeter(2, on_change=broken)
    meter.add()
    meter.add(-5)  # nonsense is no request
    assert meter.count == 3
