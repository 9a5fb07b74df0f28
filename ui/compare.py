"""Compare, as a person sees it: the switch, the other side's host and model, what a compare costs, and the tool
page's compared conversation (two columns streaming at once, a footer under each answer, one line on the
difference, one Stop for both, one transcript with both).

The logic (defaults, footers, the difference, transcripts) is `lib.answers.compare`; running two turns at once is
`lib.common.ticking.ticking_all`. Its words: lib/i18n/*/compare.toml."""

from __future__ import annotations

import hashlib
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

import streamlit as st

from lib import tools
from lib.answers.compare import (
    LABELS,
    MAX_PAIRS,
    Compared,
    Side,
    compare_markdown,
    compare_transcript,
    compared_from_saved,
    difference,
    footer,
)
from lib.common.safe_text import as_text, display_markdown, error_as_text
from lib.common.ticking import Crashed, Tick, join_text, ticking_all
from lib.hosts.budget import MAX_QUESTION_CHARS
from lib.hosts.config import Settings
from lib.hosts.errors import explain
from lib.hosts.limits import limits_for, wait_msg, wait_notice
from lib.hosts.providers import Page, answered_by_msg, compare_default, display_name
from lib.tool_calling.loop import MAX_ROUNDS, AnswerText, CallStarted, Done, Turn, join_answer_text, run_turn
from lib.answers.transcript import hidden_turns, to_json
from ui import presenter, state
from ui.connection import base_settings, choose_model, context_tokens, models, next_model_fn, server_options
from ui.conversation import LiveAnswer, ProgressLine, show_error
from ui.i18n import language, say, t
from ui.meter import count_requests
from ui.rehearsal import rehearsal_tools, replay_pin, stream_opener
from ui.tool_views import LiveToolTurn, step_view

Pick = tuple[Settings, str]  # a side to ask: its host and model


def _switched(key: str) -> None:
    """Keep the switch's position for a reload of this tab (the server keeps it with the conversations)."""
    state.save(f"{key}_switch", {"on": bool(st.session_state.get(key))})


def compare_switch(page: Page, disabled: bool = False) -> bool:
    """The Compare toggle (kept across page switches and reloads of this tab)."""
    key = f"{page}_compare"
    ss = st.session_state
    if key not in ss and key not in ss.get("_kept", {}):  # a new session: a reload finds Compare as it was left
        saved = state.load(f"{key}_switch")
        ss[key] = bool(saved and saved.get("on"))
    state.keep(key, False)
    on = st.toggle(t("compare.toggle"), key=key, disabled=disabled, on_change=_switched, args=(key,),
                   help=t("compare.toggle_help"))
    state.remember(key)
    return bool(on)


def _hosts(current: Settings) -> list[Settings]:
    """The hosts a side may run on: the page's own first, then every other configured host whose models were read."""
    out = [current]
    for h in base_settings().hosts():
        if any(h.provider_id == o.provider_id and h.endpoint == o.endpoint for o in out):
            continue
        listing = models(h)
        if listing is None or listing.available:
            out.append(h)
    return out


