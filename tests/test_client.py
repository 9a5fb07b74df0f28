"""The shared client against the API double: headers, streaming, usage, retries, fallbacks, errors."""

from __future__ import annotations

import time

import pytest

from lib import client
from lib.hosts.config import load_settings
from lib.hosts.errors import ErrorKind, NoProviderError, NoTokenError, explain
from tests.api_double import ApiDouble, Reply
from tests.conftest import TEST_TOKEN

MSG = [{"role": "user", "content": "Hello"}]


def _fail(settings, model: str = "meta/Meta-Llama-3.1-405B-Instruct"):
    s = client.stream(settings, model, MSG)
    with pytest.raises(Exception) as info:
        for _ in s:
            pass
    return explain(info.value), s


def test_token_reaches_the_double_as_bearer_and_stream_yields_pieces(double: ApiDouble, settings) -> None:
    double.queue(Reply(text="Hello from the double, streamed in pieces."))
    s = client.stream(settings, "meta/Meta-Llama-3.1-405B-Instruct", MSG)
    pieces = list(s)
    assert len(pieces) > 3
    assert "".join(pieces) == s.text == "Hello from the double, streamed in pieces."
    assert s.usage is not None and s.usage.total_tokens > 0
    req = double.chat_requests[-1]
    assert req.headers["Authorization"] == f"Bearer {TEST_TOKEN}"
    assert req.body["stream"] is True and req.body["model"] == "meta/Meta-Llama-3.1-405B-Instruct"
    assert req.body["messages"] == MSG
    assert req.body["stream_options"] == {"include_usage": True}


def test_one_client_is_shared_per_endpoint_and_token(settings) -> None:
    assert client.get_client(settings) is client.get_client(settings)
    other = settings.with_provider("custom", endpoint=settings.endpoint, token="another-key")
    assert client.get_client(other) is not client.get_client(settings)


def test_no_key_for_a_provider_that_needs_one_raises_a_clear_error_and_sends_nothing(double: ApiDouble) -> None:
    s = load_settings(environ={"MODELS_PROVIDER": "openrouter", "MODELS_ENDPOINT": double.endpoint_for("openrouter")},
                      probe=lambda url: False)
    with pytest.raises(NoTokenError) as info:
        list(client.stream(s, "m", MSG))
    assert explain(info.value).kind is ErrorKind.NO_TOKEN
    assert double.requests == []


def test_no_provider_raises_a_clear_error() -> None:
    s = load_settings(environ={"GITHUB_TOKEN": "ghp_abcdefgh1234"}, probe=lambda url: False)
    with pytest.raises(NoProviderError) as info:
        list(client.stream(s, "m", MSG))
    assert explain(info.value).kind is ErrorKind.NO_PROVIDER


def test_a_server_given_no_key_gets_no_auth_header_at_all(double: ApiDouble) -> None:
    s = load_settings(environ={"MODELS_PROVIDER": "custom", "MODELS_ENDPOINT": double.endpoint,
                               "OPENROUTER_API_KEY": "sk-or-v1-must-not-travel"}, probe=lambda url: False)
    double.queue(Reply(text="hi"))
    assert "".join(client.stream(s, "m", MSG)) == "hi"
    headers = {k.lower(): v for k, v in double.chat_requests[-1].headers.items()}
    assert "authorization" not in headers and "api-key" not in headers
    assert "must-not-travel" not in repr(double.requests)


def test_daily_rate_limit_returns_within_two_seconds_with_the_wait(double: ApiDouble, settings) -> None:
    double.queue(Reply.rate_limit_day(24367), Reply.rate_limit_day(24367))
    start = time.monotonic()
    err, _ = _fail(settings)
    elapsed = time.monotonic() - start
    assert elapsed < 2.0, f"took {elapsed:.1f} s: the retry policy slept on retry-after"
    assert err.kind is ErrorKind.RATE_LIMIT_DAY
    assert err.retry_after_s == 24367
    assert "6 h 46 min" in err.message
    assert len(double.chat_requests) == 1, "a long retry-after must not be retried"


def test_minute_rate_limit_is_reported_not_slept(double: ApiDouble, settings) -> None:
    double.queue(Reply.rate_limit_minute(42))
    start = time.monotonic()
    err, _ = _fail(settings)
    assert time.monotonic() - start < 2.0
    assert err.kind is ErrorKind.RATE_LIMIT_MINUTE and "42 s" in err.message


