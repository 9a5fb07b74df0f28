"""How a tool-calling turn looks: the question, each tool step (call, result, timing, source), the answer."""

from __future__ import annotations

import streamlit as st

from lib.export import python_snippet
from lib.llama_prompt import render_raw_prompt
from lib.safe_text import display_markdown
from lib.tool_loop import ToolStep, Turn
from ui.common import show_error


def step_label(step: ToolStep) -> str:
    """"✓ brave_search · 0.42 s · Wikipedia search (fallback)"."""
    r = step.result
    if r is None:
        return f"`{step.call.name}` did not run"
    mark = "Called" if r.ok else "Failed:"
    return f"{mark} `{step.call.name}` · {r.elapsed_s:.2f} s · {r.source}"


def step_body(step: ToolStep, include_call: bool = True) -> None:
    """Arguments, the result as plain text (never HTML), where it came from, and the model's raw output."""
    if include_call:
        st.json(step.call.arguments)
    r = step.result
    if r is not None:
        st.markdown("**Result** (what the model receives)")
        st.code(r.content, language=None, wrap_lines=True)
        if r.fallback:
            st.caption(f"↩️ Fallback used: {r.source}")
        if r.url:
            st.caption(f"Source: `{r.url}`")
    st.markdown("**Raw model output**")
    st.code(step.raw_output, language=None, wrap_lines=True)


def raw_view(turn: Turn) -> None:
    """The whole exchange in raw Llama 3.1 token form, as the model sees it."""
    messages = list(turn.messages_sent)
    if turn.answer_raw:
        messages.append({"role": "assistant", "content": turn.answer_raw})
    with st.expander("What the model sees (raw Llama 3.1 prompt format)"):
        if turn.tool_format == "json":
            st.caption("Tools were sent as JSON function definitions in the first user message (this model has "
                       "no built-in tools).")
        else:
            st.caption("Tools were switched on Llama 3.1's way: `Environment: ipython` and a `Tools:` line in the "
                       "system prompt (JSON definitions for the custom ones).")
        st.code(render_raw_prompt(messages), language=None, wrap_lines=True)
    if turn.messages_sent:
        with st.expander("View code (Python, azure-ai-inference)"):
            st.caption("The last request of this turn, as the SDK's samples write it. The key is read from the "
                       "environment, never written into the code.")
            st.code(python_snippet(turn.endpoint, turn.model, turn.messages_sent, provider_id=turn.provider_id,
                                   has_key=turn.keyed), language="python")


def render_turn(turn: Turn) -> None:
    """A finished (or failed) turn from the session's history."""
    with st.chat_message("user"):
        st.markdown(display_markdown(turn.question))
    with st.chat_message("assistant", avatar="🦙"):
        for step in turn.steps:
            state = "complete" if step.result and step.result.ok else "error"
            with st.status(step_label(step), state=state, expanded=False):
                step_body(step)
        for note in turn.notes:
            st.info(note, icon="ℹ️")
        if turn.answer:
            st.markdown(display_markdown(turn.answer))
        if turn.error:
            show_error(turn.error)
        st.caption(f"{turn.answered_by} · {turn.summary}" if turn.model else turn.summary)
        raw_view(turn)