def other_side(current: Settings, model: str | None, page: Page) -> Pick | None:
    """Pick the other side (B): any configured host, any model of the page's family it offers. By default the
    smallest of the family beside the page's model (3.1 8B for tools, 3.2 11B Vision for vision), on the same host
    when it has one, else on the first host that has. Draws the pickers; None when there is nothing to compare."""
    ss = st.session_state
    hosts = _hosts(current)
    options: dict[str, tuple[Settings, list[str]]] = {}
    for h in hosts:
        pinned = replay_pin(h, f"{page}_compare")  # Replay: B's model as rehearsed, whatever the listing says
        pick, _ = choose_model(h, page)
        listed = [pinned] if pinned else list(pick.options) or ([pick.model] if pick.model else [])
        if listed:
            options[f"{h.provider_id}|{h.endpoint}"] = (h, listed)
    if not options:
        return None
    default_host, default_model = None, None
    for hid, (h, listed) in options.items():
        found = listed[0] if replay_pin(h, f"{page}_compare") else compare_default(listed, page, model)
        if found:
            default_host, default_model = hid, found
            break
    if default_host is None:  # nothing smaller anywhere: the same host's next model, or its own model again
        default_host = next(iter(options))
        listed = options[default_host][1]
        default_model = next((m for m in listed if m != model), listed[0])
    host_key = f"{page}_compare_host"
    state.keep(host_key, default_host)
    if ss.get(host_key) not in options:
        ss[host_key] = default_host
    cols = st.columns([1, 1]) if len(options) > 1 else [st.container()]
    if len(options) > 1:
        with cols[0]:
            hid = st.selectbox(t("compare.host"), list(options), key=host_key,
                               format_func=lambda i: say(options[i][0].label_msg), help=t("compare.host_help"))
            state.remember(host_key)
    else:
        hid = ss[host_key]
    host, listed = options[hid]
    digest = hashlib.sha256(hid.encode()).hexdigest()[:8]
    model_key = f"{page}_compare_model_{digest}"
    wanted = default_model if hid == default_host else (compare_default(listed, page, model) or listed[0])
    state.keep(model_key, wanted)
    if ss.get(model_key) not in listed:
        ss[model_key] = wanted
    with cols[-1]:
        chosen = st.selectbox(
            t("compare.model"), listed, key=model_key,
            format_func=lambda m: f"{display_name(m)} · {m}" if display_name(m) != m else m,
            help=t("compare.model_help"))
        state.remember(model_key)
    return host, chosen


def cost_note(sides: Sequence[Pick]) -> str | None:
    """Said before a compare runs on a free tier: it costs two requests (more with tool calls)."""
    free = []
    for s, m in sides:
        p = s.provider
        if p is None:
            continue
        lim = limits_for(p, m)
        if lim.per_day or lim.per_minute:
            per = t("compare.cost.per_day", count=lim.per_day) if lim.per_day else \
                t("compare.cost.per_minute", count=lim.per_minute)
            free.append(t("compare.cost.limit", host=say(s.label_msg), per=per))
    if not free:
        return None
    limits = list(dict.fromkeys(free))  # one host for both sides, or two
    both = limits[0] if len(limits) == 1 else t("compare.cost.two", first=limits[0], second=limits[1])
    return t("compare.cost.note", limits=both)


# The tool page's compared conversation -----------------------------------------------------------------------------


def _saved_pairs() -> list[Compared]:
    saved = state.load("tools_compare")
    return compared_from_saved(saved) if saved else []


def _save(pairs: Sequence[Compared], secrets: Sequence[str]) -> None:
    state.save("tools_compare", compare_transcript(list(pairs)[-MAX_PAIRS:], page="tools", secrets=secrets))


def _side_heading(label: str, s: Settings, model: str) -> None:
    st.markdown(f"**{label} · {as_text(display_name(model))}** · {as_text(say(s.label_msg))}")


def _live_header(question: str, sides: Sequence[Pick], page: str, asking: str) -> list[Any]:
    """The question, "Asking both…" with the one Stop, and two columns headed A and B; the columns' assistant
    messages, to draw each side's live answer in."""
    with st.chat_message("user"):
        st.markdown(display_markdown(question))
    presenter.bring_question_into_view()  # on a projector: the question at the top, both answers streaming below
    stop = "tool_stop" if page == "tools" else "vision_stop"
    with st.container(horizontal=True, vertical_alignment="center", key=f"{page}_compare_progress"):
        st.markdown(":material/progress_activity: " + asking)
        st.button(t("conversation.stop"), icon=":material/stop_circle:", key=stop, help=t("compare.stop_help"))
    messages = []
    for i, col in enumerate(st.columns(2, gap="medium")):
        s, m = sides[i]
        with col:
            _side_heading(LABELS[i], s, m)
            messages.append(st.chat_message("assistant", avatar="🦙"))
    return messages


