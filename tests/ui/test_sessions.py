"""The session cookie: signed, tamper-evident, expiring, never carrying the token."""

from __future__ import annotations

import pytest

from mlrelease.errors import ConfigError
from mlrelease.ui.sessions import (
    SESSION_TTL,
    Flash,
    Session,
    SessionCodec,
    secret_key_from,
)

KEY = b"s" * 32


def test_a_session_survives_the_round_trip() -> None:
    codec = SessionCodec(KEY, clock=lambda: 1000.0)
    session = Session.logged_in("ab" * 32, now=1000.0).with_flash(Flash("<done>", error=True))
    assert codec.decode(codec.encode(session)) == session


@pytest.mark.parametrize(
    "forge",
    [
        lambda value: value[:-2] + ("AA" if not value.endswith("AA") else "BB"),  # signature
        lambda value: "x" + value,  # payload
        lambda value: value.replace(".", ""),
        lambda value: "",
        lambda value: "a.b.c",
    ],
)
def test_a_forged_cookie_reads_as_no_session(forge: object) -> None:
    codec = SessionCodec(KEY)
    value = codec.encode(Session.logged_in("ab" * 32, now=codec.clock()))
    assert codec.decode(forge(value)) is None  # type: ignore[operator]


def test_another_key_cannot_read_the_cookie() -> None:
    value = SessionCodec(KEY).encode(Session.logged_in("ab" * 32, now=0.0))
    assert SessionCodec(b"t" * 32).decode(value) is None


def test_a_login_expires_but_the_csrf_secret_stays() -> None:
    now = [0.0]
    codec = SessionCodec(KEY, clock=lambda: now[0])
    value = codec.encode(Session.logged_in("ab" * 32, now=0.0))
    now[0] = SESSION_TTL + 1
    decoded = codec.decode(value)
    assert decoded is not None and decoded.token_hash is None and decoded.csrf


def test_csrf_comparison() -> None:
    session = Session.anonymous()
    assert session.csrf_matches(session.csrf)
    assert not session.csrf_matches(None)
    assert not session.csrf_matches("")
    assert not session.csrf_matches(session.csrf + "x")


def test_the_secret_key_comes_from_the_environment() -> None:
    assert secret_key_from({}) is None
    key = secret_key_from({"MLRELEASE_UI_SECRET": "x" * 40})
    assert key is not None and len(key) == 32
    with pytest.raises(ConfigError, match="MLRELEASE_UI_SECRET is too short"):
        secret_key_from({"MLRELEASE_UI_SECRET": "short"})
    with pytest.raises(ValueError, match="at least 32 bytes"):
        SessionCodec(b"short")
