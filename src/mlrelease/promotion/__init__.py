"""Promotion: moving a version between environments under each environment's policy.

It owns the rules (order, gates, approvals, who may approve), promotion requests
and their decisions, rollback, and reading the alias history back ("what was
live at 10:00?"). Every change is one transaction with its audit event, and the
notifications it announces are written to the outbox in that same transaction.

The service and the history are imported on first use, so the CLI's light
commands (and `--help`) do not load the registry and its model flavors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlrelease._lazy import lazy_attributes
from mlrelease.promotion.policy import EnvironmentPolicy, Policies
from mlrelease.promotion.records import Decision, PromotionInfo, PromotionStatus

if TYPE_CHECKING:
    from mlrelease.promotion.history import ALIAS_KINDS, live_at, live_lineage
    from mlrelease.promotion.service import GateChecker, Promotions

__all__ = [
    "ALIAS_KINDS",
    "Decision",
    "EnvironmentPolicy",
    "GateChecker",
    "Policies",
    "PromotionInfo",
    "PromotionStatus",
    "Promotions",
    "live_at",
    "live_lineage",
]

__getattr__ = lazy_attributes(
    __name__,
    {
        "ALIAS_KINDS": "mlrelease.promotion.history",
        "live_at": "mlrelease.promotion.history",
        "live_lineage": "mlrelease.promotion.history",
        "GateChecker": "mlrelease.promotion.service",
        "Promotions": "mlrelease.promotion.service",
    },
)
