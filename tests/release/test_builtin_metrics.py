"""The builtin provider against a real store (SQLite and PostgreSQL).

Rows go in through the serving path's own writers -- ``PredictionLog`` for served
rows, ``record_feedback`` for labels -- so they have exactly the shape serving gives
them; the expected figures are computed here with numpy (and scikit-learn for F1).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import f1_score
from sqlalchemy import event, insert

from mlrelease.release.analysis import Verdict, measure
from mlrelease.release.checks import parse_check
from mlrelease.release.metrics import Reading, Subject, make_provider
from mlrelease.release.metrics.builtin import BuiltinProvider
from mlrelease.serving.feedback import Label, record_feedback
from mlrelease.serving.predlog import PredictionLog, ServedRequest
from mlrelease.store import Store, tables

MODEL = "churn"
ENV = "production"
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(minutes=10)
CANARY = Subject(model=MODEL, environment=ENV, stable=1, candidate=2, role="canary")
SHADOW = Subject(model=MODEL, environment=ENV, stable=1, candidate=2, role="shadow")


@dataclass(frozen=True)
class Served:
    """One request as serving logs it: one record per row, one latency and status."""

    request_id: str
    version: int
    role: str
    predictions: Sequence[Any]
    latency_ms: float = 10.0
    status: int = 200
    at: datetime = START + timedelta(minutes=1)
    model: str = MODEL
    environment: str = ENV

    def logged(self) -> ServedRequest:
        return ServedRequest(
            self.request_id,
            self.at.timestamp(),
            self.model,
            self.environment,
            self.version,
            self.role,
            self.status,
            self.latency_ms,
            inputs=[[float(row), 1.0] for row in range(len(self.predictions))],
            labels=list(self.predictions),
            proba=[[0.5, 0.5]] * len(self.predictions),
        )


def log(store: Store, requests: Sequence[Served]) -> None:
    predlog = PredictionLog(store, flush_interval=0.01)
    predlog.start()
    try:
        assert all(predlog.append(served.logged()) for served in requests)
        assert predlog.flush(timeout=30)
        assert predlog.written == sum(len(served.predictions) for served in requests)
    finally:
        predlog.close()


def label(store: Store, labels: Sequence[tuple[str, int, Any]]) -> None:
    found = [Label(request_id, row, value) for request_id, row, value in labels]
    assert record_feedback(store, found, actor="tester") == len(labels)


def add_model(store: Store, task: str) -> None:
    with store.write() as connection:
        connection.execute(
            insert(tables.models).values(
                name=MODEL, task=task, description="", created_at=datetime.now(UTC)
            )
        )


@pytest.fixture
def statements(store: Store) -> Iterator[list[str]]:
    """Every query (SELECT) the store runs while the test does."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        if str(args[2]).lstrip().upper().startswith("SELECT"):
            seen.append(str(args[2]))

    event.listen(store.engine, "before_cursor_execute", record)
    yield seen
    event.remove(store.engine, "before_cursor_execute", record)


def collect(store: Store, subject: Subject, *metrics: str, side: str = "candidate") -> Any:
    readings = [Reading(metric, side) for metric in metrics]  # type: ignore[arg-type]
    found = BuiltinProvider(store).collect(readings, subject, start=START, end=END)
    return {reading.metric: found[reading] for reading in readings}


