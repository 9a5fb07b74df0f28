"""What can be asked of Llama 3.2 Vision: task presets, detail levels, bundled samples, the English check, and the
messages of one request (one image, the conversation's text turns).

Llama 3.2 Vision takes one image per request, sees at most 4 tiles of 560 px, and supports only English for
image+text prompts (see FACTS.md). The words shown for them (labels, explanations, credits) are the catalogue's
(`lib/i18n/<lang>/vision.toml`): each item's English fields are read from it, and `label_in(lang)` (and the like)
give another language's; the prompts sent to the model are here and stay English. Imports only `lib.i18n`. Example::

    prepared = prepare_image(data, max_side=detail_level("high").max_side)
    messages = build_messages(prepared.data_url, [("user", preset("describe").prompt)], detail="high")
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from lib.i18n import DEFAULT, text

__all__ = [
    "DETAIL_LEVELS",
    "PRESETS",
    "SAMPLES",
    "DetailLevel",
    "Preset",
    "Sample",
    "build_messages",
    "detail_level",
    "looks_english",
    "preset",
    "preset_for_prompt",
    "sample",
]

ALT_TEXT_MAX_CHARS = 125
"""Screen readers cut long alt text; 125 characters is the usual advice."""


@dataclass(frozen=True)
class Preset:
    """A ready-made question: ``key`` is stable, ``label`` is shown on a button (English; ``label_in(lang)`` for
    another language), ``prompt`` is sent (always English)."""

    key: str
    label: str
    prompt: str

    def label_in(self, lang: str) -> str:
        """The button's words in ``lang`` (``vision.preset.<key>``)."""
        return text(lang, f"vision.preset.{self.key}")


PRESETS: list[Preset] = [
    Preset(
        "describe",
        text(DEFAULT, "vision.preset.describe"),
        "Describe this image in detail: the main subject, the setting, the colours and the light, and any text "
        "you can read. Finish with one sentence on what the image as a whole shows.",
    ),
    Preset(
        "alt_text",
        text(DEFAULT, "vision.preset.alt_text"),
        f"Write alt text for this image for people who use a screen reader, in at most {ALT_TEXT_MAX_CHARS} "
        "characters. Reply with only the alt text: no quotation marks, no introduction, no explanation.",
    ),
    Preset(
        "read_text",
        text(DEFAULT, "vision.preset.read_text"),
        "Transcribe all the text in this image exactly as it is written, keeping the line breaks, spelling, "
        "capitalisation and punctuation. Do not translate, correct or summarise it. If there is no text, reply "
        '"No text found."',
    ),
    Preset(
        "objects",
        text(DEFAULT, "vision.preset.objects"),
        "List the objects you can see in this image as a bulleted list, one object per line, the most prominent "
        "first. Give a count when there is more than one of something.",
    ),
    Preset(
        "unusual",
        text(DEFAULT, "vision.preset.unusual"),
        "What is unusual or surprising in this image? Say what you would normally expect and what is different "
        "here. If nothing is unusual, say so.",
    ),
]


@dataclass(frozen=True)
class DetailLevel:
    """How much of the image the model gets: ``max_side`` for ``prepare_image``, ``api_detail`` for the API;
    ``label`` and ``explanation`` in English (``label_in(lang)``, ``explanation_in(lang)`` for another language)."""

    key: str
    label: str
    max_side: int
    api_detail: str
    explanation: str

    def label_in(self, lang: str) -> str:
        """The choice's words in ``lang`` (``vision.detail.<key>.label``)."""
        return text(lang, f"vision.detail.{self.key}.label")

    def explanation_in(self, lang: str) -> str:
        """What the choice means, in ``lang`` (``vision.detail.<key>.explanation``)."""
        return text(lang, f"vision.detail.{self.key}.explanation")


def _level(key: str, max_side: int, api_detail: str) -> DetailLevel:
    return DetailLevel(key, text(DEFAULT, f"vision.detail.{key}.label"), max_side, api_detail,
                       text(DEFAULT, f"vision.detail.{key}.explanation"))


