"""Plain helpers for the vision page: presets, detail levels, samples, the English check, messages, and the
conversation's state (what is asked, streaming, stopped or failed; saved for a reload; imported from a transcript).

Llama 3.2 Vision takes one image per request, sees at most 4 tiles of 560 px, and supports only English for
image+text prompts (see FACTS.md). Nothing here imports Streamlit: the page passes `st.session_state` (any
mutable mapping) to the state functions. Example::

    prepared = prepare_image(data, max_side=detail_level("high").max_side)
    messages = build_messages(prepared.data_url, [("user", preset("describe").prompt)], detail="high")
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lib.vision.images import MAX_SIDE, PreparedImage, fit_inline, prepare_image

if TYPE_CHECKING:
    from lib.hosts.errors import UserError

__all__ = [
    "DETAIL_LEVELS",
    "PRESETS",
    "SAMPLES",
    "CurrentImage",
    "DetailLevel",
    "Failure",
    "Pending",
    "Preset",
    "Sample",
    "ask_text",
    "build_messages",
    "display_width",
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
    """A ready-made question: ``key`` is stable, ``label`` is shown on a button, ``prompt`` is sent."""

    key: str
    label: str
    prompt: str


PRESETS: list[Preset] = [
    Preset(
        "describe",
        "Describe",
        "Describe this image in detail: the main subject, the setting, the colours and the light, and any text "
        "you can read. Finish with one sentence on what the image as a whole shows.",
    ),
    Preset(
        "alt_text",
        "Alt text",
        f"Write alt text for this image for people who use a screen reader, in at most {ALT_TEXT_MAX_CHARS} "
        "characters. Reply with only the alt text: no quotation marks, no introduction, no explanation.",
    ),
    Preset(
        "read_text",
        "Read the text",
        "Transcribe all the text in this image exactly as it is written, keeping the line breaks, spelling, "
        "capitalisation and punctuation. Do not translate, correct or summarise it. If there is no text, reply "
        '"No text found."',
    ),
    Preset(
        "objects",
        "List objects",
        "List the objects you can see in this image as a bulleted list, one object per line, the most prominent "
        "first. Give a count when there is more than one of something.",
    ),
    Preset(
        "unusual",
        "What's unusual?",
        "What is unusual or surprising in this image? Say what you would normally expect and what is different "
        "here. If nothing is unusual, say so.",
    ),
]


@dataclass(frozen=True)
class DetailLevel:
    """How much of the image the model gets: ``max_side`` for ``prepare_image``, ``api_detail`` for the API."""

    key: str
    label: str
    max_side: int
    api_detail: str
    explanation: str


DETAIL_LEVELS: list[DetailLevel] = [
    DetailLevel(
        "low",
        "Low (1 tile)",
        560,
        "low",
        "One 560-px tile: the fastest answer and the fewest tokens, but small text and fine detail may be lost.",
    ),
    DetailLevel(
        "high",
        "High (4 tiles)",
        1120,
        "high",
        "Up to four 560-px tiles (1120×1120), the most detail Llama 3.2 Vision ever sees: more tokens, slower.",
    ),
    DetailLevel(
        "auto",
        "Auto",
        1120,
        "auto",
        "Sends up to 1120×1120 and lets the server decide how much detail to use.",
    ),
]

_API_DETAILS = frozenset(level.api_detail for level in DETAIL_LEVELS)


@dataclass(frozen=True)
class Sample:
    """A bundled photo to try without uploading; ``credit`` is the line to show under it."""

    key: str
    label: str
    path: Path
    credit: str

    @property
    def stage_credit(self) -> str:
        """The credit without the licence file's path (presenter mode shows no file paths)."""
        return re.sub(r"\s*\(see assets/[^)]*\)|;\s*see assets/[^)]*", "", self.credit)


_SAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "samples"
_VIA = "via scikit-image's sample data; see assets/samples/LICENSES.md"

