"""One vision answer: one image per request, streamed, with the system-message fallback remembered per endpoint.

Some hosts refuse a system message together with an image ("Prompting with images is incompatible with system
messages"). The instruction is sent as a system message first; on such a 400 it moves into the user text, and
the way that worked is remembered for the endpoint so later requests go straight to it. The words it adds for the
page (its footer, a note when a model is skipped) are the catalogue's (`vision.footer.*`; who answered and where a
replayed answer came from: `hosts.answered.*`, `answers.replayed.*`, also Compare's) in the `lang` given.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Sequence

from lib import client
from lib.hosts.config import Settings
from lib.hosts.budget import budget_note, check_question, estimate_tokens, fit_messages
from lib.hosts.errors import ErrorKind, UserError, explain
from lib.hosts.view_code import MAX_TOKENS, TEMPERATURE, request_params
from lib.hosts.providers import answered_by_msg, display_name
from lib.common.ticking import current_scope
from lib.i18n import DEFAULT, LANGUAGES, Msg, msg, say, text
from lib.vision.tasks import build_messages

SYSTEM_TEXT = (
    "You are Llama 3.2 Vision answering questions about one image in a live demo. Be accurate and concise, "
    "say when something is unclear or too small to read, and never invent details or text you cannot see."
)
SYSTEM_MODES = ("system", "user")
_MEMORY_KEY = "vision_system_mode"


def answered_by_in(settings: Settings, model: str, served_model: str, lang: str) -> str:
    """"Llama 3.2 11B Vision on OpenRouter" in `lang`: the server's own name for the model when it names another, the
    host's label in `lang` too (`VisionAnswer` and `TranslatedAnswer` footers)."""
    host = getattr(settings, "label_msg", None) or settings.label
    return say(lang, answered_by_msg(model, served_model, host))


def replayed(label: str) -> Msg | None:
    """The footer's note for a replayed answer's label ("cache", "rehearsal", "shared"), None for a live one."""
    return msg(f"answers.replayed.{label}") if label in ("cache", "rehearsal", "shared") else None


def free_replay(meta: str) -> bool:
    """Whether an answer's footer (in any language) says it was answered without using the quota (from the cache,
    or shared with the same question in flight): "Ask again (fresh)" is offered under it."""
    return any(text(lang, f"answers.replayed.{label}") in meta for lang in LANGUAGES for label in ("cache", "shared"))


def footer_line(answered_by: str, elapsed_s: float, total_tokens: int | None, cached: str, cut: bool,
                lang: str = DEFAULT) -> str:
    """An answer's footer: ``"Llama 3.2 11B Vision on OpenRouter · 2.4 s · 1,234 tokens"`` (tokens when the server
    reported them; then whether it was replayed, and cut at the length limit), its own words in `lang`."""
    parts = [answered_by, text(lang, "vision.footer.seconds", seconds=f"{elapsed_s:.1f}")]
    if total_tokens:
        parts.append(text(lang, "vision.footer.tokens", tokens=f"{total_tokens:,}"))
    if note := replayed(cached):
        parts.append(say(lang, note))
    if cut:
        parts.append(text(lang, "vision.footer.cut"))
    return " · ".join(parts)


def _refuses_system(exc: BaseException) -> bool:
    err = explain(exc)
    text = f"{err.detail} {err.code or ''}".lower()
    return err.kind in (ErrorKind.BAD_REQUEST, ErrorKind.UNKNOWN) and err.status in (400, 422) and "system" in text


def explain_failure(exc: BaseException) -> UserError:
    """What a failed answer stream raised, in words (`lib.hosts.errors.explain`); a Stop is raised again instead:
    the generator was closed, or its `ticking()` worker's scope cancelled (the hang-up made the read fail)."""
    if not isinstance(exc, Exception):
        raise exc
    scope = current_scope()
    if scope is not None and scope.cancelled:
        raise exc
    return explain(exc)