DETAIL_LEVELS: list[DetailLevel] = [
    _level("low", 560, "low"),  # one 560-px tile
    _level("high", 1120, "high"),  # up to four tiles: the most Llama 3.2 Vision ever sees
    _level("auto", 1120, "auto"),  # up to 1120×1120; the server decides
]

_API_DETAILS = frozenset(level.api_detail for level in DETAIL_LEVELS)


@dataclass(frozen=True)
class Sample:
    """A bundled photo to try without uploading; ``credit`` is the line to show under it (English: ``label_in``,
    ``credit_in`` give another language's)."""

    key: str
    label: str
    path: Path
    credit: str

    @property
    def stage_credit(self) -> str:
        """The credit without the licence file's path (presenter mode shows no file paths)."""
        return text(DEFAULT, f"vision.sample.{self.key}.stage_credit")

    def label_in(self, lang: str) -> str:
        """The sample's name in ``lang`` (``vision.sample.<key>.label``)."""
        return text(lang, f"vision.sample.{self.key}.label")

    def credit_in(self, lang: str, stage: bool = False) -> str:
        """The credit in ``lang``; ``stage=True``: without the licence file's path (`stage_credit`)."""
        return text(lang, f"vision.sample.{self.key}.{'stage_credit' if stage else 'credit'}")


_SAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "samples"


def _sample(key: str, filename: str) -> Sample:
    return Sample(key, text(DEFAULT, f"vision.sample.{key}.label"), _SAMPLES_DIR / filename,
                  text(DEFAULT, f"vision.sample.{key}.credit"))


SAMPLES: list[Sample] = [
    _sample("cat", "cat.jpg"),  # scikit-image's sample data, CC0 (assets/samples/LICENSES.md)
    _sample("shopfront", "shopfront.jpg"),  # made for this project with Pillow, CC0: to try "Read the text"
    _sample("astronaut", "astronaut.jpg"),  # NASA, public domain
    _sample("rocket", "rocket.jpg"),  # SpaceX, public domain
]


_Keyed = TypeVar("_Keyed", Preset, DetailLevel, Sample)


def preset(key: str) -> Preset:
    """The preset with this ``key`` (``KeyError`` if there is none)."""
    return _by_key(PRESETS, key)


def preset_for_prompt(text: str) -> Preset | None:
    """The preset whose prompt is exactly `text` (to show a sent preset by its short label), else None."""
    return next((p for p in PRESETS if p.prompt == text), None)


def detail_level(key: str) -> DetailLevel:
    """The detail level with this ``key`` (``KeyError`` if there is none)."""
    return _by_key(DETAIL_LEVELS, key)


def sample(key: str) -> Sample:
    """The sample photo with this ``key`` (``KeyError`` if there is none)."""
    return _by_key(SAMPLES, key)


def _by_key(items: Sequence[_Keyed], key: str) -> _Keyed:
    for item in items:
        if item.key == key:
            return item
    raise KeyError(key)


# --- is the question in English? ----------------------------------------------------------------------------------

