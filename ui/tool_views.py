"""How a tool-calling turn looks: a short timeline, open by default — the model decided to call a tool (with its
raw output right there) → the app ran it (what came back, how long) → the answer. Its words:
lib/i18n/*/tools.toml, and toolnotes.toml for what lib/ says of a call (its summary, source, failure) and a turn."""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib import client, tools
from lib.i18n import DEFAULT, catalogue
from lib.tool_calling.llama_prompt import render_raw_prompt
from lib.hosts.providers import answered_by_msg, display_name
from lib.common.safe_text import as_text, code_span, display_markdown, error_as_text
from lib.tool_calling.loop import (
    AnswerText,
    CallFinished,
    CallStarted,
    Done,
    Note,
    ToolStep,
    Turn,
    Waiting,
    error_line,
    request_code,
)
from lib.answers.transcript import call_line
from lib.vision.answer import replayed
from ui import presenter
from ui.connection import current_settings, shown_url
from ui.conversation import LiveAnswer, show_error
from ui.i18n import language, say, t


def tool_title(name: str) -> str:
    """A tool's name on the page ("Web search (Brave)") in the session's language; a tool the catalogue does not
    name (a new one in lib/tools) keeps its own title, and a tool the app does not know its name as code."""
    if f"tools.tool.{name}.title" in catalogue(DEFAULT):
        return t(f"tools.tool.{name}.title")
    spec = tools.TOOLS.get(name)
    return spec.title if spec else code_span(name)


def stage_line(name: str, config: tools.ToolConfig) -> str:
    """`lib.tools.stage_status` in the session's language: what a tool uses, for a presenter's screen."""
    status = tools.status(name, config)
    if not status.available:
        return t("tools.stage_off")
    key = f"tools.tool.{name}.stage" + ("_fallback" if status.uses_fallback else "")
    return t(key) if key in catalogue(DEFAULT) else tools.stage_status(name, config)


def decided_label(step: ToolStep, fallback_model: str = "") -> str:
    """"Llama 3.3 70B decided to call `brave_search(query="Stockholm weather")`" (Markdown).

    The model, the tool's name and its arguments may come from an imported transcript: they show as written (the
    call as one code span, whatever backticks it holds), never as an image or a link."""
    who = as_text(display_name(step.model or fallback_model)) if (step.model or fallback_model) \
        else t("tools.call.the_model")
    return t("tools.call.decided", who=who, call=code_span(call_line(step.call.name, step.call.arguments)))


def ran_line(step: ToolStep, bold: bool = True) -> str:
    """"The app ran Web search (Brave): 3 results · 0.42 s · Brave Search API" (Markdown; the lead in bold).

    A tool the app does not know (an imported transcript's) is named as code, and the result's source shows as
    written."""
    r = step.result
    title = tool_title(step.call.name)
    b = "**" if bold else ""
    if r is None:
        return t("tools.call.not_run", title=title)
    source = as_text(say(tools.source_msg(r.source)))  # "local clock" said in the page's language; a name as it is
    seconds = f"{r.elapsed_s:.2f}"
    if not r.ok:
        line = say(tools.failure_msg(error_line(r)))  # the English the model was told, read back (else as it came)
        why = as_text(line if len(line) <= 200 else line[:199] + "…")
        if why:
            return t("tools.call.failed_why", b=b, title=title, seconds=seconds, source=source, why=why)
        return t("tools.call.failed", b=b, title=title, seconds=seconds, source=source)
    return t("tools.call.ran", b=b, title=title, summary=say(tools.result_summary_msg(r)), seconds=seconds,
             source=source)


def decided(step: ToolStep, model: str = "") -> None:
    """Step 1: the call, and the model's raw output exactly as it came."""
    st.markdown(f"**{decided_label(step, model)}**")
    raw_output(step)


