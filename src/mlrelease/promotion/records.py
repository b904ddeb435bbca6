"""What the promotion service hands out, and the states a request goes through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from mlrelease.errors import ConflictError

__all__ = ["Decision", "PromotionInfo", "PromotionStatus"]


class PromotionStatus(StrEnum):
    PENDING = "pending"  # waits for approvals
    RELEASING = "releasing"  # approved; a progressive release is moving traffic to it
    PROMOTED = "promoted"  # the alias moved to the version (final)
    REJECTED = "rejected"  # someone said no (final)
    CANCELLED = "cancelled"  # archived, the environment moved, or its release aborted (final)

    def check_transition(self, target: PromotionStatus, request_id: int) -> None:
        """Raise ConflictError unless a request in this state may move to ``target``."""
        if target not in _ALLOWED[self]:
            raise ConflictError(
                f"promotion request #{request_id} is already {self.value}; "
                "only a pending request can be approved, rejected or cancelled"
            )


_ALLOWED: dict[PromotionStatus, frozenset[PromotionStatus]] = {
    PromotionStatus.PENDING: frozenset(
        {
            PromotionStatus.RELEASING,
            PromotionStatus.PROMOTED,
            PromotionStatus.REJECTED,
            PromotionStatus.CANCELLED,
        }
    ),
    PromotionStatus.RELEASING: frozenset({PromotionStatus.PROMOTED, PromotionStatus.CANCELLED}),
    PromotionStatus.PROMOTED: frozenset(),
    PromotionStatus.REJECTED: frozenset(),
    PromotionStatus.CANCELLED: frozenset(),
}


@dataclass(frozen=True)
class Decision:
    actor: str
    decision: str  # approve | reject
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class PromotionInfo:
    id: int
    model: str
    version: int
    environment: str
    status: PromotionStatus
    approvals_required: int
    allow_self_approval: bool
    from_version: int | None
    gate_results: list[dict[str, Any]]
    reason: str
    requested_by: str
    requested_at: datetime
    decided_at: datetime | None
    decisions: tuple[Decision, ...] = ()

    @property
    def approvals(self) -> int:
        return sum(1 for decision in self.decisions if decision.decision == "approve")

    @property
    def approvals_missing(self) -> int:
        return max(self.approvals_required - self.approvals, 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "environment": self.environment,
            "status": self.status.value,
            "approvals_required": self.approvals_required,
            "approvals": self.approvals,
            "allow_self_approval": self.allow_self_approval,
            "from_version": self.from_version,
            "gate_results": self.gate_results,
            "reason": self.reason,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decisions": [
                {
                    "actor": d.actor,
                    "decision": d.decision,
                    "reason": d.reason,
                    "created_at": d.created_at.isoformat(),
                }
                for d in self.decisions
            ],
        }
