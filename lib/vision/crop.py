"""What the model sees, and asking about one region of the photo.

`compare_labels` words the two sides of the vision page's "What Llama sees" slider from a `PreparedImage`: the
upload's size and bytes, and the sent image's size, format, JPEG quality (read from its own quantisation tables:
`jpeg_quality`) and the 560-px tiles Llama 3.2 Vision cuts it into (`tiles`, as its image processor chooses them);
`with_tile_lines` marks those tiles on a copy for the screen. `region_from_bounds` turns the crop tool's normalised
bounds into a `Region` of the original's pixels (clamped, at least `MIN_REGION_SIDE` a side); `region_image`
prepares only that region for the model with `lib.vision.images.prepare_region`, from the original upload (so a
small part of a 12-MP photo is sent at full resolution), or from the kept 1120-px copy when the upload is gone.

Its words are the catalogue's (`vision.sees.*`, `vision.region.*`): English by default, another language given
`lang`. Imports only `lib.vision.images` and `lib.i18n`. Example::

    region = region_from_bounds({"x": 0.3, "y": 0.1, "width": 0.16, "height": 0.14}, shown_size(master))
    sent = region_image(original, master, region, "IMG_0001.JPG")  # 640×420, not 1120×840
    region.label   # '640×420 px of the original'
    compare_labels(master)
    # ('As uploaded · 4032×3024 · 3.1 MB', 'Sent to Llama · 1120×840 · JPEG q85 · 4 tiles')
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from PIL import Image, ImageDraw

from lib.i18n import DEFAULT, text
from lib.vision.images import MAX_SIDE, PreparedImage, human_size, prepare_region

__all__ = [
    "MIN_REGION_SIDE",
    "REGION_MARK",
    "TILE",
    "Region",
    "compare_labels",
    "jpeg_quality",
    "region_from_bounds",
    "region_image",
    "same_picture",
    "sent_facts",
    "shown_note",
    "shown_size",
    "tiles",
    "with_tile_lines",
]

TILE: Final = 560
"""Llama 3.2 Vision's tile side, in pixels."""
MAX_TILES: Final = 4
"""Most tiles Llama 3.2 Vision's image processor cuts one image into."""
MIN_REGION_SIDE: Final = 32
"""Smallest side of a region sent (original pixels): a smaller box grows around its centre to this."""
WHOLE_PHOTO: Final = 0.99
"""Bounds covering this much of both sides are the whole photo, not a region."""
REGION_MARK: Final = "🔍 Asked about a region:"
"""How a question's own footer (its turn's meta) begins when it was asked about a region."""


@dataclass(frozen=True)
class Region:
    """A box on the original photo, right way up, in its pixels: ``left``/``top`` inclusive, ``right``/``bottom``
    exclusive; ``of_width``×``of_height`` is the whole original's size, right way up."""

    left: int
    top: int
    right: int
    bottom: int
    of_width: int
    of_height: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)``, as ``prepare_region`` and Pillow's ``crop`` take it."""
        return self.left, self.top, self.right, self.bottom

    @property
    def label(self) -> str:
        """``'640×420 px of the original'``."""
        return self.label_in(DEFAULT)

    def label_in(self, lang: str) -> str:
        """`label` in ``lang`` (``vision.region.label``)."""
        return text(lang, "vision.region.label", width=self.width, height=self.height)

    @property
    def note(self) -> str:
        """The footer of a question asked about this region (kept in the transcript beside the question), e.g.
        ``'🔍 Asked about a region: 640×420 px of the 4032×3024 original, at x 1200, y 300'``. Always English: it
        also names the region a question was about (`lib.vision.conversation.request_turns`); `shown_note` words
        it in the page's language."""
        return text(DEFAULT, "vision.region.note", width=self.width, height=self.height, of_width=self.of_width,
                    of_height=self.of_height, left=self.left, top=self.top)


_NOTE = re.compile(r"🔍 Asked about a region: (?P<width>\d+)×(?P<height>\d+) px of the (?P<of_width>\d+)×"
                   r"(?P<of_height>\d+) original, at x (?P<left>\d+), y (?P<top>\d+)")


def shown_note(note: str, lang: str) -> str:
    """A question's footer as the page shows it in ``lang``: a region's `Region.note` reworded (``vision.region.note``),
    anything else (an imported transcript's own words) as written.

    >>> shown_note(Region(1200, 300, 1840, 720, 4000, 3000).note, "en") == Region(1200, 300, 1840, 720, 4000, 3000).note
    True
    """
    found = _NOTE.fullmatch(note.strip()) if lang != DEFAULT else None
    return text(lang, "vision.region.note", **found.groupdict()) if found else note