def test_short_transient_503_is_retried_and_succeeds(double: ApiDouble, settings) -> None:
    double.queue(Reply.server_error(503), Reply(text="recovered"))
    s = client.stream(settings, "m", MSG)
    assert "".join(s) == "recovered"
    assert len(double.chat_requests) == 2


def test_persistent_500_gives_a_server_error_after_few_tries(double: ApiDouble, settings) -> None:
    double.queue(*[Reply.server_error(500)] * 5)
    start = time.monotonic()
    err, _ = _fail(settings)
    assert err.kind is ErrorKind.SERVER and err.status == 500
    assert 1 <= len(double.chat_requests) <= 3
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("mode", ["crlf", "cr", "keepalive", "openrouter"])
def test_streams_the_sse_standard_allows_are_read_as_streams(double: ApiDouble, settings, mode: str) -> None:
    """CRLF or CR line endings and comment lines (OpenRouter's `: OPENROUTER PROCESSING`, by design) are valid SSE:
    the answer streams piece by piece in one request, and nothing about the endpoint changes for anyone."""
    text = "one two three four five"
    double.queue(Reply(text=text, stream_mode=mode), Reply(text="second answer", stream_mode=mode))
    s = client.stream(settings, "m", MSG)
    pieces = list(s)
    assert "".join(pieces) == text and len(pieces) >= 5
    assert s.streamed is True and s.finish_reason == "stop" and s.usage is not None
    assert len(double.chat_requests) == 1
    assert "".join(client.stream(settings, "m", MSG)) == "second answer"
    assert [r.body["stream"] for r in double.chat_requests] == [True, True]


def test_an_unreadable_stream_falls_back_and_streaming_is_tried_again_later(
        double: ApiDouble, settings, monkeypatch: pytest.MonkeyPatch) -> None:
    double.queue(Reply(text="bad json answer", stream_mode="badjson"), Reply(text="bad json answer"))
    s = client.stream(settings, "m", MSG)
    assert "".join(s) == "bad json answer"
    assert s.streamed is False
    bodies = [r.body for r in double.chat_requests]
    assert bodies[0]["stream"] is True and not bodies[1].get("stream")
    # Remembered for a while: the next request goes non-streamed straight away...
    double.queue(Reply(text="second"))
    assert "".join(client.stream(settings, "m", MSG)) == "second"
    assert not double.chat_requests[-1].body.get("stream")
    # ...but not for the server's lifetime: after NO_STREAMING_S streaming is tried again.
    later = time.monotonic() + client.NO_STREAMING_S + 1
    monkeypatch.setattr(client.time, "monotonic", lambda: later)
    double.queue(Reply(text="third"))
    assert "".join(client.stream(settings, "m", MSG)) == "third"
    assert double.chat_requests[-1].body.get("stream") is True


def test_a_cut_answer_and_the_serving_model_are_reported(double: ApiDouble, settings) -> None:
    double.queue(Reply(text="a long answer that hit", finish_reason="length", model="llama-3.1-8b-q4"))
    s = client.stream(settings, "meta-llama/Llama-3.1-8B-Instruct", MSG)
    assert "".join(s) == "a long answer that hit"
    assert s.finish_reason == "length" and s.served_model == "llama-3.1-8b-q4"


def test_closing_a_stream_from_another_thread_hangs_up_at_once(double: ApiDouble, settings) -> None:
    """Stop on a server that has sent nothing yet: the blocked read returns now, the server sees the client go."""
    import threading

    double.queue(Reply(stream_mode="stall", delay_s=30))
    s = client.stream(settings, "m", MSG)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            list(s)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 5
    while not s.sent and time.monotonic() < deadline:
        time.sleep(0.02)
    assert s.sent
    started = time.monotonic()
    s.close()
    reader.join(5)
    assert not reader.is_alive() and time.monotonic() - started < 1.0
    assert errors and s.done is False
    deadline = time.monotonic() + 2
    while not double.disconnects and time.monotonic() < deadline:
        time.sleep(0.02)
    assert double.disconnects == ["m"]