def _difference_line(pair: Compared, page: str) -> None:
    """The one line on how the two answers differ, when it can be said."""
    diff = difference(*pair.sides, page=page, lang=language())
    if diff:
        st.markdown(":material/compare_arrows: " + t("compare.difference", text=as_text(diff)))


def _intro(can_send: bool, model: str | None, other: Pick | None, sides: Sequence[Pick], ready: bool,
           needs_key: str) -> None:
    """What stops a compare (no second model here), or what it costs on a free tier."""
    if can_send and model and other is None:
        st.info(t(needs_key), icon="ℹ️")
    elif ready and (note := cost_note(sides)):
        st.caption(f"💳 {note}")


def _downloads(pairs: Sequence[Compared], page: str, secrets: Sequence[str]) -> None:
    """One transcript with both columns, as Markdown and as JSON (built only when clicked)."""
    stem, key = ("tool-calling-compared", "tool_compare") if page == "tools" else ("vision-compared", "vision_compare")
    lang = language()  # read here: the download is built outside this script run
    with st.container(horizontal=True):
        st.download_button(t("compare.transcript_markdown"),
                           lambda: compare_markdown(compare_transcript(pairs, page=page, secrets=secrets), secrets,
                                                    lang=lang),
                           f"{stem}.md", "text/markdown", icon=":material/description:", type="tertiary",
                           on_click="ignore", key=f"{key}_md")
        st.download_button(t("compare.transcript_json"),
                           lambda: to_json(compare_transcript(pairs, page=page, secrets=secrets), secrets),
                           f"{stem}.json", "application/json", icon=":material/data_object:", type="tertiary",
                           on_click="ignore", key=f"{key}_json")


def _arrivals(both: Any, started: float, show: Callable[[int, float], None]) -> Iterator[tuple[int, Any, float]]:
    """(side, item, seconds since the question) as items arrive from either side; while neither sends anything,
    each side's progress line is redrawn (`show(side, seconds)`)."""
    for item in both:
        now = time.monotonic() - started
        if isinstance(item, Tick):
            for i in (0, 1):
                show(i, now)
            continue
        i, value = item
        yield i, value, now


def _side_view(turn: Turn, pair: Compared, i: int, index: int) -> None:
    """One side of a compared question from history: the steps, the answer, what went wrong, the footer."""
    with st.chat_message("assistant", avatar="🦙"):
        for n, step in enumerate(turn.steps):
            step_view(step, turn.model, f"cmp_received_{index}_{i}_{n}")
        for note in turn.notes:
            st.info(as_text(note, keep_code=True), icon="ℹ️")
        if turn.answer:
            st.markdown(display_markdown(turn.answer))
        if turn.stopped:
            st.warning(t("conversation.stopped"), icon="⏹️")
        if turn.error:
            show_error(error_as_text(turn.error))
        st.caption(as_text(footer(pair.sides[i], "tools", language())))


def _pair_view(pair: Compared, index: int) -> None:
    """A compared question from history: the question, both sides in columns, the difference."""
    pair.refresh(language())
    with st.chat_message("user"):
        st.markdown(display_markdown(pair.question))
    cols = st.columns(2, gap="medium")
    for i, (col, turn) in enumerate(zip(cols, pair.turns)):
        with col:
            who = answered_by_msg(turn.model, turn.served_model, turn.provider)
            st.markdown(f"**{LABELS[i]} · {as_text(say(who))}**")
            _side_view(turn, pair, i, index)
    _difference_line(pair, "tools")


def _ask_suggestion(prompt: str, suggest: Callable[[str], None]) -> None:
    """A suggestion clicked in Compare: its tools switched on (as the page's own suggestions do), then asked."""
    suggest(prompt)
    st.session_state.pop("tool_pending", None)
    st.session_state["tool_compare_pending"] = prompt


