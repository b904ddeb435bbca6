"""The shapes at the HTTP edge: request bodies (``...In``) and responses (``...Out``).

Responses are read from the core's records (``from_attributes``), so a field the
core adds stays private until it is added here on purpose.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from mlrelease.auth import Role

__all__ = [
    "ArchiveIn",
    "ArchiveOut",
    "DecisionIn",
    "DecisionOut",
    "ErrorOut",
    "EventOut",
    "LiveOut",
    "MonitorReportOut",
    "ModelOut",
    "PromoteIn",
    "PromotionOut",
    "ReleaseActionIn",
    "ReleaseOut",
    "RollbackIn",
    "StatusFilter",
    "TokenCreatedOut",
    "TokenIn",
    "TokenOut",
    "VersionDetailOut",
    "VersionOut",
    "WhoAmIOut",
]

_ROLES = ", ".join(Role.names())


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorBody(BaseModel):
    code: str = Field(description="Stable, machine-readable, e.g. promotion_refused.")
    message: str = Field(description="What happened and how to fix it.")
    details: dict[str, Any] = Field(description="E.g. the gate results of a gate_failed.")


class ErrorOut(BaseModel):
    """The one shape of every error answer."""

    error: ErrorBody


class StatusFilter(StrEnum):
    """Which promotion requests to list."""

    pending = "pending"
    promoted = "promoted"
    rejected = "rejected"
    cancelled = "cancelled"
    all = "all"


# -- identity and tokens -------------------------------------------------------------


def _role_name(value: Any) -> Any:
    return value.name if isinstance(value, Role) else value


# Roles travel as their names, not as the numbers that order them.
RoleName = Annotated[
    str, BeforeValidator(_role_name), Field(description=f"One of, lowest first: {_ROLES}.")
]


class WhoAmIOut(_Out):
    name: str
    role: RoleName


class TokenIn(_In):
    name: str = Field(description="Unique name; it becomes the actor in the audit log.")
    role: RoleName


class TokenOut(_Out):
    name: str
    role: RoleName
    prefix: str = Field(description="The secret's first characters, to tell tokens apart.")
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    secret: str = Field(description="The token itself: shown this once, never again.")


# -- the registry ---------------------------------------------------------------------


class ModelOut(_Out):
    name: str
    task: str
    description: str
    created_at: datetime
    latest_version: int | None
    aliases: dict[str, int] = Field(description="Environment -> the version it serves.")


class VersionOut(_Out):
    model: str
    version: int
    status: str
    flavor: str
    metrics: dict[str, Any]
    run_id: str | None
    created_at: datetime
    created_by: str


class VersionDetailOut(VersionOut):
    """A version without its data profile (large, and only the monitor needs it)."""

    artifact_uri: str
    artifact_sha256: str
    params: dict[str, Any]
    signature: dict[str, Any]
    lineage: dict[str, Any]
    gate_results: list[dict[str, Any]]
    evaluation: dict[str, Any]
    serving_form: dict[str, Any] = Field(
        default_factory=dict,
        description="A plain linear model's numbers (format, uri, sha256), which a server "
        "loads without scikit-learn; empty for other models.",
    )


class LiveOut(BaseModel):
    model: str
    at: datetime
    environments: dict[str, int] = Field(description="Environment -> the version it served.")


class ArchiveIn(_In):
    reason: str = ""


class ArchiveOut(BaseModel):
    model: str
    version: int
    cancelled_requests: int = Field(description="Waiting promotion requests it cancelled.")


class RollbackIn(_In):
    environment: str
    to: int | None = Field(None, ge=1, description="Version to go back to; default the previous.")
    reason: str


# -- events and promotions --------------------------------------------------------------


class EventOut(_Out):
    id: int
    timestamp: datetime
    actor: str
    kind: str
    model: str
    environment: str | None
    from_version: int | None
    to_version: int | None
    reason: str
    payload: dict[str, Any]


class DecisionOut(_Out):
    actor: str
    decision: str = Field(description="approve or reject")
    reason: str
    created_at: datetime


class PromotionOut(_Out):
    id: int
    model: str
    version: int
    environment: str
    status: str = Field(description="pending, releasing, promoted, rejected or cancelled")
    approvals_required: int
    approvals: int
    approvals_missing: int
    allow_self_approval: bool
    from_version: int | None
    gate_results: list[dict[str, Any]]
    reason: str
    requested_by: str
    requested_at: datetime
    decided_at: datetime | None
    decisions: list[DecisionOut]


class PromoteIn(_In):
    model: str
    version: int = Field(ge=1)
    environment: str
    reason: str = ""


class DecisionIn(_In):
    reason: str = ""


class ReleaseOut(_Out):
    id: int
    model: str
    environment: str
    strategy: str = Field(description="canary or shadow.")
    stable_version: int
    candidate_version: int
    promotion_id: int | None
    phase: str = Field(description="pending, progressing, paused, promoting, succeeded, aborted.")
    step_index: int = Field(description="The step being worked on, from 0.")
    weight: int = Field(description="Percent of requests the candidate gets (or mirrors).")
    analysis_runs: int
    failures: int
    measurements: list[dict[str, Any]]
    reason: str
    spec: dict[str, Any] = Field(description="The strategy as it was when the release started.")
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class ReleaseActionIn(_In):
    reason: str = ""


class MonitorReportOut(_Out):
    """A stored monitor report; features and predictions hold one drift result each."""

    model_config = ConfigDict(extra="allow")  # the rest of the stored document passes through

    id: int
    model: str
    environment: str
    version: int
    created_at: datetime
    rows: int
    judged: bool
    drift_share: float | None
    drifted: bool
    features: list[dict[str, Any]]
    predictions: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
