"""prepare_image (lib/vision/images.py) vs a naive Pillow pipeline: time on a camera photo and a screenshot, and memory.

    python -m bench.bench_images                   # print the results
    python -m bench.bench_images --update-results  # also rewrite the images rows and section of bench/RESULTS.md
    python -m bench.bench_images --before baa969c  # also measure the memory of lib/vision/images.py at that commit

Inputs, all generated here:
- a 12-MP (4000x3000) camera-like JPEG at quality 92: 1/f ("pink") luminance texture with fine detail at every
  scale, soft colour variation and sensor grain, about 4.5 MB like a phone photo (numpy's FFT when numpy is
  installed, else a sum of Pillow effect_noise octaves);
- a 2560x1440 UI-like PNG screenshot: flat panels, antialiased text, buttons, a bar chart;
- for memory, a 79-MP (10240x7712) UI-like PNG (the screenshot tiled) and the largest colour PNG the decode
  budget admits.

Naive = what one would write first: open, exif_transpose, convert("RGB"), thumbnail((1120, 1120)), JPEG q90.
Times are medians of interleaved runs; memory is the peak-RSS growth in a fresh subprocess
(bench/bench_image_memory.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

import datetime as _dt
import io
import random
import re
import subprocess
import tempfile
import time
from pathlib import Path

from bench import bench_image_memory
from bench._common import Result, fmt_ratio, fmt_s, median, quiet

REPS = 15
SIZE_12MP = (4000, 3000)
SCREENSHOT_SIZE = (2560, 1440)
PHOTO_QUALITY = 92
MAX_SIDE = 1120
NAIVE_QUALITY = 90
TARGET_MB = 150  # the target: at most this much extra memory per upload


# --- inputs ------------------------------------------------------------------------------------------------------


def camera_like(size: tuple[int, int], seed: int = 7) -> "Image.Image":
    """A detailed photo-like image: 1/f^1.22 luminance, low-frequency colour, grain (~4.5 MB at q92 for 12 MP)."""
    try:
        import numpy as np
    except ImportError:
        return _camera_like_pillow(size, seed)
    from PIL import Image

    width, height = size
    rng = np.random.default_rng(seed)

    def pink(h: int, w: int, alpha: float) -> "np.ndarray":
        spectrum = np.fft.rfft2(rng.standard_normal((h, w), dtype=np.float32))
        fy = np.fft.fftfreq(h).astype(np.float32)[:, None]
        fx = np.fft.rfftfreq(w).astype(np.float32)[None, :]
        radius = np.sqrt(fx * fx + fy * fy)
        radius[0, 0] = 1.0
        spectrum *= radius ** (-alpha)
        spectrum[0, 0] = 0
        field = np.fft.irfft2(spectrum, s=(h, w)).astype(np.float32)
        return field / field.std()

    def upscaled(field: "np.ndarray") -> "np.ndarray":
        return np.asarray(Image.fromarray(field).resize(size, Image.Resampling.BILINEAR))

    luminance = 118 + 40 * pink(height, width, 1.22)
    warm, cool = upscaled(pink(height // 4, width // 4, 1.0)), upscaled(pink(height // 4, width // 4, 1.0))
    grain = rng.standard_normal((height, width), dtype=np.float32) * 1.5
    rgb = np.stack([luminance + 18 * warm + grain, luminance + grain, luminance + 18 * cool + grain], axis=-1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def _camera_like_pillow(size: tuple[int, int], seed: int) -> "Image.Image":
    """Without numpy: octaves of Image.effect_noise (each coarser one blurred up and weighted more), ~1/f."""
    from PIL import Image, ImageFilter

    random.seed(seed)  # effect_noise draws from C rand(); the look, not the exact bytes, is what matters
    width, height = size
    luminance = Image.new("L", size, 118)
    for octave in range(7, -1, -1):  # 128x coarser ... full resolution
        scale = 2**octave
        noise = Image.effect_noise((max(1, width // scale), max(1, height // scale)), 64)
        noise = noise.resize(size, Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(0.5 + scale / 4))
        luminance = Image.blend(luminance, noise, 0.18 if octave else 0.06)
    luminance = luminance.point(lambda v: max(0, min(255, 118 + (v - 118) * 3)))
    tint = Image.effect_noise((max(1, width // 64), max(1, height // 64)), 40).resize(size, Image.Resampling.BICUBIC)
    warm, cool = Image.blend(luminance, tint, 0.2), Image.blend(luminance, tint.rotate(180), 0.2)
    return Image.merge("RGB", (warm, luminance, cool))


def ui_screenshot(size: tuple[int, int] = SCREENSHOT_SIZE, seed: int = 3) -> "Image.Image":
    """A UI-like RGB screenshot: title bar, sidebar, six cards of antialiased text, buttons and bar charts."""
    from PIL import Image, ImageDraw, ImageFont

    rnd = random.Random(seed)
    width, height = size
    img = Image.new("RGB", size, (246, 247, 249))
    draw = ImageDraw.Draw(img)
    small, body, button, title = (ImageFont.load_default(size=s) for s in (13, 15, 18, 26))
    draw.rectangle((0, 0, width, 56), fill=(32, 34, 40))
    draw.rectangle((0, 56, 300, height), fill=(236, 238, 242))
    draw.text((20, 14), "Llama Herd Studio - Vision", fill=(240, 240, 240), font=title)
    for i, top in enumerate(range(80, height - 40, 34)):
        if i == 3:
            draw.rounded_rectangle((16, top, 284, top + 26), 6, fill=(220, 226, 236))
        label = "".join(rnd.choice("abcdefghij klmnopqrstuvwxyz") for _ in range(18))
        draw.text((40, top + 5), f"Item {i}: {label}", fill=(40, 44, 52), font=body)
    for card in range(6):
        left, top = 340 + (card % 3) * 730, 90 + (card // 3) * 660
        draw.rounded_rectangle((left, top, left + 700, top + 630), 12, fill=(255, 255, 255), outline=(218, 222, 228))
        draw.text((left + 24, top + 20), f"Panel {card}", fill=(20, 24, 30), font=title)
        for line_top in range(top + 70, top + 470, 22):
            words = (
                "".join(rnd.choice("etaoinshrdlucmfw") for _ in range(rnd.randint(2, 9)))
                for _ in range(rnd.randint(6, 11))
            )
            draw.text((left + 24, line_top), " ".join(words), fill=(55, 60, 70), font=small)
        draw.rounded_rectangle((left + 24, top + 560, left + 184, top + 604), 8, fill=(30, 120, 220))
        draw.text((left + 60, top + 570), "Send", fill=(255, 255, 255), font=button)
        for k in range(12):
            bar = rnd.randint(20, 70)
            box = (left + 240 + k * 36, top + 600 - bar, left + 264 + k * 36, top + 600)
            draw.rectangle(box, fill=(80 + 10 * k, 160, 120))
    return img


def jpeg_bytes(img: "Image.Image", quality: int = PHOTO_QUALITY) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png_bytes(img: "Image.Image") -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


# --- the two pipelines -------------------------------------------------------------------------------------------


def naive(data: bytes) -> bytes:
    """What one would write first: open, exif_transpose, convert RGB, thumbnail 1120, JPEG q90."""
    from PIL import Image, ImageOps

    img = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    img.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=NAIVE_QUALITY)
    return out.getvalue()


def ours(data: bytes) -> bytes:
    from lib.vision.images import prepare_image

    return prepare_image(data, "upload").data


def _timed_pair(data: bytes) -> tuple[float, float, bytes, bytes]:
    """Median seconds of naive and prepare_image, interleaved (order flipped every round), and their outputs."""
    naive(data), ours(data)  # warm-up: imports, codec tables
    t_naive, t_ours = [], []
    for rep in range(REPS):
        for which in (("naive", "ours") if rep % 2 == 0 else ("ours", "naive")):
            start = time.perf_counter()
            out = naive(data) if which == "naive" else ours(data)
            (t_naive if which == "naive" else t_ours).append(time.perf_counter() - start)
            if which == "naive":
                sent_naive = out
            else:
                sent_ours = out
    return median(t_naive), median(t_ours), sent_naive, sent_ours


def _describe(sent: bytes) -> str:
    from PIL import Image

    img = Image.open(io.BytesIO(sent))
    return f"{img.width}x{img.height} {img.format}, {len(sent) / 1024:.0f} KB"


# --- the benchmark -----------------------------------------------------------------------------------------------


def run(before: str | None = None) -> Result:
    """The benchmark; ``before`` is a git revision whose lib/vision/images.py's memory is reported alongside."""
    quiet()
    t0 = time.perf_counter()
    photo = jpeg_bytes(camera_like(SIZE_12MP))
    shot_img = ui_screenshot()
    shot = png_bytes(shot_img)

    photo_naive, photo_ours, photo_sent_naive, photo_sent_ours = _timed_pair(photo)
    shot_naive, shot_ours, shot_sent_naive, shot_sent_ours = _timed_pair(shot)
    memory = bench_image_memory.measure_all(shot_img, photo)
    huge_1, huge_4, huge_naive, huge_palette, accepted_1, accepted_4, photo_mem_ours, photo_mem_naive = memory

    rows = [
        ("12-MP camera JPEG, naive", f"{fmt_s(photo_naive)}  -> {_describe(photo_sent_naive)}"),
        ("12-MP camera JPEG, prepare_image", f"{fmt_s(photo_ours)}  -> {_describe(photo_sent_ours)}"),
        ("2560x1440 PNG screenshot, naive", f"{fmt_s(shot_naive)}  -> {_describe(shot_sent_naive)}"),
        ("2560x1440 PNG screenshot, prepare_image", f"{fmt_s(shot_ours)}  -> {_describe(shot_sent_ours)}"),
    ]
    rows += [(f"peak RSS growth: {m.label}", f"{m.mb:.0f} MB  ({m.outcome})") for m in memory]
    if before:
        with tempfile.TemporaryDirectory() as tmp:
            old_module = Path(tmp, "images_before.py")
            show = ["git", "show", f"{before}:lib/vision/images.py"]
            old_module.write_bytes(subprocess.run(show, cwd=ROOT, capture_output=True, check=True).stdout)
            old = bench_image_memory.measure_all(shot_img, photo, images_module=str(old_module))
        rows += [(f"before ({before}): {m.label}", f"{m.mb:.0f} MB  ({m.outcome})") for m in old if m.which != "naive"]
    ratios = [
        ("time naive / prepare_image, 12-MP camera JPEG (>= 1: not slower)", photo_naive / photo_ours),
        ("time naive / prepare_image, 2560x1440 PNG screenshot (>= 1: not slower)", shot_naive / shot_ours),
        (f"peak RSS growth / {TARGET_MB} MB, 79-MP RGB PNG x1", huge_1.mb / TARGET_MB),
        (f"peak RSS growth / {TARGET_MB} MB, 79-MP RGB PNG x4 at once", huge_4.mb / TARGET_MB),
        (f"peak RSS growth / {TARGET_MB} MB, 79-MP palette PNG x1", huge_palette.mb / TARGET_MB),
        (f"peak RSS growth / {TARGET_MB} MB, largest accepted colour PNG x1", accepted_1.mb / TARGET_MB),
        (f"peak RSS growth / (4 x {TARGET_MB} MB), largest accepted colour PNG x4", accepted_4.mb / (4 * TARGET_MB)),
        ("peak RSS growth naive / prepare_image, 12-MP camera JPEG", photo_mem_naive.mb / max(1.0, photo_mem_ours.mb)),
    ]
    res = Result(
        name="images: prepare_image vs naive Pillow pipeline",
        measures=(
            f"Generated {SIZE_12MP[0]}x{SIZE_12MP[1]} camera-like JPEG (1/f texture + grain, q{PHOTO_QUALITY}, "
            f"{len(photo) / 1e6:.2f} MB) and {SCREENSHOT_SIZE[0]}x{SCREENSHOT_SIZE[1]} UI-like PNG screenshot "
            f"({len(shot) / 1e6:.2f} MB). Naive = open, exif_transpose, convert RGB, thumbnail {MAX_SIDE}, JPEG "
            f"q{NAIVE_QUALITY}. Times: median of {REPS} interleaved runs each. Memory: peak-RSS growth in a fresh "
            f"subprocess per case (VmHWM after clear_refs), N uploads prepared at once in N threads."
        ),
        rows=rows,
        ratios=ratios,
        interpretation=(
            f"prepare_image is {photo_naive / photo_ours:.2f}x the naive speed on the 12-MP photo (draft-mode "
            f"decode) and {shot_naive / shot_ours:.2f}x on the screenshot, where both must decode every pixel "
            f"(about half the time) and resize once: prepare_image resizes in bands on both cores (Pillow releases "
            f"the GIL), which pays for its PNG-size estimate and 4:4:4 JPEG. A 79-MP colour PNG is refused before "
            f"decoding ({huge_1.mb:.0f} MB; naive decode: {huge_naive.mb:.0f} MB); the largest colour PNG it "
            f"accepts peaks at {accepted_1.mb:.0f} MB, four at once at {accepted_4.mb:.0f} MB (two decode slots); "
            f"a 79-MP palette PNG is accepted at {huge_palette.mb:.0f} MB."
        ),
    )
    res.seconds = time.perf_counter() - t0
    return res


