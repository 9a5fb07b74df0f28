"""Progress from the first second: ticks while a slow iterator is silent, items in order, errors passed on."""

from __future__ import annotations

import threading
import time

import pytest

from lib.common.ticking import Tick, ticking


def _slow(gate: threading.Event):
    yield "first"
    gate.wait(5)
    yield "second"


def test_ticks_arrive_while_waiting_and_items_keep_their_order() -> None:
    gate = threading.Event()
    seen: list[object] = []
    for item in ticking(_slow(gate), interval_s=0.02):
        seen.append(item)
        if sum(isinstance(x, Tick) for x in seen) == 3:
            gate.set()
    items = [x for x in seen if not isinstance(x, Tick)]
    assert items == ["first", "second"]
    ticks = [x for x in seen if isinstance(x, Tick)]
    assert len(ticks) >= 3 and ticks == sorted(ticks, key=lambda t: t.elapsed_s)
    assert seen.index("first") < seen.index(ticks[0])


def test_errors_are_raised_in_the_consumer() -> None:
    def broken():
        yield 1
        raise ValueError("boom")

    got = []
    with pytest.raises(ValueError, match="boom"):
        for item in ticking(broken(), interval_s=0.05):
            got.append(item)
    assert got == [1]


def test_closing_early_stops_the_worker_between_items() -> None:
    produced: list[int] = []

    def counting():
        for i in range(1000):
            produced.append(i)
            time.sleep(0.002)
            yield i

    gen = ticking(counting(), interval_s=0.05)
    assert next(gen) == 0
    gen.close()
    time.sleep(0.2)
    assert len(produced) < 1000
