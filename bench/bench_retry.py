"""The RETRY TRAP (shared/FACTS.md): how long a rate-limited chat completion takes to come back as an error.

azure-core's default RetryPolicy retries any status >= 400 that carries Retry-After, POST included, sleeping the
full value up to 3 times. The project's ShortRetryPolicy (lib/client.py) only waits for a Retry-After of at most
MAX_RETRY_WAIT_S (3 s), at most twice, and never for a daily limit.

Measured against the API double (tests/api_double.py), which answers every chat request with the 429 under test:
 (a) SDK default  ChatCompletionsClient(endpoint, AzureKeyCredential("x")), per-minute 429, retry-after: 2
 (b) project      lib.client.complete(settings, ...),                    same 429
 (b') project     per-minute 429 with the realistic retry-after: 42      (default would sleep 3 x 42 s: computed)
 (c) project      daily 429, retry-after: 24367                          (default would sleep 3 x 24367 s: computed)
"""

from __future__ import annotations

import time

from bench._common import MESSAGES, MODEL, Result, fmt_s, median, quiet, settings_for, timed

DEFAULT_REPS = 2
OURS_REPS = 10
DEFAULT_STATUS_RETRIES = 3  # azure-core RetryPolicy(retry_status=3)
DAILY_WAIT_S = 24367
MINUTE_WAIT_S = 42


def run() -> Result:
    quiet()
    from azure.ai.inference import ChatCompletionsClient
    from azure.core.credentials import AzureKeyCredential
    from azure.core.exceptions import HttpResponseError

    from lib import client as project
    from tests.api_double import ApiDouble, Reply

    t0 = time.perf_counter()
    with ApiDouble() as d:
        settings = settings_for(d.endpoint)
        current: list[Reply] = [Reply.rate_limit_minute(2)]
        d.responder = lambda body: current[0]  # every request gets the 429 under test, however many retries

        default_client = ChatCompletionsClient(d.endpoint, AzureKeyCredential("x"))

        def call_default() -> object:
            return default_client.complete(messages=MESSAGES, model=MODEL, max_tokens=16)

        def call_ours() -> object:
            return project.complete(settings, MODEL, MESSAGES, max_tokens=16)

        def measure(fn, reply: Reply) -> tuple[float, int, object]:
            current[0] = reply
            before = len(d.chat_requests)
            secs, outcome = timed(fn)
            return secs, len(d.chat_requests) - before, outcome

        # Warm both (connection, imports) on a 200 so the first timed rep is not penalised.
        current[0] = Reply(text="ok")
        call_default()
        call_ours()

        # (a) and (b), interleaved: D, 5 x ours, D, 5 x ours.
        t_def, n_def, t_ours, n_ours = [], [], [], []
        errors_ok = True
        for rep in range(DEFAULT_REPS):
            secs, n, out = measure(call_default, Reply.rate_limit_minute(2))
            t_def.append(secs), n_def.append(n)
            errors_ok &= isinstance(out, HttpResponseError) and out.status_code == 429
            for _ in range(OURS_REPS // DEFAULT_REPS):
                secs, n, out = measure(call_ours, Reply.rate_limit_minute(2))
                t_ours.append(secs), n_ours.append(n)
                errors_ok &= isinstance(out, HttpResponseError) and out.status_code == 429

        # (b') and (c): the project's client on realistic waits; the default policy's sleep is computed.
        t_min, n_min, t_day, n_day = [], [], [], []
        for _ in range(OURS_REPS):
            secs, n, out = measure(call_ours, Reply.rate_limit_minute(MINUTE_WAIT_S))
            t_min.append(secs), n_min.append(n)
            errors_ok &= isinstance(out, HttpResponseError) and out.status_code == 429
            secs, n, out = measure(call_ours, Reply.rate_limit_day(DAILY_WAIT_S))
            t_day.append(secs), n_day.append(n)
            errors_ok &= isinstance(out, HttpResponseError) and out.status_code == 429
        default_client.close()

    m_def, m_ours, m_min, m_day = median(t_def), median(t_ours), median(t_min), median(t_day)
    default_day_sleep = DEFAULT_STATUS_RETRIES * DAILY_WAIT_S
    default_min_sleep = DEFAULT_STATUS_RETRIES * MINUTE_WAIT_S
    res = Result(
        name="retry: rate-limited request -> error",
        measures=(
            f"Time until a chat completion raises HttpResponseError 429 against the API double. "
            f"SDK default client: {DEFAULT_REPS} reps; project client (lib.client.complete): {OURS_REPS} reps each, "
            f"interleaved; medians. Requests per call counted at the double."
        ),
        rows=[
            ("(a) SDK default, 429 retry-after 2 s", f"{fmt_s(m_def)}  ({max(n_def)} requests/call)"),
            ("(b) project, 429 retry-after 2 s", f"{fmt_s(m_ours)}  ({max(n_ours)} requests/call)"),
            (f"(b') project, 429 retry-after {MINUTE_WAIT_S} s (per minute)", f"{fmt_s(m_min)}  (max {fmt_s(max(t_min))}, {max(n_min)} request/call)"),
            (f"     SDK default would sleep 3 x {MINUTE_WAIT_S} s (computed)", f"{default_min_sleep} s"),
            (f"(c) project, daily 429 retry-after {DAILY_WAIT_S} s", f"{fmt_s(m_day)}  (max {fmt_s(max(t_day))}, {max(n_day)} request/call)"),
            (f"     SDK default would sleep 3 x {DAILY_WAIT_S} s (computed)", f"{default_day_sleep} s = {default_day_sleep / 3600:.1f} h"),
            ("every call ended in HttpResponseError 429", "yes" if errors_ok else "NO"),
        ],
        ratios=[
            ("(a)/(b) default vs project, retry-after 2 s", m_def / m_ours),
            ("default sleep (computed) / project (c), daily 429", default_day_sleep / m_day),
        ],
        interpretation=(
            f"With a 2 s Retry-After the project still waits (it retries waits <= 3 s, twice), so it only saves "
            f"one sleep ({m_def / m_ours:.2f}x); the trap is the long waits: a daily 429 comes back in "
            f"{fmt_s(m_day)} instead of ~{default_day_sleep / 3600:.0f} h, a per-minute one in {fmt_s(m_min)} instead of ~{default_min_sleep} s."
        ),
    )
    res.seconds = time.perf_counter() - t0
    return res


if __name__ == "__main__":
    print(run().show())
