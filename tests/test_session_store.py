"""The reload-surviving session store: ids, copies, byte cap, age and count eviction, thread safety."""

from __future__ import annotations

import threading

import pytest

from lib.common import session_store
from lib.common.session_store import (
    ENTRY_OVERHEAD_BYTES, ID_PATTERN, STORE, SessionStore, is_valid_id, made_before_restart, owned_by,
)


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _ids(n: int) -> list[str]:
    return [SessionStore.new_id() for _ in range(n)]


def test_new_ids_are_url_safe_long_random_and_valid() -> None:
    ids = _ids(200)
    assert len(set(ids)) == 200
    for sid in ids:
        assert len(sid) >= 16 and ID_PATTERN.fullmatch(sid) and is_valid_id(sid)


@pytest.mark.parametrize("bad", [
    None, 5, "", "short", "../../../../etc/passwd", "a" * 15, "a" * 65, "abc def ghi jkl mno", "x" * 20 + "/",
    "x" * 20 + "\n", "é" * 20, "x" * 20 + ".json",
])
def test_invalid_ids_are_never_stored_or_loaded(bad: object) -> None:
    store = SessionStore()
    assert not is_valid_id(bad)
    assert store.save(bad, "tools", {"a": 1}) is False  # type: ignore[arg-type]
    assert store.load(bad, "tools") is None  # type: ignore[arg-type]
    assert len(store) == 0


def test_save_and_load_round_trip_per_session_and_key() -> None:
    store = SessionStore()
    a, b = _ids(2)
    value = {"turns": [["user", "What is this?"], ["assistant", "A barn."]], "meta": {"1": "2.4 s"}, "n": 1.5}
    assert store.save(a, "vision", value)
    assert store.save(a, "tools", {"turns": []})
    assert store.load(a, "vision") == value
    assert store.load(a, "tools") == {"turns": []}
    assert store.load(b, "vision") is None and store.load(a, "other") is None
    assert store.save(a, "vision", {"turns": []})
    assert store.load(a, "vision") == {"turns": []}
    assert len(store) == 1


def test_loaded_values_are_copies_not_shared_objects() -> None:
    store = SessionStore()
    sid = STORE.new_id()
    value = {"turns": [{"q": "hi"}]}
    store.save(sid, "k", value)
    value["turns"].append({"q": "changed after saving"})
    first = store.load(sid, "k")
    first["turns"].clear()
    assert store.load(sid, "k") == {"turns": [{"q": "hi"}]}


