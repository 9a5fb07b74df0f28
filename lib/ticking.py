"""Show progress from the first second: iterate a slow iterator in a worker thread and get `Tick`s meanwhile.

A blocked socket read (waiting for a model's first token, a hung upstream) would otherwise freeze the page with no
sign of life. `ticking(events)` yields every item of `events` as it arrives, and a `Tick(elapsed_s)` whenever
`interval_s` passes with nothing new, so the page can redraw "thinking… 7 s". Cancelling (`close()` the generator,
as Streamlit does when a rerun interrupts the script) sets `cancel`, which the worker checks between items.

    for item in ticking(run_turn(...)):
        if isinstance(item, Tick): label.update(f"thinking… {item.elapsed_s:.0f} s"); continue
        ...
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_DONE = object()


@dataclass(frozen=True)
class Tick:
    """Nothing new for a while; `elapsed_s` since the iteration started."""

    elapsed_s: float


def ticking(items: Iterable[T], interval_s: float = 0.5, eager: bool = False) -> Iterator[T | Tick]:
    """Yield the items of `items` (consumed in a daemon thread) and a `Tick` every `interval_s` of silence.

    An exception raised by `items` is re-raised here. Closing this generator stops the worker after its current
    item (a blocked read finishes in the background and is dropped). With `eager`, the first `next()` starts the
    worker and returns `Tick(0.0)` at once: a page can send its request, draw the rest of itself while the model
    thinks, and read the events after (the worker is still stopped if the run is interrupted meanwhile).
    """
    q: queue.Queue[object] = queue.Queue()
    cancel = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if cancel.is_set():
                    break
                q.put(("item", item))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(("error", exc))
        finally:
            close = getattr(items, "close", None)
            if cancel.is_set() and callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001
                    pass
            q.put(("done", _DONE))

    started = time.monotonic()
    worker = threading.Thread(target=work, name="ticking", daemon=True)
    worker.start()
    try:
        if eager:
            yield Tick(0.0)
        while True:
            try:
                kind, value = q.get(timeout=interval_s)  # type: ignore[misc]
            except queue.Empty:
                yield Tick(time.monotonic() - started)
                continue
            if kind == "item":
                yield value  # type: ignore[misc]
            elif kind == "error":
                raise value  # type: ignore[misc]
            else:
                return
    finally:
        cancel.set()
