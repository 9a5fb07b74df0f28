"""The tool loop: ask Llama, spot a native tool call, run the tool, hand the result back, stream the answer.

`run_turn()` is a generator of events so a page can show each step as it happens; the `Turn` it fills in is the
record kept in the session (question, every call with its result and raw model output, the answer, any error).

Returning a tool result: whether a server accepts a `tool` message after an assistant message without structured
`tool_calls` varies by host (vLLM renders `tool` as `ipython`; others refuse it), so `RETURN_MODES` are tried in
order; a 400 moves to the next one and the one that worked is remembered per endpoint.

Several calls in one reply (Llama 4's pythonic list `[get_weather(city="Seoul"), get_local_time(...)]`): each runs,
in order, as its own `ToolStep` (its own `CallStarted` / `CallFinished`), and all the results go back together before
the next model request: one assistant message with every call, then one result per call (`reply_messages()`). Such
a reply counts as ONE round against `max_rounds` (the cap counts model replies that asked for tools, so it still
stops a runaway loop; `parse_tool_calls` reads at most `MAX_CALLS` calls from one reply).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from lib import client, tools
from lib.hosts.budget import budget_msg, check_question, estimate_tokens, fit_messages
from lib.hosts.config import Settings
from lib.hosts.errors import ErrorKind, StreamDeadline, UserError, explain
from lib.hosts.view_code import MAX_TOKENS, TEMPERATURE, python_snippet
from lib.hosts.providers import ToolFormat, answered_by, display_name, tool_format
from lib.common.ticking import current_scope
from lib.i18n import DEFAULT, Msg, msg, say
from lib.tool_calling.llama_prompt import (
    ToolCall,
    build_system_prompt,
    format_today,
    calls_text,
    custom_tools_message,
    may_be_tool_call,
    parse_tool_calls,
    strip_special_tokens,
)

MAX_ROUNDS = 4
MAX_SAME_FAILURES = 2  # a tool that failed this many times the same way is not called again: the turn ends
DEFAULT_TEMPERATURE = TEMPERATURE  # what every request sends ("View code" writes it from the turn)
DEFAULT_MAX_TOKENS = MAX_TOKENS
SYSTEM_INSTRUCTIONS = "You are a helpful assistant."
RETURN_MODES = ("tool_calls", "tool_text", "user")
RETURN_MODE_LABELS = {mode: str(msg(f"toolnotes.return_mode.{mode}")) for mode in RETURN_MODES}
"""Each mode in words ("assistant tool_calls + tool message"); its Korean: the same key, `toolnotes.return_mode.*`."""
_MEMORY_KEY = "tool_result_mode"


@dataclass
class ToolStep:
    """One tool call in a turn: what the model wrote, what it asked for, what the tool gave back.

    The steps of one reply that asked for several tools share its `raw_output` and hold its calls in order:
    `reply_groups()` finds them from just that (nothing else is stored, so a saved transcript regroups the same).
    """

    raw_output: str
    call: ToolCall
    result: tools.ToolResult | None = None
    call_id: str = field(default_factory=lambda: "call_" + uuid.uuid4().hex[:12])
    model: str = ""  # the model that asked for it


@dataclass
class Turn:
    """A question and everything that happened answering it."""

    question: str
    steps: list[ToolStep] = field(default_factory=list)
    answer: str = ""
    answer_raw: str = ""
    error: UserError | None = None
    capped: bool = False
    return_mode: str | None = None
    notes: list[str] = field(default_factory=list)
    note_msgs: dict[str, Msg] = field(default_factory=dict)
    """Each note made by the app, by its English text in `notes`, to be said in the page's language (`notes_in`)."""
    messages_sent: list[dict[str, Any]] = field(default_factory=list)  # the last request, for "what the model sees"
    model: str = ""
    endpoint: str = ""
    provider: str = ""  # the provider's label ("OpenRouter")
    provider_id: str = ""  # its id ("openrouter"), for the exported code
    keyed: bool = False  # a key was sent (the exported code reads the provider's key variable)
    tool_format: str = "builtin"  # "builtin" (system-prompt tools) or "json" (custom-tool definitions)
    stopped: bool = False  # interrupted (Stop, or another click) before it finished: what arrived is kept
    cached: str = ""  # "cache" / "rehearsal": replayed instead of asked; "shared": followed the same question in flight
    elapsed_s: float = 0.0
    requests: int = 0  # model requests the server accepted (a stopped one included; refused ones not)
    in_flight: bool = False  # a request is on its way and not counted yet (a Stop now still cost it)
    tokens: int = 0  # total tokens the server reported for them
    cut: bool = False  # the answer stopped at the length limit (finish_reason "length"), not where the model ended it
    served_model: str = ""  # the model the server says answered, when it names one
    template_kwargs: dict[str, Any] = field(default_factory=dict)  # body fields for a server rendering Meta's template
    temperature: float | None = DEFAULT_TEMPERATURE  # as sent (None: not sent, the server's default)
    max_tokens: int = DEFAULT_MAX_TOKENS  # as sent

    @property
    def request_count(self) -> int:
        """Model requests this turn cost: those counted, and one still on its way when the turn was stopped (it
        reached the host, or was about to: the page may draw the stopped turn before the request is counted)."""
        return self.requests + (1 if self.stopped and self.in_flight and not self.cached else 0)

    @property
    def summary(self) -> str:
        """"3.2 s · 2 model requests · 1,234 tokens · 1 tool call"."""
        return self.summary_in(DEFAULT)

    def add_note(self, note: "Msg | str") -> bool:
        """Keep `note` (its English in `notes`, once); whether it is new."""
        english = str(note)
        if english in self.notes:
            return False
        self.notes.append(english)
        if isinstance(note, Msg):
            self.note_msgs[english] = note
        return True

    def notes_in(self, lang: str) -> list[str]:
        """`notes` in `lang`: the app's own in that language, any other (an imported transcript's) as written."""
        return [say(lang, self.note_msgs.get(n, n)) for n in self.notes]

    def summary_in(self, lang: str) -> str:
        """`summary` in `lang` ("3.2초 · 모델 요청 2회 · 토큰 1,234개 · 도구 호출 1회")."""
        n, calls = self.request_count, len(self.steps)
        parts = [msg("toolnotes.turn.seconds", seconds=f"{self.elapsed_s:.1f}"),
                 msg("toolnotes.turn.requests_one" if n == 1 else "toolnotes.turn.requests_many", count=n)]
        if self.tokens:
            parts.append(msg("toolnotes.turn.tokens", count=f"{self.tokens:,}"))
        if calls:
            parts.append(msg("toolnotes.turn.calls_one" if calls == 1 else "toolnotes.turn.calls_many", count=calls))
        return " · ".join(say(lang, part) for part in parts)

    @property
    def answered_by(self) -> str:
        """"Llama 3.3 70B on OpenRouter" — the model that actually answered (as the server names it) and where."""
        return answered_by(self.model, self.served_model, self.provider)

    @property
    def finished(self) -> bool:
        """Answered without an error."""
        return self.error is None and bool(self.answer)


