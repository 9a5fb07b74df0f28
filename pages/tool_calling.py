"""Tool calling: a Llama (built for 3.1 405B) picks a tool, the app runs it for real, the model answers with it."""

from __future__ import annotations

import time

import streamlit as st

from ui.shell import ensure_shell

ensure_shell()

from lib import tools  # noqa: E402
from lib.limits import wait_notice, wait_text  # noqa: E402
from lib.pacing import Pacer  # noqa: E402
from lib.providers import display_name, tool_format  # noqa: E402
from lib.safe_text import display_markdown  # noqa: E402
from lib.ticking import Tick, ticking  # noqa: E402
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
from lib.transcript import (  # noqa: E402
    TranscriptError,
    from_json,
    to_json,
    to_markdown,
    tool_transcript,
    tool_turns_from_transcript,
)
from ui import presenter, state  # noqa: E402
from ui.common import (  # noqa: E402
    context_tokens,
    count_requests,
    current_settings,
    model_picker,
    next_model_fn,
    rehearsal_tools,
    setup_panel,
    show_error,
    stream_opener,
)
from ui.tool_views import decided, footer, ran, render_turn  # noqa: E402

# Each suggestion switches on the tool it exercises, so one click shows a tool call.
SUGGESTIONS: dict[str, tuple[str, ...]] = {
    "What is the weather in Stockholm?": ("brave_search",),
    "What is the integral of x^2 sin x?": ("wolfram_alpha",),
    "What time is it in Tokyo right now?": ("get_local_time",),
    "Search the web: who won the 2024 Nobel Prize in Physics?": ("brave_search",),
    "How many kilometres is a marathon in miles?": ("convert_units",),
}
DEFAULT_TOOLS = ("brave_search", "wolfram_alpha")

settings = current_settings()
config = tool_config(settings)
ss = st.session_state
stage = presenter.presenting()
if "tool_turns" not in ss:  # a new session: a reload of this tab brings its conversation back
    saved = state.load("tools")
    try:
        ss["tool_turns"] = tool_turns_from_transcript(saved) if saved else []
    except (TranscriptError, KeyError, TypeError, ValueError):
        ss["tool_turns"] = []
turns: list[Turn] = ss["tool_turns"]
# A question typed or clicked (suggestion callbacks run before the script) is answered in this very run, with the
# input drawn disabled and a Stop button: nothing typed meanwhile is lost, and no extra page draw is spent.
submitted = ss.get("tool_chat") or ss.pop("tool_pending", None)
if submitted and not ss.get("tool_running"):
    ss["tool_running"] = {"question": submitted, "fresh": ss.pop("tool_fresh", False)}
running = ss.get("tool_running")


def save_conversation() -> None:
    """Keep the conversation on the server for a reload (secrets redacted like any export)."""
    data = tool_transcript(turns, provider=settings.label, model=turns[-1].model if turns else "",
                           secrets=settings.secrets())
    state.save("tools", data)


title = st.empty()
intro = st.empty()
if not settings.can_send:
    setup_panel(settings, compact=True)

with st.container(border=True):
    top = st.columns([3, 1], vertical_alignment="bottom")
    with top[0]:
        model = model_picker(settings, "tools")
    with top[1]:
        if st.button("New chat", icon=":material/add_comment:", width="stretch", disabled=not turns or bool(running)):
            ss["tool_turns"] = []
            state.save("tools", {})
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
        state.keep(key, name in DEFAULT_TOOLS)
        if not status.available:
            ss[key] = False
        with cols[i % 3]:
            kind = "built-in" if spec.builtin else "custom"
            st.checkbox(spec.title, key=key, disabled=not status.available or bool(running),
                        help=f"{spec.description} ({kind} tool)")
            state.remember(key)
            if stage:
                st.caption(tools.stage_status(name, config))
            else:
                icon = "⛔" if not status.available else ("↩️" if status.uses_fallback else "✅")
                st.caption(f"`{name}` · {icon} {status.note}")
        if ss[key]:
            selected.append(name)


def suggest(prompt: str) -> None:
    """A suggestion click: switch on the tools it exercises, then ask it."""
    for name in SUGGESTIONS[prompt]:
        if tools.status(name, config).available:
            ss[f"tool_{name}"] = True
            state.remember(f"tool_{name}")
    ss["tool_pending"] = prompt


if not turns or stage:
    st.markdown("**Scenarios** — one click asks, with the right tool switched on" if stage else "**Try one of these**")
    with st.container(horizontal=True):
        for prompt, names in SUGGESTIONS.items():
            st.button(prompt, help="Switches on " + ", ".join(f"`{n}`" for n in names),
                      disabled=not can_send or bool(running), on_click=suggest, args=(prompt,),
                      icon=":material/play_arrow:" if stage else None)

for i, turn in enumerate(turns):
    if render_turn(turn, i, latest=i == len(turns) - 1 and not running) and can_send:
        ss["tool_pending"], ss["tool_fresh"] = turn.question, True
live_area = st.container()  # the running turn is drawn here: where history will redraw it, so no duplicate
last = turns[-1] if turns else None
if last is not None and not running and can_send and (last.stopped or (last.error and last.error.retry_helps)):
    if st.button("Retry this question", icon=":material/refresh:"):
        ss["tool_pending"] = turns.pop().question
        st.rerun()

