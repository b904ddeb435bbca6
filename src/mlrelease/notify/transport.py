"""The network seam: every outside effect a channel has, in one replaceable object.

:class:`Network` holds the HTTP poster (stdlib ``urllib``, redirects never
followed), the SMTP classes, the TLS context factory, the DNS resolver and the
timeout. Senders only ever reach the network through it, so tests can swap one
part (a resolver that answers link-local, a TLS context that trusts a test
certificate) and still talk to real local servers for the rest.
"""

from __future__ import annotations

import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from mlrelease.notify.guard import Resolver, resolve_host

__all__ = ["DEFAULT_TIMEOUT", "HttpPost", "HttpReply", "Network", "urllib_post"]

DEFAULT_TIMEOUT = 5.0
_MAX_READ = 4096


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: str  # the start of the response body, for error messages


class HttpPost(Protocol):
    """POST ``body`` to ``url``; any HTTP status is a reply, no connection is an OSError."""

    def __call__(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpReply: ...


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A 3xx becomes an HTTPError: following it could lead past the SSRF guard.
    def redirect_request(self, *_: object, **__: object) -> None:
        return None


def urllib_post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> HttpReply:
    """The real poster: stdlib urllib (proxies from the environment), redirects refused."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    opener = urllib.request.build_opener(_NoRedirects())
    try:
        with opener.open(request, timeout=timeout) as response:
            return HttpReply(int(response.status), _text(response.read(_MAX_READ)))
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpReply(exc.code, _text(exc.read(_MAX_READ)))


def _text(data: bytes) -> str:
    return " ".join(data.decode("utf-8", "replace").split())[:200]


@dataclass(frozen=True)
class Network:
    """How channels reach the outside world; the defaults are the real thing."""

    post: HttpPost = urllib_post
    smtp: type[smtplib.SMTP] = smtplib.SMTP
    smtp_ssl: type[smtplib.SMTP_SSL] = smtplib.SMTP_SSL
    tls_context: Callable[[], ssl.SSLContext] = ssl.create_default_context
    resolve: Resolver = resolve_host
    timeout: float = DEFAULT_TIMEOUT