def test_values_must_be_json_able_dicts() -> None:
    store = SessionStore()
    sid = store.new_id()
    with pytest.raises(TypeError):
        store.save(sid, "k", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.save(sid, "k", {"obj": object()})
    with pytest.raises(ValueError):
        store.save(sid, "k", {"x": float("nan")})
    assert len(store) == 0


@pytest.mark.parametrize("key", ["", "a b", "a/b", "x" * 65, "../k"])
def test_bad_keys_are_refused(key: str) -> None:
    store = SessionStore()
    assert store.save(store.new_id(), key, {"a": 1}) is False


def test_values_over_the_byte_cap_are_refused_and_the_stale_value_dropped() -> None:
    store = SessionStore(max_bytes_per_session=1_000 + 2 * ENTRY_OVERHEAD_BYTES)  # each entry's overhead counts
    sid = store.new_id()
    assert store.save(sid, "tools", {"t": "x" * 400})
    assert store.save(sid, "vision", {"t": "y" * 400})
    assert store.save(sid, "tools", {"t": "x" * 500}) is True  # replacing counts only the new size
    assert store.save(sid, "vision", {"t": "y" * 600}) is False  # 500 + 600 > 1000
    assert store.load(sid, "vision") is None  # never an outdated conversation
    assert store.load(sid, "tools") == {"t": "x" * 500}
    assert store.save(sid, "tools", {"t": "é" * 800}) is False  # bytes, not characters
    assert store.load(sid, "tools") is None and len(store) == 0


def test_oldest_sessions_are_evicted_beyond_the_cap() -> None:
    clock = FakeClock()
    store = SessionStore(max_sessions=3, clock=clock)
    ids = _ids(4)
    for sid in ids[:3]:
        clock.now += 1
        store.save(sid, "k", {"id": sid})
    clock.now += 1
    assert store.load(ids[0], "k") is not None  # used again: no longer the oldest
    clock.now += 1
    store.save(ids[3], "k", {"id": ids[3]})
    assert len(store) == 3
    assert store.load(ids[1], "k") is None
    assert all(store.load(s, "k") is not None for s in (ids[0], ids[2], ids[3]))


def test_entries_older_than_max_age_are_gone() -> None:
    clock = FakeClock()
    store = SessionStore(max_age_s=3600, clock=clock)
    a, b = _ids(2)
    store.save(a, "tools", {"v": 1})
    clock.now += 1800
    store.save(a, "vision", {"v": 2})
    store.save(b, "tools", {"v": 3})
    clock.now += 1801  # a/tools is 3601 s old, the others 1801 s
    assert store.load(a, "tools") is None
    assert store.load(a, "vision") == {"v": 2}
    clock.now += 1800
    assert store.load(a, "vision") is None and store.load(b, "tools") is None
    assert len(store) == 0


def test_an_entry_past_its_age_is_never_returned_between_two_sweeps() -> None:
    clock = FakeClock()
    store = SessionStore(max_age_s=100, clock=clock)
    sid = store.new_id()
    store.save(sid, "k", {"v": 1})
    clock.now += 95
    store.save(store.new_id(), "k", {"v": 2})  # a sweep may run here: the entry is 95 s old, still kept
    clock.now += 6  # 101 s: past its age, and less than a sweep interval after the last save
    assert store.load(sid, "k") is None and store.load_blob(sid, "k") is None
    assert store.share(sid, "k") is None


def test_loading_does_not_extend_an_entry_s_age() -> None:
    clock = FakeClock()
    store = SessionStore(max_age_s=100, clock=clock)
    sid = store.new_id()
    store.save(sid, "k", {"v": 1})
    for _ in range(5):
        clock.now += 30
        store.load(sid, "k")
    assert store.load(sid, "k") is None


def test_delete_and_clear() -> None:
    store = SessionStore()
    a, b = _ids(2)
    store.save(a, "x", {"v": 1})
    store.save(a, "y", {"v": 2})
    store.save(b, "x", {"v": 3})
    store.delete(a, "x")
    assert store.load(a, "x") is None and store.load(a, "y") == {"v": 2}
    store.delete(a)
    assert store.load(a, "y") is None and len(store) == 1
    store.delete("not a valid id")
    store.clear()
    assert len(store) == 0


def test_constructor_rejects_nonsense_bounds() -> None:
    for kwargs in ({"max_sessions": 0}, {"max_bytes_per_session": 0}, {"max_age_s": 0}):
        with pytest.raises(ValueError):
            SessionStore(**kwargs)


def test_module_singleton_has_the_documented_defaults() -> None:
    assert isinstance(session_store.STORE, SessionStore)
    assert (STORE.max_sessions, STORE.max_bytes_per_session, STORE.max_age_s) == (2000, 4_000_000, 6 * 3600)
    assert (STORE.max_sessions_per_client, STORE.max_bytes_per_client, STORE.max_total_bytes) == (
        40, 40_000_000, 256_000_000)


def test_store_is_thread_safe_and_stays_bounded() -> None:
    store = SessionStore(max_sessions=20, max_bytes_per_session=10_000)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            ids = _ids(30)
            for i, sid in enumerate(ids):
                assert store.save(sid, "k", {"n": n, "i": i, "pad": "p" * (i * 10)})
                loaded = store.load(sid, "k")
                assert loaded is None or loaded["n"] == n
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store) == 20


# --- bound to the browser, shared on purpose, bounded per client ---------------------------------------------------


def test_an_id_belongs_to_the_browser_secret_it_was_made_with() -> None:
    mine, theirs = SessionStore.new_secret(), SessionStore.new_secret()
    sid = SessionStore.new_id(mine)
    assert is_valid_id(sid) and owned_by(sid, mine)
    assert not owned_by(sid, theirs), "an address copied to another browser is not that browser's"
    assert not owned_by(SessionStore.new_id(), mine), "an unbound (or attacker-chosen) id is nobody's"
    assert not owned_by(sid[:-1] + ("A" if sid[-1] != "A" else "B"), mine), "a forged tag fails"
    assert not owned_by(sid, None) and not owned_by(sid, "short")
    assert not made_before_restart(sid)
    assert made_before_restart(("Z" if sid[0] != "Z" else "Y") + sid[1:]), "another process's id"


