"""The operator's lock on typed endpoints: which addresses a visitor may make this server call (issue 19)."""

from __future__ import annotations

import pytest

from lib.hosts.endpoint_guard import EndpointRefused, check_url, flag, policy, visitor_is_local


def _resolver(table: dict[str, list[str]]):
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in table:
            raise OSError("no such host")
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize("url, why", [
    ("file:///etc/passwd", "Only http"),
    ("file://localhost/root/.streamlit/secrets.toml", "Only http"),
    ("gopher://127.0.0.1:6379/_INFO", "Only http"),
    ("ftp://example.org/v1", "Only http"),
    ("javascript:alert(1)", "Only http"),
    ("http://user:sk-secret@example.org/v1", "key field"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[fd00:ec2::254]/latest/", "metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("http://169.254.10.1:8000/v1", "Link-local"),
    ("http://[fe80::1]:8000/v1", "Link-local"),
    ("http://0.0.0.0:8000/v1", "can't be used"),
    ("http://224.0.0.1/v1", "can't be used"),
    ("http:///v1", "no host"),
    ("http://exa mple.org/v1", "not a web address"),
    ("http://example.org:99999/v1", "not a web address"),
])
def test_refused_whatever_the_operator_allows(url: str, why: str) -> None:
    with pytest.raises(EndpointRefused, match=why):
        check_url(url, allow_private=True, resolve=_resolver({"example.org": ["93.184.216.34"]}))


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/v1", "http://127.0.0.2:22/", "http://localhost:11434/v1", "http://10.1.2.3/v1",
    "http://192.168.1.20:8000/v1", "http://172.16.0.5/v1", "http://[::1]:8000/v1", "http://[::ffff:10.0.0.1]/v1",
    "http://100.64.0.1/v1", "http://internal.corp/v1",
])
def test_private_and_loopback_addresses_only_when_allowed(url: str) -> None:
    resolve = _resolver({"localhost": ["127.0.0.1"], "internal.corp": ["10.20.30.40"]})
    with pytest.raises(EndpointRefused, match="private or local"):
        check_url(url, allow_private=False, resolve=resolve)
    assert check_url(url + "/", allow_private=True, resolve=resolve) == url.rstrip("/")


def test_a_name_resolving_to_any_forbidden_address_is_refused() -> None:
    resolve = _resolver({"mixed.example": ["93.184.216.34", "169.254.169.254"], "public.example": ["8.8.8.8"]})
    with pytest.raises(EndpointRefused, match="metadata"):
        check_url("https://mixed.example/v1", allow_private=True, resolve=resolve)
    assert check_url("https://public.example/v1", allow_private=False, resolve=resolve) == "https://public.example/v1"
    with pytest.raises(EndpointRefused, match="Can't find"):
        check_url("https://nowhere.example/v1", allow_private=False, resolve=resolve)


def test_policy_and_flag_default_to_the_safe_side() -> None:
    assert [policy(v) for v in (None, "", "local", "maybe", "1", "TRUE", "on", "0", "off", "no")] == [
        "local", "local", "local", "local", "on", "on", "on", "off", "off", "off"]
    assert not flag(None) and not flag("") and not flag("0") and flag("1") and flag("yes")


@pytest.mark.parametrize("ip, headers, local", [
    (None, {}, True),
    (None, {"Host": "localhost:8501"}, True),
    ("127.0.0.1", {"Host": "127.0.0.1:8501"}, True),
    ("::1", {"Host": "[::1]:8501"}, True),
    ("192.168.1.20", {"Host": "192.168.1.5:8501"}, False),
    ("10.0.0.7", {}, False),
    # A reverse proxy on the same machine: loopback connection, but forwarded (or a public Host name).
    ("127.0.0.1", {"Host": "localhost", "X-Forwarded-For": "203.0.113.9"}, False),
    ("127.0.0.1", {"Host": "demo.example.org"}, False),
    (None, {"Forwarded": "for=203.0.113.9"}, False),
    ("not an ip", {}, False),
])
def test_the_visitor_is_the_operator_only_on_the_server_s_own_machine(ip, headers, local) -> None:
    assert visitor_is_local(ip, headers) is local
