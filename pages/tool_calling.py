"""Tool calling: a Llama (built for 3.1 405B) picks a tool, the app runs it for real, the model answers with it.

Every word it shows is in lib/i18n/*/tools.toml (and conversation.toml, compare.toml), in English and Korean."""

from __future__ import annotations

import time

import streamlit as st

from ui.shell import ensure_shell

ensure_shell()

from lib import tools  # noqa: E402
from lib.hosts.budget import MAX_QUESTION_CHARS  # noqa: E402
from lib.hosts.limits import wait_msg, wait_notice  # noqa: E402
from lib.hosts.providers import display_name, tool_format  # noqa: E402
from lib.common.safe_text import as_text, display_markdown  # noqa: E402
from lib.common.ticking import ticking  # noqa: E402
from lib.i18n import LANGUAGES, text  # noqa: E402
from lib.tool_calling.loop import MAX_ROUNDS, Turn, join_answer_text, run_turn, tool_config  # noqa: E402
from lib.answers.transcript import (  # noqa: E402
    TranscriptError,
    from_json,
    to_json,
    to_markdown,
    tool_transcript,
    tool_turns_from_transcript,
)
from ui import crash, presenter, state  # noqa: E402
from ui.connection import (  # noqa: E402
    context_tokens, current_settings, keep_sidebar_choices, model_picker, next_model_fn, server_options)
from ui.conversation import LiveAnswer, ProgressLine, earlier_turns  # noqa: E402
from ui.i18n import language, mark_language, say, t  # noqa: E402
from ui.meter import PAGE_RERUN, carried, carry, count_requests  # noqa: E402
from ui.rehearsal import rehearsal_tools, stream_opener  # noqa: E402
from ui.sidebar import setup_panel, sidebar_quota  # noqa: E402
from ui.tool_views import LiveToolTurn, render_turn, stage_line, tool_title, turn_tail  # noqa: E402
from ui.compare import compare_switch, new_compare_chat, other_side, tool_compare  # noqa: E402
from ui.sharing import share_controls, show_shared_view  # noqa: E402

if show_shared_view("tools"):  # a read-only link someone shared: their conversation, nothing else
    st.stop()

# Each suggestion switches on the tool it exercises, so one click shows a tool call. Its words, in each language, are
# tools.suggestions.<name> (written to work with the tools: Korean place and unit names included).
SUGGESTION_TOOLS: dict[str, tuple[str, ...]] = {
    "weather": ("brave_search",),
    "integral": ("wolfram_alpha",),
    "time": ("get_local_time",),
    "search": ("brave_search",),
    "marathon": ("convert_units",),
}


def suggestions(lang: str) -> dict[str, tuple[str, ...]]:
    """The suggestions in `lang`: prompt → the tools it switches on."""
    return {text(lang, f"tools.suggestions.{name}"): tools_ for name, tools_ in SUGGESTION_TOOLS.items()}


SUGGESTIONS = suggestions(language())
ANY_LANGUAGE = {prompt: names for lang in LANGUAGES for prompt, names in suggestions(lang).items()}
DEFAULT_TOOLS = ("brave_search", "wolfram_alpha")

settings = current_settings("tools")  # this page's host: the best across those configured
config = tool_config(settings)
ss = st.session_state
stage = presenter.presenting()


def hang_up_leftover() -> None:
    """The last run was interrupted before its answer's loop: stop its worker and hang up now."""
    if (leftover := ss.pop("tool_live_events", None)) is not None:
        leftover.close()


hang_up_leftover()
if "tool_turns" not in ss:  # a new session: a reload of this tab brings its conversation back
    saved = state.load("tools")
    try:
        ss["tool_turns"] = tool_turns_from_transcript(saved) if saved else []
    except (TranscriptError, KeyError, TypeError, ValueError):
        ss["tool_turns"] = []
turns: list[Turn] = ss["tool_turns"]


