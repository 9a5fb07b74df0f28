"""Every request counts: the replay cache, the concurrency cap and connection reuse, counted at the API double.

    python -m bench.bench_requests          # about 20 s; prints the rows and a Markdown table

All against the API double (tests/api_double.py) and the tool stub (tests/stubs.py) on 127.0.0.1, in one run:

(a) the same prompt 10 times (a new chat each time): model requests that reach the double, with the replay cache
    (`lib.answers.cache`) and without; and a whole tool turn (model asks for Brave Search, gets the result, answers)
    asked 10 times through `lib.tool_calling.loop.run_turn`, model requests and searches, with and without the cache;
(b) 20 sessions asking at once while the double refuses (429 "Too many concurrent requests", retry-after 1) more
    than 2 in flight: questions that fail, requests sent and most in flight, with and without `lib.hosts.limits`'s
    SlotPool (cap 2, the provider table's figure for a hosted free tier);
(c) TCP connections the double accepts for 20 sequential streamed requests through `lib.client` (one cached
    client), read to the end; the same when each stream is abandoned after its first piece; and with the body
    read past `data: [DONE]` (the change proposed for `lib.client.ChatStream`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from bench._common import Result, quiet, settings_for
from lib.hosts.limits import wait_text

MODEL = "meta-llama/Llama-3.3-70B-Instruct"
SESSIONS = 20
CAP = 2
REPEATS = 10
ANSWER = " ".join(f"word{i}" for i in range(40))  # 40 pieces, 5 ms apart: about 0.2 s per answer


def _reply(body: dict[str, Any]) -> Any:
    from tests.api_double import Reply

    return Reply(text=ANSWER, chunk_delay_s=0.005)


def same_prompt(cached: bool) -> tuple[int, int]:
    """(model requests at the double, answers that were identical) for one prompt asked 10 times."""
    from lib import client
    from lib.answers.cache import Dedupe
    from tests.api_double import ApiDouble

    cache = Dedupe(sleep=lambda s: None)
    with ApiDouble() as d:
        d.responder = _reply
        settings = settings_for(d.endpoint)
        messages = [{"role": "user", "content": "Tell me one surprising fact about llamas."}]
        texts = []
        for _ in range(REPEATS):
            if cached:
                stream: Any = cache.chat_stream(settings, MODEL, messages, max_tokens=256, temperature=0.2)
            else:
                stream = client.stream(settings, MODEL, messages, max_tokens=256, temperature=0.2)
            texts.append("".join(stream))
        return len(d.chat_requests), texts.count(ANSWER)


def tool_turns(cached: bool) -> tuple[int, int, int]:
    """(model requests, searches, good answers) for one tool question asked 10 times through the tool loop."""
    from lib import client
    from lib.tool_calling import loop as tool_loop
    from lib.answers.cache import Dedupe
    from tests.api_double import ApiDouble, Reply
    from tests.stubs import StubServer

    cache = Dedupe(sleep=lambda s: None)
    call = '<|python_tag|>brave_search.call(query="Stockholm weather")<|eom_id|>'

    class Deduped:  # what the proposed one-line change in lib/tool_calling/loop.py does
        def __getattr__(self, name: str) -> Any:
            return getattr(client, name)

        @staticmethod
        def stream(settings: Any, model: str, messages: Any, **kw: Any) -> Any:
            return cache.chat_stream(settings, model, messages, **kw)

    original = tool_loop.client
    if cached:
        tool_loop.client = Deduped()  # type: ignore[assignment]
    try:
        with ApiDouble() as d, StubServer() as stub:
            d.responder = lambda body: Reply(
                text="It is 3 °C in Stockholm." if any(m["role"] == "tool" for m in body["messages"]) else call)
            settings = settings_for(d.endpoint)
            run_tool = cache.tool_runner(tool_loop._run_tool) if cached else tool_loop._run_tool
            good = 0
            for _ in range(REPEATS):
                events = list(tool_loop.run_turn(settings, MODEL, [], "What is the weather in Stockholm?",
                                                 ["brave_search"], stub.tool_config(timeout_s=5),
                                                 today=dt.date(2026, 11, 27), run_tool=run_tool))
                good += events[-1].turn.answer == "It is 3 °C in Stockholm."
            return len(d.chat_requests), len(stub.requests_to("brave")), good
    finally:
        tool_loop.client = original  # type: ignore[assignment]


def crowd(capped: bool) -> dict[str, Any]:
    """20 sessions asking at once against a double that refuses over 2 in flight."""
    from lib import client
    from lib.hosts.limits import SlotPool, slot_key
    from tests.api_double import ApiDouble

    pool = SlotPool()
    with ApiDouble() as d:
        d.responder = _reply
        d.max_concurrent = CAP
        settings = settings_for(d.endpoint, timeout_s=30)
        key = slot_key(settings.provider_id, settings.endpoint, MODEL)
        failed: list[str] = []
        positions: list[int] = []
        start = threading.Barrier(SESSIONS)
        lock = threading.Lock()

        def session(i: int) -> None:
            messages = [{"role": "user", "content": f"Question {i}"}]
            start.wait()
            try:
                if capped:
                    with pool.acquire(key, CAP, timeout_s=120, on_wait=positions.append):
                        text = "".join(client.stream(settings, MODEL, messages, max_tokens=256))
                else:
                    text = "".join(client.stream(settings, MODEL, messages, max_tokens=256))
                if text != ANSWER:
                    raise RuntimeError("wrong answer")
            except Exception as exc:  # noqa: BLE001 - counted
                with lock:
                    failed.append(type(exc).__name__)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=session, args=(i,)) for i in range(SESSIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        return {
            "failed": len(failed),
            "requests": len(d.chat_requests),
            "max_in_flight": d.max_in_flight,
            "refused": d.refused_concurrent,
            "longest_line": max(positions, default=0),
            "seconds": time.perf_counter() - t0,
        }


def connections(how: str) -> tuple[int, int]:
    """(TCP connections accepted by the double, chat requests) for 20 sequential streamed requests.

    how: "read" (lib.client.stream read to the end), "abandon" (closed after the first piece) or "drain" (the
    change proposed for ChatStream, reproduced here with lib.client's cached client: after `data: [DONE]` the SDK
    stops reading, leaving the chunked body's last bytes unread, so the connection cannot go back to the pool;
    reading them does).
    """
    from lib import client
    from tests.api_double import ApiDouble

    with ApiDouble() as d:
        d.responder = _reply
        settings = settings_for(d.endpoint)
        for i in range(SESSIONS):
            messages = [{"role": "user", "content": f"q{i}"}]
            if how == "drain":
                response = client.get_client(settings).complete(
                    messages=messages, model=MODEL, max_tokens=256, stream=True,
                    model_extras={"stream_options": {"include_usage": True}})
                "".join(u.choices[0].delta.content or "" for u in response if u.choices)
                for _ in response._bytes_iterator:  # the proposed fix: read to the end of the chunked body
                    pass
                continue
            stream = client.stream(settings, MODEL, messages, max_tokens=256)
            if how == "abandon":
                it = iter(stream)
                next(it)
                it.close()  # the page was rerun mid-answer
                del it
            else:
                "".join(stream)
        return d.connections, len(d.chat_requests)


def run() -> Result:
    quiet()
    t0 = time.perf_counter()
    plain_req, plain_same = same_prompt(False)
    cached_req, cached_same = same_prompt(True)
    plain_tool = tool_turns(False)
    cached_tool = tool_turns(True)
    free = crowd(False)
    capped = crowd(True)
    conn_read, req_read = connections("read")
    conn_abandoned, req_abandoned = connections("abandon")
    conn_drained, req_drained = connections("drain")

    def pct(n: int) -> str:
        return f"{100 * n / SESSIONS:.0f}% ({n} of {SESSIONS})"

    res = Result(
        name="requests: replay cache, concurrency cap, connection reuse",
        measures=(
            f"Counts at the API double on 127.0.0.1: one prompt asked {REPEATS} times and one tool turn asked "
            f"{REPEATS} times, with and without lib.answers.cache; {SESSIONS} sessions at once against a double refusing "
            f"over {CAP} in flight, with and without lib.hosts.limits.SlotPool; TCP connections for {SESSIONS} "
            "sequential streamed requests through lib.client."
        ),
        rows=[
            (f"same prompt x{REPEATS}: model requests without cache", f"{plain_req} ({plain_same} answered)"),
            (f"same prompt x{REPEATS}: model requests with cache", f"{cached_req} ({cached_same} answered)"),
            (f"tool turn x{REPEATS}: model requests + searches without cache",
             f"{plain_tool[0]} + {plain_tool[1]} ({plain_tool[2]} answered)"),
            (f"tool turn x{REPEATS}: model requests + searches with cache",
             f"{cached_tool[0]} + {cached_tool[1]} ({cached_tool[2]} answered)"),
            (f"{SESSIONS} at once, no cap: questions failed", pct(free["failed"])),
            (f"{SESSIONS} at once, no cap: requests sent / most in flight / refused",
             f"{free['requests']} / {free['max_in_flight']} / {free['refused']}  ({free['seconds']:.1f} s)"),
            (f"{SESSIONS} at once, SlotPool cap {CAP}: questions failed", pct(capped["failed"])),
            (f"{SESSIONS} at once, SlotPool cap {CAP}: requests sent / most in flight / refused",
             f"{capped['requests']} / {capped['max_in_flight']} / {capped['refused']}  ({capped['seconds']:.1f} s)"),
            (f"{SESSIONS} at once, SlotPool: longest line reported",
             f"{capped['longest_line']} (“{wait_text(capped['longest_line'])}”)"),
            (f"{SESSIONS} sequential streams read to the end: TCP connections", f"{conn_read} for {req_read} requests"),
            (f"{SESSIONS} sequential streams abandoned after 1 piece: TCP connections",
             f"{conn_abandoned} for {req_abandoned} requests"),
            (f"{SESSIONS} sequential streams read past [DONE] (proposed ChatStream fix): TCP connections",
             f"{conn_drained} for {req_drained} requests"),
        ],
        ratios=[
            ("same prompt: model requests with / without cache", cached_req / max(1, plain_req)),
            ("tool turn: model requests + searches with / without cache",
             (cached_tool[0] + cached_tool[1]) / max(1, plain_tool[0] + plain_tool[1])),
            ("20 at once: questions failed, cap / no cap", capped["failed"] / max(1, free["failed"])),
            ("20 at once: most in flight, cap / double's limit", capped["max_in_flight"] / CAP),
            ("connections per streamed request, lib.client today", conn_read / max(1, req_read)),
            ("connections per streamed request, body read past [DONE]", conn_drained / max(1, req_drained)),
        ],
        interpretation=(
            f"The cache sends a repeated prompt once ({cached_req} of {REPEATS}) and a repeated tool turn once "
            f"({cached_tool[0]} model requests + {cached_tool[1]} search instead of {plain_tool[0]} + "
            f"{plain_tool[1]}). Without a cap, {pct(free['failed'])} of {SESSIONS} simultaneous questions failed "
            f"and {free['requests']} requests were sent for {SESSIONS} questions; with the SlotPool none failed, "
            f"never more than {capped['max_in_flight']} were in flight and the double refused "
            f"{capped['refused']}. lib.client's streams do not reuse the connection today ({conn_read} for "
            f"{req_read}): the SDK stops at `data: [DONE]` without reading the body's closing chunk; reading it "
            f"gives {conn_drained} connection(s) for {req_drained}. Abandoned streams cost one each "
            f"({conn_abandoned} for {req_abandoned}), as they should (closing frees the server)."
        ),
    )
    res.seconds = time.perf_counter() - t0
    return res


def markdown_table(res: Result) -> str:
    """The rows and ratios as a small Markdown table."""
    lines = ["| measured | result |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in res.rows]
    lines += [f"| **ratio: {k}** | **{v:.2f}x** |" for k, v in res.ratios]
    return "\n".join(lines)


if __name__ == "__main__":
    result = run()
    print(result.show())
    print()
    print(markdown_table(result))
