"""The overview: every model, what is live where, releases in progress, what waits."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from mlrelease.client import Client
from mlrelease.monitoring.reports import latest_report
from mlrelease.promotion import PromotionInfo
from mlrelease.registry.records import ModelInfo
from mlrelease.release.phases import Phase
from mlrelease.release.records import ReleaseInfo
from mlrelease.spec import default_environments, order_environments
from mlrelease.ui.routing import Pages, View

__all__ = ["ACTIVE_PHASES", "environment_order", "pages"]

pages = Pages()

ACTIVE_PHASES = (Phase.PENDING, Phase.PROGRESSING, Phase.PAUSED, Phase.PROMOTING)


@dataclass(frozen=True)
class ModelRow:
    model: ModelInfo
    releases: list[ReleaseInfo]
    waiting: list[PromotionInfo]
    drift: dict[str, object] | None  # the newest monitoring report of the watched environment


@pages.get("/")
def overview(view: View) -> Response:
    client = view.client
    releases = client.releases.list(phases=ACTIVE_PHASES, limit=500)
    waiting = client.promotion_requests()
    rows = [
        ModelRow(
            model=model,
            releases=[r for r in releases if r.model == model.name],
            waiting=[p for p in waiting if p.model == model.name],
            drift=_newest_report(client, model),
        )
        for model in client.models()
    ]
    return view.render(
        "overview.html",
        rows=rows,
        environments=environment_order(client, rows[0].model.aliases if rows else {}),
        waiting=waiting,
        live=5 if releases else None,
    )


def environment_order(client: Client, aliases: dict[str, int] | None = None) -> list[str]:
    """The project's environments in promotion order, then any other alias seen."""
    spec = client.project.spec if client.project else None
    ordered = spec.environment_order if spec else order_environments(default_environments())
    extra = sorted(set(aliases or {}) - set(ordered))
    return [*ordered, *extra]


def _newest_report(client: Client, model: ModelInfo) -> dict[str, object] | None:
    spec = client.project.spec if client.project else None
    environment = spec.monitored_environment if spec and spec.model == model.name else "production"
    return latest_report(client.store, model.name, environment)
