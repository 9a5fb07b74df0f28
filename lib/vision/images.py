"""Turn whatever a person uploads into one small, clean image for Llama 3.2 Vision.

``prepare_image(data)`` checks the bytes by content (not by file name), refuses what is not a photo with a
message a person understands (``ImageRejected``), and otherwise returns a ``PreparedImage``: right way up, RGB,
at most ``MAX_SIDE`` pixels on each side (the model never sees more than 4 tiles of 560 px), re-encoded as JPEG
(or PNG when that is smaller, e.g. screenshots), with every bit of metadata (EXIF, GPS, ICC, text) stripped.

Memory: a JPEG is decoded at reduced scale (libjpeg's draft mode); any other image is decoded once at full size
(Pillow cannot do less) and then flattened and box-reduced strip by strip, so no full-size copy is ever made (a
HEIC is read straight from libheif's buffer). An upload whose preparation would take more than ``MAX_DECODE_MB``,
estimated from its header, is refused before decoding (HEIC excepted: it is what phones shoot), and at most
``DECODE_SLOTS`` large decodes run at once (``prepare_image`` waits up to ``DECODE_WAIT_S`` for a slot, then
refuses politely).

``fit_inline(prepared, max_chars)`` re-encodes smaller for hosts that cap inline base64 (NVIDIA: ~180 000 chars).

Example::

    prepared = prepare_image(open("IMG_0001.HEIC", "rb").read(), "IMG_0001.HEIC")
    prepared.summary   # '4032×3024 HEIF, 2.3 MB → 1120×840 JPEG, 151 KB'
    prepared.data_url  # 'data:image/jpeg;base64,/9j/...'
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import io
import math
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable, Final, Iterator

from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from lib.i18n import DEFAULT, Msg, msg, text

try:  # HEIC/HEIF photos from phones.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED: Final[bool] = True
except ImportError:  # pragma: no cover - pillow-heif is in requirements.txt
    HEIF_SUPPORTED = False  # type: ignore[misc]

try:  # Colour management is optional: without it, ICC profiles are dropped instead of converted.
    from PIL import ImageCms

    _SRGB_PROFILE: ImageCms.ImageCmsProfile | None = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
except (ImportError, OSError):  # pragma: no cover - Pillow wheels ship LittleCMS
    ImageCms = None  # type: ignore[assignment]
    _SRGB_PROFILE = None

__all__ = [
    "DECODE_SLOTS",
    "DECODE_WAIT_S",
    "MAX_DECODE_MB",
    "MAX_PIXELS",
    "MAX_SIDE",
    "MAX_UPLOAD_MB",
    "ImageRejected",
    "PreparedImage",
    "fit_inline",
    "human_size",
    "prepare_image",
    "prepare_region",
]

MAX_UPLOAD_MB: int = 25
"""Largest file accepted, in MB of 1024×1024 bytes (Streamlit's server counts ``server.maxUploadSize`` so)."""
MAX_PIXELS: int = 80_000_000
"""Largest image accepted, width × height, checked from the header before any pixel is decoded."""
MAX_SIDE: int = 1120
"""Llama 3.2 Vision cuts images into 560-px tiles, at most 4: 1120×1120 is the most detail it ever sees."""

_MB: Final = 1024 * 1024
MAX_DECODE_MB: int = 128
"""Most memory (MiB) preparing one upload may take, estimated from the header before any pixel is decoded. Pillow
stores colour at 4 bytes a pixel, so this admits colour PNG/TIFF/BMP images up to about 23-27 megapixels (a 6K
6016×3384 screenshot needs ~112), WebP/AVIF (decoded twice over) up to about 13, palette and grey images and
baseline JPEGs (decoded at 1/2 to 1/8 scale) up to ``MAX_PIXELS``; not a 79-megapixel colour PNG (~340) or
an 8K 7680×4320 one (~155). HEIC photos, what phones shoot, are never refused for it (a 24 MP one takes ~140)."""
DECODE_SLOTS: Final = 2
"""Decodes estimated above ``_HEAVY_DECODE_BYTES`` (48 MiB) that may run at once, across all sessions."""
DECODE_WAIT_S: float = 30.0
"""How long ``prepare_image`` waits for a decode slot before refusing with "the server is busy"."""
_HEAVY_DECODE_BYTES: int = 48 * _MB  # a 2560×1440 RGBA screenshot (~42 MiB) or a 12 MP JPEG (~18) never waits
_decode_slots = threading.BoundedSemaphore(DECODE_SLOTS)
_STRIP_BYTES: Final = 2 * _MB  # flatten and reduce this much of a decoded image at a time
_REDUCING_GAP: Final = 2.0  # Image.thumbnail's default: box-reduce to at least 2× the target, then resample
_RESAMPLE: Final = Image.Resampling.BICUBIC  # thumbnail's default; LANCZOS differs by <1 level (43 dB), 1.5x slower
_RESIZE_BANDS: Final = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                 else os.cpu_count() or 1))  # the final resize runs in this many bands at once
_MIN_BAND_ROWS: Final = 64  # output rows a band must have to be worth a thread
# Idle until the first resize that needs it (a ThreadPoolExecutor starts its threads on demand).
_resize_pool: Final = ThreadPoolExecutor(max_workers=max(1, _RESIZE_BANDS - 1), thread_name_prefix="image-resize")
JPEG_QUALITY: Final = 85
_INLINE_QUALITIES: Final = (JPEG_QUALITY, 80, 75, 70)  # fit_inline: optimised JPEG, then lower qualities
# Formats a camera, phone or screenshot tool produces. Others Pillow knows (EPS runs Ghostscript, PSD, ICO, ...)
# are refused: less code touching untrusted bytes. MPO is what Pillow calls a multi-picture phone JPEG.
Image.init()  # register every plugin now, so the format list below can be checked against what is installed
_ACCEPTED_FORMATS: Final = tuple(
    fmt for fmt in ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF") if fmt in Image.OPEN
)
_LOSSLESS_FORMATS: Final = frozenset({"PNG", "GIF", "BMP", "TIFF"})
_FORMAT_NAMES: Final = {"MPO": "JPEG"}  # a multi-picture JPEG is a JPEG to the person who took it
# ISO-BMFF brands (bytes 8-12 after "ftyp") of HEIF/HEIC and AVIF files.
_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})


