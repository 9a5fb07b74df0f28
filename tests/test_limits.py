"""The concurrency cap (SlotPool), the 429 kinds and the short retry of a "too many at once" 429."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest

from lib import client
from lib.config import Settings
from lib.limits import (
    SLOTS,
    SlotPool,
    SlotTimeout,
    cap_for,
    kind_of,
    kind_of_response,
    ordinal,
    rate_limit_kind,
    retry_concurrent,
    slot_key,
    wait_notice,
    wait_text,
)
from lib.providers import provider
from tests.api_double import ApiDouble, Reply

WAIT_S = 10.0  # generous bound for "eventually" conditions; never a timing assertion


def eventually(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    """Wait until `condition()` holds (fail after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.002)


class Holder:
    """Holds one slot in its own thread until `release()`."""

    def __init__(self, pool: SlotPool, key: str, limit: int) -> None:
        self._go = threading.Event()
        self.holding = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(pool, key, limit), daemon=True)
        self.thread.start()
        assert self.holding.wait(WAIT_S)

    def _run(self, pool: SlotPool, key: str, limit: int) -> None:
        with pool.acquire(key, limit, timeout_s=WAIT_S):
            self.holding.set()
            self._go.wait(WAIT_S)

    def release(self) -> None:
        self._go.set()
        self.thread.join(WAIT_S)


def run_line(pool: SlotPool, key: str, limit: int, n: int) -> tuple[list[int], list[list[int]], int]:
    """n threads arrive one by one while every slot is taken; returns (service order, positions, max at once)."""
    holders = [Holder(pool, key, limit) for _ in range(limit)]
    assert pool.in_use(key) == limit
    lock = threading.Lock()
    slots: list[tuple[int, int]] = []  # (admitted, arrival index)
    positions: list[list[int]] = [[] for _ in range(n)]
    state = {"now": 0, "max": 0}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with pool.acquire(key, limit, timeout_s=WAIT_S, on_wait=positions[i].append) as slot:
                with lock:
                    slots.append((slot.admitted, i))
                    state["now"] += 1
                    state["max"] = max(state["max"], state["now"], pool.in_use(key))
                time.sleep(0.002)  # hold the slot a moment so others really overlap
                with lock:
                    state["now"] -= 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = []
    for i in range(n):
        t = threading.Thread(target=worker, args=(i,), daemon=True)
        t.start()
        threads.append(t)
        eventually(lambda: pool.waiting(key) == i + 1 and len(positions[i]) == 1)  # in line, in arrival order
    for h in holders:
        h.release()
    for t in threads:
        t.join(WAIT_S)
    assert not errors
    order = [i for _, i in sorted(slots)]  # arrival indices in the order the pool admitted them
    return order, positions, state["max"]


def test_twenty_threads_limit_two_never_more_than_two_everyone_served_in_order() -> None:
    pool = SlotPool()
    order, positions, most = run_line(pool, "openrouter|x|m", 2, 20)
    assert order == list(range(20))  # everyone served, first come first served
    assert most <= 2
    for arrival, seen in enumerate(positions):
        assert seen[0] == arrival + 1  # told their place on arrival (1 = next)
        assert seen[-1] == 0  # and told when they are in (0: no longer waiting), so a page drops its notice
        line = seen[:-1]
        assert line == sorted(set(line), reverse=True)  # then only moving up, never reported twice
        assert line[-1] >= 1
    assert pool.in_use("openrouter|x|m") == 0 and pool.waiting("openrouter|x|m") == 0


def test_limit_one_serves_strictly_in_arrival_order() -> None:
    order, positions, most = run_line(SlotPool(), "k", 1, 12)
    assert order == list(range(12))
    assert most == 1
    assert positions[5][0] == 6 and positions[5][-2:] == [1, 0]  # with one slot, everyone is "next" before entering


