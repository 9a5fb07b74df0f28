"""prepare_image (lib/images.py) vs a naive resize pipeline, on a generated photo-like 12 MP JPEG.

prepare_image asks libjpeg for a reduced-size decode (Image.draft: 1/2, 1/4 or 1/8 scale, never below the target),
so a 4000x3000 photo is decoded at 2000x1500 before the LANCZOS thumbnail to 1120 px (what Llama 3.2 Vision sees
at most: 4 tiles of 560 px). The naive pipeline decodes every pixel first.

Measured: time (median of interleaved runs), bytes sent (original / re-encoded), and the peak-RSS growth of each
pipeline in a fresh subprocess (VmHWM after /proc/self/clear_refs: tracemalloc does not see Pillow's C allocations).
A 48 MP JPEG's prepare time is reported for information.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time

from bench._common import Result, fmt_s, median, quiet

REPS = 7
SIZE_12MP = (4000, 3000)
MAX_SIDE = 1120
NAIVE_QUALITY = 85


def photo_like(size: tuple[int, int]) -> "Image.Image":
    """Smooth colour gradients plus blurred Gaussian grain: compresses like a photo (~2 MB at q90 for 12 MP)."""
    from PIL import Image, ImageFilter

    w, h = size
    gx = Image.linear_gradient("L").rotate(90).resize((w, h))
    gy = Image.linear_gradient("L").resize((w, h))
    gr = Image.radial_gradient("L").resize((w, h))
    base = Image.merge("RGB", (gx, gy, gr))
    n = Image.effect_noise((w, h), 40)
    noise = Image.merge("RGB", (n, n.transpose(Image.Transpose.FLIP_LEFT_RIGHT), n.transpose(Image.Transpose.ROTATE_180)))
    return Image.blend(base, noise.filter(ImageFilter.GaussianBlur(0.8)), 0.35)


def tile_2x2(img: "Image.Image") -> "Image.Image":
    """Four flipped copies: 4x the pixels (12 MP -> 48 MP) without generating noise again."""
    from PIL import Image

    w, h = img.size
    big = Image.new("RGB", (2 * w, 2 * h))
    flips = (None, Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM, Image.Transpose.ROTATE_180)
    for i, flip in enumerate(flips):
        big.paste(img if flip is None else img.transpose(flip), ((i % 2) * w, (i // 2) * h))
    return big


def jpeg_bytes(img: "Image.Image", quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def naive(data: bytes) -> bytes:
    """What one would write first: decode everything, orient, LANCZOS thumbnail, JPEG q85."""
    from PIL import Image, ImageOps

    img = Image.open(io.BytesIO(data))
    img.load()
    img = ImageOps.exif_transpose(img)
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=NAIVE_QUALITY)
    return out.getvalue()


def ours(data: bytes) -> bytes:
    from lib.images import prepare_image

    return prepare_image(data, "photo.jpg").data


_MEM_CHILD = r"""
import json, re, sys
sys.path.insert(0, sys.argv[3])
from bench import bench_images as b
import lib.images  # imported before the baseline in both cases, so the comparison is pixels only
data = open(sys.argv[2], "rb").read()

def hwm_kb():
    # Peak RSS. ru_maxrss alone is useless here: after fork+exec it starts at the parent's RSS.
    return int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1))

open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the current RSS (Linux >= 4.0)
before = hwm_kb()
getattr(b, sys.argv[1])(data)
print(json.dumps({"kb": hwm_kb() - before}))
"""


def peak_rss_growth_kb(which: str, path: str) -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", _MEM_CHILD, which, path, root], capture_output=True, text=True,
                         check=True, cwd=root, timeout=60)
    return int(json.loads(out.stdout.strip().splitlines()[-1])["kb"])


def run() -> Result:
    quiet()
    from PIL import Image

    from lib.images import prepare_image

    t0 = time.perf_counter()
    img = photo_like(SIZE_12MP)
    data = jpeg_bytes(img)
    big = jpeg_bytes(tile_2x2(img))
    del img

    ours(data), naive(data)  # warm-up (imports, libjpeg tables)
    t_ours, t_naive = [], []
    for _ in range(REPS):
        t = time.perf_counter(); sent_ours = ours(data); t_ours.append(time.perf_counter() - t)
        t = time.perf_counter(); sent_naive = naive(data); t_naive.append(time.perf_counter() - t)
    m_ours, m_naive = median(t_ours), median(t_naive)
    size_ours = Image.open(io.BytesIO(sent_ours)).size
    size_naive = Image.open(io.BytesIO(sent_naive)).size

    with tempfile.NamedTemporaryFile(suffix=".jpg", delete=False) as f:
        f.write(data)
        path = f.name
    try:
        mem_ours = peak_rss_growth_kb("ours", path)
        mem_naive = peak_rss_growth_kb("naive", path)
    finally:
        os.unlink(path)

    t_big = []
    for _ in range(3):
        t = time.perf_counter(); prepared_big = prepare_image(big, "big.jpg"); t_big.append(time.perf_counter() - t)
    m_big = median(t_big)

    res = Result(
        name="images: prepare_image vs naive resize",
        measures=(
            f"Generated {SIZE_12MP[0]}x{SIZE_12MP[1]} photo-like JPEG (gradients + blurred Image.effect_noise, q90, "
            f"{len(data) / 1e6:.2f} MB). Naive = open, full load() without draft, exif_transpose, LANCZOS thumbnail "
            f"to {MAX_SIDE}, JPEG q{NAIVE_QUALITY}. Median of {REPS} interleaved runs each; peak RSS growth of one run "
            f"in a fresh subprocess each."
        ),
        rows=[
            ("naive pipeline, 12 MP", f"{fmt_s(m_naive)}  -> {size_naive[0]}x{size_naive[1]}, {len(sent_naive) / 1024:.0f} KB"),
            ("prepare_image, 12 MP", f"{fmt_s(m_ours)}  -> {size_ours[0]}x{size_ours[1]}, {len(sent_ours) / 1024:.0f} KB"),
            ("original / sent bytes (prepare_image)", f"{len(data) / len(sent_ours):.1f}x  ({len(data) / 1e6:.2f} MB -> {len(sent_ours) / 1024:.0f} KB)"),
            ("original / sent bytes (naive)", f"{len(data) / len(sent_naive):.1f}x"),
            ("peak RSS growth: naive / prepare_image", f"{mem_naive / 1024:.0f} MB / {mem_ours / 1024:.0f} MB"),
            (f"prepare_image, 48 MP ({len(big) / 1e6:.1f} MB JPEG), median of 3", f"{fmt_s(m_big)}  -> {prepared_big.width}x{prepared_big.height}"),
        ],
        ratios=[
            ("time naive / prepare_image (12 MP)", m_naive / m_ours),
            ("bytes original / sent (prepare_image)", len(data) / len(sent_ours)),
            ("peak RSS growth naive / prepare_image", mem_naive / max(1, mem_ours)),
        ],
        interpretation=(
            f"Draft-mode decoding makes preparing a 12 MP photo {m_naive / m_ours:.1f}x faster with "
            f"{mem_naive / max(1, mem_ours):.1f}x less peak memory, and {len(data) / len(sent_ours):.0f}x fewer bytes "
            f"leave the machine; a 48 MP photo takes {fmt_s(m_big)}."
        ),
    )
    res.seconds = time.perf_counter() - t0
    return res


if __name__ == "__main__":
    print(run().show())
