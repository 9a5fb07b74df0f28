"""A Korean question about a photo: asked in English, answered in Korean (lib/vision/translate.py), against the API
double: three requests to the same model (the question's English with no image, the image question in English, the
answer's Korean with no image), each counted, one deadline, Stop closing whichever request is open."""

from __future__ import annotations

import io
import time

import pytest

from lib.hosts.errors import ErrorKind, explain
from lib.vision.images import prepare_image
from lib.vision.translate import (
    ANSWER, QUESTION, TO_ENGLISH, TO_KOREAN, TRANSLATION, TranslatedAnswer, looks_korean, translation_messages)
from tests.api_double import ApiDouble, Reply, demo_responder

SIGN = "이 간판에 뭐라고 쓰여 있어요?"


def _photo() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (320, 200), (200, 40, 40)).save(buf, "JPEG")
    return prepare_image(buf.getvalue()).data_url


def _has_image(messages: list[dict]) -> bool:
    return any(isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
               for m in messages)


def _text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content if p.get("type") == "text")


def _system(messages: list[dict]) -> str:
    return " ".join(_text(m) for m in messages if m.get("role") == "system")


# --- the messages ----------------------------------------------------------------------------------------------------


def test_translation_messages_are_text_only_with_a_short_instruction() -> None:
    to_en = translation_messages(SIGN, "en")
    assert to_en == [{"role": "system", "content": TO_ENGLISH}, {"role": "user", "content": SIGN}]
    assert TO_ENGLISH == "Translate to English; reply with the translation only."
    to_ko = translation_messages("The sign reads BAKERY.", "ko")
    assert to_ko[0]["content"] == TO_KOREAN and TO_KOREAN.startswith("Translate to Korean")
    assert not _has_image(to_en + to_ko)
    with pytest.raises(ValueError):
        translation_messages("x", "fr")  # type: ignore[arg-type]


def test_looks_korean_finds_hangul() -> None:
    assert looks_korean(SIGN) and looks_korean("간판 text") and looks_korean("ㅋㅋ")
    assert not looks_korean("What does this sign say?") and not looks_korean("これは何ですか") and not looks_korean("")


def test_the_double_translates_as_a_model_would() -> None:
    def ask(system: str, text: str) -> str:
        return demo_responder({"messages": [{"role": "system", "content": system},
                                            {"role": "user", "content": text}]}).text

    assert ask(TO_ENGLISH, SIGN) == "What does this sign say?"
    assert ask(TO_ENGLISH, "이건 뭐예요?") == "(translated) 이건 뭐예요?"
    assert ask(TO_KOREAN, "The sign reads BAKERY.") == "(번역) The sign reads BAKERY."


# --- the three steps -------------------------------------------------------------------------------------------------


def test_a_korean_question_is_asked_in_english_and_answered_in_korean(double: ApiDouble, settings) -> None:
    image = _photo()
    before = len(double.chat_requests)
    answer = TranslatedAnswer(settings, "m", image, [("user", SIGN)], detail="high", lang="ko")
    events = list(answer.events())

    steps = [step for step, _ in events]
    assert steps == sorted(steps, key=[QUESTION, ANSWER, TRANSLATION].index), "question, then answer, then Korean"
    assert set(steps) == {QUESTION, ANSWER, TRANSLATION}
    sent = [r.messages for r in double.chat_requests[before:]]
    assert len(sent) == 3 and answer.requests == 3, "each step is one request"

    question, image_request, korean = sent
    assert _system(question) == TO_ENGLISH and _text(question[-1]) == SIGN and not _has_image(question)
    assert _has_image(image_request), "the image goes with the English question"
    asked = _text([m for m in image_request if m["role"] == "user"][-1])
    assert asked.endswith("What does this sign say?") and SIGN not in str(image_request)
    assert "I received one PNG image of 320×200 pixels" in answer.english
    assert "Translate to Korean" in _system(korean) and _text(korean[-1]) == answer.english
    assert not _has_image(korean)

    assert answer.question_en == "What does this sign say?"
    assert answer.text == "(번역) " + answer.english == "".join(p for s, p in events if s == TRANSLATION)
    assert answer.messages == image_request, "View code shows the image request"
    assert answer.step == TRANSLATION and not answer.cut
    assert answer.summary.startswith(answer.answered_by) and "초" in answer.summary  # the footer in Korean
    assert {r.body.get("model") for r in double.chat_requests[before:]} == {"m"}, "the same model throughout"


def test_iterating_gives_the_korean_pieces_only(double: ApiDouble, settings) -> None:
    answer = TranslatedAnswer(settings, "m", _photo(), [("user", SIGN)])
    assert "".join(answer) == answer.text and answer.text.startswith("(번역) ")


def test_earlier_turns_are_sent_as_given_and_only_the_new_question_is_translated(double: ApiDouble, settings) -> None:
    double.queue(Reply(text="What colour is the cat?"), Reply(text="It is orange."), Reply(text="주황색이에요."))
    turns = [("user", "What is in this photo?"), ("assistant", "A cat on a sofa."), ("user", "고양이는 무슨 색이에요?")]
    answer = TranslatedAnswer(settings, "m", _photo(), turns)
    assert "".join(answer) == "주황색이에요."
    question, image_request, _ = [r.messages for r in double.chat_requests[-3:]]
    assert _text(question[-1]) == "고양이는 무슨 색이에요?" and len(question) == 2, "no history in a translation"
    texts = [(m["role"], _text(m)) for m in image_request if m["role"] != "system"]
    assert texts[1:] == [("assistant", "A cat on a sofa."), ("user", "What colour is the cat?")]
    assert texts[0][1].endswith("What is in this photo?")