def test_timeout_raises_with_position_and_leaves_the_line() -> None:
    pool = SlotPool()
    holder = Holder(pool, "k", 1)
    seen: list[int] = []
    with pytest.raises(SlotTimeout) as info:
        with pool.acquire("k", 1, timeout_s=0.05, on_wait=seen.append):
            pytest.fail("must not get a slot")  # pragma: no cover
    assert info.value.position == 1 and seen == [1]
    assert "1st in line" in str(info.value)
    assert pool.waiting("k") == 0 and pool.in_use("k") == 1
    holder.release()
    assert pool.in_use("k") == 0


def test_a_waiter_that_gives_up_lets_the_next_move_up() -> None:
    pool = SlotPool()
    holder = Holder(pool, "k", 1)
    first_gave_up = threading.Event()
    b_seen: list[int] = []
    got_slot = threading.Event()

    def impatient() -> None:
        try:
            with pool.acquire("k", 1, timeout_s=2.0):
                pass  # pragma: no cover
        except SlotTimeout:
            first_gave_up.set()

    def patient() -> None:
        with pool.acquire("k", 1, timeout_s=WAIT_S, on_wait=b_seen.append):
            got_slot.set()

    a = threading.Thread(target=impatient, daemon=True)
    a.start()
    eventually(lambda: pool.waiting("k") == 1)
    b = threading.Thread(target=patient, daemon=True)
    b.start()
    eventually(lambda: pool.waiting("k") == 2 or first_gave_up.is_set())
    assert first_gave_up.wait(WAIT_S)
    eventually(lambda: b_seen[-1:] == [1])  # moved up to "next" when the one ahead gave up
    assert b_seen == [2, 1]  # (arrived behind the impatient one, 2 s before it gave up)
    assert not got_slot.is_set()
    holder.release()
    assert got_slot.wait(WAIT_S)
    b.join(WAIT_S)
    a.join(WAIT_S)


def test_on_wait_raising_leaves_the_line() -> None:
    pool = SlotPool()
    holder = Holder(pool, "k", 1)

    class Rerun(Exception):
        pass

    def stop(_position: int) -> None:
        raise Rerun()

    with pytest.raises(Rerun):
        with pool.acquire("k", 1, timeout_s=WAIT_S, on_wait=stop):
            pass  # pragma: no cover
    assert pool.waiting("k") == 0
    holder.release()


def test_wait_notice_reaches_an_acquire_several_calls_deeper_in_the_same_thread_only() -> None:
    pool = SlotPool()
    holder = Holder(pool, "k", 1)
    seen: list[int] = []
    other: list[int] = []
    entered = threading.Event()

    def deep_call() -> None:  # e.g. ChatStream.__iter__ inside the tool loop inside the page
        with pool.acquire("k", 1, timeout_s=WAIT_S):
            entered.set()

    def page() -> None:
        with wait_notice(seen.append):
            deep_call()

    def other_session() -> None:
        with wait_notice(other.append):
            eventually(lambda: pool.waiting("k") == 0 and entered.is_set())

    t = threading.Thread(target=page, daemon=True)
    t.start()
    o = threading.Thread(target=other_session, daemon=True)
    o.start()
    eventually(lambda: seen == [1])
    holder.release()
    t.join(WAIT_S)
    o.join(WAIT_S)
    assert entered.is_set() and seen == [1, 0] and other == []
    with wait_notice(seen.append):
        with pool.acquire("k", 1, timeout_s=1, on_wait=other.append):  # its own callback wins; free: no report
            pass
    assert seen == [1, 0] and other == []


def test_unlimited_never_waits_and_errors_give_the_slot_back() -> None:
    pool = SlotPool()
    with pool.acquire("local", None, timeout_s=0):
        with pool.acquire("local", None, timeout_s=0):
            assert pool.in_use("local") == 0  # unlimited keys are not even counted
    with pytest.raises(RuntimeError):
        with pool.acquire("k", 1, timeout_s=1):
            assert pool.in_use("k") == 1
            raise RuntimeError("boom")
    assert pool.in_use("k") == 0 and not pool._lanes  # idle keys are forgotten
    with pytest.raises(ValueError):
        with pool.acquire("k", 0, timeout_s=1):
            pass  # pragma: no cover


