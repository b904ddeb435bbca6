"""Optional protection of the data plane: bearer tokens and a per-client rate limit.

Both are off by default (a laptop needs neither). Tokens are kept only as
sha256 digests and compared in constant time; the rate limit is a token bucket
per token, or per client address when no token is required.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mlrelease.errors import RateLimited, Unauthorized

__all__ = ["Guard", "RateLimit"]


@dataclass(frozen=True)
class RateLimit:
    per_second: float
    burst: int

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"100"`` or ``"100/s"`` or ``"6000/m"``: sustained rate; burst = one second's worth."""
        amount, _, unit = text.partition("/")
        seconds = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}.get(unit.strip().lower())
        try:
            count = float(amount)
        except ValueError:
            count = -1.0
        if seconds is None or not count > 0 or not math.isfinite(count):
            raise ValueError(f"rate limit {text!r}: write a number per s, m or h, e.g. 100/s")
        rate = count / seconds
        return cls(per_second=rate, burst=max(1, math.ceil(rate)))


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class Guard:
    token_digests: frozenset[str] = frozenset()
    rate_limit: RateLimit | None = None
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    @classmethod
    def from_tokens(cls, tokens: Iterable[str], rate_limit: RateLimit | None = None) -> Guard:
        digests = frozenset(_digest(token) for token in tokens if token)
        return cls(token_digests=digests, rate_limit=rate_limit)

    @property
    def active(self) -> bool:
        return bool(self.token_digests) or self.rate_limit is not None

    def check(self, authorization: str | None, client: str) -> None:
        """Raise Unauthorized or RateLimited; otherwise the request may go on."""
        key = client
        if self.token_digests:
            key = self._authenticate(authorization)
        if self.rate_limit is not None:
            self._take(key, self.rate_limit)

    def _authenticate(self, authorization: str | None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("this endpoint needs a token: send 'Authorization: Bearer TOKEN'")
        digest = _digest(token.strip())
        if not any(hmac.compare_digest(digest, known) for known in self.token_digests):
            raise Unauthorized("the token was not accepted; check MLRELEASE_SERVE_TOKENS")
        return digest

    def _take(self, key: str, limit: RateLimit) -> None:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(limit.burst), updated=now)
        bucket.tokens = min(limit.burst, bucket.tokens + (now - bucket.updated) * limit.per_second)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return
        retry_after = math.ceil((1 - bucket.tokens) / limit.per_second)
        raise RateLimited(
            f"rate limit of {limit.per_second:g} requests/s exceeded; retry in {retry_after} s",
            details={"retry_after": retry_after},
        )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
