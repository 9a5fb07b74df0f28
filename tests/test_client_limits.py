"""The client under the concurrency cap: a free tier's cap is never exceeded, connections are reused, "too many
at once" is retried once after a short wait, and a line that never moves times out with a clear message."""

from __future__ import annotations

import threading

import pytest

from lib import client
from lib.config import Settings
from lib.errors import ErrorKind, explain
from lib.limits import SLOTS, SlotTimeout, slot_key, wait_notice
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