def shown_size(master: PreparedImage) -> tuple[int, int]:
    """The original's size right way up: its header's size, sides swapped when its EXIF orientation turned it (the
    prepared image, always right way up, is then the other way round)."""
    width, height = master.original_width, master.original_height
    if width != height and (master.width > master.height) != (width > height) and master.width != master.height:
        return height, width
    return width, height


def _number(bounds: Mapping[str, Any], key: str) -> float | None:
    value = bounds.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return min(1.0, max(0.0, float(value)))


def _grow(start: int, end: int, size: int, minimum: int) -> tuple[int, int]:
    """``start``..``end`` grown around its centre to at least ``minimum`` (or ``size``), kept inside 0..``size``."""
    need = min(minimum, size)
    if end - start >= need:
        return start, end
    begin = round((start + end) / 2 - need / 2)
    begin = max(0, min(size - need, begin))
    return begin, begin + need


def region_from_bounds(bounds: Mapping[str, Any] | None, size: tuple[int, int],
                       min_side: int = MIN_REGION_SIDE) -> Region | None:
    """The region the crop tool's ``bounds`` (``x``, ``y``, ``width``, ``height``, each 0..1 of the shown image) pick
    on an original of ``size`` (right way up): pixel edges rounded outwards, clamped to the photo, each side at least
    ``min_side`` (grown around its centre). None for no bounds, bounds that are not numbers, an empty box, or one
    that covers the whole photo.

    >>> region_from_bounds({"x": 0.25, "y": 0.5, "width": 0.5, "height": 0.25}, (4000, 3000)).box
    (1000, 1500, 3000, 2250)
    """
    if not isinstance(bounds, Mapping) or size[0] < 1 or size[1] < 1:
        return None
    x, y, w, h = (_number(bounds, key) for key in ("x", "y", "width", "height"))
    if x is None or y is None or w is None or h is None or w <= 0 or h <= 0:
        return None
    width, height = size
    left, top = math.floor(x * width), math.floor(y * height)
    right, bottom = min(width, math.ceil(min(1.0, x + w) * width)), min(height, math.ceil(min(1.0, y + h) * height))
    left, top = min(left, width - 1), min(top, height - 1)
    right, bottom = max(right, left + 1), max(bottom, top + 1)
    if right - left >= WHOLE_PHOTO * width and bottom - top >= WHOLE_PHOTO * height:
        return None
    left, right = _grow(left, right, width, min_side)
    top, bottom = _grow(top, bottom, height, min_side)
    return Region(left, top, right, bottom, width, height)


def region_image(original: bytes | None, master: PreparedImage, region: Region, name: str | None = None, *,
                 max_side: int = MAX_SIDE) -> PreparedImage:
    """Only ``region`` of the photo, prepared for the model as ``prepare_image`` prepares a photo (at most
    ``max_side`` a side): cut from ``original`` (the upload's own bytes) when there is one, at its full resolution;
    else from ``master`` (the kept 1120-px copy, right way up), whose ``note`` then says so. Raises
    ``ImageRejected`` as ``prepare_image`` does."""
    if original is not None:
        return prepare_region(original, region.box, name, max_side=max_side)
    sx, sy = master.width / region.of_width, master.height / region.of_height
    box = (math.floor(region.left * sx), math.floor(region.top * sy),
           max(math.floor(region.left * sx) + 1, math.ceil(region.right * sx)),
           max(math.floor(region.top * sy) + 1, math.ceil(region.bottom * sy)))
    cut = prepare_region(master.data, box, name, max_side=max_side)
    return replace(cut, original_width=master.original_width, original_height=master.original_height,
                   original_bytes=master.original_bytes, original_format=master.original_format,
                   note=f"just the {region.width}×{region.height} region, cut from the "
                        f"{master.width}×{master.height} copy")


def same_picture(a: PreparedImage, b: PreparedImage) -> bool:
    """Whether two prepared images are the same photo prepared alike (the same upload dropped again)."""
    return (a.data == b.data and (a.original_width, a.original_height, a.original_bytes)
            == (b.original_width, b.original_height, b.original_bytes))


# --- what the model sees ----------------------------------------------------------------------------------------

_LUMA_TABLE: Final = (  # the JPEG standard's luminance quantisation table (Annex K), in natural order
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)


