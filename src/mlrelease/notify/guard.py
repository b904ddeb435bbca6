"""The SSRF guard: where a Slack or webhook URL may send a request.

A notification URL comes from a project file, and a request to it goes out from
wherever mlrelease runs -- often a machine whose cloud metadata service hands
credentials to anyone on the box who asks. So a URL must be http(s), and every
address its host resolves to is checked, at config-check time and again right
before each delivery (DNS can change): link-local addresses (169.254.0.0/16,
fe80::/10) and known cloud metadata endpoints are refused unless the channel says
``allow_link_local: true``. Loopback and private addresses are allowed: teams run
receivers on their own network. Redirects are never followed (see ``transport``),
so a receiver cannot bounce a request past this check.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from mlrelease.errors import ConfigError, NotificationError

__all__ = ["METADATA_ADDRESSES", "METADATA_HOSTS", "Resolver", "check_url", "display_url"]

# Takes a host name, returns the IP addresses it resolves to (raises OSError if none).
Resolver = Callable[[str], list[str]]

# Cloud metadata endpoints (AWS/GCP/Azure/OpenStack; AWS over IPv6; Alibaba).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text) for text in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog"})
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def resolve_host(host: str) -> list[str]:
    """Every address ``host`` resolves to, via ``socket.getaddrinfo``."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def display_url(url: str) -> str:
    """Scheme and host only: a Slack webhook's path is its secret, and so may a webhook's be."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def check_url(
    url: str, *, allow_link_local: bool = False, resolve: Resolver = resolve_host
) -> None:
    """Refuse a URL that is not http(s) or whose host is (or resolves to) a forbidden address.

    Raises ConfigError for a refused URL and NotificationError when the host does
    not resolve (a DNS failure is worth retrying; a refusal needs a fix).
    """
    parts = urlsplit(url)
    shown = display_url(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            f"notification URL {shown} must be http:// or https:// with a host, "
            "e.g. https://hooks.example.com/mlrelease"
        )
    host = parts.hostname.lower().rstrip(".")
    if allow_link_local:
        return
    if host in METADATA_HOSTS:
        _refuse(shown, host)
    try:
        addresses = resolve(host)
    except (OSError, UnicodeError) as exc:
        raise NotificationError(f"cannot resolve {shown}: {exc}") from None
    for text in addresses:
        if _forbidden(_parse_address(text)):
            _refuse(shown, text)


def _parse_address(text: str) -> _IPAddress:
    address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forbidden(address: _IPAddress) -> bool:
    return address.is_link_local or address in METADATA_ADDRESSES


def _refuse(shown: str, what: str) -> None:
    raise ConfigError(
        f"notification URL {shown} reaches {what}, a link-local or cloud metadata address; "
        "refused so a project file cannot read cloud credentials. If the receiver really "
        "lives there, set 'allow_link_local: true' on that notify entry"
    )