def take_question() -> tuple[dict | None, bool, str | None]:
    """(the question this run answers, whether it is answered in place, what was typed).

    A question typed or clicked (suggestion callbacks run before the script) is answered in this very run, with the
    input disabled and a Stop button: nothing typed meanwhile is lost, and no extra page draw is spent. A typed
    question reruns only the conversation (`conversation`, a fragment: the chat box is in it) and keeps the rest of
    the page as it is: the chat input disables itself until the run ends (submit_mode), every other control is
    already in its after-the-turn state, and the finished turn is drawn in place. No page draw at all (a whole page
    is about 11 KB of websocket traffic and, with a room asking at once, most of a question's server time) unless
    something outside the turn changed."""
    typed = ss.get("tool_chat")
    submitted = typed or ss.pop("tool_pending", None)
    if submitted and not ss.get("tool_running"):
        ss["tool_running"] = {"question": submitted, "fresh": ss.pop("tool_fresh", False), "typed": bool(typed)}
    running = ss.get("tool_running")
    return running, bool(running and running.get("typed")) and not stage, typed


running, in_place, typed = take_question()


def save_conversation() -> None:
    """Keep the conversation on the server for a reload (secrets redacted like any export)."""
    turns = ss["tool_turns"]
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
        compare = compare_switch("tools")
        if compare:
            if st.button(t("tools.new_chat"), icon=":material/add_comment:", width="stretch", key="tool_compare_new",
                         disabled=not ss.get("tool_compare_turns")):
                new_compare_chat()
                st.rerun()
        # Always enabled, and shown while there is a conversation (ui/presenter.py's page CSS): a first question
        # typed reruns only the conversation, so this isn't drawn again when it starts. While a turn runs, a click
        # interrupts it (what arrived is kept) and starts over.
        elif st.button(t("tools.new_chat"), icon=":material/add_comment:", width="stretch", key="tool_new_chat"):
            ss["tool_undo"] = list(turns)  # a stopped answer included: "Undo" brings the whole conversation back
            ss["tool_turns"] = []
            state.save("tools", {})
            st.rerun()
        if ss.get("tool_undo") and not turns and not running and not compare:
            if st.button(t("tools.undo_new_chat"), icon=":material/undo:", width="stretch", type="tertiary",
                         key="tool_undo_new_chat", help=t("tools.undo_new_chat_help")):
                ss["tool_turns"] = back = ss.pop("tool_undo")
                state.save("tools", tool_transcript(back, provider=settings.label, model=back[-1].model,
                                                    secrets=settings.secrets()))
                st.rerun()
    other = other_side(settings, model, "tools") if compare and model and settings.can_send else None
    if model and tool_format(model) == "json":
        st.caption(t("tools.json_tools_note", model=display_name(model)))
can_send = settings.can_send and model is not None
model_name = display_name(model) if model else "Llama"
title.title(t("tools.title", model=model_name) if model or not settings.can_send else t("tools.title_no_model"))
intro.caption(
    t("tools.intro")
    + ("" if model_name == "Llama 3.1 405B" or not model else
       " " + t("tools.intro_answering", model=model_name, host=say(settings.label_msg)))
)

@st.fragment
def tool_panel(config: tools.ToolConfig, stage: bool, locked: bool) -> None:
    """The tool choices. A fragment: a click reruns only this panel, not the conversation below it (30 turns took a
    click from 80 to 190 ms when the whole page ran). Nothing else on the page shows the choice; a turn reads it
    when it starts."""
    if state.fragment_rerun():
        mark_language()  # a click reruns this alone: the language settled once, not read at every text
    with st.container(border=True, key="tool_panel"):
        st.markdown(f"**{t('tools.panel_heading')}**")
        cols = st.columns(3)
        for i, (name, spec) in enumerate(tools.TOOLS.items()):
            status = tools.status(name, config)
            key = f"tool_{name}"
            state.keep(key, name in DEFAULT_TOOLS)
            # Set through the session state in every run, not only a session's first: each run then sends the same
            # checkbox, which the browser still holds and gets as a 75-byte reference (.streamlit/config.toml). A
            # session's first questions rerun only the conversation, so the first run's would be the one it holds.
            ss[key] = ss[key] and status.available
            with cols[i % 3]:
                kind = t("tools.kind_builtin" if spec.builtin else "tools.kind_custom")
                # During a turn drawn in place the page's CSS makes these inert (ui/presenter.py), so the same
                # widgets serve before, during and after it; other runs draw them disabled and redraw at the end.
                st.checkbox(tool_title(name), key=key, disabled=not status.available or locked,
                            help=t("tools.tool_help", description=say(tools.description_msg(name)), kind=kind))
                state.remember(key)
                if stage:
                    st.caption(stage_line(name, config))
                else:
                    icon = "⛔" if not status.available else ("↩️" if status.uses_fallback else "✅")
                    st.caption(f"`{name}` · {icon} {say(status.msg or status.note)}")