def tool_compare(settings: Settings, model: str | None, other: Pick | None, config: tools.ToolConfig,
                 selected: Sequence[str], can_send: bool, suggestions: Mapping[str, tuple[str, ...]],
                 suggest: Callable[[str], None]) -> None:
    """The tool page in Compare: its conversation of compared questions, the live pair, the chat box."""
    ss = st.session_state
    if (leftover := ss.pop("tool_compare_live", None)) is not None:
        leftover.close()  # the last run was interrupted (Stop, any click): hang up both requests now
    if "tool_compare_turns" not in ss:
        ss["tool_compare_turns"] = _saved_pairs()
    pairs: list[Compared] = ss["tool_compare_turns"]
    sides: list[Pick] = [(settings, model)] + ([other] if other else []) if model else []
    ready = can_send and len(sides) == 2
    _intro(can_send, model, other, sides, ready, "compare.needs_second")
    question = ss.get("tool_compare_chat") or ss.pop("tool_compare_pending", None)
    if not pairs and not question:
        with st.container(horizontal=True, key="tool_compare_suggestions"):
            for n, (prompt, names) in enumerate(suggestions.items()):  # keyed by place: the same in any language
                st.button(prompt, key=f"cmp_suggest_{n}", disabled=not ready,
                          help=t("tools.switches_on", tools=", ".join(f"`{x}`" for x in names)),
                          on_click=_ask_suggestion, args=(prompt, suggest))
    hidden = hidden_turns(len(pairs), bool(ss.get("tool_compare_show_all")))
    if hidden:
        st.button(t("compare.earlier_many" if hidden > 1 else "compare.earlier_one", count=hidden),
                  key="tool_compare_show_all_button",
                  type="tertiary", on_click=ss.__setitem__, args=("tool_compare_show_all", True))
    with st.container(key="tool_conversation"):  # a landmark named "Conversation" (ui/a11y.py), as in single mode
        for i, pair in enumerate(pairs[hidden:], start=hidden):
            _pair_view(pair, i)
        if question and ready:
            _run_pair(pairs, str(question), sides, config, selected)
    if pairs:
        _downloads(pairs, "tools", settings.secrets())
    st.chat_input(t("compare.chat_placeholder") if ready else t("compare.chat_no_host"),
                  disabled=not ready, submit_mode="disable", key="tool_compare_chat",
                  max_chars=MAX_QUESTION_CHARS)


def _run_pair(pairs: list[Compared], question: str, sides: Sequence[Pick], config: tools.ToolConfig,
              selected: Sequence[str]) -> None:
    """Ask both sides at once and draw them streaming side by side; one Stop stops both."""
    ss = st.session_state
    turns = [Turn(question=question, stopped=True) for _ in sides]  # "stopped" unless each ends normally
    histories = [[p.turns[i] for p in pairs if len(p.turns) == 2] for i in range(2)]
    pair = Compared(question, [], turns).refresh(language())
    pairs.append(pair)
    secrets = [s for st_, _ in sides for s in st_.secrets()]
    _save(pairs, secrets)  # a reload while it runs finds the question (marked stopped)
    lines = [{"position": 0}, {"position": 0}]
    openers, runner = [stream_opener(), stream_opener(side="compare")], rehearsal_tools()

    def events(i: int) -> Any:
        s, m = sides[i]
        options = dict(max_rounds=MAX_ROUNDS, turn=turns[i], next_model=next_model_fn(s, "tools"),
                       open_stream=openers[i], run_tool=runner, context_tokens=context_tokens(s, m),
                       **server_options(s, m))

        def run() -> Any:
            with wait_notice(lambda n: lines[i].__setitem__("position", n)):
                yield from run_turn(s, m, histories[i], question, list(selected), config, **options)
        return run()

    started = time.monotonic()
    both = ticking_all([events(0), events(1)], eager=True, merge=join_answer_text)  # what waits: drawn at once
    ss["tool_compare_live"] = both
    next(both)  # both requests go out now
    views: list[LiveToolTurn] = []
    progress: list[ProgressLine] = []
    for i, message in enumerate(_live_header(question, sides, "tools", t("compare.asking_both"))):
        with message:
            progress.append(ProgressLine(st.empty()))
            views.append(LiveToolTurn(turns[i], st.container(), LiveAnswer(st.empty()),
                                      t("tools.step.thinking", model=display_name(sides[i][1]))))
    done = [False, False]
    firsts: list[float | None] = [None, None]

    def show(i: int, now: float) -> None:
        if done[i]:
            progress[i].show(t("compare.done", seconds=f"{turns[i].elapsed_s:.1f}"))
            return
        text = say(wait_msg(lines[i]["position"])) if lines[i]["position"] else views[i].step_text
        progress[i].show(f"{text} {t('conversation.elapsed', seconds=f'{now:.0f}')}")

    try:
        for i, event, now in _arrivals(both, started, show):
            if isinstance(event, Crashed):
                turns[i].error, turns[i].stopped, done[i] = explain(event.error), False, True
                show(i, now)
                continue
            if not done[i]:
                turns[i].elapsed_s = now
            if firsts[i] is None and isinstance(event, (AnswerText, CallStarted)):
                firsts[i] = now
            views[i].handle(event)
            if isinstance(event, Done):
                turns[i] = views[i].turn
                turns[i].stopped = False
                done[i] = True
            show(i, now)
    finally:
        both.close()  # interrupted or not: stop both workers, hang up a request still open
        ss.pop("tool_compare_live", None)
    if both.cancelled:
        st.stop()
    for turn in turns:
        turn.stopped = False
    pair.turns = turns
    for side, first in zip(pair.refresh(language()).sides, firsts):
        side.first_token_s = first
    count_requests(sum(turn.requests for turn in turns))
    _save(pairs, secrets)
    st.rerun()  # drawn again from history: footers, the difference and the chat box