CUT_NOTE = ("The answer stopped at the length limit, so it is incomplete. Ask the model to continue, or ask a "
            "narrower question.")


# Events ----------------------------------------------------------------------------------------------------------


@dataclass
class Waiting:
    """A request went out (round n, counting from 1)."""

    round: int


@dataclass
class AnswerText:
    """A piece of the answer's prose (only sent once the output is clearly not a tool call)."""

    text: str


def join_answer_text(first: object, second: object) -> "AnswerText | None":
    """Two pieces of prose that are waiting together, as one (`lib.common.ticking`'s `merge`); None otherwise."""
    if type(first) is AnswerText and type(second) is AnswerText:
        return AnswerText(first.text + second.text)
    return None


@dataclass
class CallStarted:
    """The model asked for a tool; it is about to run. `shown_text` tells the page to drop prose it displayed."""

    step: ToolStep
    shown_text: bool = False


@dataclass
class CallFinished:
    """A tool finished (successfully or with an error result the model will see)."""

    step: ToolStep


@dataclass
class Note:
    """Something worth telling the user (a fallback, the round cap): `text` in English, `msg` (when set) the same
    in any language (`lib.i18n.say(lang, note.msg)`)."""

    text: str
    msg: Msg | None = field(default=None, compare=False)

    @classmethod
    def said(cls, note: Msg) -> "Note":
        """A note whose text is `note`."""
        return cls(str(note), note)


@dataclass
class Done:
    """The turn is over; `turn.error` says whether it failed."""

    turn: Turn


Event = Waiting | AnswerText | CallStarted | CallFinished | Note | Done


# Building the request ----------------------------------------------------------------------------------------------