with st.container(horizontal=True, vertical_alignment="center"):
    if turns and not running:
        # Built only when clicked: a long conversation costs nothing on every other rerun.
        def transcript() -> dict:
            return tool_transcript(turns, provider=settings.label, model=turns[-1].model,
                                   secrets=settings.secrets())

        st.download_button("Transcript (Markdown)", lambda: to_markdown(transcript(), settings.secrets()),
                           "tool-calling.md", "text/markdown", icon=":material/description:", type="tertiary",
                           on_click="ignore")
        st.download_button("Transcript (JSON)", lambda: to_json(transcript(), settings.secrets()),
                           "tool-calling.json", "application/json", icon=":material/data_object:",
                           type="tertiary", on_click="ignore")
    if not running and not stage:
        with st.popover("Open a transcript", icon=":material/upload_file:"):
            uploaded = st.file_uploader("A JSON transcript exported from this page", type=["json"],
                                        key="tool_import")
            if uploaded is not None and ss.get("tool_imported") != uploaded.file_id:
                try:
                    ss["tool_turns"] = tool_turns_from_transcript(from_json(uploaded.getvalue(), kind="tools"))
                except TranscriptError as exc:
                    st.error(f"That file can't be shown: {exc}", icon="🚫")
                else:
                    ss["tool_imported"] = uploaded.file_id
                    save_conversation()
                    st.rerun()

st.chat_input(
    ("Answering… press Stop to interrupt" if running else "Ask something that needs a tool…") if can_send
    else "Connect a model host (see above) to start chatting",
    disabled=not can_send or bool(running),
    key="tool_chat",
)
question = ss.pop("tool_pending", None)  # "Ask again (fresh)" clicked while this run drew the history
if question and can_send and model and not running:
    ss["tool_running"] = {"question": question, "fresh": ss.pop("tool_fresh", False)}
    st.rerun()

if running and can_send and model:
    ss.pop("tool_running", None)
    if not selected:
        st.toast("No tools selected: the model will answer from its own knowledge.", icon="ℹ️")
    turn = Turn(question=running["question"], stopped=True)  # stays "stopped" unless the loop ends normally
    history = list(turns)
    turns.append(turn)
    with live_area.chat_message("user"):
        st.markdown(display_markdown(turn.question))
    with live_area.chat_message("assistant", avatar="🦙"):
        status_box = st.status(f"{model_name} is thinking… 0 s", state="running")
        st.button("Stop", icon=":material/stop_circle:", key="tool_stop",
                  help="Stop this answer; the question and what arrived are kept.")
        timeline = st.container()
        answer_box = st.empty()
        step_text = f"{model_name} is thinking…"
        shown = ""
        pacer = Pacer()
        started = time.monotonic()
        line = {"position": 0}  # set by the worker thread while it waits for a free slot at the provider

        # Everything that reads session state is resolved here, in the script's thread; the turn itself runs in
        # ticking()'s worker thread, which has no session.
        options = dict(max_rounds=MAX_ROUNDS, turn=turn, next_model=next_model_fn(settings, "tools"),
                       open_stream=stream_opener(fresh=running.get("fresh", False)), run_tool=rehearsal_tools(),
                       context_tokens=context_tokens(settings, model))

        def events():
            """The turn, run in ticking()'s worker thread, reporting any wait for a free slot."""
            with wait_notice(lambda n: line.__setitem__("position", n)):
                yield from run_turn(settings, model, history, turn.question, selected, config, **options)

        for event in ticking(events()):
            turn.elapsed_s = time.monotonic() - started
            if isinstance(event, Tick):
                waiting = wait_text(line["position"]) + " " if line["position"] else ""
                status_box.update(label=f"{waiting or step_text} {event.elapsed_s:.0f} s")
            elif isinstance(event, Waiting):
                step_text = (f"{display_name(turn.model)} is thinking…" if event.round == 1
                             else f"{display_name(turn.model)} is reading the tool result…")
                status_box.update(label=f"{step_text} {turn.elapsed_s:.0f} s")
            elif isinstance(event, AnswerText):
                shown += event.text
                turn.answer = shown  # kept if the run is interrupted
                if pacer.due(len(shown)):
                    answer_box.markdown(display_markdown(shown) + " ▌")
            elif isinstance(event, CallStarted):
                answer_box.empty()
                shown, turn.answer = "", ""
                pacer.reset()
                step_text = f"Running `{event.step.call.name}`…"
                status_box.update(label=f"{step_text} {turn.elapsed_s:.0f} s")
                with timeline.container(border=True):
                    decided(event.step, turn.model)
                    pending = st.container()
            elif isinstance(event, CallFinished):
                with pending:
                    ran(event.step)
                step_text = f"{display_name(turn.model)} is reading the tool result…"
            elif isinstance(event, Note):
                timeline.info(event.text, icon="ℹ️")
            elif isinstance(event, Done):
                turn = event.turn
        turn.stopped = False
        status_box.update(label=f"Done in {turn.elapsed_s:.1f} s", state="error" if turn.error else "complete")
        answer_box.markdown(display_markdown(turn.answer))
        if turn.error:
            show_error(turn.error)
        st.caption(footer(turn))
    count_requests(turn.requests)
    save_conversation()
    # Redraw from history: the suggestions go away, "New chat" and the transcript buttons appear.
    st.rerun()
elif running:
    ss.pop("tool_running", None)
