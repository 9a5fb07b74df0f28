"""lib.vision.conversation: presets, detail levels, the English check, message building and the bundled sample photos."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from lib.vision.images import MAX_SIDE, prepare_image
from lib.vision import tasks
from lib.vision.tasks import DETAIL_LEVELS, PRESETS, SAMPLES, build_messages, looks_english

REPO = Path(__file__).resolve().parent.parent
IMAGE = "data:image/jpeg;base64,/9j/4AAQSkZJRg=="


# --- presets and detail levels ------------------------------------------------------------------------------------


def test_the_five_presets_exist_with_distinct_labels_and_prompts() -> None:
    assert [p.key for p in PRESETS] == ["describe", "alt_text", "read_text", "objects", "unusual"]
    assert len({p.label for p in PRESETS}) == len(PRESETS)
    assert all(p.prompt.strip() and p.label.strip() for p in PRESETS)
    assert tasks.preset("objects") is PRESETS[3]
    with pytest.raises(KeyError):
        tasks.preset("nope")


def test_alt_text_prompt_asks_for_125_characters_and_only_the_alt_text() -> None:
    prompt = tasks.preset("alt_text").prompt.lower()
    assert "alt text" in prompt and "125 characters" in prompt and "only the alt text" in prompt


@pytest.mark.parametrize(
    ("key", "words"),
    [("describe", ["detail"]), ("read_text", ["transcribe", "exactly"]), ("objects", ["bullet"]), ("unusual", ["unusual"])],
)
def test_each_preset_asks_for_what_its_button_says(key: str, words: list[str]) -> None:
    prompt = tasks.preset(key).prompt.lower()
    assert all(word in prompt for word in words)


def test_detail_levels_match_llama_vision_tiles() -> None:
    levels = {level.key: level for level in DETAIL_LEVELS}
    assert list(levels) == ["low", "high", "auto"]
    assert (levels["low"].max_side, levels["low"].api_detail) == (560, "low")
    assert (levels["high"].max_side, levels["high"].api_detail) == (1120, "high")
    assert (levels["auto"].max_side, levels["auto"].api_detail) == (1120, "auto")
    assert levels["high"].max_side == MAX_SIDE
    assert "small text" in levels["low"].explanation and "tokens" in levels["high"].explanation
    assert tasks.detail_level("auto") is levels["auto"]


# --- looks_english ------------------------------------------------------------------------------------------------

ENGLISH = [
    "What is in this picture?",
    "Describe the image.",
    "ok",
    "why?",
    "",
    "123 456?",
    "What breed is the cat?",
    "Is there a van in the picture?",
    "Is the man wearing a hat?",
    "Was this taken at night?",
    "Can you read the sign that says 'Hotel de la Paix'?",
    "What does 'c'est la vie' mean?",
    "The menu says 'soupe du jour et pain' - what is it?",
    "What is the name of the restaurant La Casa del Sol?",
    "What's the café called?",
    "What does π stand for on the blackboard?",
    "Translate the German text on the sign",
    "Count the rockets",
    "Rate the latte art from 1 to 10",
    "Is this a Falcon 9 or an Atlas V?",
    "Dónde?",
]
NOT_ENGLISH = [
    "Qu'est-ce que c'est ?",
    "Was ist auf dem Bild?",
    "这是什么",
    "¿Qué hay en la foto?",
    "Che cosa c'è nella foto?",
    "Wat zie je op deze foto?",
    "Vad finns på bilden?",
    "Что на картинке?",
    "この写真は何ですか",
    "ما هذا؟",
    "Beschreibe dieses Bild bitte",
    "Combien de personnes sont sur la photo ?",
    "O que tem nesta imagem?",
]


@pytest.mark.parametrize("text", ENGLISH)
def test_english_and_short_questions_are_never_flagged(text: str) -> None:
    assert looks_english(text) is True


@pytest.mark.parametrize("text", NOT_ENGLISH)
def test_other_languages_are_noticed(text: str) -> None:
    assert looks_english(text) is False


# --- build_messages -----------------------------------------------------------------------------------------------


def image_parts(messages: list[dict]) -> list[dict]:
    return [
        part
        for message in messages
        if isinstance(message["content"], list)
        for part in message["content"]
        if part["type"] == "image_url"
    ]


def test_first_question_carries_the_image_and_the_detail() -> None:
    messages = build_messages(IMAGE, [("user", "What is this?")], detail="high")
    assert messages == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": IMAGE, "detail": "high"}},
            ],
        }
    ]
    json.dumps(messages)  # plain JSON, ready for the API


@pytest.mark.parametrize("follow_ups", [0, 1, 2, 5])
def test_exactly_one_image_whatever_the_number_of_follow_ups(follow_ups: int) -> None:
    turns = [("user", "Describe it")]
    for n in range(follow_ups):
        turns += [("assistant", f"Answer {n}"), ("user", f"Follow-up {n}")]
    messages = build_messages(IMAGE, turns)
    assert len(image_parts(messages)) == 1
    assert image_parts(messages)[0]["image_url"]["detail"] == "auto"
    assert [m["role"] for m in messages] == [role for role, _ in turns]
    assert [m["content"] for m in messages[1:]] == [text for _, text in turns[1:]]  # later turns: plain text


def test_system_text_goes_into_the_first_question_by_default() -> None:
    turns = [("user", "What is this?"), ("assistant", "A cat."), ("user", "What colour?")]
    messages = build_messages(IMAGE, turns, system_text="Answer briefly.")
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"][0]["text"] == "Answer briefly.\n\nWhat is this?"
    assert messages[2]["content"] == "What colour?"


def test_system_mode_system_sends_a_system_message_first() -> None:
    messages = build_messages(IMAGE, [("user", "What is this?")], system_text="Answer briefly.", system_mode="system")
    assert messages[0] == {"role": "system", "content": "Answer briefly."}
    assert messages[1]["content"][0]["text"] == "What is this?"
    assert len(image_parts(messages)) == 1


@pytest.mark.parametrize("system_text", [None, "", "   "])
def test_no_system_text_adds_nothing(system_text: str | None) -> None:
    for mode in ("user", "system"):
        messages = build_messages(IMAGE, [("user", "Hi there")], system_text=system_text, system_mode=mode)
        assert len(messages) == 1 and messages[0]["content"][0]["text"] == "Hi there"


@pytest.mark.parametrize(
    ("turns", "kwargs"),
    [
        ([], {}),
        ([("assistant", "Hello")], {}),
        ([("user", "Hi"), ("tool", "{}")], {}),
        ([("user", "Hi")], {"detail": "ultra"}),
        ([("user", "Hi")], {"system_mode": "developer"}),
    ],
    ids=["no-turns", "starts-with-assistant", "tool-role", "bad-detail", "bad-system-mode"],
)
def test_malformed_requests_are_refused_before_anything_is_sent(turns: list[tuple[str, str]], kwargs: dict) -> None:
    with pytest.raises(ValueError):
        build_messages(IMAGE, turns, **kwargs)


# --- sample photos ------------------------------------------------------------------------------------------------


def test_samples_are_listed_with_credits_and_licences() -> None:
    assert 3 <= len(SAMPLES) <= 4
    assert len({s.key for s in SAMPLES}) == len(SAMPLES)
    licences = (REPO / "assets" / "samples" / "LICENSES.md").read_text(encoding="utf-8")
    for item in SAMPLES:
        assert item.path.is_absolute() and item.path.parent == REPO / "assets" / "samples"
        assert item.label and ("CC0" in item.credit or "public domain" in item.credit)
        assert f"`{item.path.name}`" in licences
    assert tasks.sample("cat").path.name == "cat.jpg"


@pytest.mark.parametrize("item", SAMPLES, ids=[s.key for s in SAMPLES])
def test_each_sample_is_a_small_real_photo_that_prepares_cleanly(item: tasks.Sample) -> None:
    data = item.path.read_bytes()
    assert len(data) <= 400 * 1024
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG" and max(img.size) <= 1600 and img.mode == "RGB"
        assert len(img.getcolors(1_000_000) or []) > 5000  # a photograph, not a flat drawing
    for level in DETAIL_LEVELS:
        prepared = prepare_image(data, item.path.name, max_side=level.max_side)
        assert max(prepared.width, prepared.height) <= level.max_side
        assert prepared.mime_type == "image/jpeg"


# --- what a session keeps -------------------------------------------------------------------------------------------


def test_the_request_kept_for_view_code_has_the_images_format_but_not_their_data() -> None:
    from lib.hosts.view_code import python_snippet
    from lib.vision.conversation import without_image_data

    png = "data:image/png;base64," + "iVBORw0KGgo" * 1000
    messages = build_messages(png, [("user", "What is this?"), ("assistant", "A chart."), ("user", "Its title?")],
                              detail="high", system_text="Be brief.", system_mode="system")
    kept = without_image_data(messages)
    assert json.dumps(kept).count("iVBORw0KGgo") == 0 and len(json.dumps(kept)) < 600
    assert [m["role"] for m in kept] == [m["role"] for m in messages]
    image_parts = [p for m in kept if isinstance(m["content"], list) for p in m["content"] if p["type"] == "image_url"]
    assert image_parts == [{"type": "image_url", "image_url": {"url": "data:image/png;base64,", "detail": "high"}}]
    assert messages[1]["content"][1]["image_url"]["url"] == png, "the request itself is left whole"
    # "View code" writes the same program from either.
    assert python_snippet("https://h/v1", "m", kept) == python_snippet("https://h/v1", "m", messages)
