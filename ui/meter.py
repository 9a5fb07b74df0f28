"""The request meter: this tab's count of the requests sent (kept for a reload), the quota lines for the provider and
model in use, and `RUN`, what one script run passes from its start (the model picker) to its end (the sidebar).

May import lib.* and ui.i18n, ui.state (no other ui module: the others import this one)."""

from __future__ import annotations

import threading
from typing import Any, Callable

import streamlit as st

from lib import client
from lib.common.session_store import STORE
from lib.hosts.config import Settings
from lib.hosts.limits import RATES, limits_for, rate_key
from lib.i18n import duration
from ui import state
from ui.i18n import language, say, t


METER = "meter"  # this tab's request count, kept with its conversations (ui.state) so a reload keeps it


class _Run(threading.local):
    """What one script run passes from its start to its end (each session's runs are on their own thread)."""

    meter_model: tuple[str, str] | None = None  # (quota key, model) the page's model picker chose this run
    page: str | None = None  # "tools" / "vision": the demo page that drew its model picker this run
    rehearsal_slot: Any = None  # where the rehearsal box's count and Save button go, once the page has run
    quota_drawn: bool = False  # the sidebar's meter is drawn (by a page's fragment, or after the page ran)
    outage_slot: Any = None  # where the sidebar says the shared state (Redis) is unreachable, or nothing


RUN = _Run()
# Set by a callback of a widget drawn inside a fragment that changes what the rest of the page shows: the fragment's
# next run becomes a run of the whole page.
PAGE_RERUN = "_page_rerun"


def carried() -> tuple[Any, ...]:
    """What this run has set for the sidebar so far: the model picked, the demo page, the rehearsal and outage
    slots. A fragment that draws the meter is given it by the full run, for its own reruns (see `carry`)."""
    return RUN.meter_model, RUN.page, RUN.rehearsal_slot, RUN.outage_slot


def carry(snapshot: tuple[Any, ...]) -> None:
    """Start this run's sidebar from `snapshot` (`carried()` of the page's last full run): a rerun of a fragment
    alone doesn't run the model picker or the rehearsal box, and may be on a thread another run used."""
    RUN.meter_model, RUN.page, RUN.rehearsal_slot, RUN.outage_slot = snapshot
    RUN.quota_drawn = False


def session_meter() -> client.SessionMeter:
    """This tab's request meter: every request the host accepted, counted as it is sent (so one stopped later
    counts too; one refused with a 429 doesn't), and kept on the server under this tab's id, so a reload finds the
    same count."""
    ss = st.session_state
    meter = ss.get("_meter")
    if not isinstance(meter, client.SessionMeter):
        # A read-only shared view sends nothing and has no tab id of its own to keep a count under.
        saved = (state.load(METER) or {}) if state.shared_view() is None else {}
        count = saved.get("requests") if isinstance(saved, dict) else 0
        count = count if isinstance(count, int) and not isinstance(count, bool) and 0 <= count < 10**9 else 0
        meter = ss["_meter"] = client.SessionMeter(count, _meter_keeper())
    ss["session_requests"] = meter.count
    return meter


def _meter_keeper() -> Callable[[int], Any] | None:
    """Saves the count under this tab's id from whichever thread counts (a request is counted in the worker that
    sends it, which has no Streamlit session): the id and the client are read now, in the script's thread."""
    if state.shared_view() is not None:
        return None  # a read-only shared view sends nothing and keeps nothing
    try:
        sid = state.session_id()
        who = state._client()  # noqa: SLF001 - the same per-client bounds as state.save
    except Exception:  # noqa: BLE001 - outside a browser session: the count lives as long as the session
        return None

    def keep(count: int) -> None:
        STORE.save(sid, METER, {"requests": count}, client=who)

    return keep


def count_requests(n: int = 0) -> None:
    """Pages call this after a turn. The meter already counted its requests as they were sent (`session_meter`:
    cached and replayed answers cost none, a stopped request that reached the host counts); this brings
    `st.session_state["session_requests"]` up to date. `n` is ignored (kept for the pages' calls)."""
    session_meter()