# --- RESULTS.md: replace only this benchmark's rows and section ---------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("RESULTS.md")
COMMAND = "python -m bench.bench_images --update-results"


def update_results(res: Result, path: Path = RESULTS, command: str = COMMAND) -> None:
    """Rewrite the 'images' headline rows and the '## images:' section of RESULTS.md, leaving the rest alone."""
    text = path.read_text(encoding="utf-8")
    key = res.name.split(":")[0]
    headline = [f"| {key} | {label} | **{fmt_ratio(value)}** |" for label, value in res.ratios]
    lines = text.splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith(f"| {key} | ")]
    if at:
        lines[at[0] : at[-1] + 1] = headline
    text = "\n".join(lines) + "\n"
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    section = [
        f"## {res.name}",
        "",
        f"Measured alone on {when} UTC with `{command}` (same machine; the other sections are from the run above).",
        "",
        f"What it measures: {res.measures}",
        "",
        "| measurement | result |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in res.rows],
        *[f"| **ratio: {k}** | **{fmt_ratio(v)}** |" for k, v in res.ratios],
        "",
        f"Interpretation: {res.interpretation}",
        "",
        f"(benchmark wall time {res.seconds:.1f} s)",
        "",
    ]
    match = re.search(rf"^## {re.escape(key)}:.*?(?=^## )", text, flags=re.S | re.M)
    if match is None:
        raise SystemExit(f"no '## {key}:' section in {path}")
    text = text[: match.start()] + "\n".join(section) + "\n" + text[match.end() :]
    path.write_text(text, encoding="utf-8")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update-results", action="store_true", help="rewrite this benchmark's part of RESULTS.md")
    parser.add_argument("--before", metavar="REV", help="also measure the memory of lib/vision/images.py at this commit")
    args = parser.parse_args()
    result = run(args.before)
    print(result.show())
    if args.update_results:
        command = COMMAND + (f" --before {args.before}" if args.before else "")
        update_results(result, command=command)
        print(f"updated the images rows and section of {RESULTS}")


if __name__ == "__main__":
    main()