def test_request_metrics_count_requests_in_the_window_not_rows(
    store: Store, statements: list[str]
) -> None:
    rng = np.random.default_rng(0)
    latency = rng.uniform(5, 200, 40)
    status = [503 if index % 8 == 0 else 200 for index in range(40)]
    canary = [
        Served(f"c{i}", 2, "canary", [1] * (1 + i % 3), latency[i], status[i]) for i in range(40)
    ]
    noise = [
        Served("s0", 1, "stable", [0], latency_ms=5000.0),  # stable, not the candidate
        Served("x0", 2, "shadow", [0], latency_ms=5000.0),  # the candidate in another role
        Served("x1", 2, "canary", [0], 5000.0, 500, at=START - timedelta(microseconds=1)),
        Served("x2", 2, "canary", [0], 5000.0, 500, at=END),  # the window ends before END
        Served("x3", 2, "canary", [0], 5000.0, 500, model="other"),
        Served("x4", 2, "canary", [0], 5000.0, 500, environment="staging"),
        Served("x5", 2, "canary", [0], 5000.0, 422),  # a 4xx is the client's error
        Served("x6", 2, "canary", [0], 10.0, 500, at=START),  # the window starts at START
    ]
    log(store, canary + noise)
    statements.clear()
    found = collect(
        store, CANARY, "requests", "error_rate", "latency_mean", "latency_p50", "latency_p99"
    )
    assert len(statements) == 1
    logged = np.concatenate([latency, [5000.0, 10.0]]) / 1000.0
    assert found["requests"].value == found["requests"].samples == 42
    assert found["error_rate"].value == pytest.approx((5 + 1) / 42)
    assert found["latency_mean"].value == pytest.approx(logged.mean())
    assert found["latency_p50"].value == pytest.approx(np.quantile(logged, 0.5))
    assert found["latency_p99"].value == pytest.approx(np.quantile(logged, 0.99))
    assert found["latency_mean"].samples == 42
    replicates = found["latency_mean"].replicates(np.random.default_rng(1), 500)
    assert replicates.shape == (500,)
    assert abs(replicates.mean() - logged.mean()) < 3 * logged.std() / np.sqrt(42)


def test_stable_is_its_version_in_the_stable_role(store: Store) -> None:
    log(
        store,
        [Served(f"s{i}", 1, "stable", [0], latency_ms=20.0) for i in range(25)]
        + [Served("c0", 2, "canary", [0], latency_ms=999.0)]
        + [Served("o0", 1, "canary", [0], latency_ms=999.0)],
    )
    found = collect(store, CANARY, "requests", "latency_p95", side="stable")
    assert found["requests"].value == 25
    assert found["latency_p95"].value == pytest.approx(0.02)


def test_classification_metrics_join_labels_by_request_and_row(store: Store) -> None:
    predicted = [[1, 0], [1], [2], [0, 0, 1], [1], ["2"], [True]]
    served = [Served(f"r{i}", 2, "canary", rows) for i, rows in enumerate(predicted)]
    log(store, [*served, Served("s0", 1, "stable", [1])])
    labels = [
        ("r0", 0, 1),
        ("r0", 1, 1),
        ("r1", 0, 1.0),  # 1.0 and 1 are one class
        ("r2", 0, 0),
        ("r3", 0, 0),
        ("r3", 2, 2),  # row 1 of r3 has no label
        ("r4", 0, "1"),  # "1" and 1 are one class
        ("r5", 0, 2),
        ("s0", 0, 0),  # stable's row does not count for the candidate
    ]
    label(store, labels)
    found = collect(store, CANARY, "accuracy", "macro_f1")
    truth = ["1", "1", "1", "0", "0", "2", "1", "2"]
    guess = ["1", "0", "1", "2", "0", "1", "1", "2"]
    assert found["accuracy"].value == pytest.approx(5 / 8)
    assert found["accuracy"].samples == 8
    assert found["macro_f1"].value == pytest.approx(f1_score(truth, guess, average="macro"))
    assert found["macro_f1"].samples == 8
    assert len(found["macro_f1"].replicates(np.random.default_rng(0), 50)) == 50


def test_regression_metrics_use_numeric_labels_and_predictions(store: Store) -> None:
    predicted = [[1.5], [2.0, 3.0], [10.0], ["n/a"], [4.0]]
    log(store, [Served(f"r{i}", 2, "canary", rows) for i, rows in enumerate(predicted)])
    label(store, [("r0", 0, 1.0), ("r1", 0, 2), ("r1", 1, 5.5), ("r2", 0, 7.0), ("r3", 0, 1.0)])
    label(store, [("r4", 0, "unknown")])
    found = collect(store, CANARY, "rmse", "mae")
    residuals = np.array([1.0 - 1.5, 2.0 - 2.0, 5.5 - 3.0, 7.0 - 10.0])
    assert found["rmse"].value == pytest.approx(np.sqrt(np.mean(residuals**2)))
    assert found["mae"].value == pytest.approx(np.mean(np.abs(residuals)))
    assert found["mae"].samples == 4