def raw_output(step: ToolStep) -> None:
    """The model's output for a step, exactly as it came."""
    st.caption(t("tools.call.raw_output"))
    st.code(step.raw_output, language=None, wrap_lines=True)


def ran(step: ToolStep) -> None:
    """Step 2: what the app ran and what went back to the model (plain text, never HTML)."""
    st.markdown(ran_line(step))
    if step.result is not None:
        with st.expander(t("tools.call.received"), expanded=not presenter.presenting()):
            received(step)


def received(step: ToolStep) -> None:
    """The tool result exactly as the model received it, and where it came from."""
    r = step.result
    if r is None:
        return
    st.code(r.content, language=None, wrap_lines=True, height=220 if len(r.content) > 600 else "content")
    if r.url and not presenter.presenting():
        st.caption(t("tools.call.source", url=code_span(r.url)))  # as written, as code: never a link or an image


def step_view(step: ToolStep, model: str = "", key: str | None = None) -> None:
    """A whole step, as a bordered block of the timeline.

    With `key` (a step of an earlier turn), the step is one line, decision → result, and the raw output and the
    result are drawn only while their expander is open: a long conversation stays light to redraw.
    """
    with st.container(border=True):
        if key is None:
            decided(step, model)
            ran(step)
            return
        st.markdown(f"**{decided_label(step, model)}** → {ran_line(step, bold=False)}")
        box = st.expander(t("tools.call.raw_and_received"), key=key, on_change="rerun")
        if box.open:
            with box:
                raw_output(step)
                received(step)


def raw_view(turn: Turn) -> None:
    """The whole exchange in raw Llama 3.1 token form, and the request as runnable Python.

    Both expanders are drawn empty and filled only while open (opening one reruns the page): they repeat the whole
    conversation, and most turns are never inspected, so they cost no traffic until someone looks.
    """
    prompt = st.expander(t("tools.raw.prompt"), key="tool_raw_prompt", on_change="rerun")
    if prompt.open:
        with prompt:
            raw_prompt(turn)
    if turn.messages_sent and not presenter.presenting():
        code = st.expander(t("tools.raw.code"), key="tool_raw_code", on_change="rerun")
        if code.open:
            with code:
                st.caption(t("tools.raw.code_note"))
                st.code(request_code(turn, shown_url(turn.endpoint)), language="python")


def raw_prompt(turn: Turn) -> None:
    """The raw view's body: how the tools were switched on, and the exchange in Llama 3.1 tokens."""
    messages = list(turn.messages_sent)
    if turn.answer_raw:
        messages.append({"role": "assistant", "content": turn.answer_raw})
    rendered = server_rendering(turn)
    if turn.tool_format == "json":
        st.caption(t("tools.raw.json_tools"))
    elif turn.template_kwargs:
        st.caption(t("tools.raw.template_tools"))
    else:
        st.caption(t("tools.raw.system_tools"))
    if rendered is not None:
        st.caption(t("tools.raw.rendered"))
        st.code(rendered + turn.answer_raw, language=None, wrap_lines=True)
        return
    st.code(render_raw_prompt(messages), language=None, wrap_lines=True)


def server_rendering(turn: Turn) -> str | None:
    """The last request as the server rendered it (vLLM, llama.cpp), when this turn's server renders Meta's template
    and is still the one connected; None otherwise (the page then renders Meta's format itself)."""
    if not turn.template_kwargs or not turn.messages_sent:
        return None
    settings = current_settings("tools")
    if settings.endpoint.rstrip("/") != turn.endpoint.rstrip("/"):
        return None
    return client.rendered_prompt(settings, turn.model, turn.messages_sent, turn.template_kwargs)


def footer(turn: Turn) -> str:
    """Who answered, how long it took, what it cost; and whether it was replayed (Markdown: the model and provider
    names show as written)."""
    lang = language()
    summary = turn.summary_in(lang)
    who = answered_by_msg(turn.model, turn.served_model, turn.provider)  # its English: `turn.answered_by`
    parts = [f"{as_text(say(who))} · {summary}" if turn.model
             else summary]
    if note := replayed(turn.cached):
        parts.append(say(note))
    return " · ".join(parts)


