"""One shared ChatCompletionsClient (lib.client.get_client, via lib.client.complete) vs a new client per request.

The project caches one client per endpoint and token, so every request reuses its azure-core pipeline and its
HTTP keep-alive connection. The naive alternative builds a ChatCompletionsClient for each request (and closes it).
Both send the same small non-streamed completion to the API double (HTTP/1.1, keep-alive) on 127.0.0.1; the two
kinds of request alternate, N of each, and the median latencies are compared.

Localhost has no TLS handshake and almost no connect cost, so the ratio is a lower bound of what reuse saves
against https://models.github.ai.
"""

from __future__ import annotations

import time

from bench._common import MESSAGES, MODEL, TOKEN, Result, fmt_s, median, quiet, settings_for

N = 30


def _pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(len(xs) * q))]


def measure() -> tuple[list[float], list[float], bool]:
    from azure.ai.inference import ChatCompletionsClient
    from azure.core.credentials import AzureKeyCredential

    from lib import client as project
    from tests.api_double import ApiDouble, Reply

    with ApiDouble() as d:
        d.responder = lambda body: Reply(text="ok")
        settings = settings_for(d.endpoint)

        def shared() -> str:
            return project.complete(settings, MODEL, MESSAGES, max_tokens=16).text

        def fresh() -> str:
            with ChatCompletionsClient(d.endpoint, AzureKeyCredential(TOKEN)) as c:
                result = c.complete(messages=MESSAGES, model=MODEL, max_tokens=16)
            return result.choices[0].message.content

        assert shared() == fresh() == "ok"  # warm-up: imports, the cached client, its first connection
        t_shared: list[float] = []
        t_fresh: list[float] = []
        for i in range(N):
            order = (shared, fresh) if i % 2 == 0 else (fresh, shared)
            for fn in order:
                t = time.perf_counter()
                fn()
                (t_shared if fn is shared else t_fresh).append(time.perf_counter() - t)
        same_client = project.get_client(settings) is project.get_client(settings)
    return t_shared, t_fresh, same_client


def run() -> Result:
    quiet()
    t0 = time.perf_counter()
    t_shared, t_fresh, same = measure()
    m_s, m_f = median(t_shared), median(t_fresh)

    def spread(xs: list[float]) -> str:
        return f"{fmt_s(median(xs))}  (p10 {fmt_s(_pct(xs, 0.1))}, p90 {fmt_s(_pct(xs, 0.9))})"

    res = Result(
        name="client reuse: cached client vs new client per request",
        measures=(
            f"{N} small non-streamed completions each against the API double on 127.0.0.1, alternating "
            f"(order flipped every round); median latency."
        ),
        rows=[
            ("shared cached client (lib.client.complete)", spread(t_shared)),
            ("new ChatCompletionsClient per request", spread(t_fresh)),
            ("get_client returns the same object", "yes" if same else "NO"),
        ],
        ratios=[
            ("median new-per-request / shared", m_f / m_s),
        ],
        interpretation=(
            f"Reusing the client saves {fmt_s(m_f - m_s)} per request on localhost ({m_f / m_s:.2f}x); more over "
            f"TLS, where a new client also pays the TCP and TLS handshakes."
        ),
    )
    res.seconds = time.perf_counter() - t0
    return res


if __name__ == "__main__":
    print(run().show())