class ImageRejected(ValueError):
    """The upload cannot be used; ``str(error)`` is the English sentence to show the person who uploaded it,
    ``reason`` the same as a ``Msg`` (``photos.rejected.*``) to show in the page's language (``say(lang, reason)``)."""

    def __init__(self, reason: "Msg | str") -> None:
        super().__init__(str(reason))
        self.reason: Msg | str = reason


@dataclass(frozen=True)
class PreparedImage:
    """An image ready to send: ``data`` is the re-encoded file, the ``original_*`` fields describe the upload.

    ``data`` is all it holds of the picture: the upload itself is not kept, and ``data_url`` is built anew on each
    use (base64 is 4/3 of the bytes and takes about a millisecond to make for a 1120-px photo, so a page keeping
    a session's photo keeps it once; only a request holds its data URL, while it is sent)."""

    data: bytes
    mime_type: str
    width: int
    height: int
    original_width: int
    original_height: int
    original_bytes: int
    original_format: str
    note: str = ""
    """Anything else a person should know, appended to ``summary`` (e.g. shrunk for a host's inline limit)."""

    @property
    def base64_chars(self) -> int:
        """Length of the base64 part of ``data_url`` (what hosts that cap inline images count)."""
        return _base64_chars(len(self.data))

    @property
    def data_url(self) -> str:
        """The image as a ``data:`` URL, the form the chat API takes in ``image_url.url`` (made on each call, never
        kept)."""
        return f"data:{self.mime_type};base64,{base64.b64encode(self.data).decode('ascii')}"

    @property
    def resized(self) -> bool:
        """True when the image was made smaller (orientation changes alone do not count)."""
        return self.width * self.height < self.original_width * self.original_height

    @property
    def summary(self) -> str:
        """One line for people, e.g. ``'4032×3024 JPEG, 5.1 MB → 1120×840 JPEG, 148 KB'``."""
        kind = "PNG" if self.mime_type == "image/png" else "JPEG"
        before = f"{self.original_width}×{self.original_height} {self.original_format}, {human_size(self.original_bytes)}"
        after = f"{self.width}×{self.height} {kind}, {human_size(len(self.data))}"
        note = f" ({self.note})" if self.note else ""
        return f"{before} → {after}" + ("" if self.resized else " (not resized)") + note

    def summary_in(self, lang: str) -> str:
        """`summary` with its words in ``lang`` (the catalogue's ``vision.image.*``; numbers and formats as they
        are)."""
        if lang == DEFAULT:
            return self.summary
        english = self.summary
        note = f" ({self.note})" if self.note else ""
        line = english[: len(english) - len(note)] if note else english
        if not self.resized:
            line = line.removesuffix(" (not resized)") + " " + text(lang, "vision.image.not_resized")
        return line + (f" ({note_in(self.note, lang)})" if self.note else "")


_NOTES: Final = (  # the notes this module and lib.vision.crop write, and their catalogue keys
    (re.compile(r"shrunk to fit the host's inline limit of (?P<chars>[\d,]+) base64 characters"), "vision.image.shrunk"),
    (re.compile(r"just the (?P<width>\d+)×(?P<height>\d+) region, cut from the (?P<copy_width>\d+)×"
                r"(?P<copy_height>\d+) copy"), "vision.image.region_from_copy"),
    (re.compile(r"just the (?P<width>\d+)×(?P<height>\d+) region"), "vision.image.region"),
)


def note_in(note: str, lang: str) -> str:
    """A `PreparedImage.note` in ``lang`` (one this code wrote; any other as it is).

    >>> note_in("just the 640×420 region", "ko") != "just the 640×420 region"
    True
    """
    for pattern, key in _NOTES:
        found = pattern.fullmatch(note)
        if found:
            return text(lang, key, **found.groupdict())
    return note


def _base64_chars(n_bytes: int) -> int:
    return 4 * math.ceil(n_bytes / 3)