def model_in_use(settings: Settings) -> str | None:
    """The model this run's page uses at these settings (None on Home, or when it uses none)."""
    chosen = RUN.meter_model
    if chosen is None or not settings.provider:
        return None
    where, model = chosen
    return model if where == client.quota_key(settings) else None


def quota_lines(settings: Settings) -> tuple[list[str], str | None]:
    """The meter for the provider and model in use: this session, this server today and this minute against the
    limits that hold for that model (a paid model has none of a free tier's), the server's own remaining counts;
    and a warning when the daily budget is nearly spent or the host said it is spent.

    What the host said wins: a daily limit it reported reads as all used ("50 of 50 today: daily limit reached"),
    whatever this server counted. Requests wait for the per-minute window (lib.hosts.limits.RATES) rather than exceed it,
    so "this minute" never reads above a known limit; while one waits, the line says for how long."""
    snap = client.QUOTA.snapshot()
    p = settings.provider
    lines = [t("meter.this_session", count=session_meter().count)]
    if p is None:
        return lines, None
    where = client.quota_key(settings)
    model = model_in_use(settings)
    limits = limits_for(p, model)
    lang, label = language(), say(settings.label_msg)  # "Ollama (이 컴퓨터에서 실행)" on a Korean page
    applies: Callable[[str], bool] | None = None
    scope = ""
    if limits.only_suffix:  # the published figures hold for some models only (OpenRouter's :free)
        free = model is None or limits.applies_to(model)  # no model here (Home): the free tier, against its limits
        table = limits_for(p, "any" + limits.only_suffix)
        if free:
            limits, scope = table, t("meter.scope_free", suffix=limits.only_suffix)
            applies = table.applies_to
        else:
            scope = t("meter.scope_paid")
            applies = lambda m: not table.applies_to(m)  # noqa: E731
    today, minute = snap.usage(where, applies)
    day_until = snap.limit_reached(where, "day", applies)
    minute_until = snap.limit_reached(where, "minute", applies)
    if day_until is not None:
        used = t("meter.day_all_used", limit=limits.per_day) if limits.per_day else t("meter.today")
        day = t("meter.day_host_said", used=used, provider=label, today=today)
    elif limits.per_day and today >= limits.per_day:
        day = t("meter.day_reached", today=today, limit=limits.per_day)
    else:
        day = t("meter.day_of", today=today, limit=limits.per_day) if limits.per_day else t("meter.day", today=today)
    if limits.per_minute:
        key = rate_key(where, limits)
        shown = max(minute, limits.per_minute) if minute_until is not None else minute  # the host said: all used
        this_minute = t("meter.minute_of", used=shown, limit=limits.per_minute)
        wait = RATES.free_in(key, limits.per_minute) if RATES.used(key) >= limits.per_minute else 0.0
        if minute_until is not None:
            wait = max(wait, minute_until - snap.now)
        if wait > 0 or RATES.waiting(key):
            waiting = RATES.waiting(key)
            this_minute += t("meter.next_waits", wait=duration(lang, wait)) + (
                t("meter.in_line", waiting=waiting) if waiting else "")
    else:
        this_minute = t("meter.minute", used=minute) + (t("meter.minute_host_said") if minute_until else "")
    lines.append(t("meter.this_server", provider=label, scope=scope, day=day, minute=this_minute))
    for header, value in sorted(snap.remaining.get(where, {}).items()):
        lines.append(t("meter.host_says", provider=label, header=header.removeprefix("x-ratelimit-"),
                       value=value))
    warning = None
    if day_until is not None or (limits.per_day and today >= limits.per_day):
        resets = t("meter.resets_in", wait=duration(lang, day_until - snap.now)) if day_until is not None else ""
        warning = t("meter.daily_reached", provider=label, scope=scope, resets=resets)
    elif limits.per_day and today >= 0.8 * limits.per_day:
        left = max(0, limits.per_day - today)
        warning = t("meter.nearly_spent", today=today, provider=label, limit=limits.per_day, left=left)
    return lines, warning