def test_stopping_a_ticking_worker_frees_the_slot_at_once(double: ApiDouble, settings) -> None:
    """Two stopped turns on stalled streams must not keep a free tier's two slots busy for the next visitor."""
    from dataclasses import replace

    from lib.hosts.limits import SLOTS, slot_key
    from lib.common.ticking import ticking

    hosted = replace(settings, provider_id="openrouter")
    assert hosted.provider is not None and hosted.provider.limits.concurrent == 2
    key = slot_key("openrouter", settings.endpoint, "m")
    double.queue(*[Reply(stream_mode="stall", delay_s=30)] * 2)
    workers = [ticking(iter(client.stream(hosted, "m", MSG)), interval_s=0.05, eager=True) for _ in range(2)]
    for w in workers:
        next(w)
    deadline = time.monotonic() + 5
    while SLOTS.in_use(key) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert SLOTS.in_use(key) == 2
    started = time.monotonic()
    for w in workers:
        w.close()  # what a page does when Stop interrupts its run
    assert SLOTS.in_use(key) == 0
    assert time.monotonic() - started < 1.0
    deadline = time.monotonic() + 2
    while len(double.disconnects) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(double.disconnects) == 2


def test_cut_stream_keeps_partial_text_and_says_so(double: ApiDouble, settings) -> None:
    double.queue(Reply(text="one two three four five six seven eight", stream_mode="cut"))
    err, s = _fail(settings)
    assert err.kind is ErrorKind.BAD_STREAM
    assert s.text.startswith("one two") and len(s.text) < len("one two three four five six seven eight")


def test_slow_first_token_times_out_with_a_message(double: ApiDouble, settings) -> None:
    from dataclasses import replace

    quick = replace(settings, timeout_s=1.0)
    double.queue(Reply(text="late", delay_s=3.0))
    start = time.monotonic()
    err, _ = _fail(quick)
    assert err.kind is ErrorKind.TIMEOUT
    assert time.monotonic() - start < 3.0


@pytest.mark.parametrize(
    "reply, kind",
    [
        (Reply.unauthorized(), ErrorKind.AUTH),
        (Reply.unknown_model(), ErrorKind.MODEL_NOT_FOUND),
        (Reply.too_large(), ErrorKind.TOO_LARGE),
        (Reply.content_filter(), ErrorKind.CONTENT_FILTER),
    ],
)
def test_error_bodies_from_the_double_map_to_kinds(double: ApiDouble, settings, reply: Reply, kind: ErrorKind) -> None:
    double.queue(reply)
    err, _ = _fail(settings)
    assert err.kind is kind
    assert TEST_TOKEN not in err.message + err.detail


def test_refused_connection_is_offline_and_quick() -> None:
    s = load_settings(environ={"MODELS_ENDPOINT": "http://127.0.0.1:9/v1"}, probe=lambda url: False)
    start = time.monotonic()
    err, _ = _fail(s)
    assert err.kind is ErrorKind.OFFLINE
    assert time.monotonic() - start < 5


def test_complete_returns_text_and_usage(double: ApiDouble, settings) -> None:
    double.queue(Reply(text="whole answer"))
    reply = client.complete(settings, "m", MSG)
    assert reply.text == "whole answer" and reply.usage and reply.usage.completion_tokens > 0
    assert reply.finish_reason == "stop"


def test_model_listing_through_the_client(double: ApiDouble, settings) -> None:
    client.clear_models_cache()
    listing = client.get_models(settings)
    assert listing is not None and listing.available
    assert "meta-llama/Llama-3.2-90B-Vision-Instruct" in listing.ids
    get = [r for r in double.requests if r.method == "GET"][-1]
    assert get.path == "/v1/models"
    assert get.headers["Authorization"] == f"Bearer {TEST_TOKEN}"


def _count(settings, model: str) -> int:
    return client.QUOTA.snapshot().counts.get(f"{client.quota_key(settings)} · {model}", 0)


def test_quota_counts_requests_per_provider_and_endpoint(double: ApiDouble, settings) -> None:
    before = _count(settings, "quota/model")
    double.queue(Reply(text="x"))
    list(client.stream(settings, "quota/model", MSG))
    assert _count(settings, "quota/model") == before + 1
    assert client.quota_key(settings) == f"vLLM or another server you run ({double.endpoint.split('/')[2]})"


