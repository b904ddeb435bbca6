"""The loop in one process: drift and a falling accuracy retrain through the gates, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlrelease.audit import EventKind
from mlrelease.client import Client
from mlrelease.promotion.records import PromotionStatus

from ._loop import MODEL, breast_cancer, go_live, log_served, make_project

LOOP_KINDS = (
    EventKind.DRIFT_DETECTED,
    EventKind.METRIC_DEGRADED,
    EventKind.RETRAIN_STARTED,
    EventKind.RETRAIN_FINISHED,
    EventKind.RETRAIN_FAILED,
)


def _kinds(client: Client) -> list[str]:
    return [event.kind for event in client.events(MODEL) if event.kind in LOOP_KINDS]


@pytest.fixture
def live(isolated_env: Path) -> Path:
    project = make_project(isolated_env)
    with Client.from_project(project) as client:
        go_live(client)
    return project


def test_traffic_like_the_training_data_triggers_nothing(live: Path) -> None:
    with Client.from_project(live) as client:
        log_served(client, breast_cancer(drifted=False, flip_labels=False, rows=300))
        result = client.watcher().tick()
        assert result.report is not None and result.report.judged
        assert not result.report.drifted, result.report.drifted_features
        (accuracy,) = result.report.metrics
        assert accuracy.judged and not accuracy.breached and accuracy.labels == 300
        assert result.fired == [] and result.retrained is None
        assert _kinds(client) == []


def test_drift_and_a_falling_accuracy_retrain_once_and_promote_to_staging(live: Path) -> None:
    with Client.from_project(live) as client:
        log_served(client, breast_cancer(drifted=True, flip_labels=True, rows=300))
        watcher = client.watcher()
        first = watcher.tick()
        assert first.report is not None and first.report.drifted
        drifted = {result.feature for result in first.report.drifted_features}
        assert {"mean radius", "worst radius"} <= drifted
        assert sorted(first.fired) == ["accuracy", "drift"]

        retrained = first.retrained
        assert retrained is not None and retrained.succeeded, retrained
        assert retrained.version == 2 and retrained.rows_added == 300
        aliases = client.registry.model(MODEL).aliases
        assert aliases["staging"] == 2 and aliases["production"] == 1
        waiting = [p for p in retrained.promotions if p.environment == "production"]
        assert waiting and waiting[0].status is PromotionStatus.PENDING
        lineage = client.registry.version(MODEL, 2).lineage["retrain"]
        assert lineage["rows_added"] == 300 and "drift" in lineage["reason"]

        second = watcher.tick(datetime.now(UTC) + timedelta(seconds=1))
        assert second.fired == [] and second.retrained is None  # one breach fires once
        assert _kinds(client) == [
            EventKind.DRIFT_DETECTED,
            EventKind.METRIC_DEGRADED,
            EventKind.RETRAIN_STARTED,
            EventKind.RETRAIN_FINISHED,
        ]


def test_a_refused_retrain_leaves_everything_as_it_was(live: Path) -> None:
    text = live.read_text().replace("accuracy >= 0.8\n", "accuracy >= 0.9999\n")
    live.write_text(text)
    with Client.from_project(live) as client:
        log_served(client, breast_cancer(drifted=True, flip_labels=True, rows=300))
        result = client.watcher().tick()
        assert result.retrained is not None and not result.retrained.succeeded
        assert "accuracy >= 0.9999" in result.retrained.error
        assert [v.version for v in client.versions(MODEL)] == [1]
        assert client.registry.model(MODEL).aliases == {"dev": 1, "staging": 1, "production": 1}
        assert _kinds(client)[-1] == EventKind.RETRAIN_FAILED


def test_too_few_rows_are_not_judged(live: Path) -> None:
    with Client.from_project(live) as client:
        log_served(client, breast_cancer(drifted=True, flip_labels=True, rows=40))
        result = client.watcher().tick()
        assert result.report is not None and not result.report.judged
        assert "fewer than min_rows=100" in result.report.notes[0]
        assert result.report.metrics[0].judged is False  # 40 labels, 50 needed
        assert result.fired == []


def test_new_labels_retrain_after_enough_arrived(isolated_env: Path) -> None:
    project = make_project(isolated_env)
    text = project.read_text().replace("on: [drift, accuracy]", "on: [{new_labels: 200}]")
    project.write_text(text)
    with Client.from_project(project) as client:
        go_live(client)
        watcher = client.watcher()
        assert watcher.tick().fired == []  # first seen: counting starts now
        log_served(client, breast_cancer(drifted=False, flip_labels=False, rows=150))
        assert watcher.tick().fired == []
        log_served(client, breast_cancer(drifted=False, flip_labels=False, rows=60, seed=1))
        result = watcher.tick()
        assert result.fired == ["new_labels"]
        assert result.retrained is not None and result.retrained.version == 2
        assert watcher.tick().fired == []  # the count starts again after a retrain


def test_monitor_checks_are_spaced_by_the_interval(live: Path) -> None:
    live.write_text(live.read_text().replace("interval: 0s", "interval: 1h"))
    with Client.from_project(live) as client:
        log_served(client, breast_cancer(drifted=False, flip_labels=False, rows=150))
        watcher = client.watcher()
        assert watcher.tick().report is not None
        assert watcher.tick().report is None
        later = datetime.now(UTC) + timedelta(hours=1, seconds=1)
        assert watcher.tick(later).report is not None
