"""Show progress from the first second: iterate a slow iterator in a worker thread and get `Tick`s meanwhile.

A blocked socket read (waiting for a model's first token, a hung upstream) would otherwise freeze the page with no
sign of life. `ticking(events)` yields every item of `events` as it arrives, and a `Tick(elapsed_s)` whenever
`interval_s` passes with nothing new, so the page can redraw "thinking… 7 s". Cancelling (`close()` the generator,
which a page does in a `finally:` when Stop or any other click interrupts its run) sets `cancel`, which the worker
checks between items, and calls every closer registered with the worker's `CancelScope` at once: the model stream
open in the worker registers one (lib.client), so a Stop closes the connection (the server stops generating) and a
read blocked on a silent server returns now, not at the next token or the read timeout.

    for item in ticking(run_turn(...)):
        if isinstance(item, Tick): label.update(f"thinking… {item.elapsed_s:.0f} s"); continue
        ...
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

T = TypeVar("T")
_DONE = object()


@dataclass(frozen=True)
class Tick:
    """Nothing new for a while; `elapsed_s` since the iteration started."""

    elapsed_s: float


class Cancelled(Exception):
    """Raised in a worker whose consumer gave up (e.g. while it waited in line for a free slot)."""


class CancelScope:
    """Closers to call when the consumer gives up (thread-safe; a closer added after cancelling runs at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closers: list[Callable[[], object]] = []
        self.cancelled = False

    def add(self, closer: Callable[[], object]) -> None:
        """Call `closer` when cancelled (now, if already cancelled)."""
        with self._lock:
            if not self.cancelled:
                self._closers.append(closer)
                return
        _quietly(closer)

    def discard(self, closer: Callable[[], object]) -> None:
        """`closer` is no longer needed (its resource was released normally)."""
        with self._lock:
            if closer in self._closers:
                self._closers.remove(closer)

    def cancel(self) -> None:
        """Call every closer once, newest first."""
        with self._lock:
            self.cancelled = True
            closers, self._closers = self._closers[::-1], []
        for closer in closers:
            _quietly(closer)


def _quietly(closer: Callable[[], object]) -> None:
    try:
        closer()
    except Exception:  # noqa: BLE001 - closing must never raise into a Stop
        pass


_SCOPE: contextvars.ContextVar[CancelScope | None] = contextvars.ContextVar("ticking_scope", default=None)


def current_scope() -> CancelScope | None:
    """The `CancelScope` of the `ticking()` worker running this code (None outside one)."""
    return _SCOPE.get()


def _join_waiting(q: "queue.Queue[Any]", value: Any, join: Callable[[Any, Any], Any]) -> tuple[Any, Any]:
    """(`value` joined with the entries waiting in `q` while `join(value, entry)` joins them, the first entry it
    did not join or None): what a consumer that fell behind takes in one step."""
    while True:
        try:
            following = q.get_nowait()
        except queue.Empty:
            return value, None
        joined = join(value, following)
        if joined is None:
            return value, following
        value = joined


class Ticking(Iterator["T | Tick"]):
    """The iterator `ticking()` returns: items and ticks in the consumer's thread, `close()` from any thread."""

    def __init__(self, items: Iterable[T], interval_s: float, eager: bool,
                 merge: Callable[[T, T], T | None] | None = None) -> None:
        self._items = items
        self._interval_s = interval_s
        self._eager = eager
        self._merge = merge
        self._held: tuple[str, object] | None = None  # taken from the queue by `_merged`, not merged: next
        self._q: queue.Queue[tuple[str, object]] = queue.Queue()
        self._cancel = threading.Event()
        self._scope = CancelScope()
        self._worker: threading.Thread | None = None
        self._started = 0.0
        self._finished = False
        self._finished_normally = False

    @property
    def cancelled(self) -> bool:
        """`close()` was called before the items ran out (Stop, or another click)."""
        return self._cancel.is_set() and not self._finished_normally

    def _work(self) -> None:
        _SCOPE.set(self._scope)  # this thread's context: what the items open registers its closer here
        items = self._items
        try:
            for item in items:
                if self._cancel.is_set():
                    break
                self._q.put(("item", item))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._q.put(("error", exc))
        finally:
            close = getattr(items, "close", None)
            if self._cancel.is_set() and callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001
                    pass
            self._q.put(("done", _DONE))

    def __iter__(self) -> "Ticking[T]":
        return self

    def __next__(self) -> "T | Tick":
        if self._finished:
            raise StopIteration
        if self._worker is None:
            self._started = time.monotonic()
            self._worker = threading.Thread(target=self._work, name="ticking", daemon=True)
            self._worker.start()
            if self._eager:
                return Tick(0.0)
        while True:
            if self._cancel.is_set():
                self._finished = True
                raise StopIteration
            if self._held is not None:
                (kind, value), self._held = self._held, None
            else:
                try:
                    kind, value = self._q.get(timeout=self._interval_s)
                except queue.Empty:
                    return Tick(time.monotonic() - self._started)
            if kind == "item":
                return self._merged(value) if self._merge is not None else value  # type: ignore[return-value]
            self._finished = True
            if kind == "error":
                self.close()
                raise value  # type: ignore[misc]
            self._finished_normally = True
            self.close()
            raise StopIteration

    def _merged(self, value: T) -> T:
        """`value` joined with the items already waiting behind it, as far as `merge` joins them (it returns None
        for two that don't go together; that one is the next item)."""
        merge = self._merge
        assert merge is not None
        value, self._held = _join_waiting(
            self._q, value, lambda v, f: merge(v, f[1]) if f[0] == "item" else None)  # type: ignore[arg-type]
        return value

    def close(self) -> None:
        """Stop the worker and call every closer registered with its `CancelScope` (idempotent, any thread)."""
        if not self._cancel.is_set():
            self._cancel.set()
            self._scope.cancel()


def ticking(items: Iterable[T], interval_s: float = 0.5, eager: bool = False,
            merge: Callable[[T, T], T | None] | None = None) -> Ticking[T]:
    """Yield the items of `items` (consumed in a daemon thread) and a `Tick` every `interval_s` of silence.

    With `merge`, items that are already waiting when the consumer asks for the next one are joined as far as
    `merge(a, b)` joins them (None: they don't go together): a consumer that fell behind (a busy server drawing a
    hundred answers) handles what arrived meanwhile in one step, not one step per streamed token; one that keeps up
    gets every item as it comes.

    An exception raised by `items` is re-raised here. `close()` (safe from any thread: Streamlit may start the next
    run on a new thread while the interrupted one still waits here) stops the worker after its current item and
    hangs up whatever it registered with its `CancelScope`: a blocked read returns at once. With `eager`, the first
    `next()` starts the worker and returns `Tick(0.0)` at once: a page can send its request, draw the rest of
    itself while the model thinks, and read the events after. After `close()`, iteration ends and `.cancelled`
    is True.
    """
    return Ticking(items, interval_s, eager, merge)


@dataclass(frozen=True)
class Crashed:
    """One of `ticking_all()`'s sources raised `error`; the others go on."""

    error: BaseException


class TickingAll(Iterator["tuple[int, object] | Tick"]):
    """The iterator `ticking_all()` returns: `(index, item)` pairs from every source as they arrive, and ticks."""

    def __init__(self, sources: Sequence[Iterable[object]], interval_s: float, eager: bool,
                 merge: Callable[[Any, Any], Any] | None = None) -> None:
        self._parts = [Ticking(items, interval_s, eager=False) for items in sources]
        self._interval_s = interval_s
        self._eager = eager
        self._merge = merge
        self._held: tuple[int, str, object] | None = None  # taken by `_merged`, not merged: the next one
        self._q: queue.Queue[tuple[int, str, object]] = queue.Queue()
        self._started = 0.0
        self._threads: list[threading.Thread] = []
        self._open = len(self._parts)
        self._finished = False
        self._closed = threading.Event()
        self._closed_early = False

    @property
    def cancelled(self) -> bool:
        """`close()` was called before every source ran out (Stop, or another click)."""
        return self._closed_early

    def _pump(self, index: int) -> None:
        part = self._parts[index]
        try:
            for item in part:
                if not isinstance(item, Tick):
                    self._q.put((index, "item", item))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer as Crashed
            self._q.put((index, "item", Crashed(exc)))
        finally:
            self._q.put((index, "done", _DONE))

    def __iter__(self) -> "TickingAll":
        return self

    def __next__(self) -> "tuple[int, object] | Tick":
        if self._finished:
            raise StopIteration
        if not self._threads:
            self._started = time.monotonic()
            for i in range(len(self._parts)):
                # Each source's own Ticking worker (and CancelScope) does the work; a pump thread per source only
                # forwards, so a slow source never holds up another's items.
                t = threading.Thread(target=self._pump, args=(i,), name="ticking-all", daemon=True)
                self._threads.append(t)
                t.start()
            if self._eager:
                return Tick(0.0)
        while True:
            if self._open == 0 or self._closed.is_set():
                self._finished = True
                raise StopIteration
            if self._held is not None:
                (index, kind, value), self._held = self._held, None
            else:
                try:
                    index, kind, value = self._q.get(timeout=self._interval_s)
                except queue.Empty:
                    return Tick(time.monotonic() - self._started)
            if self._closed.is_set():
                # Closed while this thread waited (Streamlit starts the next run, which closes this, before the
                # interrupted one has stopped): what arrives now is the hang-up's own doing, not a source's failure.
                self._finished = True
                raise StopIteration
            if kind == "done":
                self._open -= 1
                continue
            return index, (self._merged(index, value) if self._merge is not None else value)

    def _merged(self, index: int, value: object) -> object:
        """`value` joined with what the same source has waiting right behind it (as `Ticking._merged`)."""
        merge = self._merge
        assert merge is not None
        value, self._held = _join_waiting(
            self._q, value, lambda v, f: merge(v, f[2]) if f[:2] == (index, "item") else None)
        return value

    def close(self) -> None:
        """Stop every source's worker and hang up what each registered (idempotent, any thread)."""
        if not self._closed.is_set():
            self._closed_early = self._open > 0 and not self._finished
            self._closed.set()
        for part in self._parts:
            part.close()


def ticking_all(sources: Sequence[Iterable[T]], interval_s: float = 0.5, eager: bool = False,
                merge: Callable[[Any, Any], Any] | None = None) -> TickingAll:
    """Run several slow iterators at once (each in its own worker, as `ticking()` does) and yield `(index, item)`
    as items arrive from any of them, a `Tick` every `interval_s` of silence from all.

    A source that raises yields `(index, Crashed(exc))` and ends; the others go on (one side of a comparison
    failing never takes the other down). `close()` stops every source and hangs up their requests at once. `merge`
    joins one source's items that wait one behind the other, as `ticking()`'s does.
    """
    return TickingAll(list(sources), interval_s, eager, merge)


def join_text(first: object, second: object) -> str | None:
    """Two streamed text pieces as one (a `merge` for sources of plain text); None for anything else."""
    if type(first) is str and type(second) is str:
        return first + second
    return None
