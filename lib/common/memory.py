"""Give large buffers back to the operating system once they are freed; keep the collector off what lives forever.

Every photo a visitor brings passes through the server as a few large `bytes` objects (the 3 MB upload, its decoded
copy, the prepared JPEG). glibc's malloc serves blocks above `M_MMAP_THRESHOLD` (128 KB) with their own mmap and
unmaps them when freed, but the first time such a block is freed it raises that threshold to the block's size (up
to 32 MB): from then on every photo-sized buffer comes from the heap, which fragments and is never given back, and
the server's RSS grows with each visitor long after their session expired. Fixing the threshold at 128 KB turns
the dynamic adjustment off (glibc's mallopt(3)), so a freed photo buffer is returned at once.

Measured with the vision flow (15 sessions of a 2.9 MB photo, then every session expired): RSS 198 MB without,
149 MB with (87 MB at start). Linux with glibc only; elsewhere `release_large_buffers()` does nothing.

Streamlit can run a full garbage collection after every script run (`runner.postScriptGC`, off in this app's
config since its cost grows with the live sessions: bench/bench_room.py). With Streamlit, its server and this app
loaded, a full collection walks some 100,000 objects which live as long as the process: measured in the server,
104 ms, which Python's own full collections still pay now and then.
`freeze_long_lived()`, called by app.py after its imports, moves what exists then into the permanent generation the
collector skips (`gc.freeze`): the collection after a run then walks only what came later (some 800 objects at
first; the pages' modules and the SDK add ~20,000, about 5 ms). It freezes once per process, at the first run,
when the only session is the one starting: frozen objects are still freed by reference counting, but a reference
cycle among them never is, so freezing later would keep other visitors' sessions (and their photos) alive.
It also lets the youngest generation grow to `YOUNG_THRESHOLD` (10,000) new container objects before a collection,
not Python's 700: a script run makes thousands, so a question paid several young collections, and every tenth of
those walked the older generation too. Measured with 100 questions at once on one process (bench/bench_room.py's
clients, `gc.callbacks`): 0.24-0.43 s of collection per 100 questions at 700, 0.09 s at 10,000, RSS alike (129 and
141 MB after two rounds either way); a reference cycle is still freed, only up to 10,000 allocations later.
"""

from __future__ import annotations

import ctypes
import gc
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
THRESHOLD_BYTES = 128 * 1024  # glibc's own default, kept fixed
YOUNG_THRESHOLD = 10_000  # new container objects before the youngest generation is collected (Python's default: 700)

_done = False
_frozen = False


def release_large_buffers() -> bool:
    """Fix glibc's mmap threshold (once per process); True when it took effect."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The process's own symbols, libc's among them: ctypes.util.find_library("c") would run `ldconfig -p` in a
        # subprocess (~3 ms, a fork of the server) before a fresh server's first page view.
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _done = mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES) == 1
    return _done


def freeze_long_lived() -> bool:
    """`gc.freeze()` what exists now and collect the young generation less often, the first time only; True when it
    froze."""
    global _frozen
    if _frozen:
        return False
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    _frozen = True
    return True
