"""Tool calling: a Llama (built for 3.1 405B) picks a tool, the app runs it for real, the model answers with it."""

from __future__ import annotations

import streamlit as st

from ui.shell import ensure_shell

ensure_shell()

from lib import tools  # noqa: E402
from lib.providers import display_name, tool_format  # noqa: E402
from lib.safe_text import display_markdown  # noqa: E402
from lib.tool_loop import (  # noqa: E402
    MAX_ROUNDS,
    AnswerText,
    CallFinished,
    CallStarted,
    Done,
    Note,
    Turn,
    Waiting,
    run_turn,
    tool_config,
)
from ui.common import current_settings, model_picker, next_model_fn, setup_panel, show_error  # noqa: E402
from ui.tool_views import raw_view, render_turn, step_body, step_label  # noqa: E402

SUGGESTIONS = {
    "What is the weather in Stockholm?": "brave_search / get_weather",
    "What is the integral of x^2 sin x?": "wolfram_alpha",
    "What time is it in Tokyo right now?": "get_local_time",
    "Search the web: who won the 2024 Nobel Prize in Physics?": "brave_search",
    "How many kilometres is a marathon in miles?": "convert_units",
}
DEFAULT_TOOLS = ("brave_search", "wolfram_alpha")

settings = current_settings()
config = tool_config(settings)
st.session_state.setdefault("tool_turns", [])
turns: list[Turn] = st.session_state["tool_turns"]

title = st.empty()
intro = st.empty()
if settings.needs_token or not settings.can_send:
    setup_panel(settings, compact=True)

with st.container(border=True):
    top = st.columns([3, 1], vertical_alignment="bottom")
    with top[0]:
        model = model_picker(settings, "tools")
    with top[1]:
        if st.button("New chat", icon=":material/add_comment:", width="stretch", disabled=not turns):
            st.session_state["tool_turns"] = []
            st.rerun()
    if model and tool_format(model) == "json":
        st.caption(f"{display_name(model)} has no built-in tools: every tool is sent as a JSON function "
                   "definition (Meta's custom-tool format) instead of Llama 3.1's `Tools:` system line.")
can_send = settings.can_send and model is not None
model_name = display_name(model) if model else "Llama"
title.title(f"🛠️ Tool calling with {model_name}")
intro.caption(
    "Llama 3.1 has native tool calling: switched on by its system prompt, it answers with a call such as "
    "`brave_search.call(query=\"…\")` instead of text. This page runs that call for real, gives the model "
    "the result, and streams the answer that uses it."
    + ("" if model_name == "Llama 3.1 405B" else
       f" Built for Llama 3.1 405B; answering now: **{model_name} on {settings.label}**.")
)
with st.container(border=True):
    st.markdown("**Tools the model may call**")
    cols = st.columns(3)
    selected: list[str] = []
    for i, (name, spec) in enumerate(tools.TOOLS.items()):
        status = tools.status(name, config)
        key = f"tool_{name}"
        # Re-assigning keeps the choice when the user visits another page and comes back.
        st.session_state[key] = st.session_state.get(key, name in DEFAULT_TOOLS) and status.available
        with cols[i % 3]:
            kind = "built-in" if spec.builtin else "custom"
            st.checkbox(spec.title, key=key, disabled=not status.available,
                        help=f"{spec.description} ({kind} tool)")
            icon = "⛔" if not status.available else ("↩️" if status.uses_fallback else "✅")
            st.caption(f"`{name}` · {icon} {status.note}")
        if st.session_state[key]:
            selected.append(name)

if not turns:
    st.markdown("**Try one of these**")
    with st.container(horizontal=True):
        for prompt, hint in SUGGESTIONS.items():
            if st.button(prompt, help=f"Exercises {hint}", disabled=not can_send):
                st.session_state["pending_prompt"] = prompt

for turn in turns:
    render_turn(turn)
if turns and turns[-1].error and can_send and turns[-1].error.retry_helps:
    if st.button("Retry this question", icon=":material/refresh:"):
        st.session_state["pending_prompt"] = turns.pop().question
        st.rerun()

typed = st.chat_input(
    "Ask something that needs a tool…" if can_send else "Connect a model host (see above) to start chatting",
    disabled=not can_send,
    key="tool_chat",
)
question = typed or st.session_state.pop("pending_prompt", None)

if question and can_send and model:
    if not selected:
        st.toast("No tools selected: the model will answer from its own knowledge.", icon="ℹ️")
    with st.chat_message("user"):
        st.markdown(display_markdown(question))
    with st.chat_message("assistant", avatar="🦙"):
        waiting = st.empty()
        answer_box = st.empty()
        shown = ""
        final: Turn | None = None
        for event in run_turn(settings, model, turns, question, selected, config, max_rounds=MAX_ROUNDS,
                              next_model=next_model_fn(settings, "tools")):
            if isinstance(event, Waiting):
                label = (f"{model_name} is thinking…" if event.round == 1
                         else f"{model_name} is reading the tool result…")
                waiting.status(label, state="running")
            elif isinstance(event, AnswerText):
                waiting.empty()
                shown += event.text
                answer_box.markdown(display_markdown(shown) + " ▌")
            elif isinstance(event, CallStarted):
                waiting.empty()
                answer_box.empty()
                shown = ""
                with st.status(f"Calling `{event.step.call.name}`…", expanded=True, state="running") as box:
                    st.json(event.step.call.arguments)
                pending_box = box
            elif isinstance(event, CallFinished):
                pending_box.update(label=step_label(event.step), state="complete" if
                                   (event.step.result and event.step.result.ok) else "error", expanded=False)
                with pending_box:
                    step_body(event.step, include_call=False)
                answer_box = st.empty()
            elif isinstance(event, Note):
                st.info(event.text, icon="ℹ️")
            elif isinstance(event, Done):
                waiting.empty()
                final = event.turn
        if final is not None:
            answer_box.empty()
            if final.answer:
                st.markdown(display_markdown(final.answer))
            if final.error:
                show_error(final.error)
            raw_view(final)
            turns.append(final)
    # Redraw from history: the suggestions go away and "New chat" becomes available.
    st.rerun()
