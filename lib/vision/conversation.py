"""The vision page's conversation as plain state: the current photo (prepared once), what is asked, streaming,
stopped or failed, the turns so far; saved for a reload and restored. Its transcripts are `lib.answers.transcript`'s
(`vision_transcript_files`, `import_vision_transcript`); what can be asked is `lib.vision.tasks`.

Nothing here imports Streamlit: the page passes `st.session_state` (any mutable mapping) to these functions. The
footers it writes are the catalogue's (`vision.footer.*`) in the `lang` given (English by default). Imports
`lib.vision.tasks`, `lib.vision.images`, `lib.hosts.errors` (for the type of a failure) and `lib.i18n`::

    init_state(st.session_state)
    use_image(st.session_state, image_from_bytes("sample:cat", "cat.jpg", data, "sample"))
    if start(st.session_state, ask_text("describe", None)): ...
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lib.hosts.errors import UserError
from lib import i18n
from lib.i18n import DEFAULT
from lib.vision.images import MAX_SIDE, PreparedImage, fit_inline, prepare_image, square_thumbnail
from lib.vision.tasks import preset

IMAGE, TURNS, META, PENDING, FAILED, ANSWERED = (
    "vision_image", "vision_turns", "vision_meta", "vision_pending", "vision_failed", "vision_answered")
UNDO = "vision_undo"  # the photo and conversation a new photo replaced, until the next question
ENGLISH = "vision_english"
"""Turns asked in English and answered in Korean (`lib.vision.translate`): turn index → (the text shown, the English
the model saw or wrote). An entry counts only while that turn still shows that text (`in_english`, `english_of`),
so a new photo, an undo or an import needs no clean-up."""
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
    about: str = ""
    """The question's own footer: what it was asked about when not the whole photo (a region, `lib.vision.crop`)."""


@dataclass(frozen=True)
class Failure:
    """The last question that failed, the error explained, and any text that arrived before it."""

    question: str
    error: "UserError"
    partial: str = ""
    about: str = ""


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


def undo_offer(ss: Mapping[str, Any], lang: str = DEFAULT) -> str | None:
    """"photo.jpg and its 2 questions" (in `lang`) while a replaced conversation can still come back (nothing asked
    since)."""
    kept = ss.get(UNDO)
    if not kept or ss.get(TURNS) or ss.get(PENDING) is not None:
        return None
    n = sum(1 for role, _ in kept[1] if role == "user")
    return i18n.text(lang, "vision.view.undo_one" if n == 1 else "vision.view.undo_many", name=kept[0].name,
                     count=n)


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


