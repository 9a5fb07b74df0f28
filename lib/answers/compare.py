"""Compare: the same question to two Llamas at once, side by side — what each did, how fast, and what can honestly
be said of the difference.

Both pages use it. The tool page keeps each side's whole `Turn` (which tool it called, with what, the result, the
answer); the vision page keeps each side's answer. `Side` is what both have in common: the footer under an answer,
the one-line difference and the transcript (one file, both columns) are built from it.

    pair = Compared(question, [side_of_turn(a, first_a), side_of_turn(b, first_b)], turns=[a, b])
    st.caption(footer(pair.sides[0])); st.caption(difference(*pair.sides, page="tools") or "")
    data = compare_transcript([pair], page="tools", secrets=settings.secrets())
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from lib.common.redact import redact, redact_data
from lib.hosts.providers import answered_by, answered_by_msg, display_name, host_msg
from lib.i18n import DEFAULT, Msg, msg, say, text
from lib.tool_calling.loop import Turn
from lib.vision.answer import replayed
from lib.answers.transcript import SCHEMA as TRANSCRIPT_SCHEMA
from lib.answers.transcript import VERSION as TRANSCRIPT_VERSION
from lib.answers.transcript import TranscriptError, call_line, tool_transcript, tool_turns_from_transcript

SCHEMA = "llama-herd-studio/compare"
VERSION = 1
LABELS = ("A", "B")
MAX_PAIRS = 50  # a compared conversation kept for a reload / imported: at most this many questions
_MIN_RATIO = 1.25  # a time or length difference smaller than this is noise, and goes unsaid


@dataclass
class Side:
    """One side's answer to a compared question (both pages)."""

    model: str
    provider: str  # the host's label ("Ollama")
    answer: str = ""
    first_token_s: float | None = None  # from the question to the model's first words (None: none came)
    total_s: float = 0.0
    tokens: int = 0
    requests: int = 0
    calls: list[str] = field(default_factory=list)  # the tool calls, as `name(arg="…")` (tool page)
    error: str = ""  # "Title. What to do." when it failed
    stopped: bool = False
    cached: str = ""  # "cache" / "rehearsal" / "shared": replayed, not asked live (times say nothing then)
    served_model: str = ""

    @property
    def who(self) -> str:
        """"Llama 3.1 8B on Ollama" (the server's own name for the model when it names another)."""
        return answered_by(self.model, self.served_model, self.provider)

    def who_in(self, lang: str) -> str:
        """`who` in `lang` ("Ollama의 Llama 3.1 8B")."""
        return say(lang, answered_by_msg(self.model, self.served_model, _host(self.provider)))

    @property
    def short(self) -> str:
        """"Llama 3.1 8B": what the difference line calls this side."""
        return display_name(self.model) if self.model else "This side"

    @property
    def short_msg(self) -> "Msg | str":
        """`short`, its "This side" in any language."""
        return display_name(self.model) if self.model else msg("answers.who.this_side")

    @property
    def finished(self) -> bool:
        """Answered in full, without an error."""
        return not self.error and not self.stopped and bool(self.answer)


@dataclass
class Compared:
    """One question asked of two models: each side's answer, and the tool page's whole turns."""

    question: str
    sides: list[Side]
    turns: list[Turn] = field(default_factory=list)  # tool page: the two Turns, drawn as the single mode draws them

    def refresh(self, lang: str = DEFAULT) -> "Compared":
        """The sides again from the turns (tool page: the turns are what a run updates), first-word times kept; an
        error in `lang`."""
        if self.turns:
            firsts = [s.first_token_s for s in self.sides] + [None] * len(self.turns)
            self.sides = [side_of_turn(t, f, lang) for t, f in zip(self.turns, firsts)]
        return self


