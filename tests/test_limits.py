"""The concurrency cap (SlotPool), the 429 kinds and the short retry of a "too many at once" 429."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest

from lib import client
from lib.hosts.config import Settings
from lib.hosts.limits import (
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
from lib.hosts.providers import provider
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


# Per-minute limits (issue 20: "27 of 20 this minute") -------------------------------------------------------------


def test_a_paid_model_of_a_free_tier_has_none_of_its_limits_and_the_operator_may_set_them() -> None:
    from lib.hosts.limits import limits_for

    openrouter = provider("openrouter")
    free = limits_for(openrouter, "meta-llama/llama-3.3-70b-instruct:free", environ={})
    paid = limits_for(openrouter, "meta-llama/llama-3.3-70b-instruct", environ={})
    assert (free.per_minute, free.per_day, free.concurrent) == (20, 50, 2)
    assert (paid.per_minute, paid.per_day, paid.concurrent) == (None, None, 2)  # the app's own cap still holds
    assert "paid model" in paid.note and ":free" in paid.note
    samba = limits_for(provider("sambanova"), "Meta-Llama-3.3-70B-Instruct", environ={})
    assert (samba.per_minute, samba.per_day) == (20, 20)  # a free tier for every model
    assert limits_for(provider("ollama"), "llama3.1:8b", environ={}).per_minute is None
    operator = limits_for(openrouter, "meta-llama/llama-3.3-70b-instruct",
                          environ={"OPENROUTER_REQUESTS_PER_MINUTE": "3", "OPENROUTER_REQUESTS_PER_DAY": "x"})
    assert (operator.per_minute, operator.per_day, operator.only_suffix) == (3, None, "")
    assert operator.note == "set for this server: 3 a minute"
    for nonsense in ("0", "-1", "1e9", " "):
        assert limits_for(openrouter, "m", environ={"OPENROUTER_REQUESTS_PER_MINUTE": nonsense}).per_minute is None


def test_rate_keys_count_a_free_tier_together_and_everything_else_per_endpoint() -> None:
    from lib.hosts.limits import limits_for, rate_key

    openrouter = provider("openrouter")
    where = "OpenRouter (openrouter.ai)"
    a = rate_key(where, limits_for(openrouter, "meta-llama/llama-3.3-70b-instruct:free", environ={}))
    b = rate_key(where, limits_for(openrouter, "meta-llama/llama-3.2-11b-vision-instruct:free", environ={}))
    assert a == b == f"{where}|:free"
    assert rate_key(where, limits_for(provider("nvidia"), "x", environ={})) == where


def test_wait_text_says_how_long_for_a_per_minute_limit() -> None:
    from lib.hosts.limits import Wait

    wait = Wait(1, 12.2, 20)
    assert wait == 1 and bool(wait) and ordinal(wait) == "1st"  # still a place in line for every caller
    assert wait_text(wait) == "Waiting 13 s: at most 20 requests a minute here (1st in line)…"
    assert wait_text(Wait(2, None, 3)) == "Waiting a moment: at most 3 requests a minute here (2nd in line)…"
    assert wait_text(Wait(2)) == wait_text(2) == "Waiting for a free slot (2nd in line)…"


def test_the_window_never_lets_more_than_the_limit_go_within_it_and_says_how_long_to_wait() -> None:
    from lib.hosts.limits import RateWindow, Wait

    window = RateWindow(window_s=0.6, margin_s=0.0)
    sent: list[float] = []
    for _ in range(3):
        with window.admit("k", 3, timeout_s=5) as admission:
            admission.sent()
            sent.append(time.monotonic())
    assert window.used("k") == 3 and 0 < window.free_in("k", 3) <= 0.6
    heard: list[int] = []
    with wait_notice(heard.append):
        with window.admit("k", 3, timeout_s=5) as admission:
            admission.sent()
            sent.append(time.monotonic())
    assert sent[3] - sent[0] >= 0.6 - 0.05, "the fourth went only once the first had left the window"
    assert heard and isinstance(heard[0], Wait) and heard[0].per_minute == 3 and heard[0] == 1
    assert heard[0].seconds is not None and 0 < heard[0].seconds <= 0.6
    assert heard[-1] == 0  # admitted: the page drops its notice
    for t in sent:  # in any window of 0.6 s, never more than 3
        assert sum(1 for u in sent if t <= u < t + 0.6 - 0.05) <= 3


def test_an_admitted_request_holds_its_place_until_sent_or_given_back() -> None:
    from lib.hosts.limits import RateWindow

    window = RateWindow(window_s=30, margin_s=0.0)
    with window.admit("k", 1, timeout_s=1):  # admitted, not sent yet: nobody else may take the last place
        with pytest.raises(SlotTimeout):
            with window.admit("k", 1, timeout_s=0.3):
                pass  # pragma: no cover
        assert window.used("k") == 1 and window.waiting("k") == 0
    assert window.used("k") == 0 and not window._lanes  # never sent (refused, stopped): given back, forgotten
    with pytest.raises(RuntimeError):
        with window.admit("k", 1, timeout_s=1) as admission:
            admission.sent()
            raise RuntimeError("the stream broke after the host accepted it")
    assert window.used("k") == 1  # it reached the host: it counts for the window
    with window.admit("other", None, timeout_s=0) as free:  # no limit: never waits, never counted
        free.sent()
    assert window.used("other") == 0


def test_sessions_in_line_for_the_window_are_served_in_order_and_never_over_the_limit() -> None:
    from lib.hosts.limits import RateWindow

    window = RateWindow(window_s=0.4, margin_s=0.0)
    order: list[int] = []
    times: list[float] = []
    lock = threading.Lock()

    def session(i: int) -> None:
        with window.admit("k", 2, timeout_s=10) as admission:
            with lock:
                order.append(i)
                times.append(time.monotonic())
            admission.sent()

    threads = []
    for i in range(6):
        t = threading.Thread(target=session, args=(i,), daemon=True)
        t.start()
        threads.append(t)
        eventually(lambda: len(order) + window.waiting("k") == i + 1)
    for t in threads:
        t.join(WAIT_S)
    assert order == list(range(6))
    for t in times:
        assert sum(1 for u in times if t <= u < t + 0.4 - 0.05) <= 2


def test_a_pause_from_the_host_holds_every_request_and_a_stop_leaves_the_line() -> None:
    from lib.hosts.limits import RateWindow
    from lib.common.ticking import Cancelled, CancelScope, _SCOPE

    window = RateWindow(window_s=60, margin_s=0.0)
    window.pause("k", 0.3)  # a per-minute 429 with retry-after: 0.3
    started = time.monotonic()
    with window.admit("k", 5, timeout_s=5):
        pass
    assert time.monotonic() - started >= 0.29
    window.pause("k", 30)
    scope = CancelScope()
    errors: list[BaseException] = []

    def waiter() -> None:
        _SCOPE.set(scope)  # as inside a ticking() worker
        try:
            with window.admit("k", 5, timeout_s=20):
                pass  # pragma: no cover
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    eventually(lambda: window.waiting("k") == 1)
    scope.cancel()  # Stop
    t.join(WAIT_S)
    assert len(errors) == 1 and isinstance(errors[0], Cancelled) and window.waiting("k") == 0
