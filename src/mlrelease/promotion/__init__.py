"""Promotion: moving a version between environments under each environment's policy.

It owns the rules (order, gates, approvals, who may approve), promotion requests
and their decisions, rollback, and reading the alias history back ("what was
live at 10:00?"). Every change is one transaction with its audit event, and the
notifications it announces are written to the outbox in that same transaction.
"""

from __future__ import annotations

from mlrelease.promotion.history import ALIAS_KINDS, live_at, live_lineage
from mlrelease.promotion.policy import EnvironmentPolicy, Policies
from mlrelease.promotion.records import Decision, PromotionInfo, PromotionStatus
from mlrelease.promotion.service import Announcer, GateChecker, Promotions

__all__ = [
    "ALIAS_KINDS",
    "Announcer",
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
