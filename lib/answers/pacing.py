"""How a streamed answer is redrawn: websocket traffic that grows linearly with the answer, not with its square.

Streamlit cannot append to an element: every redraw of a Markdown element sends its whole text again (plus about
110 bytes of message framing), so redrawing a 2.2 KB answer on every token cost 543 KB. Two things keep it linear:

- `Pacer` spends a byte budget: a redraw is allowed when everything sent for this answer so far, plus this redraw,
  stays within `budget` times the text shown (and at most every `min_wait_s`, 20 a second). The first piece is
  drawn at once. Short texts redraw often, long ones less often, and the total is about `budget`× the answer.
  A slow stream (a big model on a laptop) is still redrawn at least every `max_wait_s` while it grows: the screen
  never lags more than a second behind, at a cost of one text per second, which a slow stream's bandwidth allows.
- `Streamer` freezes finished paragraphs: a paragraph that ended (a blank line, outside a code fence, followed by
  the next paragraph's first character) is drawn once in its own element and never sent again; only the paragraph
  being written is redrawn, so those redraws are small and the budget allows many more of them.

When the answer is complete the page draws it once, whole, in place of the pieces (one more `1×`).

    streamer = Streamer()
    for piece in stream:
        for kind, text in streamer.feed(piece):
            if kind == FREEZE:
                tail.markdown(text); tail = box.empty()     # a finished paragraph, sent once
            else:
                tail.markdown(text + " ▌")                  # the paragraph being written
    answer_box.markdown(streamer.text)
"""

from __future__ import annotations

import re
import time
from typing import Callable, Literal

MESSAGE_OVERHEAD = 110  # bytes of framing around a Markdown element's text in a Streamlit websocket message
FREEZE: Literal["freeze"] = "freeze"
TAIL: Literal["tail"] = "tail"
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)


class Pacer:
    """Decides when a growing text is worth sending again, within a byte budget."""

    def __init__(self, budget: float = 3.5, min_wait_s: float = 0.05, max_wait_s: float = 1.0,
                 overhead: int = MESSAGE_OVERHEAD, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self.min_wait_s = min_wait_s
        self.max_wait_s = max_wait_s
        self.overhead = overhead
        self._clock = clock
        self._last_t = float("-inf")
        self._last_len = 0
        self.spent = 0  # bytes sent for this answer (estimated: text plus framing)
        self.redraws = 0

    def due(self, length: int, total: int | None = None, cost: int | None = None) -> bool:
        """Whether to redraw now a text of `length` characters (records the redraw when True).

        `total` is everything shown so far (frozen paragraphs included; default `length`), `cost` the redraw's size
        (default `length` plus framing). The first redraw is always due, so the first words show at once.
        """
        total = length if total is None else total
        cost = length + self.overhead if cost is None else cost
        if length <= 0 or (self.redraws and length <= self._last_len):
            return False
        now = self._clock()
        waited = now - self._last_t
        if self.redraws and (waited < self.min_wait_s
                             or (self.spent + cost > self.budget * total and waited < self.max_wait_s)):
            return False
        self.spent += cost
        self._last_t, self._last_len = now, length
        self.redraws += 1
        return True

    def charge(self, cost: int) -> None:
        """Count bytes sent outside `due` (a frozen paragraph) against the budget."""
        self.spent += cost

    def new_element(self) -> None:
        """The next redraw goes to a new, empty element (any length counts as growth)."""
        self._last_len = 0

    def reset(self) -> None:
        """Start over (a new answer in the same box)."""
        self._last_t, self._last_len, self.spent, self.redraws = float("-inf"), 0, 0, 0


def settled_length(text: str) -> int:
    """How much of `text` is finished paragraphs: up to the last blank line that is outside a code fence and is
    followed by the start of a new, unindented paragraph (an indented line may continue a list item). 0 if none."""
    end = 0
    fence: str | None = None
    pos = 0
    for match in re.finditer(r"\n[ \t]*\n+", text):
        # Track fences opened or closed between the last boundary checked and this one.
        for f in _FENCE.finditer(text, pos, match.start()):
            mark = f.group(1)
            if fence is None:
                fence = mark[0] * 3
            elif mark.startswith(fence):
                fence = None
        pos = match.start()
        nxt = match.end()
        if fence is None and nxt < len(text) and not text[nxt].isspace():
            end = match.start()
    return end


class Streamer:
    """A streamed answer as finished paragraphs (each drawn once) and the paragraph being written (paced)."""

    def __init__(self, pacer: Pacer | None = None) -> None:
        self.pacer = pacer or Pacer()
        self.text = ""
        self._frozen = 0  # characters of `text` already drawn for good

    @property
    def tail(self) -> str:
        """The part not yet frozen."""
        return self.text[self._frozen:].lstrip("\n")

    def feed(self, piece: str) -> list[tuple[Literal["freeze", "tail"], str]]:
        """Add `piece`; what to draw now: finished paragraphs to freeze, then possibly the current one."""
        self.text += piece
        out: list[tuple[Literal["freeze", "tail"], str]] = []
        settled = settled_length(self.text)
        if settled > self._frozen:
            block = self.text[self._frozen:settled].strip("\n")
            self._frozen = settled
            if block:
                self.pacer.charge(len(block.encode()) + self.pacer.overhead)
                out.append((FREEZE, block))
                self.pacer.new_element()
        tail = self.tail
        if tail and self.pacer.due(len(tail), total=len(self.text), cost=len(tail.encode()) + self.pacer.overhead):
            out.append((TAIL, tail))
        return out

    def reset(self) -> None:
        """Start over (the model's text turned out to be a tool call)."""
        self.text, self._frozen = "", 0
        self.pacer.reset()
