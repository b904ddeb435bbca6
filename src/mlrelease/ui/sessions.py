"""The browser session: a signed cookie that says which token logged in, and its CSRF secret.

The cookie is stateless and signed with HMAC-SHA256 under the UI's secret key, so
a client can read it but never alter it. It carries the *sha256* of the token that
logged in (never the token), a random CSRF secret, the time of login and at most
one flash message. Every request looks the token up again, so revoking a token
ends its browser sessions at once; a session also ends after :data:`SESSION_TTL`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import orjson

from mlrelease.errors import ConfigError

__all__ = [
    "SECRET_VARIABLE",
    "SESSION_TTL",
    "Flash",
    "Session",
    "SessionCodec",
    "new_secret_key",
    "secret_key_from",
]

SECRET_VARIABLE = "MLRELEASE_UI_SECRET"
SESSION_TTL = 8 * 3600  # seconds from login; a working day, then log in again
_MIN_KEY_BYTES = 32


def new_secret_key() -> bytes:
    """A random key: sessions signed with it end when the process does."""
    return secrets.token_bytes(_MIN_KEY_BYTES)


def secret_key_from(env: Mapping[str, str]) -> bytes | None:
    """The key set in ``MLRELEASE_UI_SECRET``, or None when it is not set."""
    value = env.get(SECRET_VARIABLE, "")
    if not value:
        return None
    if len(value) < _MIN_KEY_BYTES:
        raise ConfigError(
            f"{SECRET_VARIABLE} is too short ({len(value)} characters; at least "
            f"{_MIN_KEY_BYTES}): set it to e.g. the output of "
            "python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return hashlib.sha256(value.encode()).digest()


@dataclass(frozen=True)
class Flash:
    """A one-time message for the next page: what an action did, or why it did not."""

    text: str
    error: bool = False


@dataclass(frozen=True)
class Session:
    csrf: str  # random; every form echoes it, every POST must match it
    token_hash: str | None = None  # sha256 of the token that logged in; None before login
    issued_at: float = 0.0
    flash: Flash | None = None

    @classmethod
    def anonymous(cls) -> Session:
        return cls(csrf=secrets.token_urlsafe(24))

    @classmethod
    def logged_in(cls, token_hash: str, *, now: float) -> Session:
        # A new CSRF secret at login: one seen before logging in is worth nothing after.
        return cls(csrf=secrets.token_urlsafe(24), token_hash=token_hash, issued_at=now)

    def with_flash(self, flash: Flash | None) -> Session:
        return replace(self, flash=flash)

    def csrf_matches(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf.encode(), str(sent).encode())


class SessionCodec:
    """Turns sessions into cookie values and back; a forged or stale cookie reads as None."""

    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(key) < _MIN_KEY_BYTES:
            raise ValueError(f"the UI secret key needs at least {_MIN_KEY_BYTES} bytes")
        self._key = key
        self.clock = clock

    def encode(self, session: Session) -> str:
        body: dict[str, object] = {
            "c": session.csrf,
            "h": session.token_hash,
            "t": session.issued_at,
        }
        if session.flash is not None:
            body["f"] = [session.flash.text, session.flash.error]
        payload = _b64(orjson.dumps(body))
        return f"{payload}.{self._sign(payload)}"

    def decode(self, value: str | None) -> Session | None:
        if not value or value.count(".") != 1:
            return None
        payload, signature = value.split(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            body = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(
                csrf=str(body["c"]),
                token_hash=str(body["h"]) if body.get("h") else None,
                issued_at=float(body.get("t", 0.0)),
                flash=Flash(str(body["f"][0]), bool(body["f"][1])) if body.get("f") else None,
            )
        except (ValueError, KeyError, TypeError, IndexError):
            return None
        if session.token_hash is not None and self.clock() - session.issued_at > SESSION_TTL:
            return replace(session, token_hash=None)  # expired: keep the CSRF, drop the login
        return session

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return _b64(digest)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
