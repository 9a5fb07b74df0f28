"""Progress from the first second: ticks while a slow iterator is silent, items in order, errors passed on."""

from __future__ import annotations

import threading
import time

import pytest

from lib.common.ticking import Crashed, Tick, current_scope, ticking, ticking_all


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


# --- several sources at once (Compare: two models answering side by side) ------------------------------------------


def _paced(name: str, n: int, gap_s: float):
    for i in range(n):
        time.sleep(gap_s)
        yield f"{name}{i}"


def test_two_sources_arrive_interleaved_not_one_after_the_other() -> None:
    got = [x for x in ticking_all([_paced("a", 4, 0.05), _paced("b", 4, 0.05)], interval_s=0.02)
           if not isinstance(x, Tick)]
    assert sorted(got) == sorted([(0, f"a{i}") for i in range(4)] + [(1, f"b{i}") for i in range(4)])
    order = [i for i, _ in got]
    # both sides stream at once: the second source's first item comes before the first source's last
    assert order.index(1) < len(order) - 1 - order[::-1].index(0)
    assert [v for i, v in got if i == 0] == ["a0", "a1", "a2", "a3"]  # each side keeps its own order


def test_one_source_crashing_leaves_the_other_running() -> None:
    def broken():
        yield "x"
        raise RuntimeError("side A broke")

    got = [x for x in ticking_all([broken(), _paced("b", 3, 0.03)], interval_s=0.02) if not isinstance(x, Tick)]
    crashed = [v for i, v in got if isinstance(v, Crashed)]
    assert len(crashed) == 1 and "side A broke" in str(crashed[0].error)
    assert [v for i, v in got if i == 1] == ["b0", "b1", "b2"]


def test_closing_stops_both_sources_and_hangs_up_both_requests() -> None:
    hung_up: list[str] = []
    gate = threading.Event()

    def waiting(name: str):
        scope = current_scope()
        assert scope is not None  # each source runs in a worker with its own scope (the stream registers there)
        scope.add(lambda: (hung_up.append(name), gate.set()))
        yield f"{name} started"
        gate.wait(5)  # a read blocked on a silent server
        yield f"{name} never"

    both = ticking_all([waiting("a"), waiting("b")], interval_s=0.02)
    seen = []
    for item in both:
        if not isinstance(item, Tick):
            seen.append(item)
        if len(seen) == 2:
            both.close()  # one Stop
    assert sorted(hung_up) == ["a", "b"]
    assert both.cancelled
    assert all("never" not in v for _, v in seen)


def test_a_failure_caused_by_closing_is_not_reported_to_a_consumer_still_waiting() -> None:
    """Streamlit starts the next run (which closes the pair) before the interrupted run has stopped reading: the
    error a hang-up causes must not arrive there as one side's failure."""
    hung_up = threading.Event()

    def side():
        scope = current_scope()
        assert scope is not None
        scope.add(hung_up.set)
        yield "started"
        hung_up.wait(5)
        raise ConnectionError("Response ended prematurely")  # what the closed socket makes the read raise

    both = ticking_all([side(), side()], interval_s=5)
    seen: list[object] = []
    closer = threading.Timer(0.3, both.close)  # "the next run", on another thread
    closer.start()
    for item in both:
        seen.append(item)
    assert [x for x in seen if isinstance(x, tuple) and isinstance(x[1], Crashed)] == []
    assert both.cancelled


def test_a_consumer_that_fell_behind_gets_what_waited_joined_and_in_order() -> None:
    """A busy server's page asks for the next piece after several more arrived: it gets them as one (same text, same
    order), never joined across a change of kind, and the end and an error still come after everything."""
    from lib.tool_calling.loop import AnswerText, Waiting, join_answer_text

    released = threading.Event()
    call = Waiting(round=2)  # the next request went out (after a tool ran): never joined with prose

    def source():
        yield AnswerText("He")
        released.wait(5)
        yield from (AnswerText("llo"), AnswerText(", "), AnswerText("llamas"), call, AnswerText("!"))

    it = ticking(source(), interval_s=5, merge=join_answer_text)
    assert next(it) == AnswerText("He"), "a consumer that keeps up gets each piece as it comes"
    released.set()
    time.sleep(0.3)  # the page was busy drawing: four pieces and a tool call arrived meanwhile
    rest = list(it)
    assert rest == [AnswerText("llo, llamas"), call, AnswerText("!")]

    def failing():
        yield AnswerText("a")
        yield AnswerText("b")
        raise ValueError("cut")

    it = ticking(failing(), interval_s=5, merge=join_answer_text)
    time.sleep(0.2)
    got: list[object] = []
    with pytest.raises(ValueError, match="cut"):
        for item in it:
            got.append(item)
    assert got == [AnswerText("ab")], "what arrived before the failure is drawn, then the failure is raised"


def test_vision_pieces_are_joined_only_within_one_step() -> None:
    from lib.vision.translate import ANSWER, TRANSLATION, join_pieces

    assert join_pieces((ANSWER, "A cat "), (ANSWER, "sits")) == (ANSWER, "A cat sits")
    assert join_pieces((ANSWER, "A cat sits."), (TRANSLATION, "고양이")) is None


def test_compare_joins_what_one_side_has_waiting_but_never_across_sides_or_a_crash() -> None:
    """Two models side by side on a busy server: a side's text that waited is drawn as one piece, in order; the
    other side's text and a crash stay apart."""
    from lib.common.ticking import join_text

    go = threading.Event()

    def side(name: str, crash: bool = False):
        yield f"{name}:"
        go.wait(5)
        time.sleep(0.15 if crash else 0)  # b's pieces come after a's: the line holds a's run, then b's
        yield from (f" {name}1", f" {name}2", f" {name}3")
        if crash:
            raise RuntimeError(f"{name} broke")

    both = ticking_all([side("a"), side("b", crash=True)], interval_s=5, merge=join_text)
    got: list[object] = []
    for item in both:
        if isinstance(item, Tick):
            continue
        got.append(item)
        if len(got) == 2:
            go.set()
            time.sleep(0.4)  # the page was busy: both sides' pieces (and b's crash) arrived meanwhile
    texts = {i: "".join(v for j, v in got if j == i and isinstance(v, str)) for i in (0, 1)}
    assert texts == {0: "a: a1 a2 a3", 1: "b: b1 b2 b3"}, "each side's text whole and in order"
    assert len(got) == 5, f"what waited was joined, one run per side: {got}"
    crashed = [(i, v) for i, v in got if isinstance(v, Crashed)]
    assert len(crashed) == 1 and crashed[0][0] == 1 and got.index(crashed[0]) > max(
        n for n, (i, v) in enumerate(got) if i == 1 and isinstance(v, str)), "b's crash after all of b's text"
    assert join_text("a", 1) is None and join_text("a", "b") == "ab"
