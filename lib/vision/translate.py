"""A question in Korean (or any language) about a photo, asked in English and answered in Korean.

Llama 3.2 Vision supports only English for image+text prompts (FACTS.md, MODEL_CARD_VISION.md). `TranslatedAnswer`
runs one turn as three streamed requests to the same model, each through the page's stream opener (so each counts in
the meter, and the cache and the rehearsal see each): the question translated into English (text only, no image), the
image question asked in English (`lib.vision.answer.VisionAnswer`, unchanged), and the English answer translated
into Korean (text only). The Korean answer is what the page shows; the English question and answer are kept beside it.

Imports `lib.vision.answer` and what it stands on. Example::

    answer = TranslatedAnswer(settings, model, prepared.data_url, [("user", "이 간판에 뭐라고 쓰여 있어요?")],
                              open_stream=opener)
    for step, piece in answer.events():  # ("question", …), then ("answer", …), then ("translation", …)
        ...
    answer.question_en, answer.english, answer.text  # 'What does this sign say?', 'The sign reads…', '간판에는…'
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any, Callable, Final, Iterator, Literal, Sequence

from lib import client
from lib.hosts.budget import check_question
from lib.hosts.config import Settings
from lib.hosts.providers import display_name
from lib.hosts.view_code import MAX_TOKENS
from lib.i18n import DEFAULT, text
from lib.vision.answer import VisionAnswer, answered_by_in, explain_failure, footer_line

__all__ = [
    "ANSWER",
    "QUESTION",
    "TO_ENGLISH",
    "TO_KOREAN",
    "TRANSLATION",
    "TranslatedAnswer",
    "looks_korean",
    "translation_messages",
]

TO_ENGLISH: Final = "Translate to English; reply with the translation only."
"""The system prompt of the question's translation (a text-only request: no image, so a system message is fine)."""
TO_KOREAN: Final = ("Translate to Korean; reply with the translation only. Keep the Markdown formatting, and keep "
                    "names, numbers and any text quoted from the image exactly as written.")
"""The system prompt of the answer's translation: text read off a sign stays as the sign has it."""
QUESTION: Final = "question"
"""Step 1: the question on its way into English (its pieces are not shown as they come)."""
ANSWER: Final = "answer"
"""Step 2: the model answering the image question, in English."""
TRANSLATION: Final = "translation"
"""Step 3: the English answer on its way into Korean: the answer shown."""
QUESTION_MAX_TOKENS: Final = 512
"""Enough for a question's translation (the question itself is capped by `lib.hosts.budget.MAX_QUESTION_CHARS`)."""
TRANSLATION_TEMPERATURE: Final = 0.0
"""A translation wants the likeliest words, not variety."""


def join_pieces(first: tuple[str, str], second: tuple[str, str]) -> tuple[str, str] | None:
    """Two streamed `(step, piece)` items of the same step that are waiting together, as one (`lib.common.ticking`'s
    `merge`); None when the step changes between them."""
    if first[0] == second[0]:
        return first[0], first[1] + second[1]
    return None


_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")


def looks_korean(text_: str) -> bool:
    """Whether `text_` has Korean letters (Hangul) in it.

    >>> looks_korean("이 간판에 뭐라고 쓰여 있어요?"), looks_korean("What does this sign say?")
    (True, False)
    """
    return bool(_HANGUL.search(text_))


def translation_messages(source: str, target: Literal["en", "ko"]) -> list[dict[str, Any]]:
    """A text-only request that translates `source` into English (`"en"`) or Korean (`"ko"`).

    >>> translation_messages("뭐예요?", "en")
    [{'role': 'system', 'content': 'Translate to English; reply with the translation only.'}, {'role': 'user', 'content': '뭐예요?'}]
    """
    if target not in ("en", "ko"):
        raise ValueError(f"target must be 'en' or 'ko', not {target!r}")
    return [{"role": "system", "content": TO_ENGLISH if target == "en" else TO_KOREAN},
            {"role": "user", "content": source}]


