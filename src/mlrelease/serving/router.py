"""Choosing which version answers a request: stable or canary, and whether to mirror to a shadow.

With a routing key the choice is a pure function of the key (sticky across
requests and processes); without one it is random. Weight 0 never picks the
canary and weight 100 always does.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

from mlrelease.traffic import TrafficState

__all__ = ["Route", "route"]

STABLE = "stable"
CANARY = "canary"
SHADOW = "shadow"


@dataclass(frozen=True, slots=True)
class Route:
    role: str  # "stable" | "canary"
    version: int
    shadow: int | None  # a version to mirror this request to, if any


def _percentile(routing_key: str | None, salt: bytes, rng: random.Random) -> float:
    """A number in [0, 100): from the key's hash when there is one, else random."""
    if routing_key is None:
        return rng.random() * 100.0
    return zlib.crc32(salt + routing_key.encode()) % 10_000 / 100.0


def route(state: TrafficState, routing_key: str | None, rng: random.Random) -> Route:
    assert state.stable is not None, "a server routes only once a stable version is live"
    if state.canary is not None and _percentile(routing_key, b"canary:", rng) < state.canary_weight:
        chosen = Route(CANARY, state.canary, None)
    else:
        chosen = Route(STABLE, state.stable, None)
    if state.shadow is not None and _percentile(routing_key, b"shadow:", rng) < state.shadow_share:
        return Route(chosen.role, chosen.version, state.shadow)
    return chosen
