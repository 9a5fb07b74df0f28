"""How a tool-calling turn looks: a short timeline, open by default — the model decided to call a tool (with its
raw output right there) → the app ran it (what came back, how long) → the answer."""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib import client, tools
from lib.common.replayed import replayed_note
from lib.tool_calling.llama_prompt import render_raw_prompt
from lib.hosts.providers import display_name
from lib.common.safe_text import as_text, code_span, display_markdown, error_as_text
from lib.tool_calling.loop import (
    CUT_NOTE,
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
from ui import presenter
from ui.connection import current_settings, shown_url
from ui.conversation import LiveAnswer, show_error


def decided_label(step: ToolStep, fallback_model: str = "") -> str:
    """"Llama 3.3 70B decided to call `brave_search(query="Stockholm weather")`" (Markdown).

    The model, the tool's name and its arguments may come from an imported transcript: they show as written (the
    call as one code span, whatever backticks it holds), never as an image or a link."""
    who = as_text(display_name(step.model or fallback_model)) if (step.model or fallback_model) else "The model"
    return f"{who} decided to call {code_span(call_line(step.call.name, step.call.arguments))}"


def ran_line(step: ToolStep, bold: bool = True) -> str:
    """"The app ran Web search (Brave): 3 results · 0.42 s · Brave Search API" (Markdown; the lead in bold).

    A tool the app does not know (an imported transcript's) is named as code, and the result's source shows as
    written."""
    r = step.result
    spec = tools.TOOLS.get(step.call.name)
    title = spec.title if spec else code_span(step.call.name)
    b = "**" if bold else ""
    if r is None:
        return f"The app did not run {title}."
    source = as_text(r.source)
    if not r.ok:
        line = error_line(r)
        why = as_text(line if len(line) <= 200 else line[:199] + "…")
        return f"{b}{title} failed{b} after {r.elapsed_s:.2f} s ({source})" + (f": {why}" if why else ".")
    return f"{b}The app ran {title}:{b} {tools.result_summary(r)} · {r.elapsed_s:.2f} s · {source}"


def decided(step: ToolStep, model: str = "") -> None:
    """Step 1: the call, and the model's raw output exactly as it came."""
    st.markdown(f"**{decided_label(step, model)}**")
    raw_output(step)


def raw_output(step: ToolStep) -> None:
    """The model's output for a step, exactly as it came."""
    st.caption("Raw model output")
    st.code(step.raw_output, language=None, wrap_lines=True)


def ran(step: ToolStep) -> None:
    """Step 2: what the app ran and what went back to the model (plain text, never HTML)."""
    st.markdown(ran_line(step))
    if step.result is not None:
        with st.expander("What the model receives", expanded=not presenter.presenting()):
            received(step)


def received(step: ToolStep) -> None:
    """The tool result exactly as the model received it, and where it came from."""
    r = step.result
    if r is None:
        return
    st.code(r.content, language=None, wrap_lines=True, height=220 if len(r.content) > 600 else "content")
    if r.url and not presenter.presenting():
        st.caption(f"Source: {code_span(r.url)}")  # as written, as code: never a link or an image


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
        box = st.expander("Raw output and what the model received", key=key, on_change="rerun")
        if box.open:
            with box:
                raw_output(step)
                received(step)


def raw_view(turn: Turn) -> None:
    """The whole exchange in raw Llama 3.1 token form, and the request as runnable Python.

    Both expanders are drawn empty and filled only while open (opening one reruns the page): they repeat the whole
    conversation, and most turns are never inspected, so they cost no traffic until someone looks.
    """
    prompt = st.expander("What the model sees (raw Llama 3.1 prompt format)", key="tool_raw_prompt", on_change="rerun")
    if prompt.open:
        with prompt:
            raw_prompt(turn)
    if turn.messages_sent and not presenter.presenting():
        code = st.expander("View code (Python, azure-ai-inference)", key="tool_raw_code", on_change="rerun")
        if code.open:
            with code:
                st.caption("The last request of this turn exactly as the app sent it (every parameter, for this "
                           "host), as the SDK's samples write it. The key is read from the environment, never written "
                           "into the code.")
                st.code(request_code(turn, shown_url(turn.endpoint)), language="python")


def raw_prompt(turn: Turn) -> None:
    """The raw view's body: how the tools were switched on, and the exchange in Llama 3.1 tokens."""
    messages = list(turn.messages_sent)
    if turn.answer_raw:
        messages.append({"role": "assistant", "content": turn.answer_raw})
    rendered = server_rendering(turn)
    if turn.tool_format == "json":
        st.caption("Tools were sent as JSON function definitions in the first user message (this model has "
                   "no built-in tools).")
    elif turn.template_kwargs:
        st.caption("The built-in tools and today's date went to the server as `chat_template_kwargs`: Meta's chat "
                   "template on the server wrote the `Environment: ipython` and `Tools:` lines itself.")
    else:
        st.caption("Tools were switched on Llama 3.1's way: `Environment: ipython` and a `Tools:` line in the "
                   "system prompt (JSON definitions for the custom ones).")
    if rendered is not None:
        st.caption("Rendered by the server itself from the request (its tokenizer and Meta's chat template), then "
                   "the model's reply: exactly the tokens the model read and wrote.")
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
    parts = [f"{as_text(turn.answered_by)} · {turn.summary}" if turn.model else turn.summary]
    if note := replayed_note(turn.cached):
        parts.append(note)
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
        for note in turn.notes:
            st.info(as_text(note, keep_code=True), icon="ℹ️")
        if turn.answer:
            st.markdown(display_markdown(turn.answer))
        clicked = turn_tail(turn, index, latest)
    return clicked


def turn_tail(turn: Turn, index: int | None, latest: bool) -> bool:
    """What follows a turn's answer: stopped or error notice, footer, "Ask again (fresh)" and, for the latest turn,
    the raw views. The live turn ends with this too, so it looks the same as when the history redraws it."""
    if turn.stopped:
        st.warning("Stopped before the answer was complete: what arrived is kept.", icon="⏹️")
    elif turn.cut:
        st.warning(CUT_NOTE, icon="✂️")
    if turn.error:
        show_error(error_as_text(turn.error))  # an imported transcript's title and message show as written
    st.caption(footer(turn))
    clicked = False
    if turn.cached in ("cache", "shared") and index is not None:
        clicked = st.button("Ask again (fresh)", key=f"fresh_{index}", icon=":material/refresh:",
                            type="tertiary", help="Send this question to the model again, skipping the cache.")
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
            self.step_text = (f"{display_name(turn.model)} is thinking…" if event.round == 1
                              else f"{display_name(turn.model)} is reading the tool result…")
        elif isinstance(event, AnswerText):
            self.answer.add(event.text)
            turn.answer = self.answer.text  # kept if the run is interrupted
            self.step_text = f"{display_name(turn.model)} is writing the answer…"
        elif isinstance(event, CallStarted):
            self.answer.clear()
            turn.answer = ""
            self.step_text = f"Running `{event.step.call.name}`…"
            with self.timeline.container(border=True):
                decided(event.step, turn.model)
                self._pending = st.container()
        elif isinstance(event, CallFinished):
            with self._pending if self._pending is not None else self.timeline.container(border=True):
                ran(event.step)
            self.step_text = f"{display_name(turn.model)} is reading the tool result…"
        elif isinstance(event, Note):
            self.timeline.info(as_text(event.text, keep_code=True), icon="ℹ️")  # as render_turn shows it
        elif isinstance(event, Done):
            self.turn = event.turn