def _luma_table(quality: int) -> tuple[int, ...]:
    """The luminance table libjpeg (and so Pillow) writes for ``quality`` 1..100."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(min(255, max(1, (q * scale + 50) // 100)) for q in _LUMA_TABLE)


_QUALITY_OF_TABLE: Final = {_luma_table(q): q for q in range(100, 0, -1)}  # tables that tie: the lower quality


def jpeg_quality(data: bytes) -> int | None:
    """The quality (1..100) a JPEG was written at, read from its luminance table; None for anything else (a PNG,
    a JPEG with tables of its own)."""
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as img:  # the header only: its tables
            table = tuple((getattr(img, "quantization", None) or {}).get(0) or ())
    except Exception:  # noqa: BLE001 - our own bytes; anything unreadable just has no quality to show
        return None
    return _QUALITY_OF_TABLE.get(table)


def tiles(width: int, height: int) -> tuple[int, int, float]:
    """``(columns, rows, scale)`` of the 560-px tiles Llama 3.2 Vision's image processor cuts a ``width``×``height``
    image into (at most 4): the canvas of whole tiles that needs the least enlarging, else the least shrinking (the
    smaller canvas on a tie), and the scale the image is resized by to fit it (the rest is padding).

    >>> tiles(1120, 840)[:2], tiles(560, 420)[:2], tiles(1120, 280)[:2]
    ((2, 2), (1, 1), (2, 1))
    """
    if width < 1 or height < 1:
        raise ValueError("an image has at least one pixel a side")
    canvases = [(c, r) for c in range(1, MAX_TILES + 1) for r in range(1, MAX_TILES + 1) if c * r <= MAX_TILES]
    scale = {(c, r): min(c * TILE / width, r * TILE / height) for c, r in canvases}
    enlarging = [s for s in scale.values() if s >= 1]
    chosen = min(enlarging) if enlarging else max(scale.values())
    columns, rows = min((cr for cr in canvases if scale[cr] == chosen), key=lambda cr: cr[0] * cr[1])
    return columns, rows, chosen


def sent_facts(prepared: PreparedImage, lang: str = DEFAULT) -> str:
    """What is sent, in the model's terms: ``'1120×840 · JPEG q85 · 4 tiles'`` (or ``'PNG'``, ``'1 tile'``); its
    words in ``lang``."""
    if prepared.mime_type == "image/png":
        kind = "PNG"
    else:
        quality = jpeg_quality(prepared.data)
        kind = f"JPEG q{quality}" if quality is not None else "JPEG"
    columns, rows, _scale = tiles(prepared.width, prepared.height)
    n = columns * rows
    count = text(lang, "vision.sees.tile_one" if n == 1 else "vision.sees.tile_many", count=n)
    return f"{prepared.width}×{prepared.height} · {kind} · {count}"


def compare_labels(prepared: PreparedImage, lang: str = DEFAULT) -> tuple[str, str]:
    """The slider's two labels: ``'As uploaded · 4032×3024 · 3.1 MB'`` and
    ``'Sent to Llama · 1120×840 · JPEG q85 · 4 tiles'`` (in ``lang``)."""
    before = text(lang, "vision.sees.before", size=f"{prepared.original_width}×{prepared.original_height}",
                  bytes=human_size(prepared.original_bytes))
    return before, text(lang, "vision.sees.after", facts=sent_facts(prepared, lang))


_DASH: Final = 12  # px: tile lines are dashed black and white, to show on any photo


def with_tile_lines(prepared: PreparedImage) -> bytes:
    """A copy of the sent image for the screen, its tile edges drawn as dashed lines (the image itself when it is
    one tile). Never sent: the model gets ``prepared.data``."""
    columns, rows, scale = tiles(prepared.width, prepared.height)
    if columns * rows == 1:
        return prepared.data
    with Image.open(io.BytesIO(prepared.data)) as img:  # our own JPEG or PNG, at most 1120 px a side
        shown = img.convert("RGB")
    draw = ImageDraw.Draw(shown)
    width, height = shown.size
    side = max(2, round(max(width, height) / 400))  # about 2 px where it is shown
    step = TILE / scale  # one tile, in the image's pixels

    def dashed(x0: float, y0: float, x1: float, y1: float) -> None:
        length = max(x1 - x0, y1 - y0)
        for k, start in enumerate(range(0, math.ceil(length), _DASH)):
            end = min(length, start + _DASH)
            colour = (255, 255, 255) if k % 2 == 0 else (0, 0, 0)
            if x0 == x1:
                draw.line([(x0, y0 + start), (x0, y0 + end)], fill=colour, width=side)
            else:
                draw.line([(x0 + start, y0), (x0 + end, y0)], fill=colour, width=side)

    for c in range(1, columns):
        if (x := c * step) < width:
            dashed(x, 0, x, height)
    for r in range(1, rows):
        if (y := r * step) < height:
            dashed(0, y, width, y)
    out = io.BytesIO()
    shown.save(out, "JPEG", quality=90)
    return out.getvalue()