def test_words_and_keys() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 102)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "102nd"]
    assert wait_text(2) == "Waiting for a free slot (2nd in line)…"
    assert slot_key("nvidia", "https://integrate.api.nvidia.com/v1/", "m") == \
        slot_key("nvidia", "https://INTEGRATE.api.nvidia.com/v1", "m")
    assert slot_key("nvidia", "e", "a") != slot_key("nvidia", "e", "b")


def test_cap_from_the_provider_table() -> None:
    assert cap_for(provider("ollama"), "llama3.1:8b") is None  # local: unlimited
    assert cap_for(provider("custom"), "x") is None  # your own server: no quota
    assert cap_for(provider("openrouter"), "meta-llama/llama-3.3-70b-instruct:free") == 2
    assert cap_for(provider("nvidia"), "meta/llama-3.3-70b-instruct") == 2
    assert cap_for(provider("huggingface"), "meta-llama/Llama-3.3-70B-Instruct") == 2


# 429 kinds ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("message, headers, kind", [
    ("Too many concurrent requests: at most 2 at once for this model.", {"retry-after": "1"}, "concurrent"),
    ("Too many simultaneous requests", {}, "concurrent"),
    ("You have too many requests in flight", {}, "concurrent"),
    ("Maximum parallel requests exceeded", {"Retry-After": "2"}, "concurrent"),
    ("", {"x-ratelimit-type": "ConcurrentRequests"}, "concurrent"),
    ("Rate limit of 50 per 86400s exceeded for UserByModelByDay. Please wait 24367 seconds before retrying.",
     {"retry-after": "24367", "x-ratelimit-type": "UserByModelByDay"}, "day"),
    ("Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day", {},
     "day"),
    ("Rate limit exceeded", {"retry-after": "20000"}, "day"),
    ("Daily quota exhausted", {}, "day"),
    ("Rate limit of 10 per 60s exceeded for UserByModelByMinute. Please wait 42 seconds before retrying.",
     {"retry-after": "42", "x-ratelimit-type": "UserByModelByMinute"}, "minute"),
    ("Rate limit exceeded: free-models-per-min.", {}, "minute"),
    ("Too Many Requests", {"retry-after": "1"}, "minute"),  # a short wait alone is not "at once"
    ("", {}, "minute"),
])
def test_rate_limit_kind(message: str, headers: dict[str, str], kind: str) -> None:
    assert rate_limit_kind(429, message, headers) == kind


def test_not_a_rate_limit() -> None:
    assert rate_limit_kind(400, "Too many concurrent requests", {}) is None
    assert rate_limit_kind(503, "", {"retry-after": "1"}) is None


class FakeResponse:
    def __init__(self, body: str, headers: dict[str, str]) -> None:
        self._body = body
        self.headers = headers

    def text(self) -> str:
        return self._body


class FakeHttpError(Exception):
    """Shaped like azure-core's HttpResponseError (status_code, response.headers, response.text())."""

    def __init__(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"({status})")
        self.status_code = status
        self.response = FakeResponse(body, headers or {})


def busy() -> FakeHttpError:
    return FakeHttpError(429, '{"error": {"message": "Too many concurrent requests"}}', {"retry-after": "1"})


def test_retry_concurrent_waits_a_little_longer_each_time_then_succeeds() -> None:
    outcomes: list[Any] = [busy(), busy(), "answer"]
    sleeps: list[float] = []

    def call() -> str:
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    assert retry_concurrent(call, attempts=3, wait_s=1.0, sleep=sleeps.append) == "answer"
    assert sleeps == [1.0, 2.0]


def test_retry_concurrent_gives_up_after_attempts_and_never_retries_other_errors() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def always_busy() -> None:
        calls.append(1)
        raise busy()

    with pytest.raises(FakeHttpError):
        retry_concurrent(always_busy, attempts=3, sleep=sleeps.append)
    assert len(calls) == 3 and sleeps == [1.0, 2.0]

    for error in (FakeHttpError(429, "Rate limit of 10 per 60s exceeded", {"retry-after": "2"}),
                  FakeHttpError(429, "per day", {"retry-after": "24367"}), FakeHttpError(500, "oops"),
                  ValueError("SSE event not supported")):
        calls.clear()

        def fails(error: Exception = error) -> None:
            calls.append(1)
            raise error

        with pytest.raises(type(error)):
            retry_concurrent(fails, sleep=sleeps.append)
        assert len(calls) == 1
    assert sleeps == [1.0, 2.0]
    with pytest.raises(ValueError):
        retry_concurrent(lambda: None, attempts=0)