def test_one_client_filling_the_store_evicts_only_its_own_sessions() -> None:
    store = SessionStore(max_sessions_per_client=5, max_bytes_per_client=1_000_000, max_total_bytes=3_000_000)
    victim = store.new_id()
    assert store.save(victim, "tools", {"turns": ["mine"]}, client="victim")
    flood = [store.new_id() for _ in range(200)]
    for sid in flood:  # 200 sessions of ~200 KB each from one client: 40 MB offered
        store.save(sid, "tools", {"pad": "x" * 200_000}, client="attacker")
    assert store.load(victim, "tools") == {"turns": ["mine"]}, "someone else's restore survives"
    assert sum(store.knows(s) for s in flood) <= 5
    assert store.bytes_used() <= 1_000_000 + 10_000


def test_a_room_behind_one_address_keeps_every_visitors_chat_when_the_operator_says_so() -> None:
    """A venue NAT: 300 visitors, one address. By default the 40 newest keep their chats; with the operator's
    VISITORS_PER_ADDRESS=300 all 300 do, and one flooder behind it still cannot push out the rest of the world."""
    plain, room = SessionStore(), SessionStore()
    room.visitors_per_address(300)
    for store in (plain, room):
        visitors = [store.new_id() for _ in range(300)]
        for i, sid in enumerate(visitors):
            assert store.save(sid, "tools", {"turns": [f"visitor {i}"]}, client="ip:198.51.100.7")
        kept = sum(store.load(sid, "tools") is not None for sid in visitors)
        assert kept == (40 if store is plain else 300)
    assert (room.max_sessions_per_client, plain.max_sessions_per_client) == (min(300 * 40, room.max_sessions), 40)
    with pytest.raises(ValueError):
        room.visitors_per_address(0)


def test_bytes_are_counted_honestly_and_the_total_is_bounded() -> None:
    store = SessionStore(max_total_bytes=1_000_000, max_bytes_per_client=10**9, max_sessions_per_client=10**6)
    for i in range(100):  # many clients, each small: the oldest go when the total is reached
        store.save(store.new_id(), "k", {"pad": "é" * 10_000}, client=f"c{i}")  # 20 KB of UTF-8 each
    assert store.bytes_used() <= 1_000_000
    assert 40 <= len(store) <= 50, "about 1 MB / (20 KB + overhead)"


def test_a_photo_is_kept_once_as_bytes_next_to_its_conversation() -> None:
    store = SessionStore(max_bytes_per_session=1_500_000)
    sid = store.new_id()
    photo = bytes(range(256)) * 4_000  # 1 MB: as base64 text it would be 1.33 MB
    assert store.save(sid, "vision", {"turns": []}, blob=photo)
    assert store.load_blob(sid, "vision") == photo and store.load(sid, "vision") == {"turns": []}
    assert store.bytes_used() < 1_050_000
    assert not store.save(sid, "vision", {"turns": []}, blob=photo * 2), "over the session's bound: refused"
    assert store.load_blob(sid, "vision") is None


def test_a_share_link_is_read_only_revocable_and_follows_the_conversation() -> None:
    store = SessionStore()
    sid = store.new_id(store.new_secret())
    assert store.share(sid, "tools") is None, "nothing saved: nothing to share"
    store.save(sid, "tools", {"turns": ["one"]})
    token = store.share(sid, "tools")
    assert token and token != sid and store.share(sid, "tools") == token == store.share_token(sid, "tools")
    assert store.shared(token) == ({"turns": ["one"]}, None)
    store.save(sid, "tools", {"turns": ["one", "two"]})
    assert store.shared(token) == ({"turns": ["one", "two"]}, None)
    assert store.shared(sid) is None, "the owner's id is not a share token"
    store.unshare(sid)
    assert store.shared(token) is None and store.share_token(sid, "tools") is None
    again = store.share(sid, "tools")
    assert again != token, "a new link after revoking, never the old one"
    store.delete(sid)
    assert store.shared(again) is None