def without_image_data(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`messages` with every image's data URL cut to its header (`data:image/jpeg;base64,`): what "View code" needs
    to write (`lib.hosts.view_code` reads only the format), without keeping a base64 copy of the photo (4/3 of its
    bytes) for as long as the session lasts.

    >>> without_image_data([{"role": "user", "content": [{"type": "image_url",
    ...                       "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}}]}])
    [{'role': 'user', 'content': [{'type': 'image_url', 'image_url': {'url': 'data:image/png;base64,', 'detail': 'high'}}]}]
    """
    out: list[dict[str, Any]] = []
    for m in messages:
        m = dict(m)
        content = m.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                url = part.get("image_url", {}).get("url") if isinstance(part, Mapping) else None
                if isinstance(url, str) and url.startswith("data:") and "," in url:
                    part = {**part, "image_url": {**part["image_url"], "url": url.split(",", 1)[0] + ","}}
                parts.append(part)
            m["content"] = parts
        out.append(m)
    return out


def card_thumbnail(data: bytes, side: int = 128) -> bytes:
    """A centred square JPEG crop of a bundled sample (trusted bytes), for the gallery cards."""
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


def start(ss: MutableMapping[str, Any], question: str | None, about: str = "") -> bool:
    """Queue `question` for the next run (the last failure goes); `about` is its footer when it is asked about part
    of the photo (`Pending.about`). False, changing nothing, while one is on its way."""
    question = (question or "").strip()
    if not question or ss.get(PENDING) is not None:
        return False
    ss[PENDING], ss[FAILED] = Pending(question, about=about), None
    return True


def request_stop(ss: MutableMapping[str, Any]) -> None:
    """The Stop button: remember it was the person's choice (the rerun it causes does the stopping)."""
    pending = ss.get(PENDING)
    if pending is not None:
        pending.stop_requested = True


def stopped_meta(pending: Pending, how: str | None = None, lang: str = DEFAULT) -> str:
    """The footer of a stopped answer, e.g. ``⏹ Stopped by you after 3 s · Llama 3.2 90B Vision on NVIDIA`` (its
    words in `lang`)."""
    how = how or i18n.text(lang, "vision.footer.by_you" if pending.stop_requested else "vision.footer.interrupted")
    parts = [i18n.text(lang, "vision.footer.stopped", how=how, seconds=f"{pending.elapsed_s:.0f}")]
    if pending.answered_by:
        parts.append(pending.answered_by)
    return " · ".join(parts)


def is_stopped(meta: str | None) -> bool:
    """Whether a turn's footer marks it stopped (in any language: they all begin with ⏹)."""
    return bool(meta) and str(meta).startswith(STOPPED_MARK[0])


def settle_interrupted(ss: MutableMapping[str, Any], lang: str = DEFAULT) -> bool:
    """A question whose run was cut short becomes a stopped turn: the question and what arrived (its footer in
    `lang`). True if so."""
    pending = ss.get(PENDING)
    if pending is None or not (pending.started or pending.stop_requested):
        return False
    ss[PENDING] = None
    _append(ss, pending.question, pending.partial, stopped_meta(pending, lang=lang), pending.about)
    return True


def _pending_about(ss: Mapping[str, Any], question: str) -> str:
    pending = ss.get(PENDING)
    return pending.about if isinstance(pending, Pending) and pending.question == question else ""


def finish(ss: MutableMapping[str, Any], question: str, answer: str, summary: str, model: str, provider: str) -> None:
    """A complete answer: appended with its footer (and the question with its own, `Pending.about`, if it has one);
    any earlier failure is dropped."""
    about = _pending_about(ss, question)
    ss[PENDING], ss[FAILED] = None, None
    ss[ANSWERED] = {"model": model, "provider": provider}
    _append(ss, question, answer, summary, about)


def fail(ss: MutableMapping[str, Any], question: str, error: "UserError", partial: str = "") -> None:
    """A failed question: kept with the explained error and any text that arrived, for Retry."""
    about = _pending_about(ss, question)
    ss[PENDING], ss[FAILED] = None, Failure(question, error, partial, about)


def _append(ss: MutableMapping[str, Any], question: str, answer: str, meta: str, about: str = "") -> None:
    turns: list[tuple[str, str]] = ss[TURNS]
    turns.extend([("user", question), ("assistant", answer)])
    ss[META][len(turns) - 1] = meta
    if about:
        ss[META][len(turns) - 2] = about  # the question's own footer: a transcript keeps it beside the question


def request_turns(turns: Sequence[tuple[str, str]], question: str, meta: Mapping[int, str] | None = None,
                  about: str = "") -> list[tuple[str, str]]:
    """The conversation to send with a new `question`: user/assistant alternating, starting with the user.

    An exchange whose answer is empty (stopped before any text) is left out: some hosts refuse an empty message.
    Given the turns' `meta`, only the exchanges asked about the same thing as `question` are sent: those whose
    question's own footer is `about` (a region, `lib.vision.crop.Region.note`), or none (the whole photo) for
    `about=""`. The request carries one image, so an answer about another part of the photo would mislead.

    >>> request_turns([("user", "A?"), ("assistant", ""), ("user", "B?"), ("assistant", "b")], "C?")
    [('user', 'B?'), ('assistant', 'b'), ('user', 'C?')]
    >>> request_turns([("user", "A?"), ("assistant", "a"), ("user", "B?"), ("assistant", "b")], "C?", {2: "🔍 r"})
    [('user', 'A?'), ('assistant', 'a'), ('user', 'C?')]
    """
    if meta is not None:
        topic, kept = "", []
        for i, (role, text) in enumerate(turns):
            if role == "user":
                topic = meta.get(i) or ""
            if topic == about:
                kept.append((role, text))
        turns = kept
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


def keep_english(ss: MutableMapping[str, Any], question: str, answer: str) -> None:
    """The last exchange (just appended by `finish`) was asked in English and answered in Korean: remember the
    English question and answer for follow-ups (`in_english`) and for the page's "English answer" (`english_of`)."""
    turns: list[tuple[str, str]] = ss[TURNS]
    if len(turns) < 2:
        return
    kept: dict[int, tuple[str, str]] = ss.setdefault(ENGLISH, {})
    for i, english in ((len(turns) - 2, question), (len(turns) - 1, answer)):
        if english.strip():
            kept[i] = (turns[i][1], english)


def english_of(ss: Mapping[str, Any], index: int) -> str | None:
    """The English behind turn `index` (a translated question or answer), or None."""
    turns, kept = ss.get(TURNS) or [], ss.get(ENGLISH) or {}
    entry = kept.get(index)
    if entry is None or index >= len(turns) or turns[index][1] != entry[0]:
        return None
    return entry[1]


def in_english(turns: Sequence[tuple[str, str]], english: Mapping[int, tuple[str, str]] | None
               ) -> list[tuple[str, str]]:
    """`turns` with each translated question and answer as the model saw and wrote it in English, so a follow-up
    sends the conversation in the one language Llama 3.2 Vision takes with an image.

    >>> in_english([("user", "뭐예요?"), ("assistant", "고양이")], {0: ("뭐예요?", "What is it?"), 1: ("개", "A dog")})
    [('user', 'What is it?'), ('assistant', '고양이')]
    """
    english = english or {}
    out = []
    for i, (role, shown) in enumerate(turns):
        entry = english.get(i)
        out.append((role, entry[1] if entry is not None and entry[0] == shown else shown))
    return out


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
                                                 "elapsed_s": pending.elapsed_s, "answered_by": pending.answered_by,
                                                 "about": pending.about},
        "settings": dict(settings or {}),
        "english": {str(i): list(pair) for i, pair in (ss.get(ENGLISH) or {}).items()},
    }


def restore(ss: MutableMapping[str, Any], data: Any, blob: bytes | None = None, lang: str = DEFAULT
            ) -> Restored | None:
    """Bring back what `snapshot` (or `saved_form`, with its `blob`) saved, after a reload. A question that was on
    its way comes back stopped (its footer in `lang`).

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
    english = data.get("english")
    ss[ENGLISH] = {int(k): (v[0], v[1]) for k, v in english.items()
                   if isinstance(k, str) and k.isdigit() and isinstance(v, list) and len(v) == 2
                   and all(isinstance(x, str) for x in v)} if isinstance(english, dict) else {}
    pending = data.get("pending")
    if isinstance(pending, dict) and isinstance(pending.get("question"), str) and pending["question"]:
        p = Pending(pending["question"], str(pending.get("partial") or ""), True,
                    elapsed_s=float(pending.get("elapsed_s") or 0), answered_by=str(pending.get("answered_by") or ""),
                    about=pending["about"] if isinstance(pending.get("about"), str) else "")
        _append(ss, p.question, p.partial, stopped_meta(p, i18n.text(lang, "vision.footer.reloaded"), lang), p.about)
    settings = data.get("settings")
    return Restored(len(ss[TURNS]), image is not None, dict(settings) if isinstance(settings, dict) else {})
