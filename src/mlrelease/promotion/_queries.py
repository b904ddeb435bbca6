"""The promotion service's reads and small writes: one statement (or two) each.

Kept apart from the service so that it reads as the rules; everything here runs
inside a transaction the caller holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from mlrelease.errors import ModelNotFoundError, NotFoundError
from mlrelease.names import validate_name
from mlrelease.promotion.records import Decision, PromotionInfo, PromotionStatus
from mlrelease.release.phases import Phase
from mlrelease.store import tables

_P = tables.promotions.c
_D = tables.decisions.c
_M = tables.models.c
_A = tables.aliases.c
_V = tables.versions.c
_T = tables.traffic.c
_R = tables.releases.c

REQUEST = select(
    _P.id,
    _P.model_id,
    _M.name.label("model"),
    _P.version,
    _P.environment,
    _P.status,
    _P.approvals_required,
    _P.allow_self_approval,
    _P.from_version,
    _P.gate_results,
    _P.reason,
    _P.requested_by,
    _P.requested_at,
    _P.decided_at,
).select_from(tables.promotions.join(tables.models, _P.model_id == _M.id))
INSERT_REQUEST = insert(tables.promotions).returning(_P.id)


def model_id(connection: Connection, model: str) -> int:
    validate_name(model, what="model name")
    model_id = connection.execute(select(_M.id).where(_M.name == model)).scalar_one_or_none()
    if model_id is None:
        raise ModelNotFoundError(f"no model named '{model}'; see 'mlrelease models'")
    return int(model_id)


def live_version(connection: Connection, model_id: int, environment: str) -> int | None:
    return connection.execute(
        select(_V.version)
        .select_from(tables.aliases.join(tables.versions, _A.version_id == _V.id))
        .where(_A.model_id == model_id, _A.environment == environment)
    ).scalar_one_or_none()


def environments_running(connection: Connection, version_id: int) -> list[str]:
    return list(
        connection.execute(
            select(_A.environment).where(_A.version_id == version_id).order_by(_A.environment)
        ).scalars()
    )


def pending_request(connection: Connection, model_id: int, environment: str) -> Any:
    return connection.execute(
        REQUEST.where(
            _P.model_id == model_id,
            _P.environment == environment,
            _P.status == PromotionStatus.PENDING.value,
        )
    ).first()


def active_release(connection: Connection, model_id: int, environment: str) -> int | None:
    return connection.execute(
        select(_R.id).where(
            _R.model_id == model_id,
            _R.environment == environment,
            _R.phase.not_in([Phase.SUCCEEDED.value, Phase.ABORTED.value]),
        )
    ).scalar_one_or_none()


def count_approvals(connection: Connection, request_id: int) -> int:
    return int(
        connection.execute(
            select(func.count())
            .select_from(tables.decisions)
            .where(_D.promotion_id == request_id, _D.decision == "approve")
        ).scalar_one()
    )


def set_status(connection: Connection, request_id: int, status: PromotionStatus) -> None:
    connection.execute(
        update(tables.promotions)
        .where(_P.id == request_id)
        .values(status=status.value, decided_at=datetime.now(UTC))
    )


def clear_traffic(connection: Connection, model_id: int, environment: str) -> dict[str, Any]:
    key = (_T.model_id == model_id) & (_T.environment == environment)
    row = connection.execute(
        select(_T.canary_version, _T.canary_weight, _T.shadow_version, _T.shadow_share).where(key)
    ).first()
    if row is None or (row.canary_version is None and row.shadow_version is None):
        return {}
    connection.execute(
        update(tables.traffic)
        .where(key)
        .values(canary_version=None, canary_weight=0, shadow_version=None, shadow_share=0)
    )
    return dict(row._asdict())


def read_request(connection: Connection, request_id: int) -> PromotionInfo:
    row = connection.execute(REQUEST.where(_P.id == request_id)).first()
    if row is None:
        raise NotFoundError(f"no promotion request #{request_id}; see 'mlrelease approvals --all'")
    return with_decisions(connection, row)


def with_decisions(connection: Connection, row: Any) -> PromotionInfo:
    decisions = tuple(
        Decision(actor=d.actor, decision=d.decision, reason=d.reason, created_at=d.created_at)
        for d in connection.execute(
            select(_D.actor, _D.decision, _D.reason, _D.created_at)
            .where(_D.promotion_id == row.id)
            .order_by(_D.id)
        )
    )
    data = row._asdict()
    data.pop("model_id")
    data["status"] = PromotionStatus(data["status"])
    return PromotionInfo(**data, decisions=decisions)
