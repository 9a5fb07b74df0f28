"""Freed photo-sized buffers go back to the operating system: the server does not keep every visitor's photo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A visitor's photo passes through as a few multi-megabyte buffers, in a new thread per script run; 40 visitors, one
# after another, each keeping only its prepared image. Printed: growth beyond what is kept.
PROGRAM = """
import sys
sys.path.insert(0, {root!r})
from lib.common.memory import release_large_buffers
if {fixed}:
    assert release_large_buffers()

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

import threading
start = rss_mb()
kept = []
def visit(n):  # each script run is a new thread, as in Streamlit; each keeps its prepared image (350 KB)
    upload = bytes(2_900_000) + bytes([n % 256])
    decoded = bytearray(upload) * 3
    kept.append(bytes(decoded[:350_000]))
    kept.append(bytes(600))
    del upload, decoded
for n in range(40):
    t = threading.Thread(target=visit, args=(n,)); t.start(); t.join()
print(rss_mb() - start - 40 * 0.35)
"""


def grown_mb(fixed: bool) -> float:
    out = subprocess.run([sys.executable, "-c", PROGRAM.format(root=str(ROOT), fixed=fixed)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc on Linux")
def test_freed_photo_buffers_are_given_back_with_the_fixed_threshold() -> None:
    from lib.common.memory import release_large_buffers

    if not release_large_buffers():
        pytest.skip("not glibc")
    assert grown_mb(fixed=True) < 5, "40 visitors' freed buffers should not stay in the process"


def test_release_is_idempotent() -> None:
    from lib.common.memory import release_large_buffers

    assert release_large_buffers() == release_large_buffers()


# What Streamlit's collection after every script run walks, before and after the app froze what it had loaded; and
# whether a photo-sized reference cycle made afterwards is still collected.
FREEZE_PROGRAM = """
import gc, sys, weakref
sys.path.insert(0, {root!r})
import streamlit, ui.connection, ui.rehearsal, ui.sidebar  # what app.py loads before it freezes
from lib.common.memory import freeze_long_lived
walked_before = len(gc.get_objects())
froze = freeze_long_lived()
walked_after = len(gc.get_objects())
again = freeze_long_lived()
import lib.tool_calling.loop  # the first visit to the tool page imports more: left to the collector
after_import = freeze_long_lived()

class Turn:
    pass
a, b = Turn(), Turn()
a.other, b.other, a.photo = b, a, bytearray(20_000_000)
alive = weakref.ref(a)
del a, b
young = gc.get_threshold()[0]
litter = [[i] for i in range(young + 100)]  # Python's own collection, not an explicit one, must find the cycle
print(walked_before, walked_after, froze, again, after_import, alive() is None, young)
"""


def test_the_collection_after_each_run_skips_what_lives_as_long_as_the_process() -> None:
    out = subprocess.run([sys.executable, "-c", FREEZE_PROGRAM.format(root=str(ROOT))],
                         capture_output=True, text=True, check=True)
    before, after, froze, again, after_import, cycle_freed, young = out.stdout.split()
    assert froze == "True" and int(before) > 50_000, "Streamlit, the SDK and the app are tens of thousands of objects"
    assert int(after) < int(before) / 20, f"after freezing, a full collection walks {after} of {before} objects"
    assert again == "False" and after_import == "False", "frozen once, at the first run: later sessions never are"
    assert cycle_freed == "True", "a photo held in a reference cycle made after the freeze is still collected"
    assert int(young) == 10_000, "a script run's thousands of new objects no longer set off several collections"
