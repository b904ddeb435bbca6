"""Routes about monitoring: the newest drift and live-metric report of a model."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlrelease.api.errors import ERROR_RESPONSES
from mlrelease.api.schemas import MonitorReportOut
from mlrelease.api.security import ClientDep, GuardedRoute, Viewer
from mlrelease.errors import NotFoundError
from mlrelease.monitoring.reports import latest_report

__all__ = ["router"]

router = APIRouter(tags=["monitoring"], route_class=GuardedRoute, responses=ERROR_RESPONSES)


@router.get("/models/{model}/monitor", summary="The newest monitor report of an environment")
def newest_report(
    model: str,
    client: ClientDep,
    _: Viewer,
    env: Annotated[str, Query(description="Environment (default production).")] = "production",
) -> MonitorReportOut:
    report = latest_report(client.store, model, env)
    if report is None:
        raise NotFoundError(
            f"{model} has no monitor report in {env} yet; run `mlrelease monitor {model} "
            f"--env {env}`, or `mlrelease controller` with a monitoring: section"
        )
    return MonitorReportOut.model_validate(report)
