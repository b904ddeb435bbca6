"""Routes about models and versions: read them, see what was live, roll back, archive."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from mlrelease.api.errors import ERROR_RESPONSES
from mlrelease.api.schemas import (
    ArchiveIn,
    ArchiveOut,
    EventOut,
    LiveOut,
    ModelOut,
    RollbackIn,
    VersionDetailOut,
    VersionOut,
)
from mlrelease.api.security import Admin, ClientDep, GuardedRoute, Operator, Viewer

__all__ = ["as_utc", "router"]

router = APIRouter(tags=["models"], route_class=GuardedRoute, responses=ERROR_RESPONSES)

VersionNumber = Annotated[int, Path(ge=1)]

# Routes are plain ``def``: FastAPI runs them in worker threads, so store queries and
# model scoring never block the event loop.


@router.get("/models", summary="List models")
def list_models(client: ClientDep, _: Viewer) -> list[ModelOut]:
    return [ModelOut.model_validate(info) for info in client.models()]


@router.get("/models/{model}", summary="One model, with what each environment serves")
def get_model(model: str, client: ClientDep, _: Viewer) -> ModelOut:
    return ModelOut.model_validate(client.registry.model(model))


@router.get("/models/{model}/versions", summary="A model's versions")
def list_versions(model: str, client: ClientDep, _: Viewer) -> list[VersionOut]:
    return [VersionOut.model_validate(info) for info in client.versions(model)]


@router.get("/models/{model}/versions/{version}", summary="One version, without its data profile")
def get_version(
    model: str, version: VersionNumber, client: ClientDep, _: Viewer
) -> VersionDetailOut:
    return VersionDetailOut.model_validate(client.version(model, version))


@router.get("/models/{model}/live", summary="What each environment served at a moment")
def live(
    model: str,
    client: ClientDep,
    _: Viewer,
    at: Annotated[
        datetime | None, Query(description="ISO 8601; UTC when it has no offset; default now.")
    ] = None,
) -> LiveOut:
    moment = as_utc(at) if at is not None else datetime.now(UTC)
    return LiveOut(model=model, at=moment, environments=client.live_at(model, moment))


@router.post("/models/{model}/rollback", summary="Put an environment back on an earlier version")
def rollback(model: str, body: RollbackIn, client: ClientDep, actor: Operator) -> EventOut:
    event = client.rollback(
        model, body.environment, to=body.to, reason=body.reason, actor=actor.name
    )
    return EventOut.model_validate(event)


@router.post(
    "/models/{model}/versions/{version}/archive",
    summary="Retire a version for good (cancels its waiting promotion requests)",
)
def archive(
    model: str, version: VersionNumber, body: ArchiveIn, client: ClientDep, actor: Admin
) -> ArchiveOut:
    cancelled = client.archive(model, version, reason=body.reason, actor=actor.name)
    return ArchiveOut(model=model, version=version, cancelled_requests=cancelled)


def as_utc(moment: datetime) -> datetime:
    """The store keeps UTC: a time without an offset is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
