"""The client under the concurrency cap: a free tier's cap is never exceeded, connections are reused, "too many
at once" is retried once after a short wait, and a line that never moves times out with a clear message. Under a
per-minute limit a request waits rather than exceed it; a 429 tells the meter which limit the host says is used up;
a session's meter counts every request as it reaches the host (a stopped one too)."""

from __future__ import annotations

import threading
import time

import pytest

from lib import client
from lib.hosts.config import Settings
from lib.hosts.errors import ErrorKind, explain
from lib.hosts.limits import SLOTS, SlotTimeout, slot_key, wait_notice
from tests.api_double import ApiDouble, Reply

FREE = "meta-llama/llama-3.3-70b-instruct:free"


def openrouter(double: ApiDouble) -> Settings:
    return Settings(provider_id="openrouter", endpoint=double.endpoint_for("openrouter"), token="sk-or-test",
                    timeout_s=30)


def test_eight_sessions_on_a_free_tier_never_exceed_its_cap(double: ApiDouble) -> None:
    double.max_concurrent = 2
    double.responder = lambda body: Reply(text="a b c d e", chunk_delay_s=0.02)
    s = openrouter(double)
    answers: list[str] = []
    positions: list[int] = []

    def session() -> None:
        with wait_notice(positions.append):
            answers.append("".join(client.stream(s, FREE, [{"role": "user", "content": "hi"}])))

    threads = [threading.Thread(target=session) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert answers == ["a b c d e"] * 8
    assert double.max_in_flight <= 2 and double.refused_concurrent == 0 and len(double.chat_requests) == 8
    assert positions  # someone was told their place in line


def test_streams_read_to_the_end_reuse_one_connection(double: ApiDouble, settings: Settings) -> None:
    double.responder = lambda body: Reply(text="one two")
    for i in range(20):
        assert "".join(client.stream(settings, "m", [{"role": "user", "content": f"q{i}"}])) == "one two"
    assert double.connections <= 2


def test_a_concurrent_429_is_retried_once_after_a_short_wait_and_explained(double: ApiDouble,
                                                                            settings: Settings) -> None:
    busy = Reply(status=429, headers={"retry-after": "0"}, body={"error": {
        "code": "too_many_concurrent_requests", "message": "Too many concurrent requests: at most 2 at once."}})
    double.queue(busy, Reply(text="ok"))
    assert "".join(client.stream(settings, "m", [{"role": "user", "content": "hi"}])) == "ok"
    assert len(double.chat_requests) == 2  # no SDK burst: one retry by retry_concurrent
    double.queue(busy, busy, busy)
    with pytest.raises(Exception) as info:
        list(client.stream(settings, "m", [{"role": "user", "content": "hi"}]))
    assert len(double.chat_requests) == 5
    err = explain(info.value)
    assert err.kind is ErrorKind.RATE_LIMIT_CONCURRENT and err.is_rate_limit and err.retry_helps
    assert explain(SlotTimeout(3, "k", 120)).title == "Everyone is asking at once"


def test_a_slot_that_never_frees_times_out(double: ApiDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "DEFAULT_SLOT_TIMEOUT_S", 0.05)
    s = openrouter(double)
    key = slot_key(s.provider_id, s.endpoint, FREE)
    with SLOTS.acquire(key, 2, 1), SLOTS.acquire(key, 2, 1):
        with pytest.raises(SlotTimeout):
            list(client.stream(s, FREE, [{"role": "user", "content": "hi"}]))
    assert double.chat_requests == []


# Per-minute limits and the meters (issue 20) ------------------------------------------------------------------------

PAID = "meta-llama/llama-3.3-70b-instruct"


@pytest.fixture
def fresh_meters(monkeypatch: pytest.MonkeyPatch) -> tuple[client.QuotaTracker, "RateWindow"]:
    from lib.hosts.limits import RateWindow

    quota, rates = client.QuotaTracker(), RateWindow(window_s=0.8, margin_s=0.0)
    monkeypatch.setattr(client, "QUOTA", quota)
    monkeypatch.setattr(client, "RATES", rates)
    return quota, rates


def test_a_per_minute_limit_holds_requests_back_instead_of_sending_one_too_many(
        double: ApiDouble, fresh_meters, monkeypatch: pytest.MonkeyPatch) -> None:
    from lib.hosts.limits import Wait

    monkeypatch.setenv("OPENROUTER_REQUESTS_PER_MINUTE", "2")  # the operator's figure (a window of 0.8 s here)
    arrived: list[float] = []

    def answer(body: dict) -> Reply:
        arrived.append(time.monotonic())
        return Reply(text="ok")

    double.responder = answer
    s = openrouter(double)
    heard: list[int] = []
    with wait_notice(heard.append):
        for i in range(5):
            assert "".join(client.stream(s, PAID, [{"role": "user", "content": f"q{i}"}])) == "ok"
    assert len(arrived) == 5
    for t in arrived:  # whatever window of 0.8 s one looks at: at most 2 requests in it
        assert sum(1 for u in arrived if t <= u < t + 0.8 - 0.05) <= 2, arrived
    waits = [w for w in heard if isinstance(w, Wait)]
    assert waits and all(w.per_minute == 2 and w.seconds is not None and w.seconds <= 0.8 for w in waits)
    assert fresh_meters[0].snapshot().counts[f"{client.quota_key(s)} · {PAID}"] == 5


def test_a_paid_model_never_waits_for_the_free_tiers_per_minute_limit(double: ApiDouble, fresh_meters) -> None:
    from lib.hosts.limits import limits_for, rate_key

    s = openrouter(double)
    double.responder = lambda body: Reply(text="ok")
    for i in range(3):
        "".join(client.stream(s, PAID, [{"role": "user", "content": f"q{i}"}]))
        "".join(client.stream(s, FREE, [{"role": "user", "content": f"q{i}"}]))
    rates = fresh_meters[1]
    free_key = rate_key(client.quota_key(s), limits_for(s.provider, FREE))
    assert rates.used(free_key) == 3  # the :free requests count in the free tier's window
    assert rates.used(client.quota_key(s)) == 0  # the paid ones in none


def test_a_daily_429_shows_the_daily_limit_used_up_and_a_minute_429_holds_the_next_requests(
        double: ApiDouble, fresh_meters) -> None:
    from lib.hosts.limits import limits_for, rate_key

    quota, rates = fresh_meters
    s = openrouter(double)
    where = client.quota_key(s)
    double.queue(Reply.rate_limit_day(wait=3600))
    with pytest.raises(Exception):
        list(client.stream(s, FREE, [{"role": "user", "content": "hi"}]))
    snap = quota.snapshot()
    until = snap.limit_reached(where, "day", lambda m: m.endswith(":free"))
    assert until is not None and 3500 < until - snap.now <= 3600
    assert snap.limit_reached(where, "day", lambda m: not m.endswith(":free")) is None  # paid models: not said
    assert snap.usage(where) == (0, 0)  # a refused request is not counted as sent
    double.queue(Reply.rate_limit_minute(wait=30))
    with pytest.raises(Exception):
        list(client.stream(s, FREE, [{"role": "user", "content": "hi again"}]))
    assert 25 < rates.free_in(rate_key(where, limits_for(s.provider, FREE)), 20) <= 30  # the host asked: 30 s


def test_the_session_meter_counts_each_request_as_it_is_sent_a_stopped_one_too(double: ApiDouble,
                                                                               fresh_meters) -> None:
    from lib.answers.cache import Dedupe
    from lib.answers.recording import ReplayStore
    from lib.common.ticking import ticking

    s = openrouter(double)
    meter = client.SessionMeter(4, on_change=(saved := []).append)  # 4: what a reload of this tab brought back
    opener = client.counted(client.stream, meter.add)
    double.queue(Reply(text="a b c"))
    assert "".join(opener(s, PAID, [{"role": "user", "content": "one"}])) == "a b c"
    assert meter.count == 5 and saved == [5]
    cache = Dedupe(ReplayStore(ttl_s=900), sleep=lambda _s: None)
    cached = client.counted(lambda *a, **k: cache.chat_stream(*a, **k), meter.add)
    double.queue(Reply(text="cached answer"))
    assert "".join(cached(s, PAID, [{"role": "user", "content": "two"}])) == "cached answer"
    assert "".join(cached(s, PAID, [{"role": "user", "content": "two"}])) == "cached answer"
    assert meter.count == 6, "an answer from the cache reached no host"
    double.queue(Reply(text="word " * 400, chunk_delay_s=0.02))  # a long answer, stopped after its first piece
    items = ticking(iter(opener(s, PAID, [{"role": "user", "content": "three"}])), interval_s=0.05)
    assert any(isinstance(item, str) for item in items)
    items.close()  # Stop
    assert meter.count == 7 and saved[-1] == 7, "a stopped request reached the host: it counts"
    double.queue(Reply.rate_limit_day())
    with pytest.raises(Exception):
        list(opener(s, FREE, [{"role": "user", "content": "four"}]))
    assert meter.count == 7, "a refused request was not sent"