def test_refused_requests_are_not_counted(double: ApiDouble, settings) -> None:
    before = _count(settings, "refused/model")
    double.queue(Reply.rate_limit_day())
    _fail(settings, "refused/model")
    assert _count(settings, "refused/model") == before


def test_quota_meter_counts_the_minute_and_the_day_per_provider_and_keeps_remaining_headers() -> None:
    now = [1_790_000_000.0]
    q = client.QuotaTracker(clock=lambda: now[0])
    q.count("OpenRouter (openrouter.ai)", "a")
    q.count("OpenRouter (openrouter.ai)", "b")
    q.count("Ollama (127.0.0.1:11434)", "a")
    q.observe("OpenRouter (openrouter.ai)", {"X-RateLimit-Remaining-Requests": "48", "content-type": "x",
                                             # untrusted text: an image link would be fetched by the sidebar
                                             "x-ratelimit-remaining-tokens": "![t](https://tracker.example/p.png)"})
    snap = q.snapshot()
    assert snap.today == {"OpenRouter (openrouter.ai)": 2, "Ollama (127.0.0.1:11434)": 1}
    assert snap.last_minute["OpenRouter (openrouter.ai)"] == 2
    assert snap.remaining == {"OpenRouter (openrouter.ai)": {"x-ratelimit-remaining-requests": "48"}}
    now[0] += 61
    assert "OpenRouter (openrouter.ai)" not in q.snapshot().last_minute
    assert q.snapshot().today["OpenRouter (openrouter.ai)"] == 2
    now[0] += 86_400
    assert q.snapshot().today == {}


def test_remaining_headers_from_a_real_response_are_kept_per_provider(double: ApiDouble, settings) -> None:
    double.queue(Reply(text="x", headers={"x-ratelimit-remaining-requests": "7"}))
    list(client.stream(settings, "m", MSG))
    assert client.QUOTA.snapshot().remaining[client.quota_key(settings)]["x-ratelimit-remaining-requests"] == "7"


def test_a_permanent_500_is_not_retried(double: ApiDouble, settings) -> None:
    """llama.cpp answers an image sent to a text model with a 500 (read off its server): asking again cannot help."""
    body = {"error": {"code": 500, "message": "image input is not supported - hint: if this is unexpected, you may "
                                              "need to provide the mmproj", "type": "server_error"}}
    double.queue(*[Reply(status=500, body=body)] * 3)
    err, _ = _fail(settings)
    assert err.kind is ErrorKind.IMAGE_NOT_SUPPORTED
    assert len(double.chat_requests) == 1


def test_a_skipped_model_is_tried_again_after_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    client.skip_model("http://h/v1", "m", "Model not found")
    assert client.skipped_models("http://h/v1") == {"m": "Model not found"}
    later = time.monotonic() + client.SKIP_MODEL_S + 1
    monkeypatch.setattr(client.time, "monotonic", lambda: later)
    assert client.skipped_models("http://h/v1") == {}


def test_streamed_chunks_are_read_as_json_until_done_and_odd_ones_are_refused() -> None:
    """The stream's chunks are read as JSON (the SDK's typed models cost 0.2 ms a chunk): `[DONE]` ends them, a data
    line that is JSON but not an object is refused like one that is not JSON (the page then asks once without
    streaming), and the body's end closes the response as the SDK does."""
    from lib.client import _updates

    class Body:
        def __init__(self, blocks: list[bytes]) -> None:
            self._bytes_iterator = iter(blocks)
            self.closed = False

        def close(self) -> None:
            self.closed = True

    done = Body([b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\ndata: {"usage":{"total_tokens":3}}\n',
                 b"\ndata: [DONE]\n\n", b'data: {"choices":[]}\n'])
    assert [u.get("usage") or u["choices"][0]["delta"]["content"] for u in _updates(done)] == ["Hi",
                                                                                               {"total_tokens": 3}]
    assert list(done._bytes_iterator) == [b'data: {"choices":[]}\n'], "nothing read past [DONE]"
    ended = Body([b'data: {"choices":[{"delta":{"content":"a"}}]}\n'])
    assert len(list(_updates(ended))) == 1 and ended.closed
    for odd in (b'data: "text"\n', b"data: [1, 2]\n", b"data: {oops\n"):
        with pytest.raises(ValueError):
            list(_updates(Body([odd])))