def new_compare_chat() -> None:
    """Clear the compared conversation (the New chat button in Compare)."""
    st.session_state["tool_compare_turns"] = []
    state.save("tools_compare", {})



# The vision page's compared conversation ---------------------------------------------------------------------------


def _vision_history(pairs: Sequence[Compared], i: int, question: str) -> list[tuple[str, str]]:
    """Side i's own conversation about this photo, then the new question (an empty answer left out)."""
    turns: list[tuple[str, str]] = []
    for p in pairs:
        if len(p.sides) == 2 and p.sides[i].answer:
            turns += [("user", p.question), ("assistant", p.sides[i].answer)]
    return turns + [("user", question)]


def _vision_pair_view(pair: Compared) -> None:
    """A compared question about the photo from history: the question, both answers in columns, the difference."""
    with st.chat_message("user"):
        st.markdown(display_markdown(pair.question))
    cols = st.columns(2, gap="medium")
    for i, (col, side) in enumerate(zip(cols, pair.sides)):
        with col:
            st.markdown(f"**{LABELS[i]} · {as_text(side.who_in(language()))}**")
            with st.chat_message("assistant", avatar="🦙"):
                if side.answer:
                    st.markdown(display_markdown(side.answer))
                elif not side.error:
                    st.markdown(f"*{t('compare.no_text')}*")
                if side.stopped:
                    st.warning(t("conversation.stopped"), icon="⏹️")
                if side.error:
                    st.error(as_text(side.error), icon="⚠️")
                st.caption(as_text(footer(side, "vision", language())))
    _difference_line(pair, "vision")