class _PlainStore:
    """The store's rules written the slow, obvious way (every count walks every session): the reference."""

    def __init__(self, clock: FakeClock, **bounds: float) -> None:
        from collections import OrderedDict

        self.clock, self.b = clock, bounds
        self.sessions: OrderedDict[str, tuple[str, dict[str, tuple[float, int]]]] = OrderedDict()
        self.swept = float("-inf")

    def _expire(self) -> None:
        now = self.clock()
        if now - self.swept < session_store.SWEEP_S:
            return
        self.swept = now
        for sid, (_, entries) in list(self.sessions.items()):
            for key in [k for k, (t, _) in entries.items() if now - t > self.b["max_age_s"]]:
                del entries[key]
            if not entries:
                del self.sessions[sid]

    def _size(self, sids: list[str]) -> int:
        return sum(n for sid in sids for _, n in self.sessions[sid][1].values())

    def save(self, sid: str, key: str, cost: int, client: str) -> bool:
        self._expire()
        client, entries = self.sessions.pop(sid, (client, {}))
        self.sessions[sid] = (client, entries)
        others = sum(n for k, (_, n) in entries.items() if k != key)
        if others + cost > self.b["max_bytes_per_session"]:
            entries.pop(key, None)
            if not entries:
                del self.sessions[sid]
            return False
        entries[key] = (self.clock(), cost)
        while True:
            mine = [s for s, (c, _) in self.sessions.items() if c == client]
            if len(mine) <= self.b["max_sessions_per_client"] and self._size(mine) <= self.b["max_bytes_per_client"]:
                break
            victim = next((s for s in mine if s != sid), None)
            if victim is None:
                break
            del self.sessions[victim]
        while len(self.sessions) > self.b["max_sessions"] or self._size(list(self.sessions)) > self.b["max_total_bytes"]:
            victim = next((s for s in self.sessions if s != sid), None)
            if victim is None:
                break
            del self.sessions[victim]
        return True

    def delete(self, sid: str, key: str | None) -> None:
        if sid in self.sessions:
            entries = self.sessions[sid][1]
            if key is None:
                entries.clear()
            entries.pop(key, None)
            if not entries:
                del self.sessions[sid]

    def load(self, sid: str, key: str) -> bool:
        self._expire()
        entry = self.sessions.get(sid, ("", {}))[1].get(key)
        if entry is None or self.clock() - entry[0] > self.b["max_age_s"]:
            return False
        self.sessions.move_to_end(sid)
        return True


def test_byte_counts_stay_exact_through_any_mix_of_saves_deletes_expiry_and_eviction() -> None:
    """The store counts bytes as it goes (a save in a room of hundreds never walks every session). Through 3,000
    random saves, overwrites, too-big values, loads, deletes, expiries and evictions by six clients, it keeps and
    drops exactly what the same rules written the slow way (`_PlainStore`) do, and reports the bytes it holds."""
    import json
    import random

    rng = random.Random(20261202)
    clock = FakeClock()
    bounds = dict(max_sessions=30, max_bytes_per_session=6_000, max_age_s=50, max_sessions_per_client=8,
                  max_bytes_per_client=20_000, max_total_bytes=60_000)
    store, plain = SessionStore(clock=clock, **bounds), _PlainStore(clock, **bounds)
    ids = [store.new_id() for _ in range(60)]
    owner = {sid: f"c{rng.randrange(6)}" for sid in ids}
    for step in range(3000):
        sid, key = rng.choice(ids), rng.choice(["tools", "vision"])
        op = rng.random()
        if op < 0.75:
            blob = bytes(rng.randrange(3000)) if rng.random() < 0.3 else None
            value = {"pad": "é" * rng.randrange(2500), "step": step}
            cost = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()) + len(blob or b"")
            kept = store.save(sid, key, value, client=owner[sid], blob=blob)
            assert kept == plain.save(sid, key, cost + ENTRY_OVERHEAD_BYTES, owner[sid]), f"step {step}"
        elif op < 0.85:
            which = key if rng.random() < 0.5 else None
            store.delete(sid, which)
            plain.delete(sid, which)
        elif op < 0.95:
            assert (store.load(sid, key) is not None) == plain.load(sid, key), f"step {step}"
        else:
            clock.now += rng.choice([1, 5, 31, 40])  # entries age past 50 s; the sweep runs every 30 s at most
        if step % 100 == 0 or step == 2999:
            held = {s: plain._size([s]) for s in plain.sessions}
            assert store.bytes_used() == sum(held.values()), f"step {step}"
            assert store.bytes_used() <= 60_000 and len(store) == len(held) <= 30
            assert all(store.knows(s) for s in held), f"step {step}: the store dropped more than the rules say"
            for client in set(owner.values()):
                mine = [s for s in held if owner[s] == client]
                assert len(mine) <= 8 and sum(held[s] for s in mine) <= 20_000, f"step {step}, {client}"
