"""How often a streamed answer is redrawn: traffic that grows with the answer, not with its square.

Redrawing the whole Markdown on every token sends the answer again each time (a 2.2 KB answer cost 543 KB of
websocket traffic). `Pacer` redraws when the text has grown by `growth` since the last redraw (at most every
`min_wait_s`), or by `slow_growth` after `slow_wait_s`: the first piece shows at once, and since every redraw follows
a growth of at least `slow_growth`, the total sent is a geometric series bounded by slow_growth/(slow_growth-1)
times the answer (about 7.7× for 1.15), plus the final redraw.

    pacer = Pacer()
    for piece in stream:
        text += piece
        if pacer.due(len(text)):
            box.markdown(text + " ▌")
    box.markdown(text)
"""

from __future__ import annotations

import time
from typing import Callable


class Pacer:
    """Decides when a growing text is worth sending again."""

    def __init__(self, growth: float = 1.5, min_wait_s: float = 0.05, slow_growth: float = 1.15,
                 slow_wait_s: float = 0.3, clock: Callable[[], float] = time.monotonic) -> None:
        self.growth = growth
        self.min_wait_s = min_wait_s
        self.slow_growth = slow_growth
        self.slow_wait_s = slow_wait_s
        self._clock = clock
        self._last_len = 0
        self._last_t = float("-inf")
        self.redraws = 0

    def due(self, length: int) -> bool:
        """Whether to redraw now for a text of `length` characters (records the redraw when True)."""
        if length <= self._last_len:
            return False
        now = self._clock()
        waited = now - self._last_t
        if self._last_len and waited < self.min_wait_s:
            return False
        if (self._last_len == 0 or length >= self._last_len * self.growth
                or (waited >= self.slow_wait_s and length >= self._last_len * self.slow_growth)):
            self._last_len, self._last_t = length, now
            self.redraws += 1
            return True
        return False

    def reset(self) -> None:
        """Start over (a new answer in the same box)."""
        self._last_len, self._last_t = 0, float("-inf")