def test_retry_concurrent_honours_a_short_server_wait() -> None:
    outcomes: list[Any] = [FakeHttpError(429, "too many concurrent requests", {"retry-after": "5"}), "ok"]
    sleeps: list[float] = []

    def call() -> str:
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    assert retry_concurrent(call, sleep=sleeps.append) == "ok"
    assert sleeps == [5.0]


def test_kind_of_a_real_sdk_error_from_the_double(double: ApiDouble) -> None:
    from azure.ai.inference import ChatCompletionsClient
    from azure.core.credentials import AzureKeyCredential

    double.queue(Reply(status=429, headers={"retry-after": "5"}, body={"error": {
        "code": "too_many_concurrent_requests", "message": "Too many concurrent requests: at most 2 at once."}}),
        Reply.rate_limit_day())
    with ChatCompletionsClient(double.endpoint, AzureKeyCredential("k"), retry_total=0) as c:
        for expected in ("concurrent", "day"):
            with pytest.raises(Exception) as info:
                list(c.complete(messages=[{"role": "user", "content": "hi"}], model="m", stream=True))
            assert kind_of(info.value) == expected
    assert kind_of(ValueError("x")) is None


def test_kind_of_response_inside_a_retry_policy_reads_the_streamed_body(double: ApiDouble) -> None:
    """The change proposed for ShortRetryPolicy.is_retry: a concurrent 429 is left to retry_concurrent."""
    from azure.ai.inference import ChatCompletionsClient
    from azure.core.credentials import AzureKeyCredential

    kinds: list[str | None] = []

    class Policy(client.ShortRetryPolicy):
        def is_retry(self, settings: dict[str, Any], response: Any) -> bool:
            kind = kind_of_response(response.http_response)
            kinds.append(kind)
            return False if kind == "concurrent" else super().is_retry(settings, response)

    double.max_concurrent = 0  # every chat request: 429 "Too many concurrent requests", retry-after 1
    with ChatCompletionsClient(double.endpoint, AzureKeyCredential("k"), retry_policy=Policy()) as c:
        with pytest.raises(Exception) as info:
            list(c.complete(messages=[{"role": "user", "content": "hi"}], model="m", stream=True))
    assert kinds == ["concurrent"] and len(double.chat_requests) == 1  # no burst of SDK retries
    assert kind_of(info.value) == "concurrent"  # the body is still there for errors.explain
    assert kind_of_response(type("R", (), {"status_code": 200})()) is None


# Against the API double ---------------------------------------------------------------------------------------------


def test_eight_sessions_through_the_pool_all_answered_never_over_the_double_cap(double: ApiDouble,
                                                                               settings: Settings) -> None:
    double.max_concurrent = 2
    double.responder = lambda body: Reply(text="one two three four five", chunk_delay_s=0.02)
    model = "meta-llama/Llama-3.3-70B-Instruct"
    key = slot_key(settings.provider_id, settings.endpoint, model)
    answers: dict[int, str] = {}
    errors: list[BaseException] = []
    waited: list[int] = []

    def session(i: int) -> None:
        try:
            with SLOTS.acquire(key, 2, timeout_s=60, on_wait=waited.append):
                answers[i] = "".join(client.stream(settings, model, [{"role": "user", "content": f"q{i}"}]))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(i,), daemon=True) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(answers) == list(range(8)) and all(a == "one two three four five" for a in answers.values())
    assert double.max_in_flight <= 2
    assert double.refused_concurrent == 0
    assert len(double.chat_requests) == 8  # no retries were needed
    assert SLOTS.in_use(key) == 0
