"""Routes about progressive releases: read them; pause, resume, promote or abort one."""

from __future__ import annotations

from fastapi import APIRouter

from mlrelease.api.errors import ERROR_RESPONSES
from mlrelease.api.schemas import ReleaseActionIn, ReleaseOut
from mlrelease.api.security import ClientDep, GuardedRoute, Operator, Viewer
from mlrelease.release.records import ReleaseInfo

__all__ = ["router"]

router = APIRouter(tags=["releases"], route_class=GuardedRoute, responses=ERROR_RESPONSES)


@router.get("/releases", summary="Releases, newest first")
def list_releases(
    client: ClientDep, _: Viewer, model: str | None = None, environment: str | None = None
) -> list[ReleaseOut]:
    return [_out(r) for r in client.releases.list(model=model, environment=environment)]


@router.get("/releases/{release_id}", summary="One release: phase, step, measurements")
def get_release(release_id: int, client: ClientDep, _: Viewer) -> ReleaseOut:
    return _out(client.releases.get(release_id))


@router.post("/releases/{release_id}/pause", summary="Hold a release where it is")
def pause(release_id: int, body: ReleaseActionIn, client: ClientDep, actor: Operator) -> ReleaseOut:
    return _out(client.releases.pause(release_id, actor=actor.name, reason=body.reason))


@router.post("/releases/{release_id}/resume", summary="Continue a paused release")
def resume(
    release_id: int, body: ReleaseActionIn, client: ClientDep, actor: Operator
) -> ReleaseOut:
    return _out(client.releases.resume(release_id, actor=actor.name, reason=body.reason))


@router.post("/releases/{release_id}/promote", summary="Skip the remaining steps")
def promote(
    release_id: int, body: ReleaseActionIn, client: ClientDep, actor: Operator
) -> ReleaseOut:
    return _out(client.releases.promote(release_id, actor=actor.name, reason=body.reason))


@router.post("/releases/{release_id}/abort", summary="All traffic back on the stable version")
def abort(release_id: int, body: ReleaseActionIn, client: ClientDep, actor: Operator) -> ReleaseOut:
    return _out(client.releases.abort(release_id, actor=actor.name, reason=body.reason))


def _out(release: ReleaseInfo) -> ReleaseOut:
    return ReleaseOut.model_validate(release.to_dict())
