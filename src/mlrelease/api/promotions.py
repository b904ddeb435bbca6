"""Routes about promotions and the audit log: ask, approve, reject, list, read events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from mlrelease.api.errors import ERROR_RESPONSES
from mlrelease.api.registry import as_utc
from mlrelease.api.schemas import DecisionIn, EventOut, PromoteIn, PromotionOut, StatusFilter
from mlrelease.api.security import Approver, ClientDep, GuardedRoute, Operator, Viewer
from mlrelease.promotion import PromotionStatus

__all__ = ["router"]

router = APIRouter(tags=["promotions"], route_class=GuardedRoute, responses=ERROR_RESPONSES)


@router.get("/promotions", summary="Promotion requests, newest first")
def list_promotions(
    client: ClientDep,
    _: Viewer,
    model: str | None = None,
    environment: str | None = None,
    status: StatusFilter = StatusFilter.pending,
) -> list[PromotionOut]:
    wanted = None if status is StatusFilter.all else PromotionStatus(status.value)
    requests = client.promotion_requests(model=model, environment=environment, status=wanted)
    return [PromotionOut.model_validate(info) for info in requests]


@router.get("/promotions/{request_id}", summary="One promotion request with its decisions")
def get_promotion(request_id: int, client: ClientDep, _: Viewer) -> PromotionOut:
    return PromotionOut.model_validate(client.promotions.request(request_id))


@router.post(
    "/promotions",
    status_code=201,
    summary="Promote a version (runs the gates; may wait for approvals)",
)
def promote(body: PromoteIn, client: ClientDep, actor: Operator) -> PromotionOut:
    info = client.promote(
        body.model, body.version, body.environment, reason=body.reason, actor=actor.name
    )
    return PromotionOut.model_validate(info)


@router.post("/promotions/{request_id}/approve", summary="Approve a waiting promotion request")
def approve(request_id: int, body: DecisionIn, client: ClientDep, actor: Approver) -> PromotionOut:
    info = client.approve(request_id, reason=body.reason, actor=actor.name)
    return PromotionOut.model_validate(info)


@router.post("/promotions/{request_id}/reject", summary="Reject a waiting promotion request")
def reject(request_id: int, body: DecisionIn, client: ClientDep, actor: Approver) -> PromotionOut:
    info = client.reject(request_id, reason=body.reason, actor=actor.name)
    return PromotionOut.model_validate(info)


@router.get("/events", summary="The audit log, oldest first")
def list_events(
    client: ClientDep,
    _: Viewer,
    model: str | None = None,
    environment: str | None = None,
    until: Annotated[
        datetime | None, Query(description="ISO 8601; UTC when it has no offset.")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000, description="Keep the newest N.")] = None,
) -> list[EventOut]:
    events = client.events(
        model,
        environment=environment,
        until=as_utc(until) if until is not None else None,
        limit=limit,
    )
    return [EventOut.model_validate(event) for event in events]