def side_of_turn(turn: Turn, first_token_s: float | None, lang: str = DEFAULT) -> Side:
    """A tool-page side from its finished, failed or stopped `Turn` (its error's title and message in `lang`)."""
    return Side(
        model=turn.model, provider=turn.provider, answer=turn.answer, first_token_s=first_token_s,
        total_s=float(turn.elapsed_s or 0.0), tokens=int(turn.tokens or 0), requests=turn.request_count,
        calls=[call_line(s.call.name, s.call.arguments) for s in turn.steps],
        error="{}. {}".format(*turn.error.shown(lang)) if turn.error else "",
        stopped=bool(turn.stopped), cached=turn.cached, served_model=turn.served_model,
    )


def footer(side: Side, page: str = "tools", lang: str = DEFAULT) -> str:
    """"Llama 3.1 8B on Ollama · first words 0.4 s · 2.1 s in all · 312 tokens · 1 tool call" (plain text, in
    `lang`)."""
    def words(key: str, **values: Any) -> str:
        return text(lang, f"answers.footer.{key}", **values)

    parts = [side.who_in(lang)]
    if side.first_token_s is not None:
        parts.append(words("first_words", seconds=f"{side.first_token_s:.1f}"))
    parts.append(words("in_all", seconds=f"{side.total_s:.1f}"))
    if side.tokens:
        parts.append(words("tokens", tokens=f"{side.tokens:,}"))
    if page == "tools":
        n = len(side.calls)
        parts.append(words("tool_call_one" if n == 1 else "tool_call_many", count=n) if n else words("no_tool_call"))
    if note := replayed(side.cached):
        parts.append(say(lang, note))
    return " · ".join(parts)


_host = host_msg  # a side's host as a page says it


def _names(a: Side, b: Side) -> tuple["Msg | str", "Msg | str"]:
    """What the difference line calls each side: the model, or the model and host when both are the same model."""
    if a.short != b.short:
        return a.short_msg, b.short_msg
    return (msg("hosts.answered.on", model_name=a.short_msg, provider=_host(a.provider)),
            msg("hosts.answered.on", model_name=b.short_msg, provider=_host(b.provider)))


def _tool_names(side: Side) -> list[str]:
    return [c.split("(", 1)[0] for c in side.calls]


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _words(text: str) -> int:
    return len(text.split())


def difference(a: Side, b: Side, page: str = "tools", lang: str = DEFAULT) -> str | None:
    """One line of plain text (the page escapes it: it quotes the models' tool arguments) saying how the two
    answers differ, where that can be stated honestly, in `lang`; None where it can't.

    Facts only: which side failed, which called a tool and which answered without one, whose calls differ, and a
    time or length gap of at least a quarter. Nothing about which answer is right: the room reads them. Times of a
    replayed answer say nothing of the model, so no speed is compared then.
    """
    return " ".join(say(lang, m) for m in _differences(a, b, page)) or None


def _differences(a: Side, b: Side, page: str) -> list[Msg]:
    """The sentences of `difference` (`answers.difference.*`); none where nothing can be said."""
    na, nb = _names(a, b)
    if a.error or b.error:
        if a.error and b.error:
            return [msg("answers.difference.both_failed")]
        failed, fine, err = (na, nb, a.error) if a.error else (nb, na, b.error)
        title = err.split(". ", 1)[0].rstrip(".")
        if (b if a.error else a).finished:
            return [msg("answers.difference.failed_other_answered", failed=failed, title=title, fine=fine)]
        return [msg("answers.difference.failed", failed=failed, title=title)]
    if a.stopped or b.stopped:
        return []  # one answer is incomplete: nothing fair to compare
    lines: list[Msg] = []
    if page == "tools":
        ta, tb = _tool_names(a), _tool_names(b)
        if ta and not tb:
            lines.append(msg("answers.difference.no_tool", without=nb, with_tool=na, tool=ta[0]))
        elif tb and not ta:
            lines.append(msg("answers.difference.no_tool", without=na, with_tool=nb, tool=tb[0]))
        elif ta and tb:
            if ta != tb:
                lines.append(msg("answers.difference.called", a=na, tools_a=", ".join(ta), b=nb,
                                 tools_b=", ".join(tb)))
            elif a.calls != b.calls:
                lines.append(msg("answers.difference.different_arguments", tool=ta[0], call_a=_clip(a.calls[0]),
                                 call_b=_clip(b.calls[0])))
            else:
                lines.append(msg("answers.difference.same_call", call=_clip(a.calls[0])))
        else:
            lines.append(msg("answers.difference.no_call"))
    if a.finished and b.finished and not a.cached and not b.cached and min(a.total_s, b.total_s) > 0:
        fast, slow = (a, b) if a.total_s <= b.total_s else (b, a)
        ratio = slow.total_s / fast.total_s
        if ratio >= _MIN_RATIO:
            lines.append(msg("answers.difference.sooner", name=na if fast is a else nb, ratio=f"{ratio:.1f}",
                             fast=f"{fast.total_s:.1f}", slow=f"{slow.total_s:.1f}"))
    if page == "vision" and a.finished and b.finished:
        wa, wb = _words(a.answer), _words(b.answer)
        if min(wa, wb) > 0 and max(wa, wb) / min(wa, wb) >= 1.5:
            lines.append(msg("answers.difference.longer", name=na if wa > wb else nb,
                             ratio=f"{max(wa, wb) / min(wa, wb):.1f}", long=max(wa, wb), short=min(wa, wb)))
    return lines


