"""Make `shopfront.jpg`: a photo-like bakery front with large legible text, for the "Read the text" preset.

Drawn with Pillow only (fonts: DejaVu / Liberation, which Debian ships), so the image is this project's own work
(CC0). Deterministic: the same Pillow and fonts give the same file.

    python assets/samples/make_shopfront.py
"""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

OUT = Path(__file__).resolve().parent / "shopfront.jpg"
W, H = 1200, 900
FONTS = Path("/usr/share/fonts/truetype")


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    """A TrueType font from Debian's font packages."""
    return ImageFont.truetype(str(FONTS / name), size)


def brick_wall(rng: random.Random) -> Image.Image:
    """Rows of slightly different red-brown bricks with pale mortar."""
    wall = Image.new("RGB", (W, H), (196, 188, 176))
    d = ImageDraw.Draw(wall)
    bw, bh = 96, 34
    for row, y in enumerate(range(0, H, bh)):
        offset = 0 if row % 2 == 0 else bw // 2
        for x in range(-offset, W, bw):
            base = rng.randint(120, 165)
            colour = (base, int(base * 0.45) + rng.randint(0, 12), int(base * 0.33) + rng.randint(0, 10))
            d.rectangle([x + 3, y + 3, x + bw - 3, y + bh - 3], fill=colour)
    return wall


def centred(d: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str, f: ImageFont.FreeTypeFont,
            fill: tuple[int, int, int]) -> None:
    """`text` centred in `box`, the font made smaller until it fits the box's width with a margin."""
    while d.textlength(text, font=f) > (box[2] - box[0]) * 0.9 and f.size > 10:
        f = f.font_variant(size=f.size - 2)
    left, top, right, bottom = d.textbbox((0, 0), text, font=f)
    x = box[0] + (box[2] - box[0] - (right - left)) // 2 - left
    y = box[1] + (box[3] - box[1] - (bottom - top)) // 2 - top
    d.text((x, y), text, font=f, fill=fill)


def main() -> None:
    rng = random.Random(1987)
    img = brick_wall(rng)
    d = ImageDraw.Draw(img)

    # The painted fascia sign.
    d.rectangle([60, 50, W - 60, 240], fill=(22, 70, 52), outline=(196, 160, 70), width=8)
    centred(d, (60, 60, W - 60, 180), "THE LLAMA BAKERY", font("dejavu/DejaVuSerif-Bold.ttf", 92), (232, 196, 96))
    centred(d, (60, 175, W - 60, 232), "EST. 1987  ·  BREAD & COFFEE", font("dejavu/DejaVuSans-Bold.ttf", 36),
            (226, 214, 180))

    # The shop window: dark glass with a soft reflection, and white painted lettering.
    glass = Image.linear_gradient("L").resize((1000, 1000)).rotate(-35).crop((140, 220, 860, 780))
    glass = glass.point(lambda v: 28 + v // 6)
    window = Image.merge("RGB", (glass.point(lambda v: v * 0.8), glass.point(lambda v: v * 0.9), glass))
    img.paste(window, (90, 290))
    shine = Image.new("L", (W, H), 0)
    ImageDraw.Draw(shine).polygon([(300, 290), (420, 290), (200, 850), (90, 850)], fill=34)
    ImageDraw.Draw(shine).polygon([(470, 290), (510, 290), (300, 850), (260, 850)], fill=22)
    img.paste(Image.new("RGB", (W, H), (255, 255, 255)), (0, 0), shine.filter(ImageFilter.GaussianBlur(6)))
    d.rectangle([80, 280, 820, 860], outline=(60, 40, 30), width=14)
    centred(d, (90, 320, 810, 430), "FRESH BREAD DAILY", font("liberation/LiberationSans-Bold.ttf", 74),
            (245, 245, 240))
    centred(d, (90, 450, 810, 530), "OPEN 7 AM – 6 PM", font("liberation/LiberationSans-Bold.ttf", 62),
            (245, 245, 240))
    centred(d, (90, 540, 810, 600), "Monday to Saturday", font("liberation/LiberationSans-Regular.ttf", 44),
            (225, 225, 220))
    centred(d, (90, 700, 810, 780), "CARDS WELCOME", font("liberation/LiberationSans-Bold.ttf", 40), (240, 200, 90))

    # A chalkboard stand by the door.
    d.rectangle([870, 380, 1140, 860], fill=(62, 44, 30))
    d.rectangle([888, 398, 1122, 842], fill=(40, 46, 44))
    chalk = (236, 236, 226)
    centred(d, (888, 410, 1122, 480), "TODAY", font("dejavu/DejaVuSans-Bold.ttf", 48), chalk)
    for i, line in enumerate(("Cinnamon", "buns", "2 for $5")):
        centred(d, (888, 500 + i * 70, 1122, 565 + i * 70), line, font("dejavu/DejaVuSans.ttf", 46), chalk)
    centred(d, (888, 730, 1122, 800), "Sourdough $6", font("dejavu/DejaVuSans.ttf", 36), chalk)

    # Afternoon light from the upper left.
    light = Image.linear_gradient("L").resize((2000, 2000)).rotate(40).crop((400, 550, 400 + W, 550 + H))
    light = light.point(lambda v: 255 - v // 4)
    img = ImageChops.multiply(img, Image.merge("RGB", (light, light, light.point(lambda v: v * 0.96))))

    # Camera look: a slight tilt, lens softness, sensor noise and a vignette.
    img = img.rotate(-2.2, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=(150, 70, 50))
    img = img.crop((24, 24, W - 24, H - 24)).resize((W, H), Image.Resampling.BICUBIC)
    img = img.filter(ImageFilter.GaussianBlur(0.7))
    noise = Image.effect_noise((W, H), 12).convert("RGB")
    img = ImageChops.add(img, noise, scale=1.0, offset=-128)
    vignette = Image.radial_gradient("L").resize((W, H)).point(lambda v: 255 - v // 3)
    img = ImageChops.multiply(img, Image.merge("RGB", (vignette, vignette, vignette)))
    img.save(OUT, "JPEG", quality=84, optimize=True)


if __name__ == "__main__":
    main()