# Frequent English words, including short ones other languages share ("a", "in", "on"): counting those as
# English only makes the check more careful. Words that are also frequent elsewhere ("was", "die") are in neither.
_ENGLISH = frozenset(
    """the a an this that these those what which who whom whose where when why how is are were be been being
    there here it its it's i you your he she they them their we our my me of to in on at by for from with
    about into over under between through and or but if then than as so no do does did done not can could
    would should shall may might must any some all each every many much more most picture image photo
    photograph see seen shown show look looks like describe tell read write list explain anything something
    thing things one two three please happening going doing wearing holding color colour colors colours
    background front left right top bottom has have had just only very up out get make kind type""".split()
)
# Frequent words of languages people often type that are not English words.
_FOREIGN = (
    frozenset(
        """le les des du une est et que qui quoi dans sur pour avec ce cette ces il elle ils elles sont pas ne
        vous nous je tu mon ma mes au aux voici quel quelle quels quelles où peux pouvez décris décrivez
        der das ist und ein eine einen einem einer nicht mit auf dem des sind wie ich sie wir ihr es im zu
        von bild bitte welche welcher wo warum gibt kannst können dieses dieser diesem diese hier beschreibe
        siehst el la los las qué hay en un una y del por para con esta este esto imagen cómo dónde cuál
        cuántos puedes lo se su sus estas estos gli che cosa è di della delle nel nella questa questo sono
        immagine dove perché c'è puoi descrivi os uma é não na isso isto imagem tem há você het een wat dit
        zijn niet voor er afbeelding kun kunt zie deze ik och är det vad på ett som för bilden finns hva
        hvad jeg kan du""".split()
    )
    - _ENGLISH
)
_FRENCH_ELISION = re.compile(r"^(?:c|d|j|l|m|n|s|t|qu)['’]\w", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


def looks_english(text: str) -> bool:
    """False when ``text`` is clearly not English (Llama 3.2 Vision answers image questions in English only).

    A heuristic: mostly non-Latin letters (Chinese, Cyrillic, Arabic, ...) means not English; for Latin script,
    at least two common foreign words and more than twice as many as English ones means not English. Short or unclear text counts
    as English, so an ordinary English question is never flagged.
    """
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return True
    non_latin = sum(1 for ch in letters if not unicodedata.name(ch, "").startswith("LATIN"))
    if non_latin * 2 > len(letters):
        return False
    words = [word.lower().replace("’", "'") for word in _WORD.findall(text)]
    if len(words) < 3:
        return True
    english = sum(word in _ENGLISH for word in words)
    foreign = sum(word in _FOREIGN or bool(_FRENCH_ELISION.match(word)) for word in words)
    foreign += 2 * sum(text.count(mark) for mark in "¿¡")
    return not (foreign >= 2 and foreign > 2 * english)


# --- messages -----------------------------------------------------------------------------------------------------


def build_messages(
    image_data_url: str,
    turns: Sequence[tuple[str, str]],
    *,
    detail: str = "auto",
    system_text: str | None = None,
    system_mode: str = "user",
) -> list[dict]:
    """OpenAI-style chat messages carrying exactly one image, in the first user message.

    ``turns`` is the conversation so far, ``[("user", question), ("assistant", answer), ("user", follow_up), ...]``.
    ``system_mode="system"`` sends ``system_text`` as a system message; ``"user"`` (the default, because some hosts
    refuse a system message together with an image) puts it before the first question instead.
    """
    if not image_data_url:
        raise ValueError("image_data_url is empty")
    if detail not in _API_DETAILS:
        raise ValueError(f"detail must be one of {sorted(_API_DETAILS)}, not {detail!r}")
    if system_mode not in ("user", "system"):
        raise ValueError(f"system_mode must be 'user' or 'system', not {system_mode!r}")
    if not turns or turns[0][0] != "user":
        raise ValueError("the conversation must start with the user's question")
    for role, _text in turns:
        if role not in ("user", "assistant"):
            raise ValueError(f"turn roles must be 'user' or 'assistant', not {role!r}")

    system = system_text.strip() if system_text else ""
    messages: list[dict] = []
    if system and system_mode == "system":
        messages.append({"role": "system", "content": system})
    first_role, first_text = turns[0]
    if system and system_mode == "user":
        first_text = f"{system}\n\n{first_text}"
    messages.append(
        {
            "role": first_role,
            "content": [
                {"type": "text", "text": first_text},
                {"type": "image_url", "image_url": {"url": image_data_url, "detail": detail}},
            ],
        }
    )
    messages.extend({"role": role, "content": text} for role, text in turns[1:])
    return messages


# --- the conversation's state -------------------------------------------------------------------------------------
# Kept in st.session_state under these keys (the page passes the mapping in). A question is stored as `Pending`
# before its answer streams, so a run cut short by Stop, any other click or a page switch still finds the question
# and what arrived, and turns them into a stopped turn.
