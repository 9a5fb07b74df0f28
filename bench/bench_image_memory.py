"""Peak memory of preparing images, each case in a fresh subprocess (used by bench_images; runs alone too).

    python -m bench.bench_image_memory                                   # lib/vision/images.py as it is
    python -m bench.bench_image_memory --images-module /tmp/old_images.py   # another version, e.g. from git show

What is measured: the growth of the child's peak RSS (VmHWM, reset with /proc/self/clear_refs just before the
work starts; tracemalloc does not see Pillow's C allocations) while it prepares the same upload N times at once
in N threads, as N sessions of the Streamlit server would. The upload's bytes are read before the reset, so only
decoding and preparing count. Linux only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = r"""
import importlib.util, json, re, sys, threading
root, which, module_path, copies, path = sys.argv[1:6]
sys.path.insert(0, root)
if module_path:  # another version of lib/vision/images.py, loaded under its own name
    spec = importlib.util.spec_from_file_location("images_under_test", module_path)
    images = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(images)
else:
    import lib.vision.images as images
from bench import bench_images
work = {"prepare_image": lambda data: images.prepare_image(data, "upload").summary,
        "naive": lambda data: f"{len(bench_images.naive(data))} bytes (naive)"}[which]
data = open(path, "rb").read()
outcomes = []

def one():
    try:
        outcomes.append(work(data))
    except images.ImageRejected as exc:
        outcomes.append("refused: " + str(exc))

def hwm_kb():
    return int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1))

threads = [threading.Thread(target=one) for _ in range(int(copies))]
open("/proc/self/clear_refs", "w").write("5")  # the peak is now the current RSS (Linux >= 4.0)
before = hwm_kb()
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"kb": hwm_kb() - before, "outcomes": outcomes}))
"""


@dataclass
class Measurement:
    label: str
    which: str  # "prepare_image" or "naive"
    copies: int
    mb: float
    outcomes: list[str]

    @property
    def outcome(self) -> str:
        """The first outcome, shortened; '4 x' when all copies ended the same way."""
        first = self.outcomes[0] if self.outcomes else "?"
        same = all(o == first for o in self.outcomes)
        text = first if len(first) <= 110 else first[:107] + "..."
        return (f"{len(self.outcomes)} x " if self.copies > 1 and same else "") + text


def peak_rss_growth(data: bytes, *, which: str = "prepare_image", copies: int = 1, label: str = "",
                    images_module: str | None = None) -> Measurement:
    """Prepare ``data`` ``copies`` times at once in a fresh Python and return the peak RSS growth in MB."""
    with tempfile.NamedTemporaryFile(suffix=".img", delete=False) as f:
        f.write(data)
        path = f.name
    try:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, ROOT, which, images_module or "", str(copies), path],
            capture_output=True, text=True, cwd=ROOT, timeout=300,
        )
        if out.returncode != 0:
            raise RuntimeError(f"memory child failed ({label}):\n{out.stderr[-2000:]}")
    finally:
        os.unlink(path)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return Measurement(label, which, copies, result["kb"] / 1024, result["outcomes"])


# --- the uploads -------------------------------------------------------------------------------------------------

HUGE_SIZE = (10_240, 7_712)  # 79 MP, just under MAX_PIXELS
BIGGEST_ACCEPTED = (6_880, 3_870)  # ~27 MP colour: about the largest a 128 MB decode budget admits at 16:9


def png_bytes(img: "Image.Image") -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=3)
    return buf.getvalue()


def tiled(tile: "Image.Image", size: tuple[int, int]) -> "Image.Image":
    """``tile`` repeated to fill ``size``: a huge UI-like picture (a dashboard wall, a long diagram)."""
    from PIL import Image

    big = Image.new(tile.mode, size)
    for top in range(0, size[1], tile.height):
        for left in range(0, size[0], tile.width):
            big.paste(tile, (left, top))
    return big


def cases(screenshot: "Image.Image", photo_jpeg: bytes) -> list[tuple[str, bytes, str, int]]:
    """(label, upload, which pipeline, copies at once) for every memory case the benchmark reports."""
    huge = tiled(screenshot, HUGE_SIZE)
    huge_png = png_bytes(huge)
    huge_palette_png = png_bytes(huge.quantize(64))
    del huge
    accepted_png = png_bytes(tiled(screenshot, BIGGEST_ACCEPTED))
    w, h = HUGE_SIZE
    aw, ah = BIGGEST_ACCEPTED
    return [
        (f"79-MP ({w}x{h}) RGB PNG, prepare_image x1", huge_png, "prepare_image", 1),
        ("79-MP RGB PNG, prepare_image x4 at once", huge_png, "prepare_image", 4),
        ("79-MP RGB PNG, naive x1 (a full decode)", huge_png, "naive", 1),
        ("79-MP palette PNG (64 colours), prepare_image x1", huge_palette_png, "prepare_image", 1),
        (f"{aw * ah / 1e6:.0f}-MP ({aw}x{ah}) RGB PNG, prepare_image x1", accepted_png, "prepare_image", 1),
        (f"{aw * ah / 1e6:.0f}-MP RGB PNG, prepare_image x4 at once", accepted_png, "prepare_image", 4),
        ("12-MP camera JPEG, prepare_image x1", photo_jpeg, "prepare_image", 1),
        ("12-MP camera JPEG, naive x1", photo_jpeg, "naive", 1),
    ]


def measure_all(screenshot: "Image.Image", photo_jpeg: bytes, images_module: str | None = None) -> list[Measurement]:
    return [
        peak_rss_growth(data, which=which, copies=copies, label=label, images_module=images_module)
        for label, data, which, copies in cases(screenshot, photo_jpeg)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images-module", help="path of another lib/vision/images.py to measure instead")
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    from bench import bench_images

    shot = bench_images.ui_screenshot()
    photo = bench_images.jpeg_bytes(bench_images.camera_like(bench_images.SIZE_12MP), bench_images.PHOTO_QUALITY)
    for m in measure_all(shot, photo, args.images_module):
        print(f"{m.label:<52} {m.mb:7.0f} MB   {m.outcome}")


if __name__ == "__main__":
    main()
