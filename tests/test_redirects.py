"""A key never crosses to another host, redirect or not (issue 19): a 307 from a model endpoint used to send
`api-key` to the Location's host (azure-core follows redirects and drops only Authorization, only across domains),
and a 302 from Brave sent `X-Subscription-Token` there (requests keeps custom headers)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from lib import client
from lib.hosts.errors import ErrorKind, explain
from lib.tools import run
from tests.api_double import ApiDouble, Reply
from tests.conftest import TEST_TOKEN
from tests.stubs import STUB_BRAVE_KEY, StubServer

MSG = [{"role": "user", "content": "Hi"}]


class Elsewhere:
    """Another host on 127.0.0.1 that records every request it gets (a redirect's target)."""

    def __init__(self) -> None:
        seen = self.seen = []  # type: list[dict[str, str]]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                seen.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def elsewhere() -> Iterator[Elsewhere]:
    e = Elsewhere()
    yield e
    e.close()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_model_endpoint_that_redirects_gets_no_second_request_and_the_key_stays(
        double: ApiDouble, settings, elsewhere: Elsewhere, status: int) -> None:
    double.queue(Reply(status=status, body={}, headers={"Location": elsewhere.url + "/v1/chat/completions"}))
    with pytest.raises(Exception) as caught:
        list(client.stream(settings, "m", MSG))
    err = explain(caught.value)
    assert err.kind is ErrorKind.REDIRECTED and "redirect" in err.title and not err.retry_helps
    assert elsewhere.seen == []  # nothing, and so no key, went to the other host
    assert TEST_TOKEN not in err.message + err.detail


def test_brave_redirecting_elsewhere_is_not_followed_with_the_key(elsewhere: Elsewhere) -> None:
    with StubServer() as stub:
        stub.script("brave", 302, b"", headers={"Location": elsewhere.url + "/steal"})
        result = run("brave_search", {"query": "llamas"}, stub.tool_config())
    assert not result.ok and "redirect" in result.content
    assert elsewhere.seen == []
    assert STUB_BRAVE_KEY not in result.content