def human_size(n_bytes: int) -> str:
    """``512 B``, ``148 KB``, ``5.1 MB`` (units of 1024, as Streamlit's upload limit counts)."""
    if n_bytes < 1024:
        return f"{n_bytes} B"
    if n_bytes < _MB:
        return f"{max(1, round(n_bytes / 1024))} KB"
    return f"{n_bytes / _MB:.1f} MB"


def square_thumbnail(data: bytes, size: int = 240) -> bytes:
    """A centred square JPEG crop of a trusted image (the bundled samples), for an even gallery."""
    with Image.open(io.BytesIO(data)) as img:
        thumb = ImageOps.fit(ImageOps.exif_transpose(img).convert("RGB"), (size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=85)
    return out.getvalue()


def _arguments_checked(caller: str, data: object, max_side: int) -> bytes:
    """The upload as bytes, its size checked (ImageRejected); TypeError/ValueError for a caller's mistake."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{caller}() needs the file's bytes, not {type(data).__name__}")
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    data = bytes(data)
    _check_bytes(data)
    return data


def prepare_image(data: bytes, filename: str | None = None, *, max_side: int = MAX_SIDE) -> PreparedImage:
    """Validate, orient, flatten, shrink to fit ``max_side``×``max_side`` and re-encode an uploaded image.

    ``filename`` is only used to word a hint (e.g. a ``.heic`` file when HEIC support is missing); the content
    decides everything else. Whatever the bytes, the only exception is ``ImageRejected`` (a ``ValueError``).
    """
    data = _arguments_checked("prepare_image", data, max_side)
    try:
        return _prepare(data, filename, max_side)
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected(_too_many_pixels_message(_pixels_from_bomb_error(exc))) from exc
    except Exception as exc:  # Pillow plugins raise OSError, SyntaxError, ValueError, struct.error, ...
        raise ImageRejected(_decode_error_message(exc)) from exc


def fit_inline(prepared: PreparedImage, max_chars: int) -> PreparedImage:
    """``prepared`` itself when its data URL's base64 part has at most ``max_chars`` characters, else a smaller copy.

    Some hosts cap inline images (NVIDIA's vision models: about 180 000 base64 characters). The JPEG is re-encoded
    with optimised Huffman tables, then at lower qualities (80, 75, 70: text stays legible), then the image is shrunk at quality 70 to the largest size that
    fits (within ~1.5 %); a PNG stays PNG when that is still the smaller encoding. The copy's ``note`` (and so its
    ``summary``) says so. Raises ``ValueError`` when not even a 1×1 image fits.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    if prepared.base64_chars <= max_chars:
        return prepared
    with Image.open(io.BytesIO(prepared.data)) as img:  # our own output: a JPEG, or a PNG in RGB, L or P
        img.load()
        pixels = img.convert("RGB") if img.mode not in ("RGB", "L") else img.copy()
    lossless = prepared.mime_type == "image/png"
    note = f"shrunk to fit the host's inline limit of {max_chars:,} base64 characters"

    def result(encoded: bytes, mime_type: str, size: tuple[int, int]) -> PreparedImage:
        return replace(prepared, data=encoded, mime_type=mime_type, width=size[0], height=size[1], note=note)

    encoded = prepared.data
    for quality in _INLINE_QUALITIES:
        encoded, mime_type = _encode(pixels, lossless, quality, optimize=True)
        if _base64_chars(len(encoded)) <= max_chars:
            return result(encoded, mime_type, pixels.size)
    # Shrink at the lowest quality: bisect the longer side for the largest size that fits (to within ~1.5 %),
    # starting from a guess that bytes scale with the pixel count.
    width, height = pixels.size
    longest = max(width, height)
    fits_at, too_big_at = 0, longest  # longer side known to fit (0: none yet), known not to fit
    best: PreparedImage | None = None
    probe = int(longest * 0.95 * math.sqrt(max_chars / _base64_chars(len(encoded))))
    probe = max(1, min(longest - 1, probe))
    while fits_at < probe < too_big_at:
        size = max(1, round(width * probe / longest)), max(1, round(height * probe / longest))
        smaller = pixels.resize(size, Image.Resampling.LANCZOS)
        encoded, mime_type = _encode(smaller, lossless, _INLINE_QUALITIES[-1], optimize=True)
        if _base64_chars(len(encoded)) <= max_chars:
            fits_at, best = probe, result(encoded, mime_type, size)
        else:
            too_big_at = probe
        if too_big_at - fits_at <= max(1, longest // 64) and best is not None:
            break
        probe = max(1, (fits_at + too_big_at) // 2)
    if best is not None:
        return best
    raise ValueError(f"not even a 1×1 image fits in {max_chars} base64 characters")


def prepare_region(
    data: bytes, box: tuple[int, int, int, int], filename: str | None = None, *, max_side: int = MAX_SIDE
) -> PreparedImage:
    """``prepare_image`` for one region of an upload, so a small part of a large photo is sent at full resolution.

    ``box`` is ``(left, top, right, bottom)`` in pixels of the picture right way up (as ``prepare_image`` shows it,
    whatever its EXIF orientation), clamped to the picture. The region is decoded from ``data`` itself (a JPEG at
    reduced scale when the region is larger than ``max_side``), then oriented, flattened, shrunk to fit
    ``max_side``×``max_side`` and re-encoded as ``prepare_image`` does, with the same checks, memory estimate and
    decode slots; the result's ``original_*`` fields describe the whole upload and its ``note`` the region.
    Raises ``ImageRejected`` for what ``prepare_image`` refuses and for a box with no pixels inside the picture.

    >>> prepare_region(photo, (1200, 300, 1840, 720)).summary  # doctest: +SKIP
    '4032×3024 JPEG, 3.1 MB → 640×420 JPEG, 61 KB (just the 640×420 region)'
    """
    data = _arguments_checked("prepare_region", data, max_side)
    try:
        return _prepare_region(data, box, filename, max_side)
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected(_too_many_pixels_message(_pixels_from_bomb_error(exc))) from exc
    except Exception as exc:  # as prepare_image: any decoder failure becomes a sentence
        raise ImageRejected(_decode_error_message(exc)) from exc


_SWAPS_SIDES: Final = frozenset({Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270, Image.Transpose.TRANSPOSE,
                                 Image.Transpose.TRANSVERSE})


def _stored_box(box: tuple[float, float, float, float], stored: tuple[int, int],
                transpose: Image.Transpose | None) -> tuple[float, float, float, float]:
    """``box`` (left, top, right, bottom) on the picture right way up, as a box on the picture as stored (before
    ``transpose``, which turns the stored picture right way up, as ``_TRANSPOSE`` says)."""
    w, h = stored
    unturn: dict[Image.Transpose | None, Callable[[float, float], tuple[float, float]]] = {
        None: lambda x, y: (x, y),
        Image.Transpose.FLIP_LEFT_RIGHT: lambda x, y: (w - x, y),
        Image.Transpose.FLIP_TOP_BOTTOM: lambda x, y: (x, h - y),
        Image.Transpose.ROTATE_180: lambda x, y: (w - x, h - y),
        Image.Transpose.ROTATE_90: lambda x, y: (w - y, x),  # counter-clockwise: shown (x, y) was stored (w-y, x)
        Image.Transpose.ROTATE_270: lambda x, y: (y, h - x),
        Image.Transpose.TRANSPOSE: lambda x, y: (y, x),
        Image.Transpose.TRANSVERSE: lambda x, y: (w - y, h - x),
    }
    left, top, right, bottom = box
    (x0, y0), (x1, y1) = unturn[transpose](left, top), unturn[transpose](right, bottom)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _prepare_region(data: bytes, box: tuple[int, int, int, int], filename: str | None, max_side: int
                    ) -> PreparedImage:
    with _open_checked(data, filename) as img:
        width, height = img.size
        original_format = _FORMAT_NAMES.get(img.format or "", img.format or "unknown")
        lossless = img.format in _LOSSLESS_FORMATS
        turn = _orientation(img)
        shown = (height, width) if turn in _SWAPS_SIDES else (width, height)
        left, top = max(0, int(box[0])), max(0, int(box[1]))
        right, bottom = min(shown[0], int(box[2])), min(shown[1], int(box[3]))
        if right <= left or bottom <= top:
            raise ImageRejected(msg("photos.rejected.region_outside"))
        region = (right - left, bottom - top)
        target = _fit(region, max_side)  # the region as sent, right way up
        s_left, s_top, s_right, s_bottom = _stored_box((left, top, right, bottom), (width, height), turn)
        s_target = (target[1], target[0]) if turn in _SWAPS_SIDES else target
        # The whole picture at the scale the region is sent at: what the decoder may reduce the picture to.
        whole = (max(1, min(width, math.ceil(width * s_target[0] / (s_right - s_left)))),
                 max(1, min(height, math.ceil(height * s_target[1] / (s_bottom - s_top)))))
        if img.format in ("JPEG", "MPO") and whole != (width, height):
            img.draft("RGB", whole)
        need = _decode_bytes(img, (width, height), whole)
        if need > MAX_DECODE_MB * _MB and img.format != "HEIF":
            raise ImageRejected(_too_much_memory_message(img, (width, height), need))
        with _decode_slot(need):
            reduced, cover, _whole, transpose, icc = _decode_reduced(img, data, whole)
            # `cover` is the whole stored picture in `reduced`'s pixels: the region, scaled alike.
            sx, sy = cover[2] / width, cover[3] / height
            area = (s_left * sx, s_top * sy, s_right * sx, s_bottom * sy)
            if s_target == (s_right - s_left, s_bottom - s_top) and (sx, sy) == (1.0, 1.0):
                out = reduced.crop(tuple(round(v) for v in (s_left, s_top, s_right, s_bottom)))  # as stored
            else:
                out = _resize(reduced, s_target, area)
            del reduced
    if transpose is not None:
        out = out.transpose(transpose)
    out = _to_srgb(out, icc)
    out.info = {}  # as prepare_image: nothing but pixels leaves the machine
    encoded, mime_type = _encode(out, lossless)
    return PreparedImage(
        data=encoded, mime_type=mime_type, width=out.width, height=out.height, original_width=width,
        original_height=height, original_bytes=len(data), original_format=original_format,
        note=f"just the {region[0]}×{region[1]} region",
    )


# --- validation ---------------------------------------------------------------------------------------------------


def _check_bytes(data: bytes) -> None:
    """Refuse what can be told from the bytes alone: empty, too big, PDF, SVG, HTML or plain text."""
    if not data:
        raise ImageRejected(msg("photos.rejected.empty"))
    if len(data) > MAX_UPLOAD_MB * _MB:
        size_mb = math.ceil(len(data) / _MB * 10) / 10
        raise ImageRejected(msg("photos.rejected.file_too_large", size=f"{size_mb:.1f}", limit=MAX_UPLOAD_MB))
    if data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"%PDF"):
        raise ImageRejected(msg("photos.rejected.pdf"))
    kind = _sniff_text(data[:4096])
    if kind in ("svg", "html", "text"):
        raise ImageRejected(msg(f"photos.rejected.{kind}"))


def _sniff_text(head: bytes) -> str | None:
    """``'svg'``, ``'html'`` or ``'text'`` when the first bytes are text of that kind, else None."""
    text = _decode_text(head)
    if text is None:
        return None
    start = text.lstrip().lower()
    if start.startswith("<"):
        if "<svg" in start:
            return "svg"
        if "<html" in start or "<!doctype html" in start:
            return "html"
    return "text"


def _decode_text(head: bytes) -> str | None:
    """The bytes as text if they look like a text file (UTF-8/16, no control characters), else None."""
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            head = head[len(bom) : len(head) - (len(head) - len(bom)) % 2]
            return codecs.decode(head, encoding, errors="replace")
    if b"\x00" in head:
        return None
    try:  # incremental: a multi-byte character cut at the end of the sample is fine
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    if any(ord(ch) < 32 and ch not in "\t\n\r\f\v\x1b" for ch in text):
        return None
    return text


def _iso_brand(data: bytes) -> bytes | None:
    """The major brand of an ISO-BMFF file (HEIC, AVIF, MP4), or None."""
    return data[8:12] if data[4:8] == b"ftyp" else None


def _unreadable_message(data: bytes, filename: str | None) -> Msg:
    """Why Pillow could not identify these bytes, as specifically as can be told."""
    brand = _iso_brand(data)
    suffix = (filename or "").lower().rsplit(".", 1)[-1] if filename and "." in filename else ""
    if brand in _HEIF_BRANDS or (brand is None and suffix in ("heic", "heif")):
        if not HEIF_SUPPORTED:
            return msg("photos.rejected.heic_package")
        if brand is not None:
            return msg("photos.rejected.heic_damaged")
    if brand in _AVIF_BRANDS or (brand is None and suffix == "avif"):
        if "AVIF" not in _ACCEPTED_FORMATS:
            return msg("photos.rejected.avif_unsupported")
        if brand is not None:
            return msg("photos.rejected.avif_damaged")
    return msg("photos.rejected.unreadable")


_TRUNCATION_HINTS: Final = ("truncated", "end of file", "unexpected end", "premature end", "ends early")


def _decode_error_message(exc: BaseException) -> Msg:
    """A sentence for a decoder failure: truncation when the error says so, else damage."""
    if isinstance(exc, MemoryError):
        return msg("photos.rejected.memory")
    if isinstance(exc, EOFError) or any(hint in str(exc).lower() for hint in _TRUNCATION_HINTS):
        return msg("photos.rejected.truncated")
    return msg("photos.rejected.damaged")


def _too_many_pixels_message(pixels: int | None) -> Msg:
    limit = MAX_PIXELS // 1_000_000
    if pixels is None:
        return msg("photos.rejected.too_many_pixels", limit=limit)
    return msg("photos.rejected.too_many_pixels_counted", pixels=f"{math.ceil(pixels / 1_000_000):,}", limit=limit)


def _pixels_from_bomb_error(exc: Exception) -> int | None:
    match = re.search(r"\((\d+) pixels\)", str(exc))
    return int(match.group(1)) if match else None


# --- decoding and normalising -------------------------------------------------------------------------------------


def _open_checked(data: bytes, filename: str | None) -> Image.Image:
    """The upload opened lazily (its header only) in an accepted format, with a size that may be decoded."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # another module flipped Pillow's global switch: truncation would pass
        raise ImageRejected(msg("photos.rejected.check_off"))
    try:
        img = Image.open(io.BytesIO(data), formats=_ACCEPTED_FORMATS)  # lazy: reads the header only
    except UnidentifiedImageError as exc:
        raise ImageRejected(_unreadable_message(data, filename)) from exc
    width, height = img.size
    if width < 1 or height < 1:
        img.close()
        raise ImageRejected(msg("photos.rejected.no_pixels"))
    if width * height > MAX_PIXELS:
        img.close()
        raise ImageRejected(_too_many_pixels_message(width * height))
    return img


def _prepare(data: bytes, filename: str | None, max_side: int) -> PreparedImage:
    with _open_checked(data, filename) as img:
        width, height = img.size
        original_format = _FORMAT_NAMES.get(img.format or "", img.format or "unknown")
        lossless = img.format in _LOSSLESS_FORMATS
        target = _fit((width, height), max_side)
        if img.format in ("JPEG", "MPO") and target != (width, height):
            img.draft("RGB", target)  # decode at 1/2, 1/4 or 1/8 scale, never below the target size
        need = _decode_bytes(img, (width, height), target)
        if need > MAX_DECODE_MB * _MB and img.format != "HEIF":  # HEIC is what phones shoot: always prepared
            raise ImageRejected(_too_much_memory_message(img, (width, height), need))
        with _decode_slot(need):
            # Only the decoded pixels, flattened and box-reduced, leave this call: the full-size image is freed
            # before the slot is.
            reduced, box, target, transpose, icc = _decode_reduced(img, data, target)
    if reduced.size == target and box == (0, 0, *target):
        out = reduced
    else:
        out = _resize(reduced, target, box)
    del reduced
    if transpose is not None:
        out = out.transpose(transpose)
    out = _to_srgb(out, icc)
    out.info = {}  # drop EXIF, GPS, XMP, ICC, comments: nothing but pixels leaves the machine
    encoded, mime_type = _encode(out, lossless)
    return PreparedImage(
        data=encoded,
        mime_type=mime_type,
        width=out.width,
        height=out.height,
        original_width=width,
        original_height=height,
        original_bytes=len(data),
        original_format=original_format,
    )


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The size ``Image.thumbnail`` produces for a ``max_side`` square box (never larger than ``size``)."""
    width, height = size
    if width <= max_side and height <= max_side:
        return width, height
    aspect = width / height

    def round_aspect(number: float, key: Callable[[int], float]) -> int:  # as Pillow's thumbnail rounds
        return max(min(math.floor(number), math.ceil(number), key=key), 1)

    if aspect <= 1:
        return round_aspect(max_side * aspect, key=lambda n: abs(aspect - n / max_side)), max_side
    return max_side, round_aspect(max_side / aspect, key=lambda n: 0 if n == 0 else abs(aspect - max_side / n))


def _resize(img: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]) -> Image.Image:
    """``img.resize(size, _RESAMPLE, box=box)``, in horizontal bands resized at once on several threads.

    Pillow lets go of the GIL while it resamples, and a band's box reads the source rows beyond its edges that the
    filter needs, so bands join without a seam. Pillow may pick the other order of its two passes (across, down)
    for a band than for the whole, which changes the 8-bit rounding between them: the result is the same bicubic
    resample to within a few levels on pure noise, and invisibly on photos and screenshots (over 50 dB). On 2
    cores the resize, about half of a screenshot's preparation, takes about half the time.
    """
    width, height = size
    bands = min(_RESIZE_BANDS, height // _MIN_BAND_ROWS)
    if bands < 2:
        return img.resize(size, _RESAMPLE, box=box)
    left, top, right, bottom = box
    scale = (bottom - top) / height
    cuts = [height * k // bands for k in range(bands + 1)]

    def band(k: int) -> Image.Image:
        return img.resize((width, cuts[k + 1] - cuts[k]), _RESAMPLE,
                          box=(left, top + cuts[k] * scale, right, top + cuts[k + 1] * scale))

    others = [_resize_pool.submit(band, k) for k in range(1, bands)]
    parts = [band(0)] + [future.result() for future in others]
    out = Image.new(img.mode, size)
    for k, part in enumerate(parts):
        out.paste(part, (0, cuts[k]))
    return out


# --- memory: estimate, refuse, take turns ---------------------------------------------------------------------------


def _bytes_per_pixel(mode: str) -> int:
    """How Pillow stores a pixel of ``mode``: 1 byte for 1/L/P, 2 for I;16, else 4 (RGB too: it is padded)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


_DOUBLE_BUFFERED: Final = frozenset({"WEBP", "AVIF"})  # the codec fills its own full-size buffer first
_HEIF_CODEC_BYTES: Final = 3  # libheif's peak beyond the RGB(A) it returns: YCbCr planes, decoder frames (measured)


def _reduce_factors(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """Whole factors that box-reduce ``size`` to no less than twice ``target`` (as ``Image.thumbnail`` does)."""
    return int(size[0] / target[0] / _REDUCING_GAP) or 1, int(size[1] / target[1] / _REDUCING_GAP) or 1


def _decode_bytes(img: Image.Image, original: tuple[int, int], target: tuple[int, int]) -> int:
    """Estimated peak memory of preparing ``img`` (after any ``draft``), in bytes: the decoded image, the codec's
    own buffers, the box-reduced copy, a few strips in flight and the final resize's intermediate image."""
    width, height = img.size
    pixels = width * height
    if img.format == "HEIF":
        need = pixels * (len(img.getbands()) + _HEIF_CODEC_BYTES)
    else:
        need = pixels * _bytes_per_pixel(img.mode)
    if img.format in _DOUBLE_BUFFERED:
        need *= 2
    elif img.format in ("JPEG", "MPO") and img.info.get("progressive"):
        # libjpeg keeps every DCT coefficient of a progressive JPEG (2 bytes a sample), whatever the draft scale.
        layers = getattr(img, "layer", None) or [(0, 1, 1, 0)] * len(img.getbands())
        h_max = max(layer[1] for layer in layers) or 1
        v_max = max(layer[2] for layer in layers) or 1
        samples = sum(layer[1] * layer[2] for layer in layers) / (h_max * v_max)
        need += int(original[0] * original[1] * samples * 2)
    factor_x, factor_y = _reduce_factors((width, height), target)
    reduced_height = math.ceil(height / factor_y)
    if (factor_x, factor_y) != (1, 1) or img.mode not in ("RGB", "L", "CMYK") or img.format == "HEIF":
        need += math.ceil(width / factor_x) * reduced_height * 4 + 4 * _STRIP_BYTES
    return need + target[0] * reduced_height * 4  # resize goes across first: an image target wide, full height


def _too_much_memory_message(img: Image.Image, original: tuple[int, int], need: int) -> Msg:
    megapixels = math.ceil(original[0] * original[1] / 1_000_000)
    fmt: Msg | str = _FORMAT_NAMES.get(img.format or "", img.format or "") or msg("photos.rejected.an_image")
    if fmt == "JPEG":  # only a progressive JPEG gets here: its decoder keeps the whole image
        fmt, advice = msg("photos.rejected.progressive_jpeg"), msg("photos.rejected.advice_baseline")
    else:
        advice = msg("photos.rejected.advice_jpeg")
    return msg("photos.rejected.too_much_memory", megapixels=megapixels, format=fmt, mb=math.ceil(need / _MB),
               limit=MAX_DECODE_MB, advice=advice)


@contextlib.contextmanager
def _decode_slot(need: int) -> Iterator[None]:
    """Hold one of ``DECODE_SLOTS`` while a large image is decoded; small ones never wait."""
    if need <= _HEAVY_DECODE_BYTES:
        yield
        return
    if not _decode_slots.acquire(timeout=DECODE_WAIT_S):
        raise ImageRejected(msg("photos.rejected.busy"))
    try:
        yield
    finally:
        _decode_slots.release()


# --- decoding, strip by strip ---------------------------------------------------------------------------------------

_TRANSPOSE: Final = {  # EXIF orientation → the transposition that shows the photo right way up (as exif_transpose)
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _decode_reduced(
    img: Image.Image, data: bytes, target: tuple[int, int]
) -> tuple[Image.Image, tuple[float, float, float, float], tuple[int, int], Image.Transpose | None, bytes | None]:
    """Decode ``img`` and return it flattened (8-bit RGB, L or CMYK) and box-reduced by whole factors to no less
    than twice ``target`` (what ``Image.thumbnail`` does first), the box of the result that covers the original
    and the size to resize that box to (for the final resize), the transposition its EXIF orientation asks
    for, and its ICC profile.

    The full-size image is decoded once and never copied: strips of it are flattened and reduced one at a time.
    A HEIF photo is read straight from libheif's buffer, without Pillow's 4-bytes-a-pixel copy of it.
    """
    try:
        if img.format == "HEIF":
            width, height, strip_of = _heif_strips(data)
        else:
            img.load()  # first frame only for animations and multi-page files
            width, height = img.size
            strip_of = lambda top, bottom: img.crop((0, top, width, bottom))  # noqa: E731
    except ImageRejected:
        raise
    except Exception as exc:
        raise ImageRejected(_decode_error_message(exc)) from exc
    if (width, height) != img.size:  # libheif may crop or rotate while decoding: keep the aspect it decoded
        target = _fit((width, height), max(target))
    icc = img.info.get("icc_profile")
    transpose = _orientation(img)
    factor_x, factor_y = _reduce_factors((width, height), target)
    box = (0.0, 0.0, width / factor_x, height / factor_y)
    if img.format != "HEIF" and (factor_x, factor_y) == (1, 1) and img.mode in ("RGB", "L", "CMYK"):
        if "transparency" not in img.info:
            return img, box, target, transpose, icc  # nothing to flatten or reduce: no copy at all
    flatten = _flattener(img)
    rows = max(1, _STRIP_BYTES // (width * 4) // factor_y) * factor_y
    reduced: Image.Image | None = None
    for top in range(0, height, rows):
        strip = flatten(strip_of(top, min(height, top + rows)))
        if (factor_x, factor_y) != (1, 1):
            strip = strip.reduce((factor_x, factor_y))
        if reduced is None:
            reduced = Image.new(strip.mode, (math.ceil(width / factor_x), math.ceil(height / factor_y)))
        reduced.paste(strip, (0, top // factor_y))
    assert reduced is not None  # height >= 1
    return reduced, box, target, transpose, icc


def _heif_strips(data: bytes) -> tuple[int, int, Callable[[int, int], Image.Image]]:
    """Decode the primary image of a HEIF file with libheif (which applies its rotation and mirroring itself, as
    Pillow's plugin does) and return its size and a function making a Pillow image of rows ``top:bottom``."""
    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    frame = heif[heif.primary_index]
    buffer, stride = frame.data, frame.stride  # decodes
    (width, height), mode = frame.size, frame.mode  # read after decoding: libheif may change them

    def strip_of(top: int, bottom: int) -> Image.Image:
        rows = buffer[top * stride : bottom * stride]
        return Image.frombuffer(mode, (width, bottom - top), rows, "raw", mode, stride, 1)

    return width, height, strip_of


def _orientation(img: Image.Image) -> Image.Transpose | None:
    """The transposition the EXIF (or XMP) orientation asks for; None when there is none or it is unreadable."""
    try:
        return _TRANSPOSE.get(img.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:  # unreadable EXIF must not cost the photo: send it as stored
        return None


def _flattener(img: Image.Image) -> Callable[[Image.Image], Image.Image]:
    """A function flattening strips of ``img`` alike (a 32-bit image is scaled by the whole image's range)."""
    extrema = img.getextrema() if img.mode in ("I", "F") else None
    return lambda strip: _flatten(strip, extrema)


def _flatten(img: Image.Image, extrema: tuple[float, float] | None = None) -> Image.Image:
    """8-bit RGB, L or CMYK (ICC conversion happens later); transparency composited on white.

    ``extrema`` is the (low, high) of the whole image when ``img`` is a strip of a 32-bit ("I" or "F") one.
    """
    mode = img.mode
    if mode.startswith("I;16"):
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L")  # 16-bit → 8-bit, scaled not clipped
    if mode in ("I", "F"):
        low, high = extrema if extrema is not None else img.getextrema()  # type: ignore[misc]
        if mode == "F" and high <= 1.0:
            factor = 255.0
        elif high <= 255:
            factor = 1.0
        elif high <= 65535:
            factor = 1 / 256
        else:
            factor = 255 / high
        return img.point(lambda v: v * factor).convert("L") if factor != 1.0 else img.convert("L")
    if mode in ("P", "PA", "LA", "La", "RGBa", "RGBA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("RGB", "L", "CMYK"):
        return img
    return img.convert("RGB")  # 1, YCbCr, HSV, LAB, ...


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB in sRGB: convert through the embedded ICC profile when there is one, else plainly."""
    if icc and ImageCms is not None and _SRGB_PROFILE is not None:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(img, source, _SRGB_PROFILE, outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a broken or mismatched profile: fall back to a plain conversion
    return img if img.mode == "RGB" else img.convert("RGB")


def _encode(
    img: Image.Image, lossless_source: bool, quality: int = JPEG_QUALITY, *, optimize: bool = False
) -> tuple[bytes, str]:
    """JPEG (quality 85, 4:4:4 so text stays sharp), or PNG when that is smaller (screenshots, diagrams).

    ``optimize`` (Huffman tables fitted to the image) saves ~6 % of the JPEG's bytes for 3-5x its encoding time:
    ``fit_inline`` uses it, where bytes are what counts; ``prepare_image`` does not, where time is. The JPEG is
    baseline: progressive would save ~5 % more for another 3x, and nothing here displays it progressively.
    """
    jpeg = io.BytesIO()
    try:
        img.save(jpeg, "JPEG", quality=quality, optimize=optimize, subsampling=0)
    except OSError:
        # Pillow gives an optimised JPEG a buffer of one byte a pixel; very fine detail at 4:4:4 can need more
        # ("broken data stream"). Without optimize the JPEG is written in pieces, so it has no such limit.
        jpeg = io.BytesIO()
        img.save(jpeg, "JPEG", quality=quality, subsampling=0)
    best, best_type = jpeg.getvalue(), "image/jpeg"
    candidate: Image.Image | None = None
    colors = img.getcolors(256)
    if colors is not None:  # few colours: an exact palette image, typically tiny
        # quantize(palette=...) is not exact (Pillow's lookup cache merges colours 4 levels apart): with at most
        # 256 colours MAXCOVERAGE keeps every one, and the result is checked before it is trusted.
        quantized = img.quantize(colors=len(colors), method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE)
        if quantized.convert(img.mode).tobytes() == img.tobytes():
            candidate = quantized
    if candidate is None and lossless_source and _png_estimate(img) < len(best) * _PNG_TRY_MARGIN:
        candidate = img
    if candidate is not None:
        png = io.BytesIO()
        candidate.save(png, "PNG", optimize=candidate.mode == "P")
        if len(png.getvalue()) < len(best):
            best, best_type = png.getvalue(), "image/png"
    return best, best_type


_PNG_TRY_MARGIN: Final = 1.25  # encode the whole PNG only when the estimate is within 25 % of the JPEG or below
_PNG_SAMPLE_ROWS: Final = 16  # the estimate encodes bands this tall ...
_PNG_SAMPLE_EVERY: Final = 16  # ... one in this many


def _png_estimate(img: Image.Image) -> int:
    """The PNG size of ``img`` predicted from one band of rows in sixteen (PNG filters work row by row, so a band
    compresses about as it would in place): within ~10 %, for a sixteenth of the encoding time."""
    width, height = img.size
    step = _PNG_SAMPLE_ROWS * _PNG_SAMPLE_EVERY
    if height < 2 * step:
        return 0  # small: just encode it
    bands = [img.crop((0, top, width, min(height, top + _PNG_SAMPLE_ROWS))) for top in range(0, height, step)]
    sample = Image.new(img.mode, (width, sum(band.height for band in bands)))
    for i, band in enumerate(bands):
        sample.paste(band, (0, i * _PNG_SAMPLE_ROWS))
    png = io.BytesIO()
    sample.save(png, "PNG")
    return len(png.getvalue()) * height // sample.height
