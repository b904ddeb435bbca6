"""The SSRF guard: link-local and cloud metadata addresses are refused unless allowed."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from mlrelease.errors import ConfigError, NotificationError
from mlrelease.notify import check_url, display_url


def resolves_to(*addresses: str) -> Any:
    return lambda host: list(addresses)


def never_resolve(host: str) -> list[str]:
    raise AssertionError(f"{host} should not have been resolved")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.10.20:8080/hook",
        "http://[fe80::1]/hook",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://100.100.100.200/latest/meta-data/",
    ],
)
def test_link_local_and_metadata_addresses_are_refused(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_url(url)
    assert "allow_link_local: true" in refused.value.message
    assert "link-local or cloud metadata" in refused.value.message


def test_allow_link_local_lets_them_through_without_resolving() -> None:
    check_url("http://169.254.169.254/", allow_link_local=True, resolve=never_resolve)
    check_url("http://metadata.google.internal/", allow_link_local=True, resolve=never_resolve)


def test_the_metadata_hostname_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="metadata.google.internal"):
        check_url("http://metadata.google.internal/computeMetadata/v1/", resolve=never_resolve)


def test_a_hostname_resolving_to_link_local_is_refused() -> None:
    with pytest.raises(ConfigError, match="169.254.169.254"):
        check_url(
            "https://hooks.example.com/x",
            resolve=resolves_to("203.0.113.7", "169.254.169.254"),
        )


def test_the_default_resolver_uses_getaddrinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_getaddrinfo(host: str, *_: Any, **__: Any) -> list[Any]:
        assert host == "rebound.example.com"
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%eth0", 0, 0, 2))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(ConfigError, match="fe80::1"):
        check_url("https://rebound.example.com/hook")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "https://10.1.2.3/hook", "http://localhost/hook"]
)
def test_loopback_and_private_addresses_are_allowed(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://127.0.0.1/", "http:///path"]
)
def test_only_http_and_https_urls_are_accepted(url: str) -> None:
    with pytest.raises(ConfigError, match="must be http:// or https://"):
        check_url(url, allow_link_local=True)


def test_a_host_that_does_not_resolve_is_a_delivery_failure_not_a_refusal() -> None:
    def fails(host: str) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(NotificationError, match="cannot resolve https://nowhere.invalid"):
        check_url("https://nowhere.invalid/hook", resolve=fails)


def test_display_url_shows_scheme_and_host_only() -> None:
    secret = "https://user:pw@hooks.slack.com/services/T000/B000/XXXXXXXX?token=abc"
    assert display_url(secret) == "https://hooks.slack.com"
    assert display_url("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080"
    assert display_url("http://[::1]:81/x") == "http://[::1]:81"
