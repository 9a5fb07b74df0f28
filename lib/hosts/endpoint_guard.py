"""Where a visitor may point this server: the operator's lock on typed endpoints.

Hosts and endpoints are the operator's (secrets and environment). A visitor of a deployed app may at most bring
their own key for a listed provider; a base URL typed in the sidebar is accepted only when the operator allows it:

- `ALLOW_TYPED_ENDPOINTS`: `local` (default: only a visitor on the server's own machine, who is the operator),
  `1`/`true`/`on` (everyone), `0`/`false`/`off` (no one).
- `ALLOW_PRIVATE_ENDPOINTS`: `1` lets typed endpoints reach private and loopback addresses for every visitor
  (the local visitor always may: their own vLLM on localhost is the point).

Even when allowed, `check_url` refuses anything but http(s), credentials in the URL, link-local and cloud metadata
addresses, unspecified/multicast/reserved ones, and private ranges unless allowed, before any request is made, with a
short sentence of our own (the upstream's words are never echoed). Names are resolved once when checked; a name that
later resolves elsewhere (DNS rebinding) is outside what this check can see, which is why the default is `local`.

    check_url("http://10.0.0.5:8000/v1", allow_private=False)   # raises EndpointRefused
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Callable, Iterable, Literal, Mapping
from urllib.parse import urlsplit

from lib.i18n import Msg, msg

Policy = Literal["local", "on", "off"]
Resolver = Callable[[str, int], Iterable[str]]

_ON = {"1", "true", "yes", "on", "everyone", "all"}
_OFF = {"0", "false", "no", "off", "none", "never"}
_METADATA_NAMES = {"metadata.google.internal", "metadata", "metadata.azure.com", "instance-data",
                   "instance-data.ec2.internal"}
_METADATA_ADDRESSES = {ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200",
                                                         "fd00:ec2::254", "192.0.0.192")}
_FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host", "cf-connecting-ip",
                       "true-client-ip")
_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


class EndpointRefused(ValueError):
    """A typed endpoint this server won't send to; `str(exc)` is a short sentence for the visitor (in English),
    `exc.msg` the same sentence for the page's language (`ui.i18n.say`)."""

    def __init__(self, why: Msg | str) -> None:
        super().__init__(str(why))
        self.msg: Msg | str = why


def _refused(key: str, **values: object) -> EndpointRefused:
    return EndpointRefused(msg(f"hosts.refused.{key}", **values))


def policy(value: str | None) -> Policy:
    """`ALLOW_TYPED_ENDPOINTS` read as local / on / off (anything unrecognised is the safe default, local)."""
    v = (value or "").strip().lower()
    return "on" if v in _ON else "off" if v in _OFF else "local"


def flag(value: str | None) -> bool:
    """A yes/no setting (`ALLOW_PRIVATE_ENDPOINTS`)."""
    return (value or "").strip().lower() in _ON


def visitor_is_local(ip: str | None, headers: Mapping[str, str] | None = None) -> bool:
    """True when the page is open on the server's own machine: the connection comes from loopback (Streamlit
    reports None for localhost), it was not forwarded by a proxy, and the browser addressed a loopback name.

    A reverse proxy on the same machine makes every visitor's connection come from loopback; its forwarding
    headers, or the public Host name it passes on, mark those visitors as remote.

    >>> visitor_is_local(None, {"Host": "localhost:8501"}), visitor_is_local("192.168.1.20", {})
    (True, False)
    >>> visitor_is_local("127.0.0.1", {"Host": "demo.example.org", "X-Forwarded-For": "203.0.113.9"})
    False
    """
    if ip not in (None, ""):
        try:
            if not ipaddress.ip_address(str(ip)).is_loopback:
                return False
        except ValueError:
            return False
    lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    if any(h in lowered for h in _FORWARDING_HEADERS):
        return False
    host = lowered.get("host", "")
    if host:
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        if name.lower() not in _LOCAL_NAMES and not _is_loopback_literal(name):
            return False
    return True


def _is_loopback_literal(name: str) -> bool:
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _resolve(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def check_url(url: str, *, allow_private: bool, resolve: Resolver = _resolve) -> str:
    """`url` (stripped, without a trailing slash) if this server may send requests there, else EndpointRefused.

    >>> try:
    ...     check_url("file:///etc/passwd", allow_private=True)
    ... except EndpointRefused as exc:
    ...     print(exc)
    Only http:// and https:// addresses can be used.
    """
    text = (url or "").strip()
    if len(text) > 2048 or any(ord(c) < 33 for c in text):
        raise _refused("not_address")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise _refused("not_address") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise _refused("scheme")
    if parts.username is not None or parts.password is not None:
        raise _refused("credentials")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise _refused("no_host")
    if host in _METADATA_NAMES:
        raise _refused("metadata")
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            addresses = {ipaddress.ip_address(a.split("%", 1)[0])
                         for a in resolve(host, port or (443 if parts.scheme == "https" else 80))}
        except (OSError, UnicodeError, ValueError):
            raise _refused("unknown_host", host=host) from None
        if not addresses:
            raise _refused("unknown_host", host=host)
    for address in addresses:
        mapped = getattr(address, "ipv4_mapped", None)
        a = mapped or address
        if a in _METADATA_ADDRESSES:
            raise _refused("metadata")
        if a.is_link_local:
            raise _refused("link_local")
        if a.is_unspecified or a.is_multicast or (a.is_reserved and not a.is_private):
            raise _refused("reserved")
        if not a.is_global and not allow_private:  # private, loopback, carrier-grade NAT, documentation ranges
            raise _refused("private")
    return text.rstrip("/")