def _plain(translation: str) -> str:
    """A translated question without the quotation marks or label a model may wrap it in.

    >>> _plain('"What does this sign say?"'), _plain("Translation: What is it?")
    ('What does this sign say?', 'What is it?')
    """
    out = translation.strip()
    out = re.sub(r"^(?:English|Translation)\s*:\s*", "", out, flags=re.IGNORECASE)
    if len(out) >= 2 and out[0] + out[-1] in ('""', "''", "“”", "‘’", "「」"):
        out = out[1:-1].strip()
    return out


class TranslatedAnswer:
    """One turn asked in English and answered in Korean. Iterate `events()` for ``(step, piece)`` pairs (`QUESTION`,
    `ANSWER`, then `TRANSLATION`), or the object itself for the Korean pieces only; afterwards `.text` (Korean),
    `.english`, `.question_en`, `.summary`, `.requests`, and what `VisionAnswer` tells of its request (`.messages`,
    `.notes`, `.fell_back`, `.model`, `.answered_by`).

    Every request goes to the same model through `open_stream(settings, model, messages, max_tokens=,
    temperature=)` within one deadline for the whole turn (`deadline_s`, default `client.turn_deadline_s`). A model
    that is gone (retired, not found) at the first request is skipped for the next one, as `VisionAnswer` does.
    Closing the iterator (Stop) closes whichever request is open. Errors are raised as they come (`explain()` words
    them); `partial` is what arrived (the Korean so far, else the English)."""

    def __init__(
        self,
        settings: Settings,
        model: str,
        image_data_url: str,
        turns: Sequence[tuple[str, str]],
        *,
        open_stream: Callable[..., Any] | None = None,
        next_model: Callable[[str], str | None] | None = None,
        deadline_s: float | None = None,
        max_tokens: int = MAX_TOKENS,
        lang: str = DEFAULT,
        **vision: Any,
    ) -> None:
        """`turns` ends with the question as asked (earlier turns as the model should see them: English);
        `vision` goes to `VisionAnswer` as it is (``detail``, ``context_tokens``, ``temperature``...)."""
        if not turns or turns[-1][0] != "user":
            raise ValueError("the conversation must end with the user's question")
        self.settings = settings
        self.image_data_url = image_data_url
        self.turns = list(turns)
        self.open_stream = open_stream or client.stream
        self.next_model = next_model
        self.deadline_s = deadline_s if deadline_s is not None else client.turn_deadline_s(settings)
        self.max_tokens = max_tokens
        self.lang = lang
        self.vision_options = vision
        self.question = turns[-1][1]
        self.question_en = ""
        self.english = ""  # the answer as the model gave it
        self.text = ""  # the Korean answer
        self.step = ""
        self.requests = 0  # requests the server accepted (a replayed or cached one costs none)
        self.notes: list[str] = []
        self.vision: VisionAnswer | None = None
        self.elapsed_s = 0.0
        self.cut = False  # a step stopped at the length limit
        self._model = model
        self._tokens = 0

    # --- what the page reads -------------------------------------------------------------------------------------

    @property
    def model(self) -> str:
        """The model answering (another one if the first was gone)."""
        return self.vision.model if self.vision is not None else self._model

    @property
    def answered_by(self) -> str:
        """Who answered, as `VisionAnswer.answered_by` says it."""
        if self.vision is not None:
            return self.vision.answered_by
        return answered_by_in(self.settings, self._model, "", self.lang)

    @property
    def partial(self) -> str:
        """What arrived of the answer: the Korean so far, else the English."""
        return self.text or (self.vision.text if self.vision is not None else self.english)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The image request as sent (in English): what "View code" shows."""
        return self.vision.messages if self.vision is not None else []

    @property
    def fell_back(self) -> bool:
        """The image request moved its instruction into the question (`VisionAnswer.fell_back`)."""
        return bool(self.vision and self.vision.fell_back)

    @property
    def cached(self) -> str:
        """"cache" / "rehearsal" / "shared" when the image request was replayed (the footer says so)."""
        return self.vision.cached if self.vision is not None else ""

    @property
    def summary(self) -> str:
        """The footer: who answered, the whole turn's time and tokens (all three requests)."""
        return footer_line(self.answered_by, self.elapsed_s, self._tokens, self.cached, self.cut, self.lang)

    # --- the three steps -----------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[str]:
        """The Korean answer's pieces (the first two steps run silently)."""
        for step, piece in self.events():
            if step == TRANSLATION:
                yield piece

    def events(self) -> Iterator[tuple[str, str]]:
        """``(step, piece)`` as each request streams: the question's English, the English answer, the Korean one."""
        started = time.monotonic()
        until = started + self.deadline_s
        check_question(self.question)  # a 1 MB question is refused before anything is sent
        try:
            self.step = QUESTION
            for piece in self._translate(self.question, "en", until, QUESTION_MAX_TOKENS):
                self.question_en += piece
                yield QUESTION, piece
            self.question_en = _plain(self.question_en) or self.question

            self.step = ANSWER
            self.vision = VisionAnswer(
                self.settings, self._model, self.image_data_url, self.turns[:-1] + [("user", self.question_en)],
                max_tokens=self.max_tokens, next_model=self.next_model, open_stream=self.open_stream,
                deadline_s=max(0.001, until - time.monotonic()), lang=self.lang, **self.vision_options)
            pieces = iter(self.vision)
            try:
                with contextlib.closing(pieces):  # type: ignore[type-var]  # a generator: Stop closes its request
                    for piece in pieces:
                        self.english += piece
                        yield ANSWER, piece
            finally:
                self.requests += self.vision.requests
                self.notes.extend(n for n in self.vision.notes if n not in self.notes)
            if self.vision.usage:
                self._tokens += self.vision.usage.total_tokens or 0
            self.cut = self.cut or self.vision.cut
            if not self.english.strip():
                return  # nothing to translate

            self.step = TRANSLATION
            for piece in self._translate(self.english, "ko", until, self.max_tokens * 2):  # Korean takes more tokens
                self.text += piece
                yield TRANSLATION, piece
        finally:
            self.elapsed_s = time.monotonic() - started

    def _translate(self, source: str, target: Literal["en", "ko"], until: float, max_tokens: int) -> Iterator[str]:
        """One text-only translation request, streamed; the model skipped for the next one if it is gone (only
        before the image request has chosen the model for the turn)."""
        while True:
            model = self.model
            stream = self.open_stream(self.settings, model, translation_messages(source, target),
                                      max_tokens=max_tokens, temperature=TRANSLATION_TEMPERATURE)
            arrived = False
            pieces = client.under_deadline(stream, until, self.deadline_s)
            try:
                with contextlib.closing(pieces):
                    for piece in pieces:
                        arrived = True
                        yield piece
            except BaseException as exc:
                self.requests += 1 if getattr(stream, "sent", False) else 0  # a stopped request reached the host
                err = explain_failure(exc)
                if (not arrived and self.vision is None and err.model_gone and self.next_model is not None
                        and len(self.notes) < 3):
                    client.skip_model(self.settings.endpoint, model, err.title)
                    replacement = self.next_model(model)
                    if replacement:
                        self.notes.append(text(self.lang, "vision.turn.model_skipped", model=model,
                                               error=err.title_in_sentence(self.lang), replacement=replacement,
                                               name=display_name(replacement)))
                        self._model = replacement
                        continue
                raise
            replayed = getattr(stream, "replayed_from", "")
            self.requests += 0 if isinstance(replayed, str) and replayed else 1
            usage = getattr(stream, "usage", None)
            self._tokens += getattr(usage, "total_tokens", 0) or 0
            self.cut = self.cut or getattr(stream, "finish_reason", None) == "length"
            return
