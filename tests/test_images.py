"""lib.vision.images.prepare_image on a corpus generated here: what a person uploads, and what must be refused."""

from __future__ import annotations

import base64
import io
import struct
import threading
import time
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageDraw, ImageFile, ImageFont, ImageStat
from PIL.JpegImagePlugin import JpegImageFile

from lib.vision import images
from lib.vision.images import MAX_SIDE, MAX_UPLOAD_MB, ImageRejected, PreparedImage, fit_inline, prepare_image

RED, BLUE, GREEN, WHITE = (255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 255)


# --- corpus builders ----------------------------------------------------------------------------------------------


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def decoded(prepared: PreparedImage) -> Image.Image:
    """The prepared image as the model will see it."""
    img = Image.open(io.BytesIO(prepared.data))
    img.load()
    return img


def close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected))


def pixel(prepared: PreparedImage, fx: float, fy: float) -> tuple[int, ...]:
    """RGB at a fraction of the width/height of the prepared image."""
    img = decoded(prepared).convert("RGB")
    return img.getpixel((min(img.width - 1, int(img.width * fx)), min(img.height - 1, int(img.height * fy))))


def half_red_half_blue(size: tuple[int, int] = (200, 100)) -> Image.Image:
    """Top half red, bottom half blue."""
    img = Image.new("RGB", size, RED)
    img.paste(BLUE, (0, size[1] // 2, size[0], size[1]))
    return img


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_bomb(width: int, height: int, colour_type: int = 2) -> bytes:
    """A valid-looking PNG header declaring huge dimensions, with almost no data (colour type 2 RGB, 0 grey)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


def gif_bomb(width: int, height: int) -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x4c\x01\x00"
    return b"GIF89a" + screen + frame + b";"


def screenshot() -> Image.Image:
    """Dark text on white with a coloured button: what a screenshot of an app looks like."""
    img = Image.new("RGB", (900, 500), WHITE)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=16)
    for y in range(10, 420, 22):
        draw.text((12, y), "Error 404: the page you asked for is not here. Try again later.", fill=(20, 20, 20), font=font)
    draw.rectangle((650, 430, 880, 480), fill=(30, 120, 220))
    draw.text((700, 445), "Retry", fill=WHITE, font=font)
    return img


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    """A 12 MP (4000×3000) camera-sized JPEG with content in every corner."""
    texture = Image.effect_noise((400, 300), 60).convert("RGB").resize((4000, 3000), Image.Resampling.BILINEAR)
    img = Image.blend(Image.new("RGB", (4000, 3000), (90, 140, 200)), texture, 0.5)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 1999, 1499), fill=RED)
    draw.rectangle((2000, 1500, 3999, 2999), fill=GREEN)
    return encode(img, "JPEG", quality=90)


# --- what a person uploads: normalised --------------------------------------------------------------------------


def test_12mp_jpeg_fits_the_four_tiles_and_keeps_its_aspect(big_jpeg: bytes) -> None:
    prepared = prepare_image(big_jpeg, "IMG_1234.JPG")
    assert (prepared.width, prepared.height) == (1120, 840)
    assert decoded(prepared).size == (1120, 840)
    assert prepared.mime_type == "image/jpeg" and prepared.data[:3] == b"\xff\xd8\xff"
    assert (prepared.original_width, prepared.original_height) == (4000, 3000)
    assert prepared.original_bytes == len(big_jpeg) and prepared.original_format == "JPEG"
    assert close(pixel(prepared, 0.1, 0.1), RED) and close(pixel(prepared, 0.9, 0.9), GREEN)
    assert len(prepared.data) < len(big_jpeg)


def test_12mp_jpeg_is_decoded_at_reduced_scale_and_fast(big_jpeg: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    requested: list[tuple[int, int] | None] = []
    original_draft = JpegImageFile.draft

    def spy(self: JpegImageFile, mode: str | None, size: tuple[int, int] | None):  # type: ignore[no-untyped-def]
        requested.append(size)
        return original_draft(self, mode, size)

    monkeypatch.setattr(JpegImageFile, "draft", spy)
    started = time.perf_counter()
    prepared = prepare_image(big_jpeg)
    elapsed = time.perf_counter() - started
    assert requested and requested[0] is not None and max(requested[0]) <= MAX_SIDE
    assert (prepared.width, prepared.height) == (1120, 840)
    assert elapsed < 2.0, f"a 12 MP JPEG took {elapsed:.2f} s"


def test_max_side_is_respected_for_the_low_detail_level(big_jpeg: bytes) -> None:
    prepared = prepare_image(big_jpeg, max_side=560)
    assert (prepared.width, prepared.height) == (560, 420)


def test_portrait_photo_fits_by_its_height() -> None:
    prepared = prepare_image(encode(Image.new("RGB", (1500, 3000), (10, 100, 10)), "JPEG"))
    assert (prepared.width, prepared.height) == (560, 1120)


def test_exif_orientation_6_is_applied_so_the_photo_is_right_way_up() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # "rotate 90° clockwise to view": stored top is shown on the right
    data = encode(half_red_half_blue((200, 100)), "JPEG", exif=exif, quality=95)
    prepared = prepare_image(data)
    assert (prepared.width, prepared.height) == (100, 200)
    assert close(pixel(prepared, 0.85, 0.5), RED), "stored top (red) must end up on the right"
    assert close(pixel(prepared, 0.15, 0.5), BLUE)
    assert decoded(prepared).getexif().get(ExifTags.Base.Orientation) is None  # no tag left to rotate it twice


def test_photo_whose_exif_cannot_be_read_is_still_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise SyntaxError("not a TIFF file")

    monkeypatch.setattr(Image.Image, "getexif", broken)
    prepared = prepare_image(encode(half_red_half_blue((200, 100)), "JPEG"))
    assert (prepared.width, prepared.height) == (200, 100) and close(pixel(prepared, 0.5, 0.2), RED)


def test_gps_and_all_other_metadata_never_leave_the_machine() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (59.0, 19.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (18.0, 4.0, 5.0)
    img = Image.effect_noise((640, 480), 40).convert("RGB")
    data = encode(img, "JPEG", exif=exif, comment=b"taken at home")
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the input really has GPS
    out = decoded(prepare_image(data))
    assert not out.getexif()
    assert not {"exif", "icc_profile", "xmp", "comment"} & set(out.info)
    assert b"Exif" not in out.tobytes() and b"PhoneMaker" not in prepare_image(data).data


def test_png_text_and_icc_metadata_are_dropped_too() -> None:
    from PIL import ImageCms, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe, 12 Secret Street")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    prepared = prepare_image(encode(screenshot(), "PNG", pnginfo=info, icc_profile=icc))
    out = decoded(prepared)
    assert b"Secret Street" not in prepared.data
    assert "icc_profile" not in out.info and "Author" not in out.info


def test_cmyk_jpeg_becomes_rgb_with_the_right_colour() -> None:
    data = encode(Image.new("CMYK", (300, 200), (0, 255, 255, 0)), "JPEG", quality=95)  # CMYK red
    prepared = prepare_image(data)
    out = decoded(prepared)
    assert out.mode in ("RGB", "P") and close(out.convert("RGB").getpixel((150, 100)), RED, 20)


def test_16_bit_png_is_scaled_to_8_bits_not_clipped_to_white() -> None:
    data = encode(Image.new("I;16", (256, 64), 32768), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    assert close(pixel(prepare_image(data), 0.5, 0.5), (128, 128, 128), 2)
    gradient = encode(Image.linear_gradient("L").rotate(90).resize((256, 64)).convert("I").point(lambda v: v * 257).convert("I;16"), "PNG")
    out = prepare_image(gradient)
    dark, bright = pixel(out, 0.02, 0.5), pixel(out, 0.98, 0.5)
    assert max(dark) < 40 and min(bright) > 215, (dark, bright)


def test_palette_png_transparency_becomes_white() -> None:
    img = Image.new("P", (100, 100), 1)
    img.putpalette([0, 0, 0] + list(RED) + [0, 0, 0] * 254)
    img.paste(0, (0, 0, 50, 100))  # left half: index 0, transparent
    prepared = prepare_image(encode(img, "PNG", transparency=0))
    assert close(pixel(prepared, 0.2, 0.5), WHITE, 0) and close(pixel(prepared, 0.8, 0.5), RED, 0)


def test_rgba_png_transparent_pixels_become_white_not_black() -> None:
    img = Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    img.paste((0, 0, 255, 255), (60, 0, 120, 80))
    prepared = prepare_image(encode(img, "PNG"))
    assert close(pixel(prepared, 0.2, 0.5), WHITE, 0) and close(pixel(prepared, 0.8, 0.5), BLUE, 0)


def test_rgb_png_with_a_transparent_colour_key_shows_white_there() -> None:
    img = Image.new("RGB", (60, 40), (10, 20, 30))
    img.paste(RED, (30, 0, 60, 40))
    prepared = prepare_image(encode(img, "PNG", transparency=(10, 20, 30)))
    assert close(pixel(prepared, 0.2, 0.5), WHITE, 0) and close(pixel(prepared, 0.8, 0.5), RED, 0)


def test_grey_with_alpha_is_composited_on_white() -> None:
    img = Image.new("LA", (64, 64), (0, 0))
    img.paste((0, 255), (32, 0, 64, 64))
    prepared = prepare_image(encode(img, "PNG"))
    assert close(pixel(prepared, 0.2, 0.5), WHITE, 0) and close(pixel(prepared, 0.8, 0.5), (0, 0, 0), 0)


def test_animated_gif_sends_its_first_frame() -> None:
    frames = [Image.new("RGB", (80, 60), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    prepared = prepare_image(data)
    assert close(pixel(prepared, 0.5, 0.5), RED, 0) and (prepared.width, prepared.height) == (80, 60)
    assert prepared.original_format == "GIF"


@pytest.mark.parametrize(
    ("fmt", "params", "expected_format"),
    [
        ("WEBP", {"quality": 90}, "WEBP"),
        ("WEBP", {"lossless": True}, "WEBP"),
        ("BMP", {}, "BMP"),
        ("TIFF", {}, "TIFF"),
        ("TIFF", {"compression": "tiff_lzw"}, "TIFF"),
        ("PNG", {}, "PNG"),
        ("JPEG", {"quality": 90}, "JPEG"),
    ],
    ids=["webp", "webp-lossless", "bmp", "tiff", "tiff-lzw", "png", "jpeg"],
)
def test_common_formats_are_accepted(fmt: str, params: dict[str, object], expected_format: str) -> None:
    data = encode(half_red_half_blue((1600, 1200)), fmt, **params)
    prepared = prepare_image(data, f"photo.{fmt.lower()}")
    assert (prepared.width, prepared.height) == (1120, 840)
    assert prepared.original_format == expected_format
    assert close(pixel(prepared, 0.5, 0.2), RED) and close(pixel(prepared, 0.5, 0.8), BLUE)


def test_heic_photo_from_a_phone_is_accepted() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info().get("encoders"):
        pytest.skip("this libheif build has no HEIC encoder to make a test file")
    data = encode(half_red_half_blue((1400, 1000)), "HEIF", quality=90)
    assert data[4:12] in (b"ftypheic", b"ftypmif1")
    prepared = prepare_image(data, "IMG_0001.HEIC")
    assert prepared.original_format == "HEIF" and (prepared.width, prepared.height) == (1120, 800)
    assert close(pixel(prepared, 0.5, 0.2), RED, 20) and close(pixel(prepared, 0.5, 0.8), BLUE, 20)


def test_avif_is_accepted_when_pillow_supports_it() -> None:
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow build has no AVIF support")
    prepared = prepare_image(encode(half_red_half_blue((800, 600)), "AVIF", quality=90), "x.avif")
    assert prepared.original_format == "AVIF" and (prepared.width, prepared.height) == (800, 600)
    assert close(pixel(prepared, 0.5, 0.2), RED, 25)


def test_tiny_image_is_not_upscaled() -> None:
    prepared = prepare_image(encode(Image.new("RGB", (1, 1), GREEN), "PNG"))
    assert (prepared.width, prepared.height) == (1, 1) and decoded(prepared).size == (1, 1)
    assert "(not resized)" in prepared.summary


def test_screenshot_stays_pixel_exact_png_when_smaller() -> None:
    shot = screenshot()
    prepared = prepare_image(encode(shot, "PNG"), "Screenshot 2025-01-01.png")
    assert prepared.mime_type == "image/png" and prepared.data.startswith(b"\x89PNG")
    assert decoded(prepared).convert("RGB").tobytes() == shot.tobytes()  # every letter exactly as it was
    assert prepared.data_url.startswith("data:image/png;base64,")


def test_few_colour_png_keeps_colours_only_a_few_levels_apart_exactly() -> None:
    img = Image.new("RGB", (400, 100), WHITE)
    for i, colour in enumerate([(253, 254, 254), (0, 0, 0), (2, 1, 1), (255, 255, 255)]):
        img.paste(colour, (0, i * 25, 400, i * 25 + 25))
    prepared = prepare_image(encode(img, "PNG"))
    assert prepared.mime_type == "image/png"
    assert decoded(prepared).convert("RGB").tobytes() == img.tobytes()


def test_photo_with_very_fine_detail_is_still_encoded(detailed_photo: PreparedImage) -> None:
    # Pure noise at 4:4:4 needs more than the one byte a pixel Pillow allows an optimised JPEG: not "damaged".
    assert detailed_photo.mime_type == "image/jpeg" and decoded(detailed_photo).size == (1120, 840)


def test_large_diagram_is_sent_as_png_when_that_is_smaller() -> None:
    img = Image.new("RGB", (2400, 1600), WHITE)  # 400 flat boxes: thousands of colours once resized
    draw = ImageDraw.Draw(img)
    for i in range(20):
        for j in range(20):
            draw.rectangle((i * 120 + 6, j * 80 + 6, i * 120 + 114, j * 80 + 74), fill=(i * 12, j * 12, 255 - i * 6))
    prepared = prepare_image(encode(img, "PNG"), "diagram.png")
    assert prepared.mime_type == "image/png" and (prepared.width, prepared.height) == (1120, 747)
    assert len(prepared.data) < 100_000  # the JPEG would be ~230 KB


def test_photo_saved_as_png_is_sent_as_jpeg() -> None:
    photo = Image.effect_noise((1000, 700), 50).convert("RGB").resize((1200, 840))
    prepared = prepare_image(encode(photo, "PNG"))
    assert prepared.mime_type == "image/jpeg" and (prepared.width, prepared.height) == (1120, 784)


def test_data_url_and_summary_describe_the_result(big_jpeg: bytes) -> None:
    prepared = prepare_image(big_jpeg)
    prefix = "data:image/jpeg;base64,"
    assert prepared.data_url.startswith(prefix)
    assert base64.b64decode(prepared.data_url[len(prefix) :]) == prepared.data
    assert prepared.summary.startswith("4000×3000 JPEG, ")
    assert f"→ 1120×840 JPEG, {images.human_size(len(prepared.data))}" in prepared.summary
    assert images.human_size(5_347_738) == "5.1 MB" and images.human_size(151_552) == "148 KB"


def test_a_prepared_image_holds_its_bytes_once_and_no_data_url(big_jpeg: bytes) -> None:
    """What a session keeps of a photo is this object: the upload is not in it, nor a base64 copy."""
    import dataclasses
    import sys

    prepared = prepare_image(big_jpeg)
    assert [f.name for f in dataclasses.fields(prepared) if f.type in ("bytes", bytes)] == ["data"]
    first, second = prepared.data_url, prepared.data_url
    assert first == second and first is not second, "made on each use, never cached on the object"
    assert not hasattr(prepared, "__dict__") or "data_url" not in vars(prepared)
    held = sum(sys.getsizeof(getattr(prepared, f.name)) for f in dataclasses.fields(prepared))
    assert held < len(prepared.data) + 2_000 and len(prepared.data) < len(big_jpeg) / 4


def test_same_upload_gives_the_same_bytes(big_jpeg: bytes) -> None:
    assert prepare_image(big_jpeg).data == prepare_image(big_jpeg).data


# --- what must be refused -----------------------------------------------------------------------------------------

PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>\n'


def truncated_jpeg() -> bytes:
    data = encode(Image.effect_noise((600, 400), 50).convert("RGB"), "JPEG")
    return data[: len(data) // 2]


HOSTILE: dict[str, tuple[bytes, str, str]] = {
    "empty": (b"", "photo.jpg", "The file is empty"),
    "pdf renamed .jpg": (PDF, "photo.jpg", "This file is a PDF, not an image"),
    "text renamed .jpg": (b"Dear Sir,\nplease find my photo attached.\n", "photo.jpg", "a text file, not a photo"),
    "utf-8 text, not ascii": ("Vad är det här? 这是什么\n".encode(), "notes.png", "a text file, not a photo"),
    "svg": (SVG, "drawing.svg", "This file is an SVG drawing, not a photo"),
    "svg renamed .png": (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo.png", "SVG drawing"),
    "html": (b"<!DOCTYPE html><html><body>hi</body></html>", "page.jpg", "not a photo"),
    "random bytes": (bytes(range(256)) * 4, "photo.jpg", "This file is not an image Pillow can read"),
    "zip archive": (b"PK\x03\x04" + b"\x00" * 100, "photos.zip", "not an image Pillow can read"),
    "eps (Pillow could, but runs Ghostscript)": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "a.eps", "not a photo"),
    "truncated jpeg": (truncated_jpeg(), "photo.jpg", "The image is truncated (the file ends early)"),
    "jpeg header only": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "photo.jpg", "truncated"),
    "png bomb 100000x100000": (png_bomb(100_000, 100_000), "bomb.png", "The image is too large (10,000 megapixels; the limit is 80)"),
    "gif bomb 65535x65535": (gif_bomb(65_535, 65_535), "bomb.gif", "The image is too large (4,295 megapixels; the limit is 80)"),
    "png just over the limit": (png_bomb(9_000, 9_000), "big.png", "The image is too large (81 megapixels; the limit is 80)"),
    "heic brand, garbage inside": (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "a.heic", "HEIC"),
}


@pytest.mark.parametrize(("data", "filename", "message"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_or_wrong_files_are_refused_with_a_clear_message(data: bytes, filename: str, message: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        prepare_image(data, filename)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_file_over_the_upload_limit_is_refused_before_decoding() -> None:
    data = b"\xff\xd8\xff\xe0" + b"\x00" * (MAX_UPLOAD_MB * 1024 * 1024 + 200_000)
    with pytest.raises(ImageRejected, match=r"^The file is too large \(25\.2 MB; the limit is 25 MB\)$"):
        prepare_image(data)


@pytest.mark.parametrize("bomb", [png_bomb(100_000, 100_000), gif_bomb(65_535, 65_535), png_bomb(10_000, 8_001)])
def test_bombs_are_refused_quickly_without_decoding_pixels(bomb: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[object] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # our own limit must hold without Pillow's
    started = time.perf_counter()
    with pytest.raises(ImageRejected, match="megapixels; the limit is 80"):
        prepare_image(bomb)
    assert time.perf_counter() - started < 0.5
    assert loads == []


def test_48_megapixel_phone_photo_passes_the_pixel_check(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[object] = []

    def stop(self: ImageFile.ImageFile) -> None:
        loads.append(self)
        raise OSError("stopped by the test before decoding 48 MP")

    monkeypatch.setattr(ImageFile.ImageFile, "load", stop)
    with pytest.raises(ImageRejected) as caught:
        prepare_image(png_bomb(8000, 6000, colour_type=0))  # declares 48 MP (grey: 48 MB to decode)
    assert loads, "a 48 MP photo must reach decoding"
    assert "megapixels" not in str(caught.value)


def test_truncated_images_stay_refused_and_the_pillow_switch_is_untouched() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(ImageRejected, match="truncated"):
        prepare_image(truncated_jpeg())
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_if_another_module_allows_truncated_images_uploads_are_refused_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageRejected, match="LOAD_TRUNCATED_IMAGES"):
        prepare_image(truncated_jpeg())


def test_missing_pillow_heif_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "HEIF_SUPPORTED", False)
    with pytest.raises(ImageRejected, match="HEIC photos need the pillow-heif package"):
        prepare_image(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64, "IMG_0001.HEIC")


# --- memory: large images are reduced strip by strip, refused when too big, and decoded a few at a time ----------


def quadrants(size: tuple[int, int], mode: str = "RGBA") -> Image.Image:
    """Red, green, blue quadrants and a fully transparent bottom-right one, with 1-px black lines every 8 px in
    the red quadrant (detail only a real downscale averages away)."""
    width, height = size
    img = Image.new(mode, size, (0, 0, 0, 0) if mode == "RGBA" else WHITE)
    img.paste(RED, (0, 0, width // 2, height // 2))
    img.paste(GREEN, (width // 2, 0, width, height // 2))
    img.paste(BLUE, (0, height // 2, width // 2, height))
    draw = ImageDraw.Draw(img)
    for x in range(0, width // 2, 8):
        draw.line((x, 0, x, height // 2 - 1), fill=(0, 0, 0, 255) if mode == "RGBA" else (0, 0, 0))
    return img


def test_large_rgba_png_is_reduced_in_strips_with_the_right_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    size = (4800, 3600)  # 17 MP: 69 MB decoded, within MAX_DECODE_MB; reduced 2x before the final resize
    source = quadrants(size)
    data = encode(source, "PNG", compress_level=1)
    composites: list[tuple[int, int]] = []
    real_composite = Image.alpha_composite

    def spy(background: Image.Image, image: Image.Image) -> Image.Image:
        composites.append(image.size)
        return real_composite(background, image)

    monkeypatch.setattr(images.Image, "alpha_composite", spy)
    prepared = prepare_image(data, "map.png")
    assert (prepared.width, prepared.height) == (1120, 840) and decoded(prepared).size == (1120, 840)
    assert composites and all(h < size[1] // 4 for _w, h in composites), "no full-size RGBA copy may be made"
    red_quadrant = decoded(prepared).convert("RGB").crop((100, 100, 460, 320))
    red_with_lines = tuple(round(band) for band in ImageStat.Stat(red_quadrant).mean)
    assert close(red_with_lines, (223, 0, 0), 3), red_with_lines  # 7 of 8 columns red: averaged, not dropped
    assert close(pixel(prepared, 0.75, 0.25), GREEN) and close(pixel(prepared, 0.25, 0.75), BLUE)
    assert close(pixel(prepared, 0.75, 0.75), WHITE, 0), "transparency is flattened on white"
    # Same pixels as the whole-image pipeline (flatten, then Image.thumbnail) up to JPEG noise.
    reference = Image.alpha_composite(Image.new("RGBA", size, (255, 255, 255, 255)), source).convert("RGB")
    reference.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    got = decoded(prepared).convert("RGB")
    assert max(abs(a - b) for a, b in zip(got.tobytes(), reference.tobytes())) <= 40
    assert sum(abs(a - b) for a, b in zip(got.tobytes(), reference.tobytes())) / (1120 * 840 * 3) < 2


def test_large_palette_png_with_transparency_is_accepted_and_flattened() -> None:
    img = Image.new("P", (9000, 6000), 1)  # 54 MP, but 1 byte a pixel: 54 MB decoded
    img.putpalette([0, 0, 0] + list(RED) + list(BLUE) + [0, 0, 0] * 253)
    img.paste(0, (0, 0, 4500, 6000))  # left half: index 0, transparent
    img.paste(2, (4500, 3000, 9000, 6000))
    prepared = prepare_image(encode(img, "PNG", transparency=0), "diagram.png")
    assert (prepared.width, prepared.height) == (1120, 747)
    assert close(pixel(prepared, 0.25, 0.5), WHITE, 0)
    assert close(pixel(prepared, 0.75, 0.25), RED, 0) and close(pixel(prepared, 0.75, 0.75), BLUE, 0)


def test_79_megapixel_colour_png_is_refused_for_memory_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[object] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self))
    with pytest.raises(ImageRejected) as caught:
        prepare_image(png_bomb(10_240, 7_712), "huge.png")  # RGB: Pillow stores 4 bytes a pixel, 316 MB
    message = str(caught.value)
    assert message.startswith("This 79-megapixel PNG is too large to prepare: it would take about ")
    assert f"(the limit is {images.MAX_DECODE_MB} MB). Save it as a JPEG or make it smaller" in message
    assert loads == []


def test_79_megapixel_grey_png_passes_the_memory_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def stop(self: ImageFile.ImageFile) -> None:
        raise OSError("stopped by the test before decoding")

    monkeypatch.setattr(ImageFile.ImageFile, "load", stop)
    with pytest.raises(ImageRejected, match="damaged"):  # it got as far as decoding: 1 byte a pixel fits
        prepare_image(png_bomb(10_240, 7_712, colour_type=0))


def test_progressive_jpeg_counts_its_coefficient_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    photo = Image.effect_noise((1000, 1000), 40).convert("RGB")
    baseline, progressive = encode(photo, "JPEG"), encode(photo, "JPEG", progressive=True)
    monkeypatch.setattr(images, "MAX_DECODE_MB", 1)
    assert prepare_image(baseline, max_side=250).width == 250  # decoded at 1/4 scale: well under 1 MB
    with pytest.raises(ImageRejected, match=r"1-megapixel progressive JPEG .* ordinary \(baseline\) JPEG"):
        prepare_image(progressive, max_side=250)  # libjpeg keeps 1.5 samples × 2 bytes a pixel: 3 MB


def test_heic_is_always_prepared_whatever_the_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info().get("encoders"):
        pytest.skip("this libheif build has no HEIC encoder to make a test file")
    monkeypatch.setattr(images, "MAX_DECODE_MB", 1)  # what phones shoot must never be refused for size
    prepared = prepare_image(encode(half_red_half_blue((1400, 1000)), "HEIF", quality=90), "IMG_0002.HEIC")
    assert (prepared.width, prepared.height) == (1120, 800) and close(pixel(prepared, 0.5, 0.8), BLUE, 20)


class SpySemaphore(threading.BoundedSemaphore):
    """A decode-slot semaphore that tells when somebody is waiting for it."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.someone_waits = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        if not super().acquire(blocking=False):
            self.someone_waits.set()
            return super().acquire(blocking, -1 if timeout is None else timeout)
        return True


@pytest.fixture
def one_slot(monkeypatch: pytest.MonkeyPatch) -> SpySemaphore:
    slots = SpySemaphore(1)
    monkeypatch.setattr(images, "_decode_slots", slots)
    return slots


@pytest.fixture(scope="module")
def heavy_png() -> bytes:
    """4000×3000 RGB: about 60 MB to prepare, over the 48 MB above which a decode needs a slot."""
    return encode(half_red_half_blue((4000, 3000)), "PNG", compress_level=1)


class GatedDecodes:
    """Replace images._decode_reduced: each call says it started, then waits for the gate before decoding."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gate, self.started = threading.Event(), threading.Semaphore(0)
        self.running = self.most_at_once = 0
        self._lock = threading.Lock()
        real = images._decode_reduced

        def gated(*args: object) -> object:
            with self._lock:
                self.running += 1
                self.most_at_once = max(self.most_at_once, self.running)
            self.started.release()
            try:
                assert self.gate.wait(30)
                return real(*args)
            finally:
                with self._lock:
                    self.running -= 1

        monkeypatch.setattr(images, "_decode_reduced", gated)


def in_thread(fn: object, *args: object) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(fn(*args))  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_second_large_decode_waits_for_the_slot_then_runs(
    one_slot: SpySemaphore, heavy_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = GatedDecodes(monkeypatch)
    first, first_outcome = in_thread(prepare_image, heavy_png)
    assert decodes.started.acquire(timeout=30)  # the first one holds the only slot, inside its decode
    second, second_outcome = in_thread(prepare_image, heavy_png)
    assert one_slot.someone_waits.wait(30)  # the second one is waiting for the slot ...
    assert decodes.running == 1  # ... and has not started decoding
    decodes.gate.set()
    first.join(30), second.join(30)
    assert isinstance(first_outcome[0], PreparedImage) and isinstance(second_outcome[0], PreparedImage)
    assert decodes.most_at_once == 1
    assert one_slot.acquire(blocking=False), "the slot is given back"


def test_a_large_decode_is_refused_after_the_bounded_wait(
    one_slot: SpySemaphore, heavy_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = GatedDecodes(monkeypatch)
    monkeypatch.setattr(images, "DECODE_WAIT_S", 0.1)
    first, first_outcome = in_thread(prepare_image, heavy_png)
    assert decodes.started.acquire(timeout=30)
    with pytest.raises(ImageRejected, match=r"^The server is busy preparing other images, try again in a moment$"):
        prepare_image(heavy_png)
    decodes.gate.set()
    first.join(30)
    assert isinstance(first_outcome[0], PreparedImage)
    assert prepare_image(heavy_png).width == 1120  # once the slot is free, the same upload goes through


def test_small_images_never_wait_for_a_slot(one_slot: SpySemaphore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "DECODE_WAIT_S", 0.01)
    assert one_slot.acquire(blocking=False)  # somebody else is decoding a large image
    try:
        screenshot_png = encode(Image.new("RGBA", (2560, 1440), (200, 200, 200, 255)), "PNG")  # ~44 MB: light
        assert prepare_image(screenshot_png).width == 1120
        assert not one_slot.someone_waits.is_set()
    finally:
        one_slot.release()


def test_the_slot_is_given_back_when_a_large_decode_fails(one_slot: SpySemaphore, heavy_png: bytes) -> None:
    with pytest.raises(ImageRejected, match="truncated"):
        prepare_image(heavy_png[: len(heavy_png) // 2])
    assert one_slot.acquire(blocking=False)


# --- fit_inline: hosts that cap inline base64 ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def detailed_photo() -> PreparedImage:
    """A 1120×840 JPEG of fine noise: far over 180 000 base64 characters."""
    texture = Image.effect_noise((1120, 840), 60)
    detail = Image.merge("RGB", (texture, texture.rotate(180), texture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    prepared = prepare_image(encode(detail, "PNG"), "detail.png")
    assert prepared.mime_type == "image/jpeg" and prepared.base64_chars > 180_000
    return prepared


def test_fit_inline_returns_the_same_object_when_it_already_fits(detailed_photo: PreparedImage) -> None:
    assert fit_inline(detailed_photo, detailed_photo.base64_chars) is detailed_photo
    assert detailed_photo.note == "" and "inline limit" not in detailed_photo.summary


def test_fit_inline_lowers_the_quality_first(detailed_photo: PreparedImage) -> None:
    limit = detailed_photo.base64_chars * 9 // 10  # quality 80 saves more than 10 % on this noise
    fitted = fit_inline(detailed_photo, limit)
    assert fitted.base64_chars <= limit and len(fitted.data_url.split(",", 1)[1]) == fitted.base64_chars
    assert (fitted.width, fitted.height) == (1120, 840) and decoded(fitted).size == (1120, 840)
    assert fitted.summary.endswith(f"(shrunk to fit the host's inline limit of {limit:,} base64 characters)")


def test_fit_inline_shrinks_to_nearly_the_limit_keeping_the_aspect(detailed_photo: PreparedImage) -> None:
    fitted = fit_inline(detailed_photo, 180_000)
    assert fitted.base64_chars <= 180_000 < detailed_photo.base64_chars
    assert fitted.base64_chars > 180_000 * 0.8, "the largest size that fits, not a needlessly small one"
    assert fitted.width < 1120 and abs(fitted.width / fitted.height - 1120 / 840) < 0.01
    assert decoded(fitted).size == (fitted.width, fitted.height) and fitted.mime_type == "image/jpeg"
    assert (fitted.original_width, fitted.original_height, fitted.original_format) == (1120, 840, "PNG")
    assert f"→ {fitted.width}×{fitted.height} JPEG" in fitted.summary
    assert "shrunk to fit the host's inline limit of 180,000 base64 characters" in fitted.summary


def test_fit_inline_keeps_a_screenshot_sharp_as_png_when_that_is_smaller() -> None:
    prepared = prepare_image(encode(screenshot(), "PNG"), "shot.png")
    assert prepared.mime_type == "image/png"
    fitted = fit_inline(prepared, prepared.base64_chars - 1)
    assert fitted.base64_chars < prepared.base64_chars and fitted.note
    assert decoded(fitted).size == (fitted.width, fitted.height)


def test_fit_inline_refuses_a_limit_nothing_fits_in(detailed_photo: PreparedImage) -> None:
    with pytest.raises(ValueError, match="not even a 1×1 image fits"):
        fit_inline(detailed_photo, 8)
    with pytest.raises(ValueError):
        fit_inline(detailed_photo, 0)


# --- nothing but ImageRejected escapes, whatever the bytes -----------------------------------------------------------

_SEEDS = [
    encode(half_red_half_blue((40, 30)), "JPEG"),
    encode(half_red_half_blue((40, 30)), "PNG"),
    encode(half_red_half_blue((40, 30)), "GIF"),
    encode(half_red_half_blue((40, 30)), "WEBP"),
    encode(half_red_half_blue((40, 30)), "TIFF"),
    encode(half_red_half_blue((40, 30)), "BMP"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(_SEEDS),
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=8),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
)
def test_damaged_files_only_ever_raise_image_rejected(seed: bytes, edits: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(seed)
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    try:
        prepared = prepare_image(bytes(data))
    except ImageRejected as error:
        assert str(error)
    else:
        assert prepared.width <= MAX_SIDE and prepared.height <= MAX_SIDE and prepared.data


@pytest.mark.parametrize("bands", [2, 3, 4])
def test_the_banded_resize_matches_pillows_whole_resize(monkeypatch: pytest.MonkeyPatch, bands: int) -> None:
    """The final resize runs in bands on several threads; the image is Pillow's whole resize to within rounding
    (over 50 dB even on pure noise, where a band's other pass order shows most), for any size, box and mode."""
    import math
    import random

    from PIL import ImageChops

    monkeypatch.setattr(images, "_RESIZE_BANDS", bands)
    rnd = random.Random(bands)
    for mode in ("RGB", "L", "CMYK"):
        for _ in range(4):
            w, h = rnd.randint(300, 2600), rnd.randint(300, 1800)
            img = Image.effect_noise((w, h), 60)
            img = img if mode == "L" else Image.merge("RGB", (img, img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                                                              img.transpose(Image.Transpose.FLIP_TOP_BOTTOM))).convert(mode)
            size = (rnd.randint(64, min(w, 1120)), rnd.randint(200, min(h, 1120)))
            box = (0.0, 0.0, w / rnd.choice([1, 2]), h / rnd.choice([1, 2]))
            banded = images._resize(img, size, box)
            whole = img.resize(size, images._RESAMPLE, box=box)
            assert banded.size == whole.size and banded.mode == whole.mode
            diff = ImageChops.difference(banded, whole)
            mse = sum(ImageStat.Stat(diff).sum2) / (size[0] * size[1] * len(img.getbands()))
            assert mse == 0 or 10 * math.log10(255**2 / mse) > 50, (mode, (w, h), size, box)
