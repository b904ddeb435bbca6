"""The monitoring loop one controller tick runs: ingest, check, judge triggers, retrain.

Each tick takes what the stream sources have; when ``monitoring.interval`` has
passed since the last stored report, it checks the monitored environment and
judges the conditions (drift, each live metric) and the retrain triggers
(schedule, new labels). A condition that fires is an event that notifies
(``drift.detected``, ``metric.degraded``); if the project retrains on it, the
retrain runs in the same tick. All state is in the store: a restarted controller
carries on where the last one stopped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from mlrelease.audit import Announcer, EventKind, record_event
from mlrelease.data.streams import StreamSource
from mlrelease.monitoring.ingest import ingest, open_sources
from mlrelease.monitoring.monitor import Monitor, MonitorReport
from mlrelease.monitoring.retrain import RetrainResult, retrain
from mlrelease.monitoring.triggers import (
    TriggerState,
    count_new_labels,
    judge,
    new_labels_due,
    read_state,
    schedule_due,
    write_state,
)
from mlrelease.promotion.service import Promotions
from mlrelease.registry.service import Registry
from mlrelease.spec import LoadedSpec, NewLabelsTrigger, ScheduleTrigger
from mlrelease.store import tables

__all__ = ["Watcher", "WatchResult"]

_log = logging.getLogger(__name__)
_R = tables.monitor_reports.c


@dataclass(frozen=True)
class WatchResult:
    ingested: int = 0
    report: MonitorReport | None = None
    fired: list[str] = field(default_factory=list)  # conditions and triggers that fired now
    retrained: RetrainResult | None = None


class Watcher:
    """Monitoring and retraining for one project's model."""

    def __init__(
        self,
        project: LoadedSpec,
        registry: Registry,
        promotions: Promotions,
        *,
        actor: str = "controller",
        announcer: Announcer | None = None,
    ) -> None:
        self.project = project
        self.spec = project.spec
        self.registry = registry
        self.promotions = promotions
        self.actor = actor
        self.announcer = announcer
        self.environment = self.spec.monitored_environment
        self._sources: list[StreamSource] | None = None

    @property
    def active(self) -> bool:
        """Whether the project asks for anything: monitoring, triggers or sources."""
        retrain = self.spec.retrain
        return self.spec.monitoring is not None or bool(retrain.on or retrain.sources)

    def tick(self, now: datetime | None = None) -> WatchResult:
        now = now or datetime.now(UTC)
        ingested = self._ingest()
        report = self._check_if_due(now)
        fired = self._judge_conditions(report, now) if report is not None else []
        fired += self._judge_triggers(now)
        wanted = [name for name in fired if name in self._retrain_names()]
        retrained = self.retrain(", ".join(wanted), now=now) if wanted else None
        return WatchResult(ingested, report, fired, retrained)

    def retrain(self, reason: str, *, now: datetime | None = None) -> RetrainResult:
        """Retrain now (``mlrelease retrain``, or a trigger), and restart the label count."""
        now = now or datetime.now(UTC)
        with self.registry.store.read() as connection:
            evidence = {
                state.name: state.evidence
                for state in (
                    read_state(connection, self.spec.model, self.environment, name)
                    for name in self._retrain_names()
                )
                if state.evidence
            }
        result = retrain(
            self.project,
            self.registry,
            self.promotions,
            actor=self.actor,
            reason=reason,
            evidence=evidence,
            announcer=self.announcer,
        )
        restarted = TriggerState("new_labels", since=now)  # count labels from this retrain on
        with self.registry.store.write() as connection:
            write_state(connection, self.spec.model, self.environment, restarted, now)
        return result

    def close(self) -> None:
        for source in self._sources or []:
            source.close()

    # -- the parts of a tick ----------------------------------------------------------

    def _ingest(self) -> int:
        specs = self.spec.retrain.sources
        if not specs:
            return 0
        if self._sources is None:
            self._sources = open_sources(specs, self.project.project_dir)
        return sum(ingest(self.registry.store, self.spec.model, source) for source in self._sources)

    def _check_if_due(self, now: datetime) -> MonitorReport | None:
        monitoring = self.spec.monitoring
        if (
            monitoring is None
            or self.registry.alias_version(self.spec.model, self.environment) is None
        ):
            return None
        with self.registry.store.read() as connection:
            last = connection.execute(
                select(_R.created_at)
                .where(_R.model == self.spec.model, _R.environment == self.environment)
                .order_by(_R.id.desc())
                .limit(1)
            ).scalar_one_or_none()
        if last is not None and now - last < timedelta(seconds=monitoring.interval):
            return None
        monitor = Monitor(self.registry, self.spec.model, self.spec.task, monitoring)
        return monitor.check(self.environment)

    def _judge_conditions(self, report: MonitorReport, now: datetime) -> list[str]:
        monitoring = self.spec.monitoring
        assert monitoring is not None
        conditions: list[tuple[str, bool | None, float, dict[str, Any]]] = [
            (
                "drift",
                report.drifted if report.judged else None,
                monitoring.drift.for_,
                _drift_evidence(report),
            ),
        ]
        for metric in report.metrics:
            bound = monitoring.live_metrics()[metric.name]
            conditions.append(
                (
                    metric.name,
                    metric.breached if metric.judged else None,
                    bound.for_,
                    {**metric.to_dict(), "report": report.id},
                )
            )
        fired = []
        with self.registry.store.write() as connection:
            for name, holds, hold_for, evidence in conditions:
                previous = read_state(connection, self.spec.model, self.environment, name)
                state, now_fired = judge(
                    previous, holds=holds, hold_for=hold_for, now=now, evidence=evidence
                )
                write_state(connection, self.spec.model, self.environment, state, now)
                if now_fired:
                    fired.append(name)
                    self._announce_condition(connection, name, report, evidence)
        return fired

    def _announce_condition(
        self, connection: Any, name: str, report: MonitorReport, evidence: dict[str, Any]
    ) -> None:
        if name == "drift":
            drifted = ", ".join(result.feature for result in report.drifted_features)
            kind, reason = EventKind.DRIFT_DETECTED, f"features drifted: {drifted}"
        else:
            kind = EventKind.METRIC_DEGRADED
            reason = _metric_reason(evidence)
        event = record_event(
            connection,
            kind=kind,
            model=self.spec.model,
            actor=self.actor,
            environment=self.environment,
            to_version=report.version,
            reason=reason,
            payload=evidence,
        )
        if self.announcer is not None:
            self.announcer.announce(connection, event)

    def _judge_triggers(self, now: datetime) -> list[str]:
        fired = []
        model, environment = self.spec.model, self.environment
        with self.registry.store.write() as connection:
            for item in self.spec.retrain.on:
                if isinstance(item, ScheduleTrigger):
                    previous = read_state(connection, model, environment, "schedule")
                    state, now_fired = schedule_due(previous, item.schedule, now)
                elif isinstance(item, NewLabelsTrigger):
                    previous = read_state(connection, model, environment, "new_labels")
                    gathered = count_new_labels(connection, model, previous.since or now)
                    state, now_fired = new_labels_due(previous, gathered, item.new_labels, now)
                else:
                    continue
                write_state(connection, model, environment, state, now)
                if now_fired:
                    fired.append(state.name)
        return fired

    def _retrain_names(self) -> set[str]:
        names = set()
        for item in self.spec.retrain.on:
            if isinstance(item, ScheduleTrigger):
                names.add("schedule")
            elif isinstance(item, NewLabelsTrigger):
                names.add("new_labels")
            else:
                names.add(item)
        return names


def _drift_evidence(report: MonitorReport) -> dict[str, Any]:
    return {
        "report": report.id,
        "version": report.version,
        "rows": report.rows,
        "drift_share": report.drift_share,
        "share_threshold": report.share_threshold,
        "drifted": [
            {"feature": r.feature, "method": r.method, "score": r.score, "threshold": r.threshold}
            for r in report.drifted_features
        ],
    }


def _metric_reason(evidence: dict[str, Any]) -> str:
    bound = f">= {evidence['min']}" if evidence.get("min") is not None else f"<= {evidence['max']}"
    return (
        f"live {evidence['name']} = {evidence['value']:.4f} over {evidence['labels']} labels, "
        f"wanted {bound}"
    )