tool_panel(config, stage, bool(running) and not in_place)
selected = [name for name in tools.TOOLS if ss.get(f"tool_{name}")]


def suggest(prompt: str) -> None:
    """A suggestion click: switch on the tools it exercises, then ask it (in whichever language it was drawn)."""
    for name in ANY_LANGUAGE.get(prompt, ()):
        if tools.status(name, config).available:
            ss[f"tool_{name}"] = True
            state.remember(f"tool_{name}")
    ss["tool_pending"] = prompt


@st.fragment
def conversation(sidebar_run: tuple) -> None:
    """The conversation, its controls and the chat box, and the question being answered. A fragment: a typed
    question (or a click on Stop, "Show earlier turns", Retry's first step) reruns only this, not the page above it
    (the title, the model picker, the tool panel, the sidebar's settings), which is what a room of a hundred people
    asking at once can afford (bench/bench_room.py). The sidebar's request meter and rehearsal count are drawn from
    here, at the end, so they count this run's requests."""
    with crash.guard():
        _conversation(sidebar_run)
    sidebar_quota(settings)


def _conversation(sidebar_run: tuple) -> None:
    if state.fragment_rerun():  # this alone: what a run of the whole page settles before reaching here
        mark_language()  # once, not read from the address at every text
        carry(sidebar_run)  # what the page's last full run set for the sidebar
        # Streamlit drops, at the end of a fragment's rerun, the values of widgets no run draws now (the closed
        # sidebar boxes' fields): set again, as every full run does before the sidebar, they are kept.
        keep_sidebar_choices()
    if ss.pop(PAGE_RERUN, False):
        st.rerun()  # a click here changed something the page above shows (the rehearsal's tools: the tool panel)
    hang_up_leftover()
    running, in_place, typed = take_question()
    turns: list[Turn] = ss["tool_turns"]
    selected = [name for name in tools.TOOLS if ss.get(f"tool_{name}")]  # the panel reruns on its own
    # The question goes out now, before the rest of the page is drawn: the model thinks while the history draws.
    live: Turn | None = None
    if running and can_send and model:
        ss.pop("tool_running", None)
        live = Turn(question=running["question"], stopped=True)  # stays "stopped" unless the loop ends normally
        history = list(turns)
        turns.append(live)  # kept, marked stopped, whatever interrupts this run from here on
        save_conversation()  # a reload while it runs finds the question (marked stopped, with Retry)
        line = {"position": 0}  # set by the worker thread while it waits for a free slot at the provider
        # Everything that reads session state is resolved here, in the script's thread; the turn itself runs in
        # ticking()'s worker thread, which has no session.
        options = dict(max_rounds=MAX_ROUNDS, turn=live, next_model=next_model_fn(settings, "tools"),
                       open_stream=stream_opener(fresh=running.get("fresh", False)), run_tool=rehearsal_tools(),
                       context_tokens=context_tokens(settings, model), **server_options(settings, model))

        def events():
            """The turn, run in ticking()'s worker thread, reporting any wait for a free slot."""
            with wait_notice(lambda n: line.__setitem__("position", n)):
                yield from run_turn(settings, model, history, live.question, selected, config, **options)

        started = time.monotonic()
        live_events = ticking(events(), eager=True, merge=join_answer_text)  # a busy server draws what waits at once
        # If this run is interrupted (Stop, any other click) the worker is stopped at once and the request hung up: in
        # the `finally` around the loop below, or, if the interruption comes before it, at the start of the next run.
        ss["tool_live_events"] = live_events
        next(live_events)  # the worker starts (and sends the request) now

    past = turns[:-1] if live else turns
    with st.container(key="tool_conversation"):  # a landmark named "Conversation" (ui/a11y.py)
        hidden = earlier_turns(len(past), "tool_show_all")
        for i, turn in enumerate(past[hidden:], start=hidden):
            if render_turn(turn, i, latest=i == len(past) - 1 and not running) and can_send:
                ss["tool_pending"], ss["tool_fresh"] = turn.question, True
        live_area = st.container()  # the running turn is drawn here: where history will redraw it, no duplicate
    retry_area = st.empty()
    RETRY = dict(label=t("tools.chat.retry"), icon=":material/refresh:", key="tool_retry")


    def retry_wanted(turn: Turn | None) -> bool:
        """Whether a turn ended in a way that asking again can fix (stopped, or an error that a retry helps)."""
        return turn is not None and can_send and (turn.stopped or bool(turn.error and turn.error.retry_helps))


    if not running and retry_wanted(turns[-1] if turns else None):
        if retry_area.button(**RETRY):
            ss["tool_pending"] = turns.pop().question
            st.rerun()

    with st.container(horizontal=True, vertical_alignment="center"):
        if turns or in_place:
            # Built only when clicked: a long conversation costs nothing on every other rerun.
            def transcript() -> dict:
                return tool_transcript(turns, provider=settings.label, model=turns[-1].model if turns else "",
                                       secrets=settings.secrets())

            lang = language()  # read here: the download is built outside this script run
            st.download_button(t("tools.transcript.markdown"),
                               lambda: to_markdown(transcript(), settings.secrets(), lang=lang),
                               "tool-calling.md", "text/markdown", icon=":material/description:", type="tertiary",
                               on_click="ignore", key="tool_transcript_md")
            st.download_button(t("tools.transcript.json"), lambda: to_json(transcript(), settings.secrets()),
                               "tool-calling.json", "application/json", icon=":material/data_object:",
                               type="tertiary", on_click="ignore", key="tool_transcript_json")
        if (turns or in_place) and (in_place or not running) and not stage:
            share_controls("tools")
        if (in_place or not running) and not stage:
            with st.popover(t("tools.transcript.open"), icon=":material/upload_file:"):
                uploaded = st.file_uploader(t("tools.transcript.open_label"), type=["json"], key="tool_import")
                if uploaded is not None and ss.get("tool_imported") != uploaded.file_id:
                    try:
                        ss["tool_turns"] = tool_turns_from_transcript(from_json(uploaded.getvalue(), kind="tools"))
                    except TranscriptError as exc:
                        # the message may quote the file: as text
                        st.error(t("tools.transcript.cannot_show", error=as_text(say(exc.reason))), icon="🚫")
                    else:
                        ss["tool_imported"] = uploaded.file_id
                        save_conversation()
                        st.rerun()

    with st.bottom:  # pinned below the page, as a chat box outside any container is (this one is in a fragment)
        asked = st.chat_input(
            t("tools.chat.answering" if running and not in_place else "tools.chat.placeholder")
            if can_send else t("tools.chat.no_host"),
            disabled=not can_send or (bool(running) and not in_place),
            submit_mode="disable",
            key="tool_chat",
            max_chars=MAX_QUESTION_CHARS,  # a pasted megabyte stops at the box (lib.hosts.budget refuses it again, server side)
        )
    if asked and not typed and not running and can_send:
        # A session's very first run can be the question itself (the tab reconnected to a restarted server, or to
        # another process of a room): the box's value is known only once the box is drawn, so it is asked now.
        ss["tool_running"] = {"question": asked, "fresh": False, "typed": False}
        st.rerun()
    question = ss.pop("tool_pending", None)  # "Ask again (fresh)" clicked while this run drew the history
    if question and can_send and model and not running:
        ss["tool_running"] = {"question": question, "fresh": ss.pop("tool_fresh", False)}
        st.rerun()

    if live is not None:
        turn = live
        if not selected:
            st.toast(t("tools.chat.no_tools"), icon="ℹ️")
        with live_area.chat_message("user"):
            st.markdown(display_markdown(turn.question))
        with live_area.chat_message("assistant", avatar="🦙"):
            # The step and the elapsed seconds beside Stop, as on the vision page (a spinning icon, from the CSS in
            # ui/presenter.py). Not st.status: it sleeps 50 ms when created, which would delay the first text.
            progress_area = st.empty()
            with progress_area.container(horizontal=True, vertical_alignment="center", gap="small", key="tool_progress"):
                progress_line = ProgressLine(st.empty())
                st.button(t("conversation.stop"), icon=":material/stop_circle:", key="tool_stop",
                          help=t("tools.chat.stop_help"))

            def progress(step: str, seconds: float) -> None:
                """The current step and the elapsed whole seconds."""
                progress_line.show(f"{step} {t('conversation.elapsed', seconds=f'{seconds:.0f}')}")

            thinking = t("tools.step.thinking", model=model_name)
            progress(thinking, time.monotonic() - started)
            view = LiveToolTurn(turn, st.container(), LiveAnswer(st.empty()), thinking)
            answer = view.answer
            try:
                for event in live_events:
                    if state.rerun_waiting():
                        # Stop, or another click in this fragment: Streamlit queues it behind this run (a click
                        # elsewhere ends it anyway). Asked again as this run's own rerun, it comes now, the click's
                        # value with it (st.stop() would drop it).
                        st.rerun(scope="fragment" if state.fragment_rerun() else "app")
                    turn.elapsed_s = time.monotonic() - started
                    view.handle(event)
                    turn = view.turn
                    # A wait for a free slot at the provider shows instead of the step; sent only when the line changes.
                    progress(say(wait_msg(line["position"])) if line["position"] else view.step_text, turn.elapsed_s)
            finally:
                live_events.close()  # interrupted or not: stop the worker, hang up a request still open
                ss.pop("tool_live_events", None)
            if live_events.cancelled:
                st.stop()  # the next run (already started, on another thread) stopped this one: the turn stays stopped
            turn.stopped = False
            count_requests(turn.requests)
            save_conversation()
            if not in_place or turn.model != model:
                # Redraw from history: the input comes back, the suggestions go away; or the title and the model picker
                # show the model that answered after the chosen one was retired mid-turn.
                st.rerun()
            # Drawn in place exactly as the history will draw it on the next run.
            progress_area.empty()
            answer.finish(turn.answer)
            turn_tail(turn, len(turns) - 1, latest=True)
        if retry_wanted(turn):
            retry_area.button(**RETRY)
    elif running:
        ss.pop("tool_running", None)  # nothing can be sent (no model or no host): drop the question's run

if compare:  # the same question to two models at once (ui/compare.py)
    tool_compare(settings, model, other, config, selected, can_send, SUGGESTIONS, suggest)
else:
    # Drawn with the page: a click runs the whole page, so the tool panel shows the tools it switched on. Before a
    # first question typed instead, they make way as soon as it shows (ui/presenter.py's page CSS); on stage they stay.
    if not turns or stage:
        with st.container(key=None if stage else "tool_first_steps"):
            st.markdown(t("tools.scenarios_heading") if stage else f"**{t('tools.try_these')}**")
            with st.container(horizontal=True, key="tool_suggestions"):
                for n, (prompt, names) in enumerate(SUGGESTIONS.items()):
                    st.button(prompt, key=f"tool_suggest_{n}",
                              help=t("tools.switches_on", tools=", ".join(f"`{x}`" for x in names)),
                              disabled=not can_send or (bool(running) and not in_place), on_click=suggest,
                              args=(prompt,), icon=":material/play_arrow:" if stage else None)
    conversation(carried())
