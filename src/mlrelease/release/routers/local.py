"""The embedded router: nothing to do, the serve processes split traffic themselves.

Every `mlrelease serve` process of an environment polls the traffic table (which the
release controller writes in the same transaction as the release state) and splits
requests in-process, so there is no outside component to drive or to watch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlrelease.traffic import TrafficState

__all__ = ["LocalRouter"]


class LocalRouter:
    # The controller need not read the traffic table to tell this router about it.
    reads_the_store = True

    def apply(self, state: TrafficState) -> None:
        """Nothing: the servers follow the traffic table within their poll interval."""

    def problem(self) -> str | None:
        return None
