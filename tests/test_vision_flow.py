"""Vision through the API double: one image per request, the system-message fallback, and the page in AppTest."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from lib import client
from lib.errors import ErrorKind, explain
from lib.images import prepare_image
from lib.vision_chat import VisionAnswer
from tests.api_double import ApiDouble, Reply
from tests.conftest import TEST_TOKEN

ROOT = Path(__file__).resolve().parent.parent


def _photo(w: int = 4000, h: int = 3000) -> bytes:
    """A photo-like JPEG: a gradient with sensor-like noise (many colours, so it stays JPEG)."""
    gradient = Image.linear_gradient("L").resize((w, h))
    noise = Image.effect_noise((w, h), 40)
    img = Image.merge("RGB", (noise, gradient, Image.new("L", (w, h), 200)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _images_in(body: dict) -> list[str]:
    urls = []
    for m in body["messages"]:
        if isinstance(m.get("content"), list):
            urls += [p["image_url"]["url"] for p in m["content"] if p.get("type") == "image_url"]
    return urls


def test_request_carries_exactly_one_jpeg_that_fits_1120(double: ApiDouble, settings) -> None:
    prepared = prepare_image(_photo(), "phone.jpg")
    answer = VisionAnswer(settings, "meta/Llama-3.2-90B-Vision-Instruct", prepared.data_url,
                          [("user", "Describe this image.")])
    text = "".join(answer)
    assert "JPEG image of 1120×840" in text  # the double really looked at what was sent
    urls = _images_in(double.chat_requests[-1].body)
    assert len(urls) == 1 and urls[0].startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(urls[0].split(",", 1)[1]))) as sent:
        assert sent.size == (1120, 840)
    # A follow-up still sends one image, in the first user message, and the history.
    turns = [("user", "Describe this image."), ("assistant", text), ("user", "What colour dominates?")]
    "".join(VisionAnswer(settings, "m", prepared.data_url, turns))
    body = double.chat_requests[-1].body
    assert len(_images_in(body)) == 1
    users = [m for m in body["messages"] if m["role"] == "user"]
    assert isinstance(users[0]["content"], list) and users[-1]["content"] == "What colour dominates?"


def test_system_message_refused_with_image_falls_back_and_is_remembered(double: ApiDouble, settings) -> None:
    def host(body: dict) -> Reply:
        if any(m["role"] == "system" for m in body["messages"]) and _images_in(body):
            return Reply.bad_request("Prompting with images is incompatible with system messages")
        return Reply(text="A blue square.")

    double.responder = host
    prepared = prepare_image(_photo(200, 200))
    answer = VisionAnswer(settings, "m", prepared.data_url, [("user", "What is this?")])
    assert "".join(answer) == "A blue square."
    assert answer.fell_back and answer.system_mode == "user"
    last = double.chat_requests[-1].body["messages"]
    assert last[0]["role"] == "user" and "never invent" in last[0]["content"][0]["text"]
    n = len(double.chat_requests)
    again = VisionAnswer(settings, "m", prepared.data_url, [("user", "And now?")])
    assert "".join(again) == "A blue square." and len(double.chat_requests) == n + 1, "remembered: no second 400"


def test_other_errors_are_not_mistaken_for_the_system_fallback(double: ApiDouble, settings) -> None:
    double.queue(Reply.content_filter())
    answer = VisionAnswer(settings, "m", prepare_image(_photo(64, 64)).data_url, [("user", "x")])
    with pytest.raises(Exception) as info:
        "".join(answer)
    assert explain(info.value).kind is ErrorKind.CONTENT_FILTER
    assert len(double.chat_requests) == 1


def _app(double: ApiDouble) -> AppTest:
    client.clear_models_cache()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets["MODELS_PROVIDER"] = "custom"
    at.secrets["MODELS_API_KEY"] = TEST_TOKEN
    at.secrets["MODELS_ENDPOINT"] = double.endpoint
    at.run()
    at.switch_page("pages/vision.py").run()
    return at


def _upload(at: AppTest, name: str, data: bytes, mime: str) -> None:
    at.file_uploader(key="vision_upload").set_value((name, data, mime)).run()


def test_page_upload_preset_answer_followup_and_error_keeps_everything(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "phone.jpg", _photo(), "image/jpeg")
    assert not at.exception
    assert any("4000×3000" in c.value and "1120×840 JPEG" in c.value for c in at.caption)
    ask = [b for b in at.button if b.label == "Ask Llama"][0]
    ask.click().run()
    assert not at.exception
    assert any("JPEG image of 1120×840" in m.value for m in at.markdown)
    assert any(c.value.endswith(" tokens") and " s · " in c.value for c in at.caption), "time and tokens shown"
    assert len(_images_in(double.chat_requests[-1].body)) == 1
    snippet = "\n".join(c.value for c in at.code)
    assert 'ImageUrl.load(image_file="photo.jpg"' in snippet and TEST_TOKEN not in snippet
    # Follow-up about the same image.
    double.queue(Reply(text="Mostly blue."))
    at.chat_input[0].set_value("What colour dominates?").run()
    assert any(m.value == "Mostly blue." for m in at.markdown)
    assert len(_images_in(double.chat_requests[-1].body)) == 1
    # A daily 429: a clear message; image, conversation and the question survive, with a retry.
    double.queue(Reply.rate_limit_day())
    at.chat_input[0].set_value("Anything else?").run()
    assert not at.exception
    at.run()
    assert any("Daily limit reached" in e.value for e in at.error)
    assert any(m.value == "Mostly blue." for m in at.markdown)
    assert any(m.value == "Anything else?" for m in at.markdown)
    assert at.image, "the image is still shown"
    retry = [b for b in at.button if b.label == "Retry"][0]
    double.queue(Reply(text="Nothing else."))
    retry.click().run()
    assert any(m.value == "Nothing else." for m in at.markdown)


def test_page_refuses_a_pdf_renamed_jpg_and_keeps_the_current_image(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "photo.jpg", _photo(800, 600), "image/jpeg")
    _upload(at, "report.jpg", b"%PDF-1.7\n1 0 obj<<>>endobj\n", "image/jpeg")
    assert not at.exception
    assert any("This file is a PDF, not an image" in e.value for e in at.error)
    assert any("800×600" in c.value for c in at.caption), "the previous image stays"


def test_non_english_question_gets_a_polite_note_and_is_still_sent(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "photo.jpg", _photo(300, 200), "image/jpeg")
    at.chat_input[0].set_value("Qu'est-ce qu'il y a sur cette photo ?").run()
    assert any("only English" in i.value for i in at.info)
    assert double.chat_requests, "the question is still sent"


def test_page_alt_text_preset_sends_its_prompt_with_one_image(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "photo.png", _photo(640, 480), "image/png")
    at.radio(key="vision_preset").set_value("alt_text").run()
    double.queue(Reply(text="A blue gradient photo with fine grain."))
    [b for b in at.button if b.label == "Ask Llama"][0].click().run()
    assert not at.exception
    assert any(m.value == "A blue gradient photo with fine grain." for m in at.markdown)
    body = double.chat_requests[-1].body
    first_user = [m for m in body["messages"] if m["role"] == "user"][0]
    text = " ".join(p["text"] for p in first_user["content"] if p["type"] == "text")
    assert "125 characters" in text
    assert len(_images_in(body)) == 1


def test_image_is_prepared_once_not_on_every_rerun(double: ApiDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    import lib.images

    calls: list[int] = []
    real = lib.images.prepare_image

    def counting(data: bytes, filename: str | None = None, **kw):
        calls.append(len(data))
        return real(data, filename, **kw)

    monkeypatch.setattr(lib.images, "prepare_image", counting)
    at = _app(double)
    _upload(at, "photo.jpg", _photo(1600, 1200), "image/jpeg")
    at.text_area(key="vision_own").set_value("What is in the corner?").run()
    at.run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/vision.py").run()
    assert not at.exception
    assert any("1600×1200" in c.value for c in at.caption), "the image survives a visit to another page"
    assert len(calls) == 1
    # A different detail level is a different image to send: prepared once more, then reused.
    at.segmented_control(key="vision_detail").set_value("low").run()
    at.run()
    assert len(calls) == 2
    assert any("→ 560×420" in c.value for c in at.caption)


def test_camera_photo_and_sample_are_both_usable(double: ApiDouble) -> None:
    at = _app(double)
    at.segmented_control(key="vision_source").set_value("camera").run()
    at.camera_input(key="vision_camera").set_value(("shot.jpg", _photo(1280, 720), "image/jpeg")).run()
    assert not at.exception
    assert any("1280×720 JPEG" in c.value for c in at.caption)
    [b for b in at.button if b.label == "Ask Llama"][0].click().run()
    assert any("JPEG image of 1120×630" in m.value for m in at.markdown)
    # A sample is a new image: a new conversation, and its licence credit is shown.
    at.segmented_control(key="vision_source").set_value("sample").run()
    at.pills(key="vision_sample").set_value("cat").run()
    assert not at.exception
    assert not any("1120×630" in m.value for m in at.markdown), "a new image starts a new conversation"
    assert any("CC0" in c.value for c in at.caption)
    [b for b in at.button if b.label == "Ask Llama"][0].click().run()
    sent = _images_in(double.chat_requests[-1].body)
    assert len(sent) == 1
    with Image.open(io.BytesIO(base64.b64decode(sent[0].split(",", 1)[1]))) as img:
        assert img.size == (451, 300), "the bundled cat photo, not the camera shot"