def render_turn(turn: Turn, index: int | None = None, latest: bool = True) -> bool:
    """A finished, failed or stopped turn from the session's history. True when "Ask again (fresh)" was clicked.

    Only the latest turn carries the raw prompt and the code (they repeat the whole conversation so far): a long
    chat stays quick to redraw, and the transcript export has every turn.
    """
    with st.chat_message("user"):
        st.markdown(display_markdown(turn.question))
    with st.chat_message("assistant", avatar="🦙"):
        for n, step in enumerate(turn.steps):
            step_view(step, turn.model, None if latest or index is None else f"tool_received_{index}_{n}")
        for note in turn.notes_in(language()):
            st.info(as_text(note, keep_code=True), icon="ℹ️")
        if turn.answer:
            st.markdown(display_markdown(turn.answer))
        clicked = turn_tail(turn, index, latest)
    return clicked


def turn_tail(turn: Turn, index: int | None, latest: bool) -> bool:
    """What follows a turn's answer: stopped or error notice, footer, "Ask again (fresh)" and, for the latest turn,
    the raw views. The live turn ends with this too, so it looks the same as when the history redraws it."""
    if turn.stopped:
        st.warning(t("conversation.stopped"), icon="⏹️")
    elif turn.cut:
        st.warning(t("tools.chat.cut"), icon="✂️")
    if turn.error:
        show_error(error_as_text(turn.error))  # an imported transcript's title and message show as written
    st.caption(footer(turn))
    clicked = False
    if turn.cached in ("cache", "shared") and index is not None:
        clicked = st.button(t("tools.chat.ask_again"), key=f"fresh_{index}", icon=":material/refresh:",
                            type="tertiary", help=t("tools.chat.ask_again_help"))
    if latest:
        raw_view(turn)
    return clicked


class LiveToolTurn:
    """A running tool turn drawn as its events arrive: each tool call as a bordered step in `timeline` (what the
    model decided, then what the app ran), the answer streamed into `answer`. The single mode and each side of
    Compare draw a turn with it, so both look the same as the history will draw them. `step_text` is the current
    step in words ("Llama 3.1 8B is writing the answer…") for the caller's progress line."""

    def __init__(self, turn: Turn, timeline: Any, answer: LiveAnswer, step_text: str) -> None:
        self.turn = turn
        self.timeline = timeline
        self.answer = answer
        self.step_text = step_text
        self._pending: Any = None

    def handle(self, event: object) -> None:
        """Draw one event of `lib.tool_calling.loop.run_turn` (anything else, e.g. a Tick, draws nothing)."""
        turn = self.turn
        if isinstance(event, Waiting):
            self.step_text = t("tools.step.thinking" if event.round == 1 else "tools.step.reading_result",
                               model=display_name(turn.model))
        elif isinstance(event, AnswerText):
            self.answer.add(event.text)
            turn.answer = self.answer.text  # kept if the run is interrupted
            self.step_text = t("tools.step.writing_answer", model=display_name(turn.model))
        elif isinstance(event, CallStarted):
            self.answer.clear()
            turn.answer = ""
            self.step_text = t("tools.step.running_tool", tool=event.step.call.name)
            with self.timeline.container(border=True):
                decided(event.step, turn.model)
                self._pending = st.container()
        elif isinstance(event, CallFinished):
            with self._pending if self._pending is not None else self.timeline.container(border=True):
                ran(event.step)
            self.step_text = t("tools.step.reading_result", model=display_name(turn.model))
        elif isinstance(event, Note):
            note = event.msg if event.msg is not None else event.text
            self.timeline.info(as_text(say(note), keep_code=True), icon="ℹ️")  # as render_turn shows it
        elif isinstance(event, Done):
            self.turn = event.turn