SAMPLES: list[Sample] = [
    Sample("cat", "Cat", _SAMPLES_DIR / "cat.jpg", f"Chelsea the cat. Photo: Stefan van der Walt, CC0 ({_VIA})"),
    Sample(
        "shopfront",
        "Bakery sign",
        _SAMPLES_DIR / "shopfront.jpg",
        "A bakery front with painted signs, to try “Read the text”. Image: made for this project with Pillow, CC0 "
        "(see assets/samples/LICENSES.md)",
    ),
    Sample(
        "astronaut",
        "Astronaut",
        _SAMPLES_DIR / "astronaut.jpg",
        f"Astronaut Eileen Collins. Photo: NASA, public domain ({_VIA})",
    ),
    Sample(
        "rocket",
        "Rocket launch",
        _SAMPLES_DIR / "rocket.jpg",
        f"Falcon 9 with DSCOVR at Cape Canaveral. Photo: SpaceX, public domain ({_VIA})",
    ),
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

IMAGE, TURNS, META, PENDING, FAILED, ANSWERED = (
    "vision_image", "vision_turns", "vision_meta", "vision_pending", "vision_failed", "vision_answered")
UNDO = "vision_undo"  # the photo and conversation a new photo replaced, until the next question
STOPPED_MARK = "⏹ Stopped"
SNAPSHOT_VERSION = 1
MAX_SAVED_IMAGE_CHARS = 1_000_000
"""Largest image (base64 characters) kept inline in a `snapshot` (base64 text)."""
MAX_SAVED_IMAGE_BYTES = 3_000_000
"""Largest prepared image kept for a reload as bytes (`saved_form`); the store allows 4 MB a session, shared with
the tool page's conversation. A larger one is re-encoded smaller to fit (`fit_inline`)."""


@dataclass(frozen=True)
class CurrentImage:
    """The image being discussed. Only its prepared form (at most 1120 px) is kept, never the raw upload."""

    id: str
    name: str
    master: PreparedImage
    source: str = "upload"  # upload | camera | sample | transcript


@dataclass
class Pending:
    """A question on its way; `partial` and `elapsed_s` follow the stream while it runs."""

    question: str
    partial: str = ""
    started: bool = False
    stop_requested: bool = False
    elapsed_s: float = 0.0
    answered_by: str = ""


@dataclass(frozen=True)
class Failure:
    """The last question that failed, the error explained, and any text that arrived before it."""

    question: str
    error: "UserError"
    partial: str = ""


@dataclass(frozen=True)
class Restored:
    """What `restore` brought back, for a one-line notice."""

    turns: int
    image: bool
    settings: dict[str, Any] = field(default_factory=dict)


def init_state(ss: MutableMapping[str, Any]) -> None:
    """Give every state key its empty value (once per session)."""
    for key, empty in ((IMAGE, None), (TURNS, []), (META, {}), (PENDING, None), (FAILED, None), (ANSWERED, None)):
        if key not in ss:
            ss[key] = list(empty) if isinstance(empty, list) else dict(empty) if isinstance(empty, dict) else empty


def image_from_bytes(image_id: str, name: str, raw: bytes, source: str) -> CurrentImage:
    """Prepare an upload, camera shot or sample once (raises `lib.vision.images.ImageRejected` with the reason)."""
    return CurrentImage(image_id, name, prepare_image(raw, name, max_side=MAX_SIDE), source)


def use_image(ss: MutableMapping[str, Any], image: CurrentImage) -> bool:
    """Make `image` current: a different image starts a new conversation. False if it was already current.

    A conversation it replaces is kept aside (`UNDO`) until the next question, so `undo_image` can bring it back."""
    current = ss.get(IMAGE)
    if current is not None and current.id == image.id:
        return False
    if current is not None and ss.get(TURNS):
        ss[UNDO] = (current, ss[TURNS], ss.get(META) or {}, ss.get(ANSWERED))
    ss[IMAGE], ss[TURNS], ss[META], ss[FAILED], ss[ANSWERED] = image, [], {}, None, None
    return True


def undo_offer(ss: Mapping[str, Any]) -> str | None:
    """"photo.jpg and its 2 questions" while a replaced conversation can still come back (nothing asked since)."""
    kept = ss.get(UNDO)
    if not kept or ss.get(TURNS) or ss.get(PENDING) is not None:
        return None
    n = sum(1 for role, _ in kept[1] if role == "user")
    return f"{kept[0].name} and its {n} question{'s' if n != 1 else ''}"


def undo_image(ss: MutableMapping[str, Any]) -> bool:
    """Bring back the photo and conversation the current image replaced (see `use_image`)."""
    kept = ss.pop(UNDO, None)
    if not kept or ss.get(TURNS):
        return False
    ss[IMAGE], ss[TURNS], ss[META], ss[ANSWERED] = kept
    ss[FAILED] = None
    return True


def for_detail(image: CurrentImage, max_side: int) -> PreparedImage:
    """The image as sent at one detail level: the kept 1120-px version, or a smaller copy made from it.

    The copy's summary still describes the original upload (``4000×3000 JPEG, 2.1 MB → 560×420 JPEG, 40 KB``).
    """
    master = image.master
    if max(master.width, master.height) <= max_side:
        return master
    small = prepare_image(master.data, image.name, max_side=max_side)
    return replace(small, original_width=master.original_width, original_height=master.original_height,
                   original_bytes=master.original_bytes, original_format=master.original_format)


def card_thumbnail(data: bytes, side: int = 128) -> bytes:
    """A centred square JPEG crop of a bundled sample (trusted bytes), for the gallery cards."""
    from lib.vision.images import square_thumbnail

    return square_thumbnail(data, side)


def display_width(width: int, height: int, max_height: int) -> int:
    """Pixels wide to show an image so it is at most `max_height` tall (Streamlit caps it at the column's width)."""
    if width <= 0 or height <= 0:
        return max_height
    return max(1, int(max_height * width / height))


def ask_text(preset_key: str | None, own: str | None) -> str | None:
    """What the Ask button sends: the person's own question if there is one, else the chosen preset's prompt.

    >>> ask_text("alt_text", "  ") == preset("alt_text").prompt, ask_text(None, " Why? "), ask_text(None, "")
    (True, 'Why?', None)
    """
    own = (own or "").strip()
    if own:
        return own
    if preset_key:
        try:
            return preset(preset_key).prompt
        except KeyError:
            return None
    return None


def start(ss: MutableMapping[str, Any], question: str | None) -> bool:
    """Queue `question` for the next run (the last failure goes). False, changing nothing, while one is on its way."""
    question = (question or "").strip()
    if not question or ss.get(PENDING) is not None:
        return False
    ss[PENDING], ss[FAILED] = Pending(question), None
    return True


def request_stop(ss: MutableMapping[str, Any]) -> None:
    """The Stop button: remember it was the person's choice (the rerun it causes does the stopping)."""
    pending = ss.get(PENDING)
    if pending is not None:
        pending.stop_requested = True


def stopped_meta(pending: Pending, how: str | None = None) -> str:
    """The footer of a stopped answer, e.g. ``⏹ Stopped by you after 3 s · Llama 3.2 90B Vision on NVIDIA``."""
    how = how or ("by you" if pending.stop_requested else "(the page was used while the answer arrived)")
    parts = [f"{STOPPED_MARK} {how} after {pending.elapsed_s:.0f} s"]
    if pending.answered_by:
        parts.append(pending.answered_by)
    return " · ".join(parts)


def is_stopped(meta: str | None) -> bool:
    """Whether a turn's footer marks it stopped."""
    return bool(meta) and str(meta).startswith(STOPPED_MARK)


def settle_interrupted(ss: MutableMapping[str, Any]) -> bool:
    """A question whose run was cut short becomes a stopped turn: the question and what arrived. True if so."""
    pending = ss.get(PENDING)
    if pending is None or not (pending.started or pending.stop_requested):
        return False
    ss[PENDING] = None
    _append(ss, pending.question, pending.partial, stopped_meta(pending))
    return True


def finish(ss: MutableMapping[str, Any], question: str, answer: str, summary: str, model: str, provider: str) -> None:
    """A complete answer: appended with its footer; any earlier failure is dropped."""
    ss[PENDING], ss[FAILED] = None, None
    ss[ANSWERED] = {"model": model, "provider": provider}
    _append(ss, question, answer, summary)


def fail(ss: MutableMapping[str, Any], question: str, error: "UserError", partial: str = "") -> None:
    """A failed question: kept with the explained error and any text that arrived, for Retry."""
    ss[PENDING], ss[FAILED] = None, Failure(question, error, partial)


def _append(ss: MutableMapping[str, Any], question: str, answer: str, meta: str) -> None:
    turns: list[tuple[str, str]] = ss[TURNS]
    turns.extend([("user", question), ("assistant", answer)])
    ss[META][len(turns) - 1] = meta


def request_turns(turns: Sequence[tuple[str, str]], question: str) -> list[tuple[str, str]]:
    """The conversation to send with a new `question`: user/assistant alternating, starting with the user.

    An exchange whose answer is empty (stopped before any text) is left out: some hosts refuse an empty message.

    >>> request_turns([("user", "A?"), ("assistant", ""), ("user", "B?"), ("assistant", "b")], "C?")
    [('user', 'B?'), ('assistant', 'b'), ('user', 'C?')]
    """
    out: list[tuple[str, str]] = []
    for role, text in turns:
        if role == "assistant":
            if not text.strip() or not out or out[-1][0] != "user":
                if out and out[-1][0] == "user":
                    out.pop()
                continue
        elif out and out[-1][0] == "user":
            out.pop()  # a question that got no answer
        out.append((role, text))
    if out and out[-1][0] == "user":
        out.pop()
    return out + [("user", question)]


# --- saved for a reload, and transcripts -------------------------------------------------------------------------


def _kept_master(image: CurrentImage, max_chars: int) -> PreparedImage | None:
    m = image.master
    if m.base64_chars > max_chars:
        try:
            m = fit_inline(m, max_chars)
        except ValueError:
            return None
    return m


def _image_json(image: CurrentImage | None, m: PreparedImage | None = None, *, inline: bool = True
                ) -> dict[str, Any] | None:
    if image is None:
        return None
    m = m or _kept_master(image, MAX_SAVED_IMAGE_CHARS)
    if m is None:
        return None
    return {"id": image.id, "name": image.name, "source": image.source,
            "data": base64.b64encode(m.data).decode() if inline else "",
            "mime_type": m.mime_type, "width": m.width, "height": m.height, "original_width": m.original_width,
            "original_height": m.original_height, "original_bytes": m.original_bytes,
            "original_format": m.original_format, "note": m.note}


def _image_from_json(d: Any, blob: bytes | None = None) -> CurrentImage | None:
    if not isinstance(d, dict):
        return None
    if blob is not None and d.get("data") == "":
        d = {**d, "data": base64.b64encode(blob).decode()}
    ints = ("width", "height", "original_width", "original_height", "original_bytes")
    strs = ("id", "name", "source", "data", "mime_type", "original_format", "note")
    if not all(isinstance(d.get(k), int) for k in ints) or not all(isinstance(d.get(k), str) for k in strs):
        return None
    if d["mime_type"] not in ("image/jpeg", "image/png"):
        return None
    try:
        data = base64.b64decode(d["data"], validate=True)
    except (binascii.Error, ValueError):
        return None
    master = PreparedImage(data, d["mime_type"], d["width"], d["height"], d["original_width"], d["original_height"],
                           d["original_bytes"], d["original_format"], d["note"])
    return CurrentImage(d["id"], d["name"], master, d["source"])


def saved_form(ss: Mapping[str, Any], settings: Mapping[str, Any] | None = None
               ) -> tuple[dict[str, Any], bytes | None, bool]:
    """What `ui.state.save` keeps for a reload: the snapshot without the image's bytes, the prepared image's bytes
    (kept once, as bytes, not as base64 text; re-encoded smaller beyond MAX_SAVED_IMAGE_BYTES), and whether the
    photo could be kept at all (False: the page says a reload won't bring it back)."""
    image: CurrentImage | None = ss.get(IMAGE)
    m = None if image is None else _kept_master(image, MAX_SAVED_IMAGE_BYTES * 4 // 3)
    data = snapshot(ss, settings, image=_image_json(image, m, inline=False) if m is not None else None)
    return data, (m.data if m is not None else None), image is None or m is not None


def snapshot(ss: Mapping[str, Any], settings: Mapping[str, Any] | None = None, *,
             image: dict[str, Any] | None | bool = True) -> dict[str, Any]:
    """The conversation as JSON-able data: turns, footers, the prepared image (inline, as base64), a question on
    its way, and the page's `settings` (widget values)."""
    pending = ss.get(PENDING)
    return {
        "version": SNAPSHOT_VERSION,
        "image": _image_json(ss.get(IMAGE)) if image is True else image or None,
        "turns": [[role, text] for role, text in ss.get(TURNS) or []],
        "meta": {str(i): m for i, m in (ss.get(META) or {}).items()},
        "answered": ss.get(ANSWERED),
        "pending": None if pending is None else {"question": pending.question, "partial": pending.partial,
                                                 "elapsed_s": pending.elapsed_s, "answered_by": pending.answered_by},
        "settings": dict(settings or {}),
    }


def restore(ss: MutableMapping[str, Any], data: Any, blob: bytes | None = None) -> Restored | None:
    """Bring back what `snapshot` (or `saved_form`, with its `blob`) saved, after a reload. A question that was on
    its way comes back stopped.

    Returns None, changing nothing, for no data or data of another shape.
    """
    if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
        return None
    raw_turns, raw_meta = data.get("turns"), data.get("meta")
    if not isinstance(raw_turns, list) or not isinstance(raw_meta, dict):
        return None
    turns: list[tuple[str, str]] = []
    for item in raw_turns:
        if (not isinstance(item, list) or len(item) != 2 or item[0] not in ("user", "assistant")
                or not isinstance(item[1], str)):
            return None
        turns.append((item[0], item[1]))
    meta = {int(k): v for k, v in raw_meta.items() if k.isdigit() and isinstance(v, str) and int(k) < len(turns)}
    image = _image_from_json(data.get("image"), blob)
    if image is None and not turns:
        return None
    answered = data.get("answered")
    ss[IMAGE], ss[TURNS], ss[META], ss[FAILED], ss[PENDING] = image, turns, meta, None, None
    ss[ANSWERED] = answered if isinstance(answered, dict) else None
    pending = data.get("pending")
    if isinstance(pending, dict) and isinstance(pending.get("question"), str) and pending["question"]:
        p = Pending(pending["question"], str(pending.get("partial") or ""), True,
                    elapsed_s=float(pending.get("elapsed_s") or 0), answered_by=str(pending.get("answered_by") or ""))
        _append(ss, p.question, p.partial, stopped_meta(p, "(the page was reloaded before the answer finished)"))
    settings = data.get("settings")
    return Restored(len(ss[TURNS]), image is not None, dict(settings) if isinstance(settings, dict) else {})


def transcript_files(ss: Mapping[str, Any], *, model: str, provider: str, secrets: Sequence[str]) -> tuple[str, str]:
    """(Markdown, JSON) of the conversation, secrets redacted; names the model and provider that last answered
    (`model`/`provider` when nothing has answered yet). The image travels as a small thumbnail."""
    from lib.answers.transcript import to_json, to_markdown, vision_transcript

    answered = ss.get(ANSWERED) or {}
    image: CurrentImage | None = ss.get(IMAGE)
    data = vision_transcript(
        ss.get(TURNS) or [], ss.get(META) or {}, provider=str(answered.get("provider") or provider),
        model=str(answered.get("model") or model), image_name=image.name if image else "",
        image_thumbnail_jpeg=image.master.data if image else None, secrets=secrets,
    )
    return to_markdown(data, secrets), to_json(data, secrets)


def import_transcript(ss: MutableMapping[str, Any], raw: bytes) -> int:
    """Show a saved vision transcript again; returns the number of turns. Raises `TranscriptError` with a reason a
    person understands. The transcript carries only a small thumbnail, which becomes the current image."""
    from lib.vision.images import ImageRejected
    from lib.answers.transcript import from_json, vision_turns_from_transcript

    data = from_json(raw, kind="vision")
    turns, meta, thumbnail = vision_turns_from_transcript(data)
    image = None
    if thumbnail:
        name = data["image"]["name"] or "transcript image"
        try:
            image = image_from_bytes("transcript:" + hashlib.sha256(thumbnail).hexdigest()[:16], name, thumbnail,
                                     "transcript")
        except ImageRejected:
            image = None
    ss[IMAGE], ss[TURNS], ss[META], ss[FAILED], ss[PENDING] = image, turns, meta, None, None
    ss[ANSWERED] = {"model": data["model"], "provider": data["provider"]} if data["model"] else None
    return len(turns)