# Transcripts: one file, both columns ------------------------------------------------------------------------------


def _side_dict(side: Side) -> dict[str, Any]:
    return {"model": side.model, "provider": side.provider, "answer": side.answer,
            "first_token_s": side.first_token_s, "total_s": side.total_s, "tokens": side.tokens,
            "requests": side.requests, "calls": list(side.calls), "error": side.error, "stopped": side.stopped,
            "cached": side.cached, "served_model": side.served_model}


def compare_transcript(pairs: Sequence[Compared], *, page: str, exported_at: dt.datetime | None = None,
                       secrets: Sequence[str] = ()) -> dict[str, Any]:
    """A compared conversation as one JSON-able dict: each question with both sides (the tool page's full turns
    too) and the difference line; secrets redacted."""
    when = (exported_at or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
    out = []
    for pair in pairs:
        item: dict[str, Any] = {"question": pair.question, "sides": [_side_dict(s) for s in pair.sides],
                                "difference": difference(*pair.sides, page=page) if len(pair.sides) == 2 else None}
        if pair.turns:
            dicts = tool_transcript(pair.turns, provider="", model="")["turns"]
            for d in dicts:
                d["messages_sent"] = []  # the request repeats the whole conversation: kept out of the file
            item["turns"] = dicts
        out.append(item)
    data = {"schema": SCHEMA, "version": VERSION, "kind": f"{page}-compare", "exported_at": when, "pairs": out}
    return redact_data(data, secrets)


def _md_inline(text: Any) -> str:
    """Untrusted text on one Markdown line: no HTML, links or images (angle brackets and brackets escaped)."""
    s = " ".join(str(text or "").split())
    for ch in "\\`*_[]<>!|#":
        s = s.replace(ch, "\\" + ch)
    return s


def _md_block(text: str) -> str:
    """An answer as a fenced block: shown exactly as written, nothing in it rendered."""
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text}\n{fence}"


def _side_of_dict(s: Mapping[str, Any]) -> Side:
    """A side back from its transcript dict (`_side_dict`)."""
    return Side(**{k: s.get(k) for k in ("model", "provider")},
                answer=str(s.get("answer") or ""), first_token_s=s.get("first_token_s"),
                total_s=float(s.get("total_s") or 0), tokens=int(s.get("tokens") or 0),
                requests=int(s.get("requests") or 0), calls=list(s.get("calls") or []),
                error=str(s.get("error") or ""), stopped=bool(s.get("stopped")), cached=str(s.get("cached") or ""),
                served_model=str(s.get("served_model") or ""))


