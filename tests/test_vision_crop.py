"""lib.vision.crop and lib.vision.images.prepare_region: asking about one region of a photo (bounds → pixels,
clamping, minimum size, cut from the original at full resolution, right way up), what the model sees (tiles, JPEG
quality, the slider's labels), and how a region question is kept in the conversation and its transcript."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageOps

from lib.answers.transcript import from_json, to_json, vision_transcript, vision_turns_from_transcript
from lib.vision import conversation as vs
from lib.vision.crop import (
    MIN_REGION_SIDE, REGION_MARK, Region, compare_labels, jpeg_quality, region_from_bounds, region_image,
    same_picture, sent_facts, shown_size, tiles, with_tile_lines)
from lib.vision.images import ImageRejected, fit_inline, human_size, prepare_image, prepare_region


def _jpeg(img: Image.Image, quality: int = 92, **params) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, **params)
    return out.getvalue()


def _photo(size: tuple[int, int] = (4000, 3000)) -> Image.Image:
    """Photo-like (gradients and noise, so it stays a JPEG) with a bright red box at (1200, 300)-(1840, 720)."""
    w, h = size
    img = Image.merge("RGB", (Image.linear_gradient("L").resize(size), Image.effect_noise(size, 30).point(
        lambda v: min(255, v + 60)), Image.linear_gradient("L").rotate(90).resize(size)))
    ImageDraw.Draw(img).rectangle((1200, 300, 1839, 719), fill=(255, 0, 0))
    return img


@pytest.fixture(scope="module")
def photo() -> bytes:
    return _jpeg(_photo())


# --- bounds → a region of the original ------------------------------------------------------------------------------


def test_bounds_become_pixels_of_the_original() -> None:
    region = region_from_bounds({"x": 0.3, "y": 0.1, "width": 0.16, "height": 0.14}, (4000, 3000))
    assert region == Region(1200, 300, 1840, 720, 4000, 3000)
    assert (region.width, region.height) == (640, 420)
    assert region.label == "640×420 px of the original"
    assert region.note == f"{REGION_MARK} 640×420 px of the 4000×3000 original, at x 1200, y 300"


def test_bounds_are_rounded_outwards_and_clamped_to_the_photo() -> None:
    region = region_from_bounds({"x": 0.1001, "y": 0.2, "width": 0.95, "height": 2.0}, (1000, 500))
    assert region is not None and region.box == (100, 100, 1000, 500)
    region = region_from_bounds({"x": -0.5, "y": 0.5, "width": 0.5, "height": 0.25}, (1000, 500))
    assert region is not None and region.box == (0, 250, 500, 375)


@pytest.mark.parametrize(("bounds", "box"), [
    ({"x": 0.5, "y": 0.5, "width": 0.001, "height": 0.001}, (484, 484, 484 + MIN_REGION_SIDE, 484 + MIN_REGION_SIDE)),
    ({"x": 0.0, "y": 0.0, "width": 0.001, "height": 0.001}, (0, 0, MIN_REGION_SIDE, MIN_REGION_SIDE)),  # in a corner
    ({"x": 0.999, "y": 0.999, "width": 0.001, "height": 0.001}, (968, 968, 1000, 1000)),  # the other one
    ({"x": 1.0, "y": 1.0, "width": 0.01, "height": 0.01}, (968, 968, 1000, 1000)),  # a box on the very edge
])
def test_a_tiny_box_grows_around_its_centre_and_stays_inside(bounds: dict, box: tuple) -> None:
    region = region_from_bounds(bounds, (1000, 1000))
    assert region is not None and region.box == box


def test_a_photo_smaller_than_the_minimum_gives_its_whole_side() -> None:
    region = region_from_bounds({"x": 0.2, "y": 0.2, "width": 0.1, "height": 0.1}, (20, 300))
    assert region is not None and (region.left, region.right) == (0, 20) and region.height == MIN_REGION_SIDE


@pytest.mark.parametrize("bounds", [
    None, {}, {"x": 0.1, "y": 0.1, "width": 0, "height": 0.5}, {"x": 0.1, "y": 0.1, "width": 0.5},
    {"x": float("nan"), "y": 0, "width": 0.5, "height": 0.5}, {"x": True, "y": 0, "width": 0.5, "height": 0.5},
    {"x": "0.1", "y": 0, "width": 0.5, "height": 0.5}, {"x": 0, "y": 0, "width": 1, "height": 1},
    {"x": 0.002, "y": 0.001, "width": 0.997, "height": 0.998},  # the whole photo, within a hair
    "x=0.1",
])
def test_no_region_for_no_box_a_broken_one_or_the_whole_photo(bounds) -> None:
    assert region_from_bounds(bounds, (4000, 3000)) is None


def test_the_originals_size_right_way_up() -> None:
    upright = prepare_image(_jpeg(Image.new("RGB", (1600, 1200), "white")))
    assert shown_size(upright) == (1600, 1200)
    turned = prepare_image(_jpeg(Image.new("RGB", (1600, 1200), "white"), exif=_exif(6)))
    assert (turned.width, turned.height) == (840, 1120)
    assert shown_size(turned) == (1200, 1600)


# --- cut from the original ------------------------------------------------------------------------------------------


def test_a_small_region_is_sent_at_full_resolution_not_downscaled(photo: bytes) -> None:
    whole = prepare_image(photo, "photo.jpg")
    assert (whole.width, whole.height) == (1120, 840)
    region = region_from_bounds({"x": 0.3, "y": 0.1, "width": 0.16, "height": 0.14}, shown_size(whole))
    assert region is not None
    sent = region_image(photo, whole, region, "photo.jpg")
    assert (sent.width, sent.height) == (640, 420), "the region's own pixels, one for one"
    assert (sent.original_width, sent.original_height, sent.original_bytes) == (4000, 3000, len(photo))
    assert sent.note == "just the 640×420 region"
    assert sent.summary.endswith("→ 640×420 JPEG, " + sent.summary.rsplit(", ", 1)[1])
    with Image.open(io.BytesIO(sent.data)) as img:
        assert img.size == (640, 420) and img.format == "JPEG"
        r, g, b = img.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert r > 240 and g < 20 and b < 20, "it is the red box, nothing else"


def test_a_large_region_is_shrunk_to_fit_1120_like_a_whole_photo(photo: bytes) -> None:
    sent = prepare_region(photo, (0, 0, 3000, 2000), "photo.jpg")
    assert (sent.width, sent.height) == (1120, 747)
    small = prepare_region(photo, (0, 0, 3000, 2000), "photo.jpg", max_side=560)
    assert (small.width, small.height) == (560, 373)


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def _asymmetric(size: tuple[int, int] = (300, 200)) -> Image.Image:
    """Four colours in four quadrants and a white bar near the top left: every turn and flip looks different."""
    w, h = size
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    for (x, y), colour in {(0, 0): (200, 30, 30), (1, 0): (30, 200, 30), (0, 1): (30, 30, 200),
                           (1, 1): (200, 200, 30)}.items():
        draw.rectangle((x * w // 2, y * h // 2, (x + 1) * w // 2 - 1, (y + 1) * h // 2 - 1), fill=colour)
    draw.rectangle((10, 10, 60, 25), fill=(255, 255, 255))
    return img


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_region_is_cut_from_the_picture_right_way_up_whatever_its_exif_orientation(orientation: int) -> None:
    stored = _asymmetric()
    buf = io.BytesIO()
    stored.save(buf, "PNG", exif=_exif(orientation))  # lossless: the cut can be compared pixel for pixel
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as img:
        upright = ImageOps.exif_transpose(img).convert("RGB")
    w, h = upright.size
    box = (w // 8, h // 6, w * 5 // 8, h * 3 // 4)  # across the middle: parts of all four quadrants
    sent = prepare_region(data, box, "turned.png")
    with Image.open(io.BytesIO(sent.data)) as img:
        got = img.convert("RGB")
    want = upright.crop(box)
    assert got.size == want.size
    assert ImageChops.difference(got, want).getbbox() is None, f"orientation {orientation}: another part was cut"
    whole = prepare_image(data, "turned.png")
    assert shown_size(whole) == (w, h)


def test_the_region_sent_carries_no_metadata() -> None:
    exif = _exif(1)
    exif[0x010F] = "PhoneMaker"  # Make
    data = _jpeg(_photo((1600, 1200)), exif=exif, icc_profile=b"")
    sent = prepare_region(data, (100, 100, 500, 400))
    with Image.open(io.BytesIO(sent.data)) as img:
        assert not img.getexif() and "icc_profile" not in img.info and "exif" not in img.info


@pytest.mark.parametrize("box", [(4000, 0, 4100, 100), (10, 10, 10, 50), (-50, -50, 0, 0)])
def test_a_box_with_no_pixels_in_the_picture_is_refused(photo: bytes, box: tuple) -> None:
    with pytest.raises(ImageRejected, match="outside the picture"):
        prepare_region(photo, box)


def test_what_is_not_a_photo_is_refused_as_prepare_image_refuses_it() -> None:
    with pytest.raises(ImageRejected, match="text file"):
        prepare_region(b"hello, this is not a photo at all", (0, 0, 10, 10))
    with pytest.raises(ImageRejected, match="empty"):
        prepare_region(b"", (0, 0, 10, 10))
    with pytest.raises(TypeError):
        prepare_region("photo.jpg", (0, 0, 10, 10))  # type: ignore[arg-type]


def test_without_the_original_the_region_is_cut_from_the_kept_copy_and_says_so(photo: bytes) -> None:
    whole = prepare_image(photo, "photo.jpg")
    region = Region(1200, 300, 1840, 720, 4000, 3000)
    sent = region_image(None, whole, region, "photo.jpg")
    assert (sent.width, sent.height) == (180, 118), "the same part of the 1120-px copy: 0.28 of its pixels a side"
    assert (sent.original_width, sent.original_height, sent.original_bytes) == (4000, 3000, len(photo))
    assert sent.note == "just the 640×420 region, cut from the 1120×840 copy"


def test_the_same_upload_prepared_again_is_the_same_picture(photo: bytes) -> None:
    a, b = prepare_image(photo, "a.jpg"), prepare_image(photo, "b.jpg")
    assert same_picture(a, b)
    assert not same_picture(a, prepare_image(_jpeg(_photo((2000, 1500))), "c.jpg"))


# --- what the model sees ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "grid"), [
    ((1120, 840), (2, 2)), ((1120, 747), (2, 2)), ((840, 1120), (2, 2)), ((1120, 630), (2, 2)),
    ((560, 420), (1, 1)), ((451, 300), (1, 1)), ((560, 560), (1, 1)), ((560, 561), (1, 2)),
    ((1120, 280), (2, 1)), ((280, 1120), (1, 2)), ((600, 300), (2, 1)), ((1000, 1000), (2, 2)),
    ((1120, 150), (2, 1)), ((2240, 560), (4, 1)), ((4000, 100), (4, 1)),
])
def test_tiles_as_llama_3_2_visions_image_processor_cuts_them(size: tuple[int, int], grid: tuple[int, int]) -> None:
    columns, rows, scale = tiles(*size)
    assert (columns, rows) == grid
    assert columns * rows <= 4
    assert min(columns * 560 / size[0], rows * 560 / size[1]) == pytest.approx(scale)


def test_tiles_needs_an_image() -> None:
    with pytest.raises(ValueError):
        tiles(0, 10)


def test_jpeg_quality_is_read_from_the_jpegs_own_tables() -> None:
    img = _photo((400, 300))
    for quality in (95, 85, 70, 50, 20):
        assert jpeg_quality(_jpeg(img, quality)) == quality
    png = io.BytesIO()
    img.save(png, "PNG")
    assert jpeg_quality(png.getvalue()) is None
    assert jpeg_quality(b"\xff\xd8\xff broken") is None
    assert jpeg_quality(b"") is None


def test_the_sliders_labels_have_the_real_numbers(photo: bytes) -> None:
    prepared = prepare_image(photo, "photo.jpg")
    before, after = compare_labels(prepared)
    assert before == f"As uploaded · 4000×3000 · {len(photo) / 1024 / 1024:.1f} MB"
    assert after == "Sent to Llama · 1120×840 · JPEG q85 · 4 tiles" == "Sent to Llama · " + sent_facts(prepared)
    low = prepare_image(photo, max_side=560)
    assert compare_labels(low)[1] == "Sent to Llama · 560×420 · JPEG q85 · 1 tile"
    squeezed = fit_inline(prepared, 120_000)  # a host's inline limit: re-encoded at a lower quality, maybe smaller
    label = compare_labels(squeezed)[1]
    assert f"· {squeezed.width}×{squeezed.height} · JPEG q" in label and "q85" not in label
    png = _png(Image.new("RGB", (800, 600), (10, 120, 200)))
    assert compare_labels(prepare_image(png)) == (f"As uploaded · 800×600 · {human_size(len(png))}",
                                                  "Sent to Llama · 800×600 · PNG · 4 tiles")


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def test_tile_lines_are_drawn_on_a_copy_at_the_tile_edges(photo: bytes) -> None:
    prepared = prepare_image(photo)
    shown = with_tile_lines(prepared)
    assert shown != prepared.data
    with Image.open(io.BytesIO(shown)) as a, Image.open(io.BytesIO(prepared.data)) as b:
        assert a.size == b.size == (1120, 840)
        diff = ImageChops.difference(a.convert("L"), b.convert("L"))
    column = [diff.getpixel((560, y)) for y in range(0, 840, 7)]
    row = [diff.getpixel((x, 560)) for x in range(0, 1120, 7)]
    elsewhere = [diff.getpixel((x, y)) for x, y in ((280, 280), (840, 280), (280, 700), (900, 760))]
    assert sum(v > 60 for v in column) > len(column) // 3 and sum(v > 60 for v in row) > len(row) // 3
    assert max(elsewhere) < 30
    one_tile = prepare_image(photo, max_side=560)
    assert with_tile_lines(one_tile) is one_tile.data


# --- in the conversation and its transcript ---------------------------------------------------------------------------


def test_a_region_question_keeps_its_region_beside_it() -> None:
    ss: dict = {}
    vs.init_state(ss)
    note = Region(1200, 300, 1840, 720, 4000, 3000).note
    assert vs.start(ss, "What does this sign say?", about=note)
    vs.finish(ss, "What does this sign say?", "OPEN 7 DAYS", "1.2 s · Llama", "m", "p")
    assert ss[vs.TURNS] == [("user", "What does this sign say?"), ("assistant", "OPEN 7 DAYS")]
    assert ss[vs.META] == {0: note, 1: "1.2 s · Llama"}
    # A whole-photo question has no footer of its own.
    assert vs.start(ss, "And the whole scene?")
    vs.finish(ss, "And the whole scene?", "A street.", "0.9 s", "m", "p")
    assert 2 not in ss[vs.META] and ss[vs.META][3] == "0.9 s"


def test_a_stopped_or_failed_region_question_keeps_its_region() -> None:
    ss: dict = {}
    vs.init_state(ss)
    vs.start(ss, "Read the label", about="🔍 Asked about a region: 10×10")
    ss[vs.PENDING].started = True
    assert vs.settle_interrupted(ss)
    assert ss[vs.META][0] == "🔍 Asked about a region: 10×10" and vs.is_stopped(ss[vs.META][1])
    vs.start(ss, "Read it again", about="🔍 Asked about a region: 10×10")
    from lib.hosts.errors import explain

    vs.fail(ss, "Read it again", explain(TimeoutError("slow")))
    assert ss[vs.FAILED].about == "🔍 Asked about a region: 10×10"


def test_follow_ups_carry_only_the_exchanges_about_the_same_part_of_the_photo() -> None:
    region = "🔍 Asked about a region: 640×420 px at x 1200, y 300"
    other = "🔍 Asked about a region: 50×50 px at x 0, y 0"
    turns = [("user", "Describe it."), ("assistant", "A street."),
             ("user", "What does the sign say?"), ("assistant", "OPEN."),
             ("user", "And this corner?"), ("assistant", "A cat."),
             ("user", "What colour is the sign?"), ("assistant", "Red.")]
    meta = {0: "", 1: "1 s", 2: region, 3: "1 s", 4: other, 5: "1 s", 6: region, 7: "1 s"}
    assert vs.request_turns(turns, "Is it open today?", meta, region) == [
        ("user", "What does the sign say?"), ("assistant", "OPEN."),
        ("user", "What colour is the sign?"), ("assistant", "Red."), ("user", "Is it open today?")]
    assert vs.request_turns(turns, "What time of day is it?", meta) == [
        ("user", "Describe it."), ("assistant", "A street."), ("user", "What time of day is it?")]
    assert vs.request_turns(turns, "Q?") == turns + [("user", "Q?")], "without meta: every turn, as before"


def test_a_question_on_its_way_keeps_its_region_across_a_reload() -> None:
    ss: dict = {}
    vs.init_state(ss)
    vs.start(ss, "Describe it.")
    vs.finish(ss, "Describe it.", "A street.", "1 s", "m", "p")
    vs.start(ss, "What does the sign say?", about="🔍 Asked about a region: 64×64")
    ss[vs.PENDING].partial = "It says"
    data = vs.snapshot(ss)
    fresh: dict = {}
    vs.init_state(fresh)
    assert vs.restore(fresh, data) is not None
    assert fresh[vs.TURNS][2:] == [("user", "What does the sign say?"), ("assistant", "It says")]
    assert fresh[vs.META][2] == "🔍 Asked about a region: 64×64" and 0 not in fresh[vs.META]
    del data["pending"]["about"]  # saved before regions existed
    older: dict = {}
    vs.init_state(older)
    assert vs.restore(older, data) is not None and 2 not in older[vs.META]


def test_the_transcript_keeps_the_region_and_older_transcripts_still_open() -> None:
    note = Region(1200, 300, 1840, 720, 4000, 3000).note
    turns = [("user", "What does the sign say?"), ("assistant", "OPEN 7 DAYS")]
    data = vision_transcript(turns, {0: note, 1: "1.2 s"}, provider="p", model="m", image_name="street.jpg",
                             image_thumbnail_jpeg=None)
    assert data["turns"][0] == {"role": "user", "text": "What does the sign say?", "meta": note}
    back_turns, back_meta, _ = vision_turns_from_transcript(from_json(to_json(data), kind="vision"))
    assert back_turns == turns and back_meta == {0: note, 1: "1.2 s"}
    old = vision_transcript(turns, {1: "1.2 s"}, provider="p", model="m", image_name="x.jpg",
                            image_thumbnail_jpeg=None)  # as every transcript was before
    assert vision_turns_from_transcript(from_json(to_json(old), kind="vision"))[1] == {1: "1.2 s"}
