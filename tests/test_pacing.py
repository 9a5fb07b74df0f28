"""Streaming redraws: the first words at once, finished paragraphs sent once, total traffic a small multiple of the
answer however fast or slow it streams."""

from __future__ import annotations

import random

from lib.answers.pacing import FREEZE, MESSAGE_OVERHEAD, TAIL, Pacer, Streamer, settled_length


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


WORDS = "the llama walked across a windy plateau where grass grew thin and herders sang old songs".split()


def prose(words: int, paragraph_every: int | None = None, seed: int = 1) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(words):
        out.append(rng.choice(WORDS) + ("." if i % 11 == 10 else ""))
        if paragraph_every and i % paragraph_every == paragraph_every - 1:
            out.append("\n\n")
    return " ".join(out).replace(" \n\n ", "\n\n").strip()


def stream(text: str, gap_s: float, budget: float = 3.5) -> dict:
    """Feed `text` word by word, `gap_s` apart; what the page would send, and when the screen changed."""
    clock = Clock()
    streamer = Streamer(Pacer(budget=budget, clock=clock))
    pieces = [w + " " for w in text.split(" ")]
    sent, draws, frozen, shown_at = 0, [], [], []
    for i, piece in enumerate(pieces):
        clock.t += gap_s
        for kind, body in streamer.feed(piece):
            sent += len(body.encode()) + MESSAGE_OVERHEAD + (2 if kind == TAIL else 0)  # " ▌"
            draws.append((kind, body))
            shown_at.append(clock.t)
            if kind == FREEZE:
                frozen.append(body)
    sent += len(streamer.text.encode()) + MESSAGE_OVERHEAD  # the whole answer, once, at the end
    gaps = [b - a for a, b in zip(shown_at, shown_at[1:])]
    return {"sent": sent, "answer": len(streamer.text.encode()), "draws": draws, "frozen": frozen,
            "first": shown_at[0], "longest_gap": max(gaps) if gaps else 0.0, "text": streamer.text}


def test_the_first_words_are_drawn_at_once() -> None:
    run = stream(prose(300), gap_s=0.02)
    assert run["first"] == 0.02  # the very first piece
    assert run["draws"][0][0] == TAIL and run["text"].startswith(run["draws"][0][1])


def test_traffic_stays_within_five_times_the_answer_when_it_streams_fast_or_in_paragraphs() -> None:
    for text, gaps in ((prose(340), (0.002, 0.01)), (prose(340, paragraph_every=60), (0.002, 0.01, 0.035))):
        for gap in gaps:
            run = stream(text, gap)
            assert run["sent"] <= 5 * run["answer"], (gap, run["sent"] / run["answer"], len(run["draws"]))


def test_a_slow_stream_never_lags_more_than_a_second_and_costs_at_most_a_text_a_second() -> None:
    for text in (prose(340), prose(340, paragraph_every=60)):
        for gap in (0.035, 0.2):
            run = stream(text, gap)
            seconds = gap * len(text.split(" "))
            assert run["longest_gap"] <= 1.0 + gap
            assert run["sent"] <= 5 * run["answer"] + seconds * (run["answer"] + MESSAGE_OVERHEAD)


def test_every_token_redraw_would_be_quadratic() -> None:
    text = prose(340)
    pieces = [w + " " for w in text.split(" ")]
    naive = sum(len("".join(pieces[:i + 1])) + MESSAGE_OVERHEAD for i in range(len(pieces)))
    assert naive > 100 * len(text)  # what the pacer avoids


def test_finished_paragraphs_are_sent_once_and_nothing_is_lost() -> None:
    text = prose(340, paragraph_every=50)
    run = stream(text, gap_s=0.03)
    paragraphs = text.split("\n\n")
    assert run["frozen"] == paragraphs[:-1]  # each finished paragraph exactly once, in order
    assert run["text"].strip() == text
    tails = [body for kind, body in run["draws"] if kind == TAIL]
    assert all("\n\n" not in body for body in tails), "the redrawn part is only the paragraph being written"


def test_paragraphs_make_updates_smoother_at_the_same_budget() -> None:
    one = stream(prose(340), gap_s=0.035)
    many = stream(prose(340, paragraph_every=60), gap_s=0.035)
    assert many["longest_gap"] < one["longest_gap"]
    assert len(many["draws"]) > len(one["draws"])


def test_a_code_fence_with_blank_lines_is_never_split() -> None:
    text = "Here is code:\n\n```python\ndef f():\n\n    return 1\n\nprint(f())\n```\n\nDone."
    assert text[:settled_length(text)] == "Here is code:\n\n```python\ndef f():\n\n    return 1\n\nprint(f())\n```"
    inside = "Intro.\n\n```\na\n\nb"
    assert inside[:settled_length(inside)] == "Intro."


def test_an_indented_continuation_stays_with_its_list_item() -> None:
    text = "1. First item\n\n   more about the first item\n\n2. Second"
    assert text[:settled_length(text)] == "1. First item\n\n   more about the first item"
    assert settled_length("A paragraph still being written\n\n") == 0  # not finished until the next one starts


def test_no_redraw_without_growth_and_not_faster_than_min_wait() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, budget=100)
    assert pacer.due(10)
    assert not pacer.due(10)
    clock.t += 0.01
    assert not pacer.due(100)  # grew, but within min_wait_s
    clock.t += 0.05
    assert pacer.due(100)


def test_a_reset_starts_a_new_answer() -> None:
    clock = Clock()
    streamer = Streamer(Pacer(clock=clock))
    clock.t += 0.1
    assert streamer.feed("<|python_tag|>brave")
    streamer.reset()
    clock.t += 0.1
    assert streamer.feed("Sunny") == [(TAIL, "Sunny")]
    assert streamer.text == "Sunny"