def test_a_quoted_translation_is_unwrapped(double: ApiDouble, settings) -> None:
    double.queue(Reply(text='"What is written here?"'), Reply(text="Nothing."), Reply(text="아무것도 없어요."))
    answer = TranslatedAnswer(settings, "m", _photo(), [("user", "여기 뭐라고 써 있어요?")])
    "".join(answer)
    assert answer.question_en == "What is written here?"
    assert _text(double.chat_requests[-2].messages[-1]).endswith("What is written here?")


def test_an_empty_english_answer_is_not_translated(double: ApiDouble, settings) -> None:
    double.queue(Reply(text="What is it?"), Reply(text=""))
    before = len(double.chat_requests)
    answer = TranslatedAnswer(settings, "m", _photo(), [("user", "뭐예요?")])
    assert "".join(answer) == "" and answer.text == "" and answer.partial == ""
    assert len(double.chat_requests) - before == 2 and answer.requests == 2


# --- Stop, errors, a model that is gone ----------------------------------------------------------------------------


def _close_during(step: str, double: ApiDouble, settings) -> TranslatedAnswer:
    slow = Reply(text=" ".join(f"word{i}" for i in range(200)), chunk_delay_s=0.05)
    replies = {QUESTION: [slow], ANSWER: [Reply(text="What is it?"), slow],
               TRANSLATION: [Reply(text="What is it?"), Reply(text="A red card."), slow]}[step]
    double.queue(*replies)
    answer = TranslatedAnswer(settings, "m", _photo(), [("user", "뭐예요?")])
    events = answer.events()
    for got, _piece in events:
        if got == step:
            break
    gone = len(double.disconnects)
    events.close()  # Stop
    deadline = time.monotonic() + 3
    while len(double.disconnects) == gone and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(double.disconnects) > gone, f"the {step} request was not hung up"
    return answer


@pytest.mark.parametrize("step", [QUESTION, ANSWER, TRANSLATION])
def test_stop_closes_whichever_request_is_open(double: ApiDouble, settings, step: str) -> None:
    before = len(double.chat_requests)
    answer = _close_during(step, double, settings)
    n = [QUESTION, ANSWER, TRANSLATION].index(step) + 1
    assert len(double.chat_requests) - before == n, "nothing is sent after Stop"
    assert answer.requests == n, "a stopped request that reached the host counts"
    assert answer.step == step
    if step == ANSWER:
        assert answer.partial.startswith("word0") and answer.text == ""
    if step == TRANSLATION:
        assert answer.partial.startswith("word0") and answer.english == "A red card."


def test_an_error_in_the_image_request_is_raised_and_nothing_is_translated(double: ApiDouble, settings) -> None:
    double.queue(Reply(text="What is it?"), Reply.unknown_model("m"))
    before = len(double.chat_requests)
    answer = TranslatedAnswer(settings, "m", _photo(), [("user", "뭐예요?")])
    with pytest.raises(Exception) as caught:
        list(answer.events())
    assert explain(caught.value).kind is ErrorKind.MODEL_NOT_FOUND
    assert len(double.chat_requests) - before == 2 and answer.text == ""


def test_a_retired_model_is_skipped_at_the_first_request(double: ApiDouble, settings) -> None:
    double.queue(Reply.gone("m"), Reply(text="What is it?"), Reply(text="A red card."), Reply(text="빨간 카드."))
    answer = TranslatedAnswer(settings, "m", _photo(), [("user", "뭐예요?")],
                              next_model=lambda model: "m2" if model == "m" else None)
    assert "".join(answer) == "빨간 카드."
    models = [r.body.get("model") for r in double.chat_requests[-4:]]
    assert models == ["m", "m2", "m2", "m2"], "the rest of the turn goes to the replacement"
    assert answer.model == "m2" and any("`m2`" in note for note in answer.notes)


def test_one_deadline_holds_for_the_whole_turn(double: ApiDouble, settings) -> None:
    double.queue(Reply(text="What is it?"), Reply(text="slow " * 50, chunk_delay_s=0.1))
    answer = TranslatedAnswer(settings, "m", _photo(), [("user", "뭐예요?")], deadline_s=1.0)
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        list(answer.events())
    assert time.monotonic() - started < 3
    assert explain(caught.value).kind is ErrorKind.DEADLINE


def test_a_question_too_long_is_refused_before_anything_is_sent(double: ApiDouble, settings) -> None:
    from lib.hosts.budget import MAX_QUESTION_CHARS
    from lib.hosts.errors import QuestionTooLong

    before = len(double.chat_requests)
    answer = TranslatedAnswer(settings, "m", _photo(), [("user", "가" * (MAX_QUESTION_CHARS + 1))])
    with pytest.raises(QuestionTooLong):
        list(answer.events())
    assert len(double.chat_requests) == before and answer.requests == 0


def test_the_conversation_must_end_with_a_question(settings) -> None:
    with pytest.raises(ValueError):
        TranslatedAnswer(settings, "m", "data:image/jpeg;base64,", [("assistant", "hi")])
