"""Reading stored monitor reports (light: the serving process imports it for /metrics)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from mlrelease.store import Store, tables

__all__ = ["cached_latest_report", "latest_report", "recent_reports"]

_R = tables.monitor_reports.c


def latest_report(store: Store, model: str, environment: str) -> dict[str, Any] | None:
    """The newest stored report of a model in an environment, as its JSON document."""
    query = (
        select(_R.id, _R.report)
        .where(_R.model == model, _R.environment == environment)
        .order_by(_R.id.desc())
        .limit(1)
    )
    with store.read() as connection:
        found = connection.execute(query).first()
    if found is None:
        return None
    return {**found.report, "id": found.id}


def recent_reports(
    store: Store, model: str, environment: str, *, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest ``limit`` stored reports of a model in an environment, newest first."""
    query = (
        select(_R.id, _R.report)
        .where(_R.model == model, _R.environment == environment)
        .order_by(_R.id.desc())
        .limit(limit)
    )
    with store.read() as connection:
        found = connection.execute(query).all()
    return [{**row.report, "id": row.id} for row in found]


def cached_latest_report(
    store: Store, model: str, environment: str, *, max_age: float = 10.0
) -> Callable[[], dict[str, Any] | None]:
    """``latest_report`` read at most once per ``max_age`` seconds (for /metrics scrapes)."""
    lock = threading.Lock()
    cached: dict[str, Any] = {"at": -max_age, "report": None}

    def read() -> dict[str, Any] | None:
        with lock:
            if time.monotonic() - cached["at"] >= max_age:
                cached["report"] = latest_report(store, model, environment)
                cached["at"] = time.monotonic()
            report: dict[str, Any] | None = cached["report"]
            return report

    return read
