"""Traffic routers: what makes an environment's real traffic follow its TrafficState.

    Router (Protocol)     apply(state), problem()
    ├── LocalRouter       the `mlrelease serve` processes read the traffic table themselves
    └── NginxRouter       a weighted NGINX upstream file, rewritten atomically, then a reload

The release controller builds one with :func:`make_router` from the strategy's
``router`` setting, calls ``apply`` at every tick (it must be idempotent and cheap
when nothing changed) and aborts the release when ``problem`` returns a reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

from mlrelease.release.routers.local import LocalRouter
from mlrelease.release.routers.nginx import NginxRouter
from mlrelease.spec import NginxRouterSpec

if TYPE_CHECKING:
    from mlrelease.traffic import TrafficState

__all__ = ["LocalRouter", "NginxRouter", "Router", "make_router"]


class Router(Protocol):
    def apply(self, state: TrafficState) -> None:
        """Make the real traffic follow ``state``; idempotent, cheap when unchanged."""

    def problem(self) -> str | None:
        """None when healthy; else one line saying why the release should abort."""


def make_router(spec: Literal["local"] | NginxRouterSpec) -> Router:
    """The router a strategy's ``router`` setting names."""
    if isinstance(spec, NginxRouterSpec):
        return NginxRouter(spec.nginx)
    return LocalRouter()