def test_shadow_divergence_pairs_rows_of_the_same_request(
    store: Store, statements: list[str]
) -> None:
    add_model(store, "classification")
    stable = [Served(f"r{i}", 1, "stable", [i % 2, 1]) for i in range(10)]
    shadow = [Served(f"r{i}", 2, "shadow", [0, 1]) for i in range(8)]  # r8, r9 not mirrored
    log(store, [*stable, *shadow, Served("lonely", 2, "shadow", [1])])
    statements.clear()
    found = collect(store, SHADOW, "divergence", "requests")
    assert len(statements) == 2  # the window, and the model's task
    # Row 0 differs on the 4 odd requests among r0..r7; row 1 always agrees.
    assert found["divergence"].value == pytest.approx(4 / 16)
    assert found["divergence"].samples == 16
    assert found["requests"].value == 9


def test_shadow_divergence_of_a_regressor_is_the_mean_absolute_difference(store: Store) -> None:
    add_model(store, "regression")
    log(
        store,
        [Served(f"r{i}", 1, "stable", [float(i)]) for i in range(4)]
        + [Served(f"r{i}", 2, "shadow", [float(i) + (0.5 if i % 2 else -1.5)]) for i in range(4)],
    )
    found = collect(store, SHADOW, "divergence")
    assert found["divergence"].value == pytest.approx(1.0)
    assert found["divergence"].samples == 4


def test_canary_divergence_is_a_distance_between_prediction_distributions(store: Store) -> None:
    add_model(store, "classification")
    # candidate: 60% "a", 40% "b"; stable: 30% "a", 50% "b", 20% "c".
    canary = [Served(f"c{i}", 2, "canary", ["a"] * 6 + ["b"] * 4) for i in range(2)]
    stable = [Served(f"s{i}", 1, "stable", ["a"] * 3 + ["b"] * 5 + ["c"] * 2) for i in range(3)]
    log(store, canary + stable)
    found = collect(store, CANARY, "divergence")
    assert found["divergence"].value == pytest.approx(0.5 * (0.3 + 0.1 + 0.2))
    assert found["divergence"].samples == 20


def test_canary_divergence_of_a_regressor_is_the_kolmogorov_smirnov_distance(
    store: Store,
) -> None:
    add_model(store, "regression")
    log(
        store,
        [
            Served("c", 2, "canary", [1.0, 2.0, 3.0, 4.0]),
            Served("s", 1, "stable", [3.0, 4.0, 5, 6]),
        ],
    )
    found = collect(store, CANARY, "divergence")
    assert found["divergence"].value == pytest.approx(0.5)


def test_an_empty_window_answers_missing_figures_with_reasons(store: Store) -> None:
    found = collect(store, CANARY, "requests", "latency_p95", "error_rate", "accuracy", "rmse")
    assert found["requests"].value == 0
    for name in ("latency_p95", "error_rate", "accuracy", "rmse"):
        assert np.isnan(found[name].value) and found[name].samples == 0
    assert found["accuracy"].note == "no labelled rows in the window"
    divergence = collect(store, CANARY, "divergence")["divergence"]
    assert "not in the registry" in divergence.note


def test_a_canary_measured_end_to_end_from_the_log(store: Store) -> None:
    add_model(store, "classification")
    rng = np.random.default_rng(3)
    stable = [
        Served(f"s{i}", 1, "stable", [int(rng.random() < 0.5)], rng.uniform(10, 30))
        for i in range(200)
    ]
    slow = [
        Served(f"c{i}", 2, "canary", [int(rng.random() < 0.5)], rng.uniform(200, 400))
        for i in range(100)
    ]
    log(store, stable + slow)
    label(store, [(s.request_id, 0, s.predictions[0]) for s in stable + slow])
    checks = [
        parse_check("latency_p95 <= stable.latency_p95 * 2"),
        parse_check("accuracy >= stable.accuracy - 0.05"),
        parse_check("error_rate <= 0.01"),
        parse_check("divergence <= 0.5"),
    ]
    provider = make_provider("builtin", store)
    result = measure(checks, provider, CANARY, start=START, end=END)
    verdicts = [check.verdict for check in result.checks]
    assert verdicts == [Verdict.FAILED, Verdict.SUCCESSFUL, Verdict.SUCCESSFUL, Verdict.SUCCESSFUL]
    assert result.verdict is Verdict.FAILED
    assert result.checks[0].samples == {"candidate": 100, "stable": 200}