def split_tools(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """(built-in names, custom names) among the selected tools, in registry order."""
    builtin = [n for n in tools.TOOLS if n in names and tools.TOOLS[n].builtin]
    custom = [n for n in tools.TOOLS if n in names and not tools.TOOLS[n].builtin]
    return builtin, custom


def reply_groups(steps: Sequence[ToolStep]) -> list[list[ToolStep]]:
    """`steps` grouped by the model reply that asked for them, in order.

    A group is a run of consecutive steps with the same `raw_output` whose calls are, in order, the calls
    `parse_tool_calls` reads from it (a reply that asked for one tool, or an older turn: a group of one each).
    """
    groups: list[list[ToolStep]] = []
    expected: list[ToolCall] = []  # the calls of the last group's reply not yet matched by a step
    for step in steps:
        if groups and expected and step.raw_output == groups[-1][0].raw_output and step.call == expected[0]:
            groups[-1].append(step)
            expected.pop(0)
            continue
        groups.append([step])
        calls = parse_tool_calls(step.raw_output)
        expected = calls[1:] if len(calls) > 1 and calls[0] == step.call else []
    return groups


def _result_text(step: ToolStep) -> str:
    return step.result.content if step.result else "error: the tool did not run"


def reply_messages(steps: Sequence[ToolStep], mode: str) -> list[dict[str, Any]]:
    """The messages returning the results of one reply's calls (`steps`), in return mode `mode`.

    "tool_calls": one assistant message with every call in `tool_calls`, then one `tool` message per call (the
    OpenAI shape). "tool_text": the calls as text once (`calls_text`), then one `tool` message per call. "user":
    the calls as text, then one user message with every result.
    """
    text = calls_text([s.call for s in steps])
    results = [{"role": "tool", "tool_call_id": s.call_id, "content": _result_text(s)} for s in steps]
    if mode == "tool_calls":
        calls = [{"id": s.call_id, "type": "function",
                  "function": {"name": s.call.name, "arguments": json.dumps(s.call.arguments, ensure_ascii=False)}}
                 for s in steps]
        return [{"role": "assistant", "content": "", "tool_calls": calls}, *results]
    if mode == "tool_text":
        return [{"role": "assistant", "content": text}, *results]
    parts = [f"Tool result from {s.call.name}:\n{_result_text(s)}" for s in steps]
    these = "this result" if len(steps) == 1 else "these results"
    return [
        {"role": "assistant", "content": text},
        {"role": "user", "content": "\n\n".join(parts) + f"\n\nUse {these} to answer my question."},
    ]


def build_messages(
    history: Sequence[Turn],
    turn: Turn,
    tool_names: Sequence[str],
    mode: str,
    today: dt.date,
    fmt: ToolFormat = "builtin",
    server_template: bool = False,
) -> list[dict[str, Any]]:
    """System prompt (Meta's format), earlier finished turns, this question and its steps so far.

    `fmt` "builtin": Llama 3.1/3.3 get brave_search / wolfram_alpha / code_interpreter switched on in the system
    prompt and the other tools as JSON definitions. "json" (Llama 4, 3.2 text, unknown models): every tool as a
    JSON definition in the first user message, and a system prompt without built-in tools.
    """
    builtin, custom = split_tools(tool_names)
    if fmt == "json":
        builtin, custom = [], builtin + custom
    # A server that renders Meta's template itself (vLLM, llama.cpp) writes the Environment / Tools / date lines from
    # `template_kwargs()`: a hand-written copy would be wrapped in a second system header with another date.
    system = SYSTEM_INSTRUCTIONS if server_template else build_system_prompt(builtin, today, SYSTEM_INSTRUCTIONS)
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    definitions = tools.meta_definitions(custom, include_builtin=(fmt == "json"))
    first = True
    for past in [t for t in history if t.finished] + [turn]:
        question = custom_tools_message(definitions, past.question) if (first and definitions) else past.question
        first = False
        messages.append({"role": "user", "content": question})
        for group in reply_groups(past.steps):
            messages.extend(reply_messages(group, mode))
        if past is not turn:
            messages.append({"role": "assistant", "content": past.answer})
    return messages


def template_kwargs(tool_names: Sequence[str], today: dt.date, fmt: ToolFormat = "builtin") -> dict[str, Any]:
    """What a server rendering Meta's Llama 3.1 template needs to write the exact built-in-tools system prompt:
    `{"chat_template_kwargs": {"builtin_tools": [...], "date_string": "01 December 2026"}}` (vLLM, llama.cpp)."""
    builtin = split_tools(tool_names)[0] if fmt == "builtin" else []
    kwargs: dict[str, Any] = {"date_string": format_today(today)}
    if builtin:
        kwargs["builtin_tools"] = builtin
    return {"chat_template_kwargs": kwargs}


def _allowed(call: ToolCall, tool_names: Sequence[str]) -> str | None:
    """None when the call may run, else the refusal the model gets back."""
    if call.name in tool_names:
        return None
    enabled = ", ".join(tool_names) or "none"
    if call.name in tools.TOOLS:
        return f"error: the tool '{call.name}' is not enabled in this chat. Enabled tools: {enabled}."
    return f"error: unknown tool '{call.name}'. Enabled tools: {enabled}."


def _run_tool(call: ToolCall, tool_names: Sequence[str], config: tools.ToolConfig) -> tools.ToolResult:
    refusal = _allowed(call, tool_names)
    if refusal:
        return tools.ToolResult(call.name, dict(call.arguments), refusal, False, "refused by the app", False, 0.0)
    return tools.run(call.name, dict(call.arguments), config)


# Dead ends: a tool failing the same way again, a model that keeps asking for tools ------------------------------------

# Each kind of failure a tool reports (the text after "error: " that the model receives), first match wins.
_FAILURE_PATTERNS = (
    ("code", r"^the code (failed|ran out of memory|did not finish|was stopped|was killed)"),
    ("switched_off", r"is disabled \(set |is not enabled in this chat"),
    ("unknown_tool", r"^unknown tool"),
    ("sandbox", r"sandbox|could not start python"),
    ("offline", r"could not connect to"),
    ("network", r"^request to .* failed"),
    ("slow", r"did not (answer|finish) within"),
    ("key", r"rejected the (api key|appid)|refused the request \((401|403)\)"),
    ("quota", r"rate limit reached|\(429\)"),
    ("server", r"server error \(5\d\d\)"),
    ("address", r"endpoint not found \(404\)|answered with a redirect"),
    ("no_fallback", r"is not configured .*local fallback"),
    ("garbled", r"malformed json|unexpected response|larger than \d+ mb|returned http \d+|empty answer|"
                r"without coordinates|failed unexpectedly"),
    ("arguments", r"argument|must be a json object"),
    ("input", r"did not understand|no place called|unknown city or time zone|input is missing|local maths fallback|"
              r"finite number|unknown unit|cannot convert|can't convert"),
)
_FAILURE_KINDS = tuple((kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in _FAILURE_PATTERNS)
_TEMPORARY = frozenset({"network", "slow", "server"})  # may work again in a moment
_MODELS_OWN = frozenset({"code", "input", "arguments", "other"})  # the call itself: perhaps another wording helps
ENVIRONMENT_FAILURES = frozenset({"offline", "network", "slow", "key", "quota", "server", "address", "garbled",
                                  "no_fallback", "switched_off", "unknown_tool", "sandbox"})
"""Kinds of failure that don't depend on what the model asked: no other arguments will make the tool work (no network,
a refused key, a tool switched off), so the same kind twice is a dead end whatever the arguments. Any other failure
(a place not found, code that raised, arguments the tool doesn't take) is the model's to fix with another call: it
is a dead end only when the very same error comes back twice."""
_SERVICE = re.compile(r"^(?:could not connect to |request to )?(?P<service>[A-Z][\w|.-]*(?: [A-Z][\w|.-]*)*)")
_HOST = re.compile(r"\(([^()\s]+:\d+|[a-z0-9.-]+\.[a-z]{2,})\)\s*$", re.IGNORECASE)
_SECONDS = re.compile(r"within ([\d.]+) s")
_KEY_SETTINGS = {"brave_search": "BRAVE_API_KEY", "wolfram_alpha": "WOLFRAM_ALPHA_APP_ID"}
_URL_SETTINGS = {"brave_search": "BRAVE_SEARCH_URL", "wolfram_alpha": "WOLFRAM_ALPHA_URL",
                 "get_weather": "OPEN_METEO_GEOCODING_URL / OPEN_METEO_FORECAST_URL"}


def error_line(result: tools.ToolResult) -> str:
    """The first line of what the model was told, without the "error: " prefix."""
    first = result.content.strip().splitlines()[0] if result.content.strip() else ""
    return first[len("error:"):].strip() if first.lower().startswith("error:") else first


def failure_kind(result: tools.ToolResult | None) -> str | None:
    """The kind of a failed tool result ("offline", "key", "quota", "code", …; "other"), None when it worked.

    >>> failure_kind(tools.ToolResult("brave_search", {}, "error: could not connect to Brave Search (x:1)", False,
    ...                               "Brave Search API", False, 0.0))
    'offline'
    """
    if result is None or result.ok:
        return None
    text = error_line(result)
    return next((kind for kind, pattern in _FAILURE_KINDS if pattern.search(text)), "other")


def tool_title(name: str) -> str:
    """"Web search" for brave_search (the tool's title without its source); the name itself for an unknown tool."""
    spec = tools.TOOLS.get(name)
    return spec.title.split(" (")[0] if spec else name


def _local(host: str) -> bool:
    return host.split(":")[0].lower() in ("127.0.0.1", "localhost", "::1", "[::1]")


def failure_reason(step: ToolStep) -> str:
    """Why a tool call failed, in words a presenter can act on: what is wrong and what to do about it.

    >>> r = tools.ToolResult("brave_search", {}, "error: could not connect to Brave Search (api.search.brave.com)",
    ...                      False, "Brave Search API", False, 0.1)
    >>> failure_reason(ToolStep("", ToolCall("brave_search", {}), r))
    "this machine can't reach the internet to use Brave Search (check the venue Wi-Fi or the network cable)"
    """
    return str(failure_reason_msg(step))


def failure_reason_msg(step: ToolStep) -> Msg:
    """`failure_reason` in any language (`errors.tool_failed.reason.*`): `str()` is the English."""
    def reason(key: str, **values: object) -> Msg:
        return msg(f"errors.tool_failed.reason.{key}", **values)

    result = step.result
    name = step.call.name
    if result is None:
        return reason("not_run")
    text = error_line(result)
    kind = failure_kind(result) or "other"
    m = _SERVICE.match(text)
    service = m.group("service") if m and kind not in ("code", "arguments", "switched_off", "unknown_tool") else ""
    service = service or (result.source.replace(" (fallback)", "") if result.source else tool_title(name))
    service = tools.source_msg(service)  # a source the app names ("local clock") in any language; a name as it is
    host_m = _HOST.search(text)
    host = host_m.group(1) if host_m else ""
    key_setting = _KEY_SETTINGS.get(name, "")
    if kind == "offline":
        why = (reason("offline_local", host=host, service=service) if host and _local(host)
               else reason("offline", service=service))
    elif kind == "network":
        why = reason("network", service=service, text=text.rsplit("(", 1)[-1].rstrip(")"))
    elif kind == "slow":
        secs = _SECONDS.search(text)
        why = reason("slow", service=service, seconds=secs.group(1)) if secs else reason("slow_unknown",
                                                                                          service=service)
    elif kind == "key":
        why = (reason("key_brave", service=service, setting=key_setting) if name == "brave_search" and key_setting
               else reason("key_setting", service=service, setting=key_setting) if key_setting
               else reason("key", service=service))
    elif kind == "quota":
        why = reason("quota", service=service)
    elif kind == "server":
        code = re.search(r"\((5\d\d)\)", text)
        why = reason("server", service=service, status=code.group(1)) if code else reason("server_unknown",
                                                                                           service=service)
    elif kind == "address":
        setting = _URL_SETTINGS.get(name)
        why = reason("address_setting", service=service, setting=setting) if setting else reason("address",
                                                                                                  service=service)
    elif kind in ("garbled", "no_fallback", "unknown_tool", "sandbox", "code"):
        why = reason(kind, service=service) if kind == "garbled" else reason(kind)
    elif kind == "switched_off":
        why = reason("switched_off_server" if "is disabled" in text else "switched_off")
    elif kind in ("input", "arguments"):
        why = reason(kind, text=tools.failure_msg(text))  # the tool's own line, in any language where it has one
    else:
        why = reason("other", text=tools.failure_msg(text)) if text else reason("no_reason")
    if result.fallback and name == "brave_search" and kind not in ("switched_off", "unknown_tool", "arguments"):
        why = reason("wikipedia", reason=why)
    return why


def tool_dead_end(steps: Sequence[ToolStep], limit: int = MAX_SAME_FAILURES) -> UserError | None:
    """The error that ends a turn whose steps hold `limit` failures of the same tool in the same way, naming the tool
    and why; None while every tool may still be worth another try.

    "The same way": the same kind of failure among `ENVIRONMENT_FAILURES` whatever the arguments (no network, a
    refused key), or the very same error text for any other kind (the model asking again for a place that doesn't
    exist). Asking the model again would bring the same call and the same failure, at the price of a model request.
    """
    seen: dict[tuple[str, ...], int] = {}
    for step in steps:
        kind = failure_kind(step.result)
        if kind is None or step.result is None:
            continue
        key = (step.call.name, kind) if kind in ENVIRONMENT_FAILURES else (step.call.name, kind,
                                                                            error_line(step.result))
        seen[key] = seen.get(key, 0) + 1
        if seen[key] >= limit:
            name = step.call.name
            try:
                tool: Msg | str = msg(f"errors.tool_failed.tool.{name}_name")  # its short name in any language
            except KeyError:  # a tool the catalogue doesn't name (a new one, or one the model made up)
                tool = tool_title(name)
            title = (msg("errors.tool_failed.title_twice", tool=tool) if limit == 2 else
                     msg("errors.tool_failed.title_times", tool=tool, count=limit))
            retry = msg("errors.tool_failed.retry_temporary" if kind in _TEMPORARY else
                        "errors.tool_failed.retry_reword" if kind in _MODELS_OWN else
                        "errors.tool_failed.retry_fixed")
            message = msg("errors.tool_failed.message", reason=failure_reason_msg(step), retry=retry)
            # The English starts with the reason, in a capital (the catalogue's reasons start in small letters).
            return UserError(ErrorKind.TOOL_FAILED, str(title), _sentence(str(message)), says=(title, message))
    return None


def capped_error(turn: Turn, max_rounds: int, asked: Sequence[ToolCall] = ()) -> UserError:
    """The error that ends a turn whose model kept asking for tools after `max_rounds` rounds."""
    names: dict[str, int] = {}
    for step in turn.steps:
        names[step.call.name] = names.get(step.call.name, 0) + 1
    ran: Msg | str = (", ".join(f"`{n}` ×{c}" if c > 1 else f"`{n}`" for n, c in names.items())
                      or msg("errors.tool_loop.none"))
    more = ", ".join(dict.fromkeys(f"`{c.name}`" for c in asked))
    title = msg("errors.tool_loop.title_one" if max_rounds == 1 else "errors.tool_loop.title_many", count=max_rounds)
    message = (msg("errors.tool_loop.message_again", ran=ran, more=more) if more else
               msg("errors.tool_loop.message", ran=ran))
    return UserError(ErrorKind.TOOL_LOOP, str(title), str(message), says=(title, message))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


# The loop ---------------------------------------------------------------------------------------------------------


def run_turn(
    settings: Settings,
    model: str,
    history: Sequence[Turn],
    question: str,
    tool_names: Sequence[str],
    config: tools.ToolConfig,
    *,
    max_rounds: int = MAX_ROUNDS,
    today: dt.date | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float | None = DEFAULT_TEMPERATURE,
    turn: Turn | None = None,
    run_tool: Callable[[ToolCall, Sequence[str], tools.ToolConfig], tools.ToolResult] = _run_tool,
    next_model: Callable[[str], str | None] | None = None,
    open_stream: Callable[..., Any] | None = None,
    context_tokens: int | None = None,
    count_tokens: Callable[[Sequence[dict[str, Any]], dict[str, Any] | None], int] | None = None,
    server_template: bool = False,
    deadline_s: float | None = None,
) -> Iterator[Event]:
    """Answer `question`, calling tools as the model asks, at most `max_rounds` rounds. Never raises.

    A question over `lib.hosts.budget.MAX_QUESTION_CHARS` is refused before anything is sent (QUESTION_TOO_LONG). The
    whole turn, every request and tool call, ends by `deadline_s` (default `client.turn_deadline_s(settings)`):
    a stream open then is hung up, and no further round starts (DEADLINE); each stream also ends on its own
    deadlines (no text for `settings.timeout_s` while keep-alives arrive: NO_PROGRESS; `client.REQUEST_DEADLINE_S`).

    A round is one model reply that asked for tools: all its calls run (in order, each its own `ToolStep` with
    `CallStarted` / `CallFinished`) and all their results go back in the next request. A reply asking for tools after
    `max_rounds` rounds ends the turn (`turn.capped`), its calls not run, with an error saying so (Retry helps). A
    tool that fails `MAX_SAME_FAILURES` times the same way in a turn (same tool, same kind of failure, whatever the
    arguments: no network, a refused key) ends the turn before another model request, with an error naming the tool
    and the reason in words a presenter can act on (`tool_dead_end()`).

    When the model answers "retired" or "not found" before saying anything, it is skipped for this server's
    lifetime and the same request goes once to `next_model(model)` (the next of the provider's chain).
    With `context_tokens`, every request is fitted to that input limit minus `max_tokens`: the oldest turns are
    left out (never the system prompt, the tool definitions or the latest turn) and a note says so; `count_tokens`
    (e.g. the server's own tokenizer) counts a request exactly where the estimate is close to the limit. If the
    server still answers "too long", more turns are left out and the request goes once more. `server_template`: the
    server renders Meta's template itself (vLLM, llama.cpp): the built-in tools and the date go as
    `chat_template_kwargs` (`template_kwargs()`) instead of a hand-written system prompt.
    A Stop (the `lib.common.ticking` worker cancelled) ends the loop quietly: the request counts, nothing else is said.
    """
    started = time.monotonic()
    seconds = deadline_s if deadline_s is not None else client.turn_deadline_s(settings)
    until = started + seconds
    today = today or dt.date.today()
    turn = turn or Turn(question=question)
    turn.model, turn.endpoint, turn.provider = model, settings.endpoint, settings.label
    turn.provider_id, turn.keyed = settings.provider_id, bool(settings.token)
    turn.temperature, turn.max_tokens = temperature, max_tokens
    mode = client.recall(settings.endpoint, _MEMORY_KEY, RETURN_MODES[0])
    rounds = 0
    switches = 0
    limit = context_tokens
    refitted = False
    try:
        check_question(question)  # a 1 MB paste is refused here: nothing is sent
        while True:
            if time.monotonic() >= until:  # tools and earlier rounds used the turn's time up: no new request
                raise StreamDeadline("turn", seconds)
            turn.tool_format = tool_format(model)
            messages = build_messages(history, turn, tool_names, mode, today, turn.tool_format,  # type: ignore[arg-type]
                                      server_template)
            extra = template_kwargs(tool_names, today, turn.tool_format) if server_template else None  # type: ignore[arg-type]
            turn.template_kwargs = dict(extra or {})
            if limit:
                count = (lambda m: count_tokens(m, extra)) if count_tokens else None  # noqa: E731
                messages, dropped = fit_messages(messages, limit, max_tokens, count=count)
                said = budget_msg(dropped, limit, display_name(model))
                if said is not None and turn.add_note(said):
                    yield Note.said(said)
            turn.messages_sent = messages
            yield Waiting(rounds + 1)
            turn.in_flight = True  # counted below once its fate is known; a Stop meanwhile still shows it
            stream = (open_stream or client.stream)(settings, model, messages, max_tokens=max_tokens,
                                                    temperature=temperature, **({"extra": extra} if extra else {}))
            buffered = ""
            streaming_prose = False
            try:
                for piece in client.under_deadline(stream, until, seconds):  # the turn's deadline holds inside
                    if streaming_prose:
                        yield AnswerText(piece)
                        continue
                    buffered += piece
                    if not may_be_tool_call(buffered):
                        streaming_prose = True
                        yield AnswerText(strip_special_tokens(buffered))
            except Exception as exc:  # noqa: BLE001 - turned into a user-facing error below
                _count(turn, stream)
                if _cancelled():
                    break  # Stop: the page keeps the turn as it was, marked stopped; nothing else to say
                err = explain(exc)
                if err.model_gone and not stream.text and next_model is not None and switches < 3:
                    client.skip_model(settings.endpoint, model, err.title)
                    replacement = next_model(model)
                    if replacement:
                        switches += 1
                        note = msg("errors.model_skipped", model=model, error=err.quoted_title(),
                                   replacement=replacement, name=display_name(replacement))
                        turn.add_note(note)
                        yield Note.said(note)
                        model = turn.model = replacement
                        continue
                if err.kind is ErrorKind.CONTEXT_TOO_LONG and not refitted and not stream.text:
                    # The server counts differently than we do: leave out more of the oldest turns and send once more.
                    refitted = True
                    known = err.context_limit or limit or estimate_tokens(messages) + max_tokens
                    limit = max(256, int(min(known, limit or known) * 0.8))
                    yield Note.said(msg("toolnotes.note.too_long", model=display_name(model)))
                    continue
                if err.kind is ErrorKind.BAD_REQUEST and turn.steps and mode != RETURN_MODES[-1]:
                    # The server refused how we returned the tool result: try the next way.
                    old = mode
                    mode = RETURN_MODES[RETURN_MODES.index(mode) + 1]
                    yield Note.said(msg("toolnotes.note.return_mode", refused=msg(f"toolnotes.return_mode.{old}"),
                                        next=msg(f"toolnotes.return_mode.{mode}")))
                    continue
                turn.answer = strip_special_tokens(stream.text) if streaming_prose else ""
                turn.answer_raw = stream.text
                turn.error = err
                break
            except BaseException:  # Stop closed this generator while it waited for the next piece
                _count(turn, stream)
                raise
            raw = stream.text
            replayed = _replay_label(stream)
            if replayed:
                turn.cached = replayed
            turn.requests, turn.in_flight = turn.requests + (0 if replayed else 1), False
            turn.tokens += stream.usage.total_tokens if stream.usage else 0
            turn.served_model = getattr(stream, "served_model", None) or turn.served_model
            calls = parse_tool_calls(raw)
            if calls and streaming_prose and "<|python_tag|>" not in raw and any(c.name not in tool_names
                                                                                 for c in calls):
                calls = []  # prose that merely mentions JSON or a call is an answer, not a request
            if not calls:
                if turn.steps:
                    client.remember(settings.endpoint, _MEMORY_KEY, mode)
                    turn.return_mode = mode
                turn.answer = strip_special_tokens(raw).strip()
                turn.answer_raw = raw
                if not streaming_prose and turn.answer:
                    yield AnswerText(turn.answer)  # a short answer that looked like a call until it ended
                turn.cut = getattr(stream, "finish_reason", None) == "length"  # shown after the answer
                if not turn.answer:
                    turn.error = UserError(ErrorKind.UNKNOWN, str(msg("errors.empty.title")),
                                           str(msg("errors.empty.message")),
                                           says=(msg("errors.empty.title"), msg("errors.empty.message")))
                break
            if rounds >= max_rounds:
                turn.capped = True
                turn.error = capped_error(turn, max_rounds, calls)
                break
            rounds += 1
            if turn.steps:
                # A result was accepted (the model answered it with another call): this mode works here.
                client.remember(settings.endpoint, _MEMORY_KEY, mode)
                turn.return_mode = mode
            for n, call in enumerate(calls):  # every call of the reply, in order; results all go back together
                step = ToolStep(raw_output=raw, call=call, model=model)
                turn.steps.append(step)
                yield CallStarted(step, shown_text=streaming_prose and n == 0)
                step.result = run_tool(call, tool_names, config)
                yield CallFinished(step)
            dead_end = tool_dead_end(turn.steps)
            if dead_end is not None:  # asking the model again would only bring the same call and the same failure
                turn.error = dead_end
                break
    except Exception as exc:  # noqa: BLE001 - the loop never raises into the page
        turn.in_flight = False
        if not _cancelled():
            turn.error = explain(exc)
    turn.elapsed_s = time.monotonic() - started
    yield Done(turn)


def _cancelled() -> bool:
    """This loop runs in a `lib.common.ticking` worker whose page gave up on it (Stop, or another click)."""
    scope = current_scope()
    return scope is not None and scope.cancelled


def _count(turn: Turn, stream: Any) -> None:
    """Count the request that just ended in an exception (an error, or Stop) if the server accepted it: a stopped
    one counts, a refused one (429, 401, an unreachable host) costs nothing. Until this runs, `turn.in_flight` lets a
    page that draws the stopped turn first count it already (`Turn.request_count`)."""
    turn.requests, turn.in_flight = turn.requests + (1 if _was_sent(stream) else 0), False


def _was_sent(stream: Any) -> bool:
    """Whether the server accepted this stream's request (it counts, even if stopped or cut off later)."""
    return bool(getattr(stream, "sent", False))


def _replay_label(stream: Any) -> str:
    """"cache" / "rehearsal" / "shared" when the opener replayed (or shared) this answer (`lib.answers` streams say
    so), else ""."""
    label = getattr(stream, "replayed_from", "")  # a plain client stream has none
    return label if isinstance(label, str) else ""


def request_code(turn: Turn, endpoint: str | None = None) -> str:
    """"View code": the turn's last request as runnable Python, exactly as it was sent (model, messages, `max_tokens`,
    `temperature`, the host's own fields such as `chat_template_kwargs`); the key is read from the environment.
    `endpoint`: the address to write (the page passes the one it may show), else the turn's."""
    return python_snippet(turn.endpoint if endpoint is None else endpoint, turn.model, turn.messages_sent,
                          max_tokens=turn.max_tokens, temperature=turn.temperature, extra=turn.template_kwargs,
                          provider_id=turn.provider_id, has_key=turn.keyed)


def tool_config(settings: Settings) -> tools.ToolConfig:
    """The tools' configuration from the app's settings (keys and URLs by their documented names)."""
    return tools.ToolConfig.from_lookup(settings.get)
