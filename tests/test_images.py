"""lib.images.prepare_image on a corpus generated here: what a person uploads, and what must be refused."""

from __future__ import annotations

import base64
import io
import struct
import time
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageDraw, ImageFile, ImageFont
from PIL.JpegImagePlugin import JpegImageFile

from lib import images
from lib.images import MAX_SIDE, MAX_UPLOAD_MB, ImageRejected, PreparedImage, prepare_image

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


def png_bomb(width: int, height: int) -> bytes:
    """A valid-looking PNG header declaring huge dimensions, with almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
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

    monkeypatch.setattr(images.ImageOps, "exif_transpose", broken)
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


def test_photo_with_very_fine_detail_is_still_encoded() -> None:
    # Pure noise at 4:4:4 needs more than the one byte a pixel Pillow allows an optimised JPEG: not "damaged".
    texture = Image.effect_noise((1120, 840), 60)
    detail = Image.merge("RGB", (texture, texture.rotate(180), texture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    prepared = prepare_image(encode(detail, "PNG"), "detail.png")
    assert prepared.mime_type == "image/jpeg" and decoded(prepared).size == (1120, 840)


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
        prepare_image(png_bomb(8000, 6000))  # declares 48 MP
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