class VisionAnswer:
    """Iterate for text pieces (`st.write_stream`); afterwards `.text`, `.usage`, `.system_mode`, `.messages`,
    `.requests`.

    Iterating raises `lib.hosts.errors.QuestionTooLong` before anything is sent when the latest question is over
    `lib.hosts.budget.MAX_QUESTION_CHARS`, and `lib.hosts.errors.StreamDeadline` when the answer runs past `deadline_s` in all
    (default `client.turn_deadline_s(settings)`) or a stream brings no text for `settings.timeout_s`; `explain()`
    words both for the page."""

    def __init__(
        self,
        settings: Settings,
        model: str,
        image_data_url: str,
        turns: Sequence[tuple[str, str]],
        *,
        detail: str = "auto",
        max_tokens: int = MAX_TOKENS,
        temperature: float | None = TEMPERATURE,
        next_model: Callable[[str], str | None] | None = None,
        open_stream: Callable[..., Any] | None = None,
        context_tokens: int | None = None,
        deadline_s: float | None = None,
        lang: str = DEFAULT,
    ) -> None:
        self.settings = settings
        self.lang = lang
        self.deadline_s = deadline_s if deadline_s is not None else client.turn_deadline_s(settings)
        self.next_model = next_model
        self.open_stream = open_stream or client.stream  # the page passes the cache / rehearsal opener
        self.context_tokens = context_tokens
        self.cached = ""  # "cache" / "rehearsal": replayed; "shared": followed the same question in flight
        self.notes: list[str] = []
        self.model = model
        self.image_data_url = image_data_url
        self.turns = list(turns)
        self.detail = detail
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.text = ""
        self.usage: client.Usage | None = None
        p = settings.provider
        known = SYSTEM_MODES[1] if (p is not None and not p.system_with_image) else SYSTEM_MODES[0]
        self.system_mode: str = client.recall(settings.endpoint, _MEMORY_KEY, known)
        self.fell_back = False
        self.messages: list[dict[str, Any]] = []
        self.elapsed_s = 0.0
        self.requests = 0  # model requests the server accepted (a replayed or cached answer costs none)
        self.finish_reason: str | None = None  # "length": cut at max_tokens
        self.served_model = ""  # the model the server says answered

    @property
    def request_params(self) -> dict[str, Any]:
        """The body parameters this answer's requests send besides the messages (for "View code":
        `lib.hosts.view_code.python_snippet(..., max_tokens=, temperature=)` writes the same)."""
        return request_params(max_tokens=self.max_tokens, temperature=self.temperature)

    @property
    def cut(self) -> bool:
        """The answer stopped at the length limit, not where the model ended it."""
        return self.finish_reason == "length"

    @property
    def answered_by(self) -> str:
        """"Llama 3.2 11B Vision on OpenRouter" (the server's own name for the model when it names another), in this
        answer's `lang`."""
        return answered_by_in(self.settings, self.model, self.served_model, self.lang)

    @property
    def summary(self) -> str:
        """"Llama 3.2 11B Vision on OpenRouter · 2.4 s · 1,234 tokens" (tokens when the server reported them)."""
        return footer_line(self.answered_by, self.elapsed_s, self.usage.total_tokens if self.usage else None,
                           self.cached, self.cut, self.lang)

    def __iter__(self) -> Iterator[str]:
        started = time.monotonic()
        until = started + self.deadline_s  # every request of this answer (fallbacks included) ends by then
        question = next((text for role, text in reversed(self.turns) if role == "user"), "")
        check_question(question)  # a 1 MB follow-up is refused here (QuestionTooLong): nothing is sent
        limit = self.context_tokens
        refitted = False
        while True:
            self.messages = build_messages(
                self.image_data_url, self.turns, detail=self.detail, system_text=SYSTEM_TEXT,
                system_mode=self.system_mode,
            )
            if limit:
                prefix = f"{SYSTEM_TEXT}\n\n" if self.system_mode == "user" else ""
                self.messages, dropped = fit_messages(self.messages, limit, self.max_tokens,
                                                      first_user_prefix=prefix)
                note = budget_note(dropped, limit, display_name(self.model), lang=self.lang)
                if note and note not in self.notes:
                    self.notes.append(note)
            stream = self.open_stream(self.settings, self.model, self.messages, max_tokens=self.max_tokens,
                                      temperature=self.temperature)
            try:
                for piece in client.under_deadline(stream, until, self.deadline_s):
                    self.text += piece
                    yield piece
            except BaseException as exc:
                self.requests += 1 if getattr(stream, "sent", False) else 0  # a stopped request reached the host
                err = explain_failure(exc)
                if not self.text and err.model_gone and self.next_model is not None and len(self.notes) < 3:
                    client.skip_model(self.settings.endpoint, self.model, err.title)
                    replacement = self.next_model(self.model)
                    if replacement:
                        self.notes.append(text(self.lang, "vision.turn.model_skipped", model=self.model,
                                               error=err.title_in_sentence(self.lang), replacement=replacement,
                                               name=display_name(replacement)))
                        self.model = replacement
                        continue
                if not self.text and err.kind is ErrorKind.CONTEXT_TOO_LONG and not refitted and len(self.turns) > 1:
                    refitted = True  # the server counts differently: fewer earlier turns, once more
                    known = err.context_limit or limit or estimate_tokens(self.messages) + self.max_tokens
                    limit = max(256, int(min(known, limit or known) * 0.8))
                    continue
                if not self.text and self.system_mode == "system" and _refuses_system(exc):
                    self.system_mode = "user"
                    self.fell_back = True
                    client.remember(self.settings.endpoint, _MEMORY_KEY, "user")
                    continue
                raise
            self.usage = stream.usage
            self.finish_reason = getattr(stream, "finish_reason", None)
            self.served_model = getattr(stream, "served_model", None) or ""
            label = getattr(stream, "replayed_from", "")  # the opener's stream says when it was replayed
            self.cached = label if isinstance(label, str) else ""
            self.requests += 0 if self.cached else 1
            self.elapsed_s = time.monotonic() - started
            client.remember(self.settings.endpoint, _MEMORY_KEY, self.system_mode)
            return
