"""Streaming redraws: the first piece at once, total traffic within a small multiple of the answer."""

from __future__ import annotations

from lib.pacing import Pacer


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _simulate(pieces: int, piece_len: int, gap_s: float) -> tuple[int, int, Pacer]:
    clock = Clock()
    pacer = Pacer(clock=clock)
    sent = length = 0
    first_at = None
    for i in range(pieces):
        clock.t += gap_s
        length += piece_len
        if pacer.due(length):
            sent += length
            first_at = i if first_at is None else first_at
    sent += length  # the final redraw without the cursor
    return sent, first_at or 0, pacer


def test_first_piece_is_drawn_at_once() -> None:
    _, first, _ = _simulate(400, 6, 0.02)
    assert first == 0


def test_traffic_stays_within_ten_times_the_answer_for_a_fast_and_a_slow_stream() -> None:
    for gap in (0.005, 0.02, 0.1):
        sent, _, pacer = _simulate(400, 6, gap)
        answer = 400 * 6
        assert sent <= 10 * answer, (gap, sent / answer, pacer.redraws)


def test_every_token_redraw_would_be_quadratic() -> None:
    answer, naive = 400 * 6, sum(6 * i for i in range(1, 401))
    assert naive > 100 * answer  # what the pacer avoids


def test_no_redraw_without_growth_and_not_faster_than_min_wait() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock)
    assert pacer.due(10)
    assert not pacer.due(10)
    clock.t += 0.01
    assert not pacer.due(100)  # grew, but within min_wait_s
    clock.t += 0.05
    assert pacer.due(100)