def _difference_in(pair: Mapping[str, Any], page: str, lang: str) -> str:
    """The pair's difference line as the transcript keeps it (English), said again in `lang` from its sides."""
    kept = str(pair.get("difference") or "")
    sides = pair.get("sides") or []
    if not kept or lang == DEFAULT or len(sides) != 2:
        return kept
    try:
        return difference(*(_side_of_dict(s) for s in sides), page=page, lang=lang) or kept
    except (AttributeError, TypeError, ValueError):  # a hand-made file: its own words
        return kept


def compare_markdown(data: Mapping[str, Any], secrets: Sequence[str] = (), lang: str = DEFAULT) -> str:
    """A readable Markdown document of a compared conversation: each question, then A and B, then the difference;
    its headings, labels, footers and difference in `lang`."""
    def words(key: str, **values: Any) -> str:
        return text(lang, f"answers.compared.{key}", **values)

    d = redact_data(dict(data), secrets)
    page = "tools" if str(d.get("kind", "")).startswith("tools") else "vision"
    pairs = d.get("pairs") or []
    first = (pairs[0].get("sides") or []) if pairs else []
    lines = [f"# {words('title_tools' if page == 'tools' else 'title_vision')}", ""]
    for label, s in zip(LABELS, first):
        named = say(lang, answered_by_msg(s.get("model", ""), s.get("served_model", ""),
                                          _host(s.get("provider", ""))))
        lines.append(f"- **{label}:** {_md_inline(named)}")
    lines += [f"- **{words('exported')}:** {_md_inline(d.get('exported_at'))}",
              f"- **{words('questions')}:** {len(pairs)}", ""]
    for n, pair in enumerate(pairs, 1):
        lines += ["---", "", f"## {words('question', n=n)}", "", "> " + _md_inline(pair.get("question")), ""]
        for label, s in zip(LABELS, pair.get("sides") or []):
            side = Side(**{k: s.get(k) for k in ("model", "provider")},
                        first_token_s=s.get("first_token_s"), total_s=float(s.get("total_s") or 0),
                        tokens=int(s.get("tokens") or 0), calls=list(s.get("calls") or []),
                        cached=str(s.get("cached") or ""), served_model=str(s.get("served_model") or ""))
            lines += [f"### {label} · {_md_inline(side.who_in(lang))}", ""]
            for call in side.calls:
                lines += [f"- {words('called', call='`' + call.replace('`', '') + '`')}"]
            if side.calls:
                lines.append("")
            if s.get("answer"):
                lines += [_md_block(str(s["answer"])), ""]
            if s.get("error"):
                lines += [f"**{words('failed')}** {_md_inline(s['error'])}", ""]
            if s.get("stopped"):
                lines += [f"*{words('stopped')}*", ""]
            lines += [f"*{_md_inline(footer(side, page, lang))}*", ""]
        if diff := _difference_in(pair, page, lang):
            lines += [f"**{words('difference')}** {_md_inline(diff)}", ""]
    return redact("\n".join(lines).rstrip() + "\n", secrets)


def compared_from_saved(data: Any) -> list[Compared]:
    """The tool page's compared conversation back from `compare_transcript()` (a reload). Anything damaged is left
    out rather than shown half; a file that isn't one gives []."""
    if not isinstance(data, Mapping) or data.get("schema") != SCHEMA or data.get("kind") != "tools-compare":
        return []
    out: list[Compared] = []
    for item in (data.get("pairs") or [])[:MAX_PAIRS]:
        try:
            turns = tool_turns_from_transcript({"schema": TRANSCRIPT_SCHEMA, "version": TRANSCRIPT_VERSION,
                                                "kind": "tools", "exported_at": "", "provider": "", "model": "",
                                                "turns": item["turns"]})
        except (TranscriptError, KeyError, TypeError, ValueError):
            continue
        if len(turns) != 2:
            continue
        firsts = [s.get("first_token_s") if isinstance(s, Mapping) else None for s in item.get("sides") or []]
        firsts = [f if isinstance(f, (int, float)) else None for f in (firsts + [None, None])[:2]]
        out.append(Compared(str(item.get("question") or turns[0].question),
                            [side_of_turn(t, f) for t, f in zip(turns, firsts)], turns))
    return out
