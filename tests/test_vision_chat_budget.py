"""The vision answer fits its input limit, and is replayed from the cache for an identical request."""

from __future__ import annotations

from lib.answers.cache import DEDUPE
from lib.vision.images import prepare_image
from lib.vision.answer import VisionAnswer
from tests.api_double import ApiDouble, Reply


def _photo() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.effect_noise((300, 200), 60).convert("RGB").save(buf, "JPEG")
    return buf.getvalue()


def test_a_long_vision_chat_keeps_the_image_and_latest_question_within_the_limit(double: ApiDouble, settings) -> None:
    image = prepare_image(_photo()).data_url
    turns = []
    for i in range(40):
        turns += [("user", f"Question {i}: " + "what about this detail? " * 30), ("assistant", "An answer. " * 60)]
    turns.append(("user", "And the last question?"))
    answer = VisionAnswer(settings, "m", image, turns, context_tokens=8000, max_tokens=1024)
    double.queue(Reply(text="Fine."))
    assert "".join(answer) == "Fine."
    sent = double.chat_requests[-1].body["messages"]
    text = str(sent)
    assert "And the last question?" in text and "data:image/jpeg;base64," in text
    assert any("earlier turns were left out to fit" in n for n in answer.notes)
    from lib.hosts.budget import estimate_tokens

    assert estimate_tokens(sent) <= 8000 - 1024


def test_an_identical_vision_question_is_answered_from_the_cache(double: ApiDouble, settings) -> None:
    image = prepare_image(_photo()).data_url
    opener = DEDUPE.chat_stream
    first = VisionAnswer(settings, "m", image, [("user", "Describe it.")],
                         open_stream=lambda *a, **k: opener(*a, **k))
    "".join(first)
    n = len(double.chat_requests)
    again = VisionAnswer(settings, "m", image, [("user", "Describe it.")],
                         open_stream=lambda *a, **k: opener(*a, **k))
    assert "".join(again) == first.text
    assert len(double.chat_requests) == n and again.cached == "cache"
    assert "no quota used" in again.summary
