"""Vision through the API double: one image per request, the system-message fallback, and the page in AppTest
(presets, refused uploads, Retry, stopped and cut answers, transcript export and import, reload)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from lib import client
from lib.hosts.errors import ErrorKind, explain
from lib.vision.images import prepare_image
from lib.answers.transcript import vision_transcript_files
from lib.vision import conversation as vs
from lib.vision import tasks
from lib.vision.answer import VisionAnswer
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


def _uploader(at: AppTest):
    """The photo uploader as drawn now: its key changes each time a photo is taken from it (it starts empty)."""
    found = [u for u in at.file_uploader if u.key == "vision_upload" or u.key.startswith("vision_upload_")]
    assert len(found) == 1, [u.key for u in at.file_uploader]
    return found[0]


def _upload(at: AppTest, name: str, data: bytes, mime: str) -> None:
    _uploader(at).set_value((name, data, mime)).run()


def _ask(at: AppTest) -> None:
    at.button(key="vision_ask").click().run()


def _texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown] + [c.value for c in at.caption]


def _session_requests(at: AppTest) -> int:
    """What the sidebar's "This session: N" shows (ui.meter.quota_lines reads it; AppTest leaves the sidebar out
    of its tree after a page switch)."""
    return int(at.session_state["session_requests"]) if "session_requests" in at.session_state else 0


def _user_texts(body: dict) -> list[str]:
    out = []
    for m in body["messages"]:
        if m["role"] == "user":
            content = m["content"]
            out.append(content if isinstance(content, str) else " ".join(p["text"] for p in content
                                                                          if p["type"] == "text"))
    return out


def test_page_upload_preset_answer_followup_and_error_keeps_everything(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "phone.jpg", _photo(), "image/jpeg")
    assert not at.exception
    assert any("4000×3000" in c.value and "1120×840 JPEG" in c.value for c in at.caption)
    _ask(at)
    assert not at.exception
    assert any("JPEG image of 1120×840" in m.value for m in at.markdown)
    assert any(c.value.endswith(" tokens") and " s · " in c.value for c in at.caption), "time and tokens shown"
    assert any("Llama 3.2 90B Vision on vLLM" in c.value for c in at.caption), "who answered, in the footer"
    assert len(_images_in(double.chat_requests[-1].body)) == 1
    snippet = "\n".join(c.value for c in at.code)
    assert 'ImageUrl.load(image_file="photo.jpg"' in snippet and TEST_TOKEN not in snippet
    # Follow-up about the same image.
    double.queue(Reply(text="Mostly blue."))
    at.chat_input(key="vision_chat").set_value("What colour dominates?").run()
    assert any(m.value == "Mostly blue." for m in at.markdown)
    assert len(_images_in(double.chat_requests[-1].body)) == 1
    # A daily 429: a clear message at once; image, conversation and the question survive; no Retry (it can't help).
    double.queue(Reply.rate_limit_day())
    at.chat_input(key="vision_chat").set_value("Anything else?").run()
    assert not at.exception
    assert any("Daily limit reached" in e.value for e in at.error)
    assert any(m.value == "Mostly blue." for m in at.markdown)
    assert any(m.value == "Anything else?" for m in at.markdown)
    assert at.image, "the image is still shown"
    assert not [b for b in at.button if b.label == "Retry"], "Retry is not offered for a spent daily quota"
    assert not at.button(key="vision_ask").disabled and not at.chat_input(key="vision_chat").disabled


def test_retry_right_after_a_failure_and_the_failure_goes_when_it_succeeds(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "photo.jpg", _photo(640, 480), "image/jpeg")
    double.queue(*[Reply.server_error(503)] * 3)  # the client itself retries twice
    at.chat_input(key="vision_chat").set_value("What is in the corner?").run()
    assert not at.exception
    assert at.error, "the failure is explained"
    retry = [b for b in at.button if b.label == "Retry"]
    assert retry, "Retry is offered right after the failure, in the same click"
    double.queue(Reply(text="A blue corner."))
    retry[0].click().run()
    assert not at.exception
    assert any(m.value == "A blue corner." for m in at.markdown)
    assert not at.error, "the stale failure is gone once the question succeeds"
    assert list(at.session_state[vs.TURNS]) == [("user", "What is in the corner?"), ("assistant", "A blue corner.")]
    assert _user_texts(double.chat_requests[-1].body)[-1].endswith("What is in the corner?")


def test_a_new_question_after_a_failure_drops_the_failure(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "photo.jpg", _photo(640, 480), "image/jpeg")
    double.queue(*[Reply.server_error(500)] * 3)
    at.chat_input(key="vision_chat").set_value("First?").run()
    assert at.error
    double.queue(Reply(text="Second answer."))
    at.chat_input(key="vision_chat").set_value("Second?").run()
    assert not at.error and not [b for b in at.button if b.label == "Retry"]
    assert not any(m.value == "First?" for m in at.markdown)
    assert any(m.value == "Second answer." for m in at.markdown)


def test_refused_key_gets_no_retry(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "photo.jpg", _photo(320, 240), "image/jpeg")
    double.queue(Reply.unauthorized())
    at.chat_input(key="vision_chat").set_value("Hello?").run()
    assert at.error and not [b for b in at.button if b.label == "Retry"]
    assert TEST_TOKEN not in "\n".join(_texts(at) + [e.value for e in at.error])


def test_a_cut_answer_keeps_what_arrived_without_the_cursor(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "photo.jpg", _photo(320, 240), "image/jpeg")
    double.queue(Reply(text="The picture shows a gradient that runs from dark to light across the frame.",
                       stream_mode="cut"))
    at.chat_input(key="vision_chat").set_value("Describe it").run()
    assert not at.exception
    shown = [m.value for m in at.markdown]
    assert any(v.startswith("The picture shows") for v in shown), shown
    assert not any("▌" in v for v in shown), "no streaming cursor on a cut answer"
    assert any("cut off" in c.value for c in at.caption)
    assert at.error


def test_preset_wins_over_a_leftover_custom_question(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "photo.png", _photo(640, 480), "image/png")
    at.text_input(key="vision_own").set_value("What is in the corner?").run()
    assert at.pills(key="vision_preset").value is None, "typing your own question unselects the preset"
    at.pills(key="vision_preset").set_value("alt_text").run()
    assert at.text_input(key="vision_own").value == "", "picking a preset clears the leftover question"
    double.queue(Reply(text="A blue gradient photo with fine grain."))
    _ask(at)
    assert not at.exception
    assert any(m.value == "A blue gradient photo with fine grain." for m in at.markdown)
    body = double.chat_requests[-1].body
    sent = _user_texts(body)[0]
    assert "125 characters" in sent and "corner" not in sent
    assert len(_images_in(body)) == 1
    assert any(m.value == "**Alt text**" for m in at.markdown), "the question shows as the preset's label"
    # Your own question, typed after the preset, is what Ask sends.
    at.text_input(key="vision_own").set_value("What colour is the corner?").run()
    _ask(at)
    assert _user_texts(double.chat_requests[-1].body)[-1] == "What colour is the corner?"


@pytest.mark.parametrize("name, data, reason", [
    ("drawing.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
     "This file is an SVG drawing, not a photo"),
    ("report.jpg", b"%PDF-1.7\n1 0 obj<<>>endobj\n", "This file is a PDF, not an image"),
])
def test_a_refused_file_says_why_under_the_uploader_and_keeps_the_current_image(
        double: ApiDouble, name: str, data: bytes, reason: str) -> None:
    at = _app(double)
    _upload(at, "photo.jpg", _photo(800, 600), "image/jpeg")
    _upload(at, name, data, "image/jpeg")
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(reason in e and name in e and "The current image stays" in e for e in errors), errors
    assert any("800×600" in c.value for c in at.caption), "the previous image stays"
    assert not [e for e in at.exception], "and nothing crashed (the browser test checks it sits under the uploader)"


def test_the_uploader_takes_any_file_and_an_oversized_one_is_refused_clearly(double: ApiDouble) -> None:
    import tomllib

    from lib.vision.images import MAX_UPLOAD_MB

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] > MAX_UPLOAD_MB, "Streamlit must let the file through to explain it"
    at = _app(double)
    assert _uploader(at).proto.type == [], "no type filter: the page explains refusals"
    big = b"\xff\xd8\xff\xe0" + b"\0" * (MAX_UPLOAD_MB * 1024 * 1024 + 1)
    _upload(at, "huge.jpg", big, "image/jpeg")
    assert not at.exception
    assert any("too large" in e.value and f"the limit is {MAX_UPLOAD_MB} MB" in e.value for e in at.error)


def test_stopped_answer_keeps_the_question_and_what_arrived(double: ApiDouble) -> None:
    """What the page does when a run was cut short while streaming (Stop): simulated at the state level."""
    at = _app(double)
    _upload(at, "photo.jpg", _photo(320, 240), "image/jpeg")
    pending = vs.Pending("What is this?", partial="It is a gra", started=True, stop_requested=True, elapsed_s=3.2,
                         answered_by="Llama 3.2 90B Vision on vLLM or another server you run")
    at.session_state[vs.PENDING] = pending
    at.run()
    assert not at.exception
    assert at.session_state[vs.PENDING] is None
    assert any(m.value == "What is this?" for m in at.markdown)
    assert any(m.value == "It is a gra" for m in at.markdown)
    assert any(c.value.startswith("⏹ Stopped by you after 3 s") for c in at.caption)
    assert not any("▌" in m.value for m in at.markdown)
    # The next question is sent with the partial exchange as history.
    double.queue(Reply(text="Still a gradient."))
    at.chat_input(key="vision_chat").set_value("And now?").run()
    body = double.chat_requests[-1].body
    users = _user_texts(body)
    assert users[0].endswith("What is this?") and users[-1] == "And now?"
    assert {"role": "assistant", "content": "It is a gra"} in body["messages"]
    assert any(m.value == "Still a gradient." for m in at.markdown)


def test_transcript_round_trip_shows_the_conversation_again_and_never_the_key(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "photo.jpg", _photo(800, 600), "image/jpeg")
    double.queue(Reply(text=f"Gradient. (echo: Bearer {TEST_TOKEN})"))
    at.chat_input(key="vision_chat").set_value("What is it?").run()
    assert [b.label for b in at.download_button] == ["Markdown", "JSON"]
    state = {k: at.session_state[k] for k in (vs.IMAGE, vs.TURNS, vs.META, vs.ANSWERED)}
    md, js = vision_transcript_files(state, model="m", provider="p", secrets=[TEST_TOKEN])
    assert TEST_TOKEN not in md and TEST_TOKEN not in js
    assert "What is it?" in md and "Gradient." in md and "data:image/jpeg;base64," in md
    data = json.loads(js)
    assert data["model"] == "meta-llama/Llama-3.2-90B-Vision-Instruct" and data["provider"].startswith("vLLM")
    assert data["turns"][1]["meta"].startswith("Llama 3.2 90B Vision on vLLM")
    # A fresh session opens it and shows the Q&A again.
    fresh = _app(double)
    fresh.file_uploader(key="vision_import").set_value(("vision-transcript.json", js.encode(), "application/json"))
    fresh.run()
    assert not fresh.exception
    assert any(m.value == "What is it?" for m in fresh.markdown)
    assert any(m.value.startswith("Gradient.") for m in fresh.markdown)
    assert fresh.image, "the thumbnail is shown as the image"
    assert any("Opened from a transcript" in c.value for c in fresh.caption)


def test_a_broken_transcript_gets_a_clear_error(double: ApiDouble) -> None:
    at = _app(double)
    at.file_uploader(key="vision_import").set_value(("notes.json", b"{not json", "application/json")).run()
    assert not at.exception
    assert any("notes.json" in e.value and "not valid JSON" in e.value for e in at.error)
    tools = json.dumps({"schema": "llama-herd-studio/transcript", "version": 1, "kind": "tools", "turns": []})
    at.file_uploader(key="vision_import").set_value(("tools.json", tools.encode(), "application/json")).run()
    assert any("open it on the Tool calling page" in e.value for e in at.error)


def test_non_english_question_gets_a_polite_note_and_is_still_sent(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "photo.jpg", _photo(300, 200), "image/jpeg")
    double.queue(Reply(text="x", delay_s=0))
    at.chat_input(key="vision_chat").set_value("Qu'est-ce qu'il y a sur cette photo ?").run()
    assert double.chat_requests, "the question is still sent"


def test_image_is_prepared_once_and_settings_survive_a_page_switch(
        double: ApiDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = vs.prepare_image

    def counting(data: bytes, filename: str | None = None, **kw):
        calls.append(len(data))
        return real(data, filename, **kw)

    monkeypatch.setattr(vs, "prepare_image", counting)
    at = _app(double)
    _upload(at, "photo.jpg", _photo(1600, 1200), "image/jpeg")
    at.pills(key="vision_preset").set_value("read_text").run()
    at.segmented_control(key="vision_detail").set_value("low").run()
    assert len(calls) == 2, "prepared once, then once more for the smaller detail level"
    assert any("1600×1200 JPEG" in c.value and "→ 560×420" in c.value for c in at.caption)
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/vision.py").run()
    assert not at.exception
    assert at.pills(key="vision_preset").value == "read_text"
    assert at.segmented_control(key="vision_detail").value == "low"
    assert at.segmented_control(key="vision_source").value == "upload"
    assert any("1600×1200" in c.value for c in at.caption), "the image survives a visit to another page"
    assert len(calls) == 2, "and is not prepared again"
    at.text_input(key="vision_own").set_value("What is in the corner?").run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/vision.py").run()
    assert at.text_input(key="vision_own").value == "What is in the corner?"


def test_camera_photo_and_sample_are_both_usable(double: ApiDouble) -> None:
    at = _app(double)
    at.segmented_control(key="vision_source").set_value("camera").run()
    camera = at.camera_input(key="vision_camera")
    assert camera.proto.resolution_height == 1080, "the largest resolution Streamlit can ask the browser for"
    camera.set_value(("shot.jpg", _photo(1920, 1080), "image/jpeg")).run()
    assert not at.exception
    assert any("1920×1080 JPEG" in c.value for c in at.caption)
    _ask(at)
    assert any("JPEG image of 1120×630" in m.value for m in at.markdown)
    # A sample is a new image: a new conversation, and its licence credit is shown.
    at.segmented_control(key="vision_source").set_value("sample").run()
    at.pills(key="vision_sample_cat").set_value("cat").run()
    assert not at.exception
    assert not any("1120×630" in m.value for m in at.markdown), "a new image starts a new conversation"
    assert any("CC0" in c.value for c in at.caption)
    _ask(at)
    sent = _images_in(double.chat_requests[-1].body)
    assert len(sent) == 1
    with Image.open(io.BytesIO(base64.b64decode(sent[0].split(",", 1)[1]))) as img:
        assert img.size == (451, 300), "the bundled cat photo, not the camera shot"
    # The photo with text is in the gallery.
    at.pills(key="vision_sample_shopfront").set_value("shopfront").run()
    assert any("shopfront.jpg" in c.value and "1200×900" in c.value for c in at.caption)


def test_reload_restores_the_conversation_and_the_prepared_image(double: ApiDouble, monkeypatch) -> None:
    from lib.common.session_store import STORE
    from ui import state

    at = _app(double)
    _upload(at, "photo.jpg", _photo(800, 600), "image/jpeg")
    double.queue(Reply(text="A gradient."))
    at.chat_input(key="vision_chat").set_value("What is it?").run()
    sid = at.session_state["_sid"]
    saved = STORE.load(sid, "vision")
    assert saved and saved["turns"] == [["user", "What is it?"], ["assistant", "A gradient."]]
    assert saved["image"]["data"] == "", "the photo is kept once, as bytes, not as base64 text"
    assert (STORE.load_blob(sid, "vision") or b"")[:3] == b"\xff\xd8\xff"

    def reload(cookie: str) -> AppTest:
        """A new session with the same ?s= address, from a browser whose cookie holds `cookie`."""
        monkeypatch.setattr(state, "_cookie", lambda: cookie)
        client.clear_models_cache()
        again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        again.secrets.update(at.secrets)
        again.query_params["s"] = sid
        again.run()
        notes.extend(t.value for t in again.toast)
        again.switch_page("pages/vision.py").run()
        assert not again.exception
        return again

    notes: list[str] = []
    # The same browser (its cookie holds the secret this tab's id was made with): everything comes back.
    same = reload(at.session_state["_browser"])
    assert any(m.value == "What is it?" for m in same.markdown)
    assert any(m.value == "A gradient." for m in same.markdown)
    assert any("800×600" in c.value for c in same.caption), "the prepared image is back"
    assert same.session_state["_sid"] == sid and not notes
    # Another browser given the copied address: a fresh page, a new id, and a note saying why.
    other = reload(STORE.new_secret())
    assert not any(m.value == "A gradient." for m in other.markdown)
    assert other.session_state["_sid"] != sid and other.query_params["s"] != [sid]
    assert any("another browser" in n for n in notes)
    assert STORE.load(sid, "vision")["turns"][-1] == ["assistant", "A gradient."], "the owner's is untouched"


# --- lib.vision.conversation's conversation state, without Streamlit -------------------------------------------------------------


def test_state_start_stop_finish_and_fail_without_streamlit() -> None:
    from lib.hosts.errors import ErrorKind, UserError

    ss: dict = {}
    vs.init_state(ss)
    assert vs.start(ss, "  What is it?  ") and ss[vs.PENDING].question == "What is it?"
    assert not vs.start(ss, "A second question"), "never silently replaces the question on its way"
    assert not vs.settle_interrupted(ss), "not started yet: it is still to be answered"
    ss[vs.PENDING].started, ss[vs.PENDING].partial, ss[vs.PENDING].elapsed_s = True, "A ca", 2.4
    assert vs.settle_interrupted(ss)
    assert ss[vs.TURNS] == [("user", "What is it?"), ("assistant", "A ca")]
    assert vs.is_stopped(ss[vs.META][1]) and "after 2 s" in ss[vs.META][1]
    err = UserError(ErrorKind.SERVER, "Server error", "Try again.")
    vs.start(ss, "Again?")
    vs.fail(ss, "Again?", err, "Par")
    assert ss[vs.FAILED] == vs.Failure("Again?", err, "Par") and ss[vs.PENDING] is None
    vs.start(ss, "Third?")
    assert ss[vs.FAILED] is None, "a new question drops the stale failure"
    vs.finish(ss, "Third?", "Yes.", "M on P · 1.0 s", "m", "P")
    assert ss[vs.TURNS][-1] == ("assistant", "Yes.") and ss[vs.ANSWERED] == {"model": "m", "provider": "P"}


def test_request_turns_skip_empty_stopped_answers_and_unanswered_questions() -> None:
    turns = [("user", "A?"), ("assistant", ""), ("user", "B?"), ("assistant", "b"), ("user", "C?")]
    assert vs.request_turns(turns, "D?") == [("user", "B?"), ("assistant", "b"), ("user", "D?")]
    assert vs.request_turns([], "Q?") == [("user", "Q?")]
    assert vs.request_turns([("assistant", "stray")], "Q?") == [("user", "Q?")]


def test_snapshot_restore_round_trip_keeps_only_the_prepared_image() -> None:
    raw = _photo(1600, 1200)
    ss: dict = {}
    vs.init_state(ss)
    vs.use_image(ss, vs.image_from_bytes("upload:1", "big.jpg", raw, "upload"))
    vs.finish(ss, "What?", "A gradient.", "footer", "m", "p")
    vs.start(ss, "And then?")
    ss[vs.PENDING].started, ss[vs.PENDING].partial = True, "Then"
    data = json.loads(json.dumps(vs.snapshot(ss, {"vision_detail": "low"})))
    with Image.open(io.BytesIO(base64.b64decode(data["image"]["data"]))) as kept:
        assert kept.size == (1120, 840), "the prepared image is kept, not the 1600×1200 upload"
    fresh: dict = {}
    restored = vs.restore(fresh, data)
    assert restored and restored.image and restored.settings == {"vision_detail": "low"}
    assert fresh[vs.TURNS][:2] == [("user", "What?"), ("assistant", "A gradient.")]
    assert fresh[vs.TURNS][2:] == [("user", "And then?"), ("assistant", "Then")]
    assert vs.is_stopped(fresh[vs.META][3]) and "reloaded" in fresh[vs.META][3]
    image = fresh[vs.IMAGE]
    assert (image.master.width, image.master.height, image.master.original_width) == (1120, 840, 1600)
    small = vs.for_detail(image, 560)
    assert (small.width, small.height) == (560, 420) and small.summary.startswith("1600×1200 JPEG")
    assert vs.restore({}, {"version": 99}) is None and vs.restore({}, None) is None
    assert vs.restore({}, {"version": 1, "turns": [["system", "x"]], "meta": {}}) is None


def test_ask_text_prefers_your_own_words_then_the_preset() -> None:
    assert vs.ask_text("describe", "") == tasks.preset("describe").prompt
    assert vs.ask_text("describe", " Why? ") == "Why?"
    assert vs.ask_text(None, "") is None and vs.ask_text("nope", "") is None
    assert tasks.preset_for_prompt(tasks.preset("alt_text").prompt).label == "Alt text"
    assert tasks.preset_for_prompt("Anything else") is None


def test_presenter_scenario_picks_the_photo_and_asks_in_one_click(double: ApiDouble) -> None:
    at = _app(double)
    at.session_state["presenter_mode"] = True
    at.run()
    [b for b in at.button if b.label == "Read the bakery's sign"][0].click().run()
    assert not at.exception
    sent = double.chat_requests[-1].body["messages"]
    text = str(sent)
    assert "Transcribe all the text in this image" in text and "data:image/jpeg;base64," in text
    assert any("I received one JPEG image" in m.value for m in at.markdown)


def test_a_cached_answer_offers_ask_again_fresh_which_goes_to_the_model(double: ApiDouble) -> None:
    data = _photo(800, 600)
    at = _app(double)
    _upload(at, "phone.jpg", data, "image/jpeg")
    [b for b in at.button if b.label == "Ask Llama"][0].click().run()
    sent = len(double.chat_requests)
    assert _session_requests(at) == 1  # the sidebar's meter counts the vision page's requests too
    _upload(at, "another.jpg", _photo(640, 480), "image/jpeg")  # a new image: a new conversation
    _upload(at, "phone-again.jpg", data, "image/jpeg")  # the same photo and question again: from the cache
    [b for b in at.button if b.label == "Ask Llama"][0].click().run()
    assert not at.exception
    assert len(double.chat_requests) == sent, "an identical request was sent again"
    assert any("no quota used" in c.value for c in at.caption)
    assert _session_requests(at) == 1, "a cached answer costs this session nothing"
    [b for b in at.button if b.label == "Ask again (fresh)"][0].click().run()
    assert not at.exception
    assert len(double.chat_requests) == sent + 1
    assert not any("no quota used" in c.value for c in at.caption)
    assert _session_requests(at) == 2


def test_nvidia_gets_an_image_under_its_inline_cap_and_no_system_message_and_the_page_says_so() -> None:
    with ApiDouble() as d:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.secrets["MODELS_PROVIDER"] = "nvidia"
        at.secrets["MODELS_ENDPOINT"] = d.endpoint_for("nvidia")
        at.secrets["NVIDIA_API_KEY"] = "nvapi-test-key-123456"
        at.run()
        at.switch_page("pages/vision.py").run()
        _upload(at, "detailed.jpg", _photo(), "image/jpeg")  # 4000x3000 with noise: well over 180 000 chars
        assert any("shrunk to fit the host's inline limit" in c.value for c in at.caption)
        _ask(at)
        assert not at.exception
        body = d.chat_requests[-1].body
        assert all(m["role"] != "system" for m in body["messages"])
        urls = _images_in(body)
        assert len(urls) == 1 and len(urls[0].split(",", 1)[1]) <= 180_000
        assert any("I received one JPEG image" in m.value for m in at.markdown)


def test_a_long_vision_conversation_draws_its_latest_turns_and_the_rest_on_request(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "photo.jpg", _photo(800, 600), "image/jpeg")
    turns: list[tuple[str, str]] = []
    for i in range(14):
        turns += [("user", f"Question number {i}?"), ("assistant", f"Answer number {i}.")]
    at.session_state[vs.TURNS] = turns
    at.session_state[vs.META] = {2 * i + 1: f"footer {i}" for i in range(14)}
    at.run()
    assert not at.exception
    asked = [m.value for m in at.markdown if m.value.startswith("Question number")]
    assert asked == [f"Question number {i}?" for i in range(4, 14)]
    footers = [c.value for c in at.caption if c.value.startswith("footer")]
    assert footers == [f"footer {i}" for i in range(4, 14)], "each answer keeps its own footer"
    [b for b in at.button if b.label == "Show 4 earlier turns"][0].click().run()
    assert [m.value for m in at.markdown if m.value.startswith("Question number")] == \
        [f"Question number {i}?" for i in range(14)]


def test_after_a_server_restart_the_page_says_its_conversation_could_not_be_restored(
        double: ApiDouble, monkeypatch) -> None:
    from lib.common import session_store
    from lib.common.session_store import STORE
    from ui import state

    secret = STORE.new_secret()
    monkeypatch.setattr(session_store, "BOOT", "OldBoot1")  # an id made by the process before the restart
    sid = STORE.new_id(secret)
    monkeypatch.undo()
    monkeypatch.setattr(state, "_cookie", lambda: secret)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["s"] = sid
    at.run()
    assert not at.exception
    assert [t.value for t in at.toast] == [state.NOTE_RESTARTED]
    assert at.session_state["_sid"] == sid, "the same browser keeps its address"
    at.run()
    assert not at.toast, "said once"


def test_a_photo_is_saved_once_as_bytes_and_comes_back_from_them() -> None:
    from lib.vision.images import prepare_image

    ss: dict = {}
    vs.init_state(ss)
    prepared = prepare_image(_photo(800, 600), "photo.jpg")
    ss[vs.IMAGE] = vs.CurrentImage("upload:1", "photo.jpg", prepared)
    ss[vs.TURNS] = [("user", "What is it?"), ("assistant", "A gradient.")]
    data, blob, kept = vs.saved_form(ss, {"vision_own": ""})
    assert kept and blob == prepared.data and data["image"]["data"] == ""
    assert len(json.dumps(data)) < 2_000, "no base64 copy of the photo in the JSON"
    again: dict = {}
    vs.init_state(again)
    restored = vs.restore(again, data, blob)
    assert restored and restored.image and again[vs.IMAGE].master.data == prepared.data
    assert again[vs.TURNS] == ss[vs.TURNS]


def test_a_new_photo_keeps_the_replaced_conversation_for_one_undo() -> None:
    from lib.vision.images import prepare_image

    ss: dict = {}
    vs.init_state(ss)
    first = vs.CurrentImage("upload:1", "barn.jpg", prepare_image(_photo(800, 600), "barn.jpg"))
    second = vs.CurrentImage("upload:2", "cat.jpg", prepare_image(_photo(640, 480), "cat.jpg"))
    vs.use_image(ss, first)
    assert vs.undo_offer(ss) is None, "nothing replaced yet"
    ss[vs.TURNS] = [("user", "What is it?"), ("assistant", "A barn."), ("user", "Colour?"), ("assistant", "Red.")]
    vs.use_image(ss, second)
    assert ss[vs.TURNS] == [] and vs.undo_offer(ss) == "barn.jpg and its 2 questions"
    assert vs.undo_image(ss)
    assert ss[vs.IMAGE].id == "upload:1" and ss[vs.TURNS][-1] == ("assistant", "Red.")
    assert vs.undo_offer(ss) is None and not vs.undo_image(ss), "one undo"
    vs.use_image(ss, second)
    ss[vs.TURNS] = [("user", "And this?")]
    assert vs.undo_offer(ss) is None, "a question since: the offer is gone"


# --- what a session keeps: the prepared photo once -------------------------------------------------------------------


@pytest.fixture
def released(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """File ids the page gives back to Streamlit's upload manager (which otherwise keeps them until the session
    ends)."""
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager

    out: list[str] = []
    real = MemoryUploadedFileManager.remove_file

    def remove_file(self, session_id: str, file_id: str) -> None:
        out.append(file_id)
        real(self, session_id, file_id)

    monkeypatch.setattr(MemoryUploadedFileManager, "remove_file", remove_file)
    return out


def test_a_taken_photo_lets_go_of_its_upload_and_the_uploader_starts_empty(
        double: ApiDouble, released: list[str]) -> None:
    at = _app(double)
    _upload(at, "phone.jpg", _photo(1600, 1200), "image/jpeg")
    assert not at.exception
    image = at.session_state[vs.IMAGE]
    assert image.name == "phone.jpg" and released == [image.id.removeprefix("upload:")]
    uploader = _uploader(at)
    assert uploader.key == "vision_upload_1" and uploader.value is None, "drawn anew, empty, in the same run"
    assert any(c.value.startswith("**phone.jpg** · sent to the model: 1600×1200 JPEG") for c in at.caption)
    assert any(c.value.startswith("In use: **phone.jpg**.") for c in at.caption), "the page says which file"
    # A refused file stays in the uploader under its message (nothing is released, the photo stays).
    _upload(at, "notes.txt", b"just some text\n", "text/plain")
    assert released == [image.id.removeprefix("upload:")] and _uploader(at).key == "vision_upload_1"
    assert any("notes.txt" in e.value and "The current image stays" in e.value for e in at.error)
    assert at.session_state[vs.IMAGE].id == image.id
    # The next photo goes in the same place, and is let go of in turn.
    _upload(at, "second.jpg", _photo(800, 600), "image/jpeg")
    assert len(released) == 2 and _uploader(at).key == "vision_upload_2"
    assert not at.error, "a new photo clears the refusal"
    assert any(c.value.startswith("In use: **second.jpg**.") for c in at.caption)


def test_undo_after_a_new_upload_brings_back_the_first_photo(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "barn.jpg", _photo(800, 600), "image/jpeg")
    _ask(at)
    _upload(at, "meadow.jpg", _photo(640, 480), "image/jpeg")
    undo = [b for b in at.button if b.label.startswith("Undo: back to barn.jpg")]
    assert undo, [b.label for b in at.button]
    undo[0].click().run()
    assert not at.exception
    assert at.session_state[vs.IMAGE].name == "barn.jpg", "the uploader no longer holds meadow.jpg to take again"
    assert any(c.value.startswith("**barn.jpg** · sent to the model") for c in at.caption)
    assert any("JPEG image of 800×600" in m.value for m in at.markdown), "its conversation is back"
    at.run()
    assert at.session_state[vs.IMAGE].name == "barn.jpg"


def test_a_camera_shot_is_let_go_of_once_taken(double: ApiDouble, released: list[str]) -> None:
    at = _app(double)
    at.segmented_control(key="vision_source").set_value("camera").run()
    at.camera_input(key="vision_camera").set_value(("shot.jpg", _photo(1920, 1080), "image/jpeg")).run()
    assert not at.exception
    image = at.session_state[vs.IMAGE]
    assert image.source == "camera" and released == [image.id.removeprefix("camera:")]
    assert [c.key for c in at.camera_input] == ["vision_camera_1"], "the camera starts afresh"
    assert any(c.value.startswith("**camera.jpg** · sent to the model: 1920×1080 JPEG") for c in at.caption)


def test_the_last_request_kept_for_view_code_holds_no_copy_of_the_photo(double: ApiDouble) -> None:
    at = _app(double)
    _upload(at, "phone.jpg", _photo(1600, 1200), "image/jpeg")
    _ask(at)
    assert not at.exception
    kept = at.session_state["vision_last_request"]["messages"]
    urls = [p["image_url"]["url"] for m in kept if isinstance(m["content"], list) for p in m["content"]
            if p["type"] == "image_url"]
    assert urls == ["data:image/jpeg;base64,"], "the format only: the photo itself is kept once, as bytes"
    assert len(json.dumps(kept)) < 2_000
    assert _images_in(double.chat_requests[-1].body)[0].startswith("data:image/jpeg;base64,/9j/"), "sent whole"
    code = [c.value for c in at.code]
    assert any('image_file="photo.jpg"' in c and 'image_format="jpeg"' in c for c in code), code
    prepared = at.session_state["vision_prepared"]
    assert prepared is at.session_state[vs.IMAGE].master, "at full detail the image sent is the kept one"
