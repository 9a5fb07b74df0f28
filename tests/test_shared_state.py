"""Shared state on a real Redis (Debian's redis-server): two "processes" (two links, two stores, two pools) agree.

Each test plays two app processes with two `SharedLink`s to one Redis: a conversation saved by one is restored by
the other, the cap holds across both in arrival order, a holder that crashed gives its place back by itself, and
Redis stopped mid-run leaves each process working on its own memory with a warning, then resuming.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from lib.common import shared_state
from lib.common.session_store import SessionStore, made_before_restart, owned_by
from lib.common.shared_state import SharedLink, SharedSemaphore
from lib.hosts.limits import SlotPool, SlotTimeout


class Redis:
    """A redis-server of the test's own on 127.0.0.1 (no persistence), which a test may stop and start again."""

    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is missing: .ci/run installs Debian's redis-server"
        self.binary, self.tmp = binary, tmp
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.tmp)], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Redis]:
    server = Redis(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def _two_links(url: str) -> tuple[SharedLink, SharedLink]:
    return SharedLink(url), SharedLink(url)


def test_a_conversation_saved_by_one_process_is_restored_by_another(redis_server: Redis) -> None:
    a_link, b_link = _two_links(redis_server.url)
    a, b = SessionStore(link=a_link), SessionStore(link=b_link)
    secret = SessionStore.new_secret()
    sid = a.new_id(secret)
    assert a.save(sid, "tools", {"turns": [{"question": "Wie spät ist es in Tokio?"}]}, client="10.0.0.7",
                  blob=b"\xff\xd8photo")
    assert b.load(sid, "tools") == {"turns": [{"question": "Wie spät ist es in Tokio?"}]}
    assert b.load_blob(sid, "tools") == b"\xff\xd8photo" and b.knows(sid)
    assert len(a) == 0 and len(b) == 0, "nothing was kept in either process's memory: it lives in Redis"
    token = a.share(sid, "tools")
    assert token and b.share_token(sid, "tools") == token and b.shared(token)[0]["turns"][0]["question"]
    b.unshare(sid)
    assert a.shared(token) is None, "revoked in one process, gone in the other"
    b.delete(sid)
    assert a.load(sid, "tools") is None and not a.knows(sid)


def test_ids_carry_the_deployments_boot_id_so_another_process_is_no_restart(redis_server: Redis,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    link = SharedLink(redis_server.url)
    monkeypatch.setattr(shared_state, "LINK", link)
    monkeypatch.setattr("lib.common.session_store.LINK", link)
    secret = SessionStore.new_secret()
    sid = SessionStore.new_id(secret)
    assert owned_by(sid, secret) and not made_before_restart(sid)
    monkeypatch.setattr("lib.common.session_store.BOOT", "Other123")  # another process of the same deployment
    other = SharedLink(redis_server.url)
    monkeypatch.setattr("lib.common.session_store.LINK", other)
    assert not made_before_restart(sid), "the deployment's boot id is shared: no 'server restarted' note"


def test_one_client_flooding_the_shared_store_evicts_only_its_own_oldest(redis_server: Redis) -> None:
    link = SharedLink(redis_server.url)
    store = SessionStore(max_sessions_per_client=5, max_bytes_per_client=10**9, link=link)
    victim = store.new_id()
    assert store.save(victim, "tools", {"turns": ["kept"]}, client="203.0.113.9")
    flood = [store.new_id() for _ in range(30)]
    for sid in flood:
        assert store.save(sid, "tools", {"x": "y" * 1000}, client="198.51.100.1")
    assert store.load(victim, "tools") == {"turns": ["kept"]}
    kept = [sid for sid in flood if store.knows(sid)]
    assert len(kept) == 5 and kept == flood[-5:]


def test_saves_racing_from_two_processes_keep_every_bound_and_an_honest_byte_count(redis_server: Redis) -> None:
    """Eight threads across two processes save at once for one address and for others: the per-address and total
    bounds hold exactly, and the shared byte total is the sum of what is kept (a save is one atomic step)."""
    links = _two_links(redis_server.url)
    stores = [SessionStore(max_sessions_per_client=6, max_sessions=20, max_bytes_per_client=10**9, link=link)
              for link in links]
    saved: list[str] = []
    lock = threading.Lock()

    def visitor(i: int) -> None:
        store = stores[i % 2]
        for j in range(25):
            sid = store.new_id()
            client = "ip:198.51.100.1" if i < 4 else f"ip:203.0.113.{i * 100 + j}"
            assert store.save(sid, "tools", {"turns": ["x" * (100 + 37 * j)]}, client=client)
            store.save(sid, "vision", {"turns": ["y"]}, client=client, blob=b"p" * (j + 1))
            with lock:
                saved.append(sid)

    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    r = links[0].client()
    kept = [sid.decode() for sid in r.zrange(links[0].key("s", "all"), 0, -1)]
    assert len(kept) == 20, "the total bound holds exactly"
    assert all(stores[0].knows(sid) for sid in kept) and sum(stores[1].knows(sid) for sid in saved) == 20
    nat = r.zcard(links[0].key("s", "client", "ip:198.51.100.1"))
    assert nat <= 6, f"one address keeps at most its bound: {nat}"
    sizes = {sid: int(r.hget(links[0].key("s", sid), "size")) for sid in kept}
    assert int(r.get(links[0].key("s", "total"))) == sum(sizes.values()), "the byte total is what is kept"
    assert {int(n) for n in r.hvals(links[0].key("s", "bytes"))} == set(sizes.values())


def test_a_room_behind_one_address_is_kept_whole_in_redis_when_the_operator_says_so(redis_server: Redis) -> None:
    store = SessionStore(link=SharedLink(redis_server.url))
    store.visitors_per_address(120)
    visitors = [store.new_id() for _ in range(120)]
    for sid in visitors:
        assert store.save(sid, "tools", {"turns": ["hello"]}, client="ip:198.51.100.7")
    assert all(store.load(sid, "tools") == {"turns": ["hello"]} for sid in visitors)


def test_a_session_over_its_bound_is_refused_in_redis_too(redis_server: Redis) -> None:
    store = SessionStore(max_bytes_per_session=10_000, link=SharedLink(redis_server.url))
    sid = store.new_id()
    assert store.save(sid, "tools", {"turns": ["small"]})
    assert not store.save(sid, "tools", {"turns": ["x" * 20_000]})
    assert store.load(sid, "tools") is None, "an outdated conversation is never shown instead"


def test_the_cap_holds_across_processes_in_arrival_order(redis_server: Redis) -> None:
    a_link, b_link = _two_links(redis_server.url)
    pools = [SlotPool(shared=SharedSemaphore(a_link, "cap")), SlotPool(shared=SharedSemaphore(b_link, "cap"))]
    lock, in_flight, peak, order, positions = threading.Lock(), [0], [0], [], []
    arrived = [threading.Event() for _ in range(10)]  # in the line, or holding a place

    def ask(i: int) -> None:
        def told(position: int) -> None:
            positions.append(position)
            arrived[i].set()

        with pools[i % 2].acquire("nvidia|https://x/v1|m", 2, 30, on_wait=told):
            arrived[i].set()
            with lock:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
                order.append(i)
            time.sleep(0.15)
            with lock:
                in_flight[0] -= 1

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(10)]
    for i, t in enumerate(threads):
        t.start()
        assert arrived[i].wait(10), f"asker {i} never reached the line"  # arrival order 0, 1, 2, … even under load
        time.sleep(0.03)
    for t in threads:
        t.join()
    assert peak[0] == 2, f"at most the cap in flight across both processes, saw {peak[0]}"
    # First come, first served: a place goes to a later asker only when one is left for everyone before it, and
    # waiters look every 0.1 s, so two admitted in the same moment may start in either order; nobody is overtaken
    # by more than that.
    assert sorted(order) == list(range(10)), order
    assert all(abs(place - asker) <= 1 for place, asker in enumerate(order)), f"served out of turn: {order}"
    assert max(positions) >= 2 and 0 in positions, "waiters were told their place in line, then that it was their turn"
    assert pools[0].in_use("nvidia|https://x/v1|m") == 0 and pools[1].waiting("nvidia|https://x/v1|m") == 0


def test_a_crashed_holder_gives_its_place_back_by_itself(redis_server: Redis) -> None:
    crashed = SharedSemaphore(SharedLink(redis_server.url), "cap", hold_s=1.0)
    assert crashed.step("k", "dead-process-token", 1) == 0
    crashed._held.clear()  # the process died: nobody renews its place any more
    alive = SlotPool(shared=SharedSemaphore(SharedLink(redis_server.url), "cap"))
    with pytest.raises(SlotTimeout):
        with alive.acquire("k", 1, timeout_s=0.3):
            pass
    started = time.monotonic()
    with alive.acquire("k", 1, timeout_s=5):
        waited = time.monotonic() - started
    assert waited < 2.5, f"the dead holder's place expired after its 1 s lease (waited {waited:.1f} s)"


def test_redis_stopped_mid_run_falls_back_to_the_process_with_a_warning_then_resumes(redis_server: Redis,
                                                                                    monkeypatch) -> None:
    monkeypatch.setattr(shared_state, "RETRY_S", 0.2)
    link = SharedLink(redis_server.url)
    store, pool = SessionStore(link=link), SlotPool(shared=SharedSemaphore(link, "cap"))
    sid = store.new_id()
    assert store.save(sid, "tools", {"turns": ["before"]}) and link.status() is None
    redis_server.stop()
    started = time.monotonic()
    assert store.save(sid, "tools", {"turns": ["during"]}), "saved in the process's own memory"
    assert store.load(sid, "tools") == {"turns": ["during"]}
    with pool.acquire("k", 1, timeout_s=5) as slot:
        assert not slot.shared, "the cap falls back to this process's pool"
    assert time.monotonic() - started < 5, "an outage never makes a page wait long"
    assert link.down and "Redis" in (link.status() or "") and "unreachable" in link.status()
    redis_server.start()
    time.sleep(0.3)
    assert link.ping() and link.status() is None, "back: the warning goes"
    with pool.acquire("k", 1, timeout_s=5) as slot:
        assert slot.shared, "and the cap is shared again"


def test_without_redis_url_nothing_is_shared_and_nothing_warns() -> None:
    link = SharedLink(None)
    store = SessionStore(link=link)
    sid = store.new_id()
    assert store.save(sid, "tools", {"turns": []}) and len(store) == 1
    assert not link.enabled and link.status() is None and link.client() is None


def test_every_request_is_counted_once_across_processes(redis_server: Redis) -> None:
    from lib.client import QuotaTracker

    a, b = QuotaTracker(link=SharedLink(redis_server.url)), QuotaTracker(link=SharedLink(redis_server.url))
    where = "OpenRouter (openrouter.ai)"
    for _ in range(3):
        a.count(where, "meta-llama/llama-3.3-70b-instruct")
    b.count(where, "meta-llama/llama-3.3-70b-instruct")
    b.refused(where, "meta-llama/llama-3.3-70b-instruct", "day")
    a.observe(where, {"x-ratelimit-remaining-requests": "46", "x-ratelimit-remaining-tokens": "<img src=x>"})
    for snap in (a.snapshot(), b.snapshot()):
        assert snap.today[where] == 4 and snap.last_minute[where] == 4
        assert snap.usage(where) == (4, 4)
        assert snap.reached[f"{where} · meta-llama/llama-3.3-70b-instruct"][0] == "day"
        assert snap.remaining[where] == {"x-ratelimit-remaining-requests": "46"}, "an odd header value is not kept"


def test_what_one_process_learnt_about_a_server_every_process_knows(redis_server: Redis,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from lib import client

    link = SharedLink(redis_server.url)
    monkeypatch.setattr(client, "LINK", link)
    client.forget_all()
    client.remember("https://x.example/v1", "tool_result_mode", "user", ttl_s=60)
    client.skip_model("https://x.example/v1", "llama-3.1-405b", "retired")
    client.forget_all()  # another process: nothing in its own memory
    assert client.recall("https://x.example/v1", "tool_result_mode") == "user"
    assert client.skipped_models("https://x.example/v1") == {"llama-3.1-405b": "retired"}
    assert client.recall("https://other.example/v1", "tool_result_mode", "default") == "default"


def test_an_answer_cached_by_one_process_is_replayed_by_another_within_its_time_limit(redis_server: Redis) -> None:
    from lib.answers.recording import ReplayStore
    from lib.tools.base import ToolResult

    now = [1_000_000.0]
    a = ReplayStore(300, 10_000_000, ttl_s=900, clock=lambda: now[0], link=SharedLink(redis_server.url))
    b = ReplayStore(300, 10_000_000, ttl_s=900, clock=lambda: now[0], link=SharedLink(redis_server.url))
    recorder = a.record_stream("f" * 64)
    for piece in ("Stockholm ", "is ", "cold."):
        recorder.add(piece)
    recorder.finish({"total_tokens": 12}, "stop")
    assert len(a) == 0, "kept in Redis, not in the process"
    hit = b.lookup("f" * 64)
    assert hit is not None and hit.text == "Stockholm is cold." and hit.usage == {"total_tokens": 12}
    assert [p for _, p in hit.chunks] == ["Stockholm ", "is ", "cold."], "replayed piece by piece, with its pace"
    a.record_tool_result(ToolResult("brave_search", {"query": "llama"}, "3 results", True, "Brave", False, 0.4, None))
    assert b.lookup_tool("brave_search", {"query": "llama"}).content == "3 results"
    now[0] += 901
    assert b.lookup("f" * 64) is None, "past the cache's time limit"
    rehearsal = ReplayStore(ttl_s=None, link=SharedLink(redis_server.url))
    assert rehearsal.link is None, "a presenter's rehearsal stays theirs"


def test_a_per_minute_limit_holds_across_processes(redis_server: Redis) -> None:
    from lib.hosts.limits import RateWindow

    a = RateWindow(window_s=1.0, margin_s=0.0, link=SharedLink(redis_server.url))
    b = RateWindow(window_s=1.0, margin_s=0.0, link=SharedLink(redis_server.url))
    sent: list[float] = []
    lock = threading.Lock()
    started = time.monotonic()

    def ask(i: int) -> None:
        with (a if i % 2 else b).admit("k", 3, timeout_s=10) as admission:
            admission.sent()
            with lock:
                sent.append(time.monotonic() - started)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent.sort()
    assert len(sent) == 6 and sent[2] < 0.5, sent
    assert sent[3] >= 0.9, f"the 4th request waited for the shared window (3 a second), not its process's: {sent}"
    assert a.used("k") == b.used("k") >= 3
    b.pause("k", 1.5)
    t0 = time.monotonic()
    with a.admit("k", 100, timeout_s=10) as admission:
        admission.sent()
    assert time.monotonic() - t0 >= 1.0, "a host's 'slow down' seen by one process holds the other too"