def vision_compare(settings: Settings, model: str | None, other: Pick | None, image_id: str | None,
                   data_url: str | None, detail: str, question: str | None, can_send: bool,
                   make_answer: Callable[..., Any], asked: tuple[str, str] | None = None) -> None:
    """The vision page in Compare: the same photo and question to both models at once, answers side by side.

    `make_answer(settings, model, data_url, turns, detail=…, next_model=…, open_stream=…, context_tokens=…)`
    builds one answer (lib.vision.answer.VisionAnswer; passed in so this module stays independent of it).
    `asked`: the (data URL, detail) this question is about, when not the whole photo (a region)."""
    ss = st.session_state
    if (leftover := ss.pop("vision_compare_live", None)) is not None:
        leftover.close()
    if ss.get("vision_compare_image") != image_id:  # a new photo: a new compared conversation
        ss["vision_compare_image"], ss["vision_compare_pairs"] = image_id, []
    pairs: list[Compared] = ss.setdefault("vision_compare_pairs", [])
    sides: list[Pick] = [(settings, model)] + ([other] if other else []) if model else []
    ready = can_send and len(sides) == 2 and data_url is not None
    _intro(can_send, model, other, sides, ready, "compare.needs_second_vision")
    with st.container(key="vision_compare_conversation"):  # a landmark named "Conversation" (ui/a11y.py)
        for pair in pairs[-10:]:
            _vision_pair_view(pair)
        if question and ready:
            sent, how = asked if asked else (data_url or "", detail)
            _run_vision_pair(pairs, question, sides, sent, how, make_answer)
    if pairs:
        _downloads(pairs, "vision", settings.secrets())


def _run_vision_pair(pairs: list[Compared], question: str, sides: Sequence[Pick], data_url: str, detail: str,
                     make_answer: Callable[..., Any]) -> None:
    """Ask both sides about the photo at once, streaming side by side; one Stop stops both."""
    ss = st.session_state
    fresh = ss.pop("vision_fresh", False)
    openers = [stream_opener(fresh=fresh), stream_opener(fresh=fresh, side="compare")]
    pair = Compared(question, [Side(model=m, provider=s.label, stopped=True) for s, m in sides])
    answers = [make_answer(s, m, data_url, _vision_history(pairs, i, question), detail=detail,
                           next_model=next_model_fn(s, "vision"), open_stream=openers[i],
                           context_tokens=context_tokens(s, m)) for i, (s, m) in enumerate(sides)]
    pairs.append(pair)  # kept, marked stopped, whatever interrupts this run
    lines = [{"position": 0}, {"position": 0}]

    def pieces(i: int) -> Any:
        def run() -> Any:
            with wait_notice(lambda n: lines[i].__setitem__("position", n)):
                yield from answers[i]
        return run()

    started = time.monotonic()
    both = ticking_all([pieces(0), pieces(1)], eager=True, merge=join_text)  # what waits: drawn at once
    ss["vision_compare_live"] = both
    next(both)
    progress: list[ProgressLine] = []
    live: list[LiveAnswer] = []
    for message in _live_header(question, sides, "vision", t("compare.asking_both_photo")):
        with message:
            progress.append(ProgressLine(st.empty()))
            live.append(LiveAnswer(st.empty()))
    done = [False, False]

    def show(i: int, now: float) -> None:
        side = pair.sides[i]
        if done[i]:
            progress[i].show(t("compare.done", seconds=f"{side.total_s:.1f}"))
            return
        step = "tools.step.writing_answer" if answers[i].text else "compare.looking_at_image"
        text = say(wait_msg(lines[i]["position"])) if lines[i]["position"] else \
            t(step, model=display_name(answers[i].model))
        progress[i].show(f"{text} {t('conversation.elapsed', seconds=f'{now:.0f}')}")

    try:
        for i, piece, now in _arrivals(both, started, show):
            side = pair.sides[i]
            if isinstance(piece, Crashed):
                err = explain(piece.error)
                side.error, side.stopped, done[i] = "{}. {}".format(*err.shown(language())), False, True
                side.total_s = now
            else:
                if side.first_token_s is None:
                    side.first_token_s = now
                live[i].add(str(piece))
                side.answer, side.total_s = answers[i].text, now
            show(i, now)
    finally:
        both.close()
        ss.pop("vision_compare_live", None)
    if both.cancelled:
        st.stop()
    for side, answer in zip(pair.sides, answers):
        side.stopped = False
        side.model, side.answer = answer.model, answer.text
        if not side.error:
            side.total_s = answer.elapsed_s or side.total_s
        side.tokens = answer.usage.total_tokens if answer.usage and answer.usage.total_tokens else 0
        side.requests, side.cached, side.served_model = answer.requests, answer.cached, answer.served_model
    count_requests(sum(a.requests for a in answers))
    st.rerun()
