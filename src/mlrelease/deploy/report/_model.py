"""What a report says, read from the registry: the ``Report`` record and ``build_report``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from mlrelease.errors import ConfigError
from mlrelease.evaluation import Scored, Task, compute_metrics, known_metrics, metric_def
from mlrelease.names import validate_name
from mlrelease.pipeline.evaluate import EvaluationSet, load_evaluation_set, score_model
from mlrelease.registry.records import VersionInfo
from mlrelease.registry.service import Registry

__all__ = [
    "DataSummary",
    "GateRow",
    "HistoryPoint",
    "MetricRow",
    "Plot",
    "Report",
    "build_report",
]


@dataclass(frozen=True)
class MetricRow:
    """One metric of the version, beside the champion's value of it when there is one."""

    name: str
    value: float | None
    champion: float | None
    higher_is_better: bool | None  # None: a metric the catalogue does not know

    @property
    def delta(self) -> float | None:
        if self.value is None or self.champion is None:
            return None
        return self.value - self.champion

    @property
    def verdict(self) -> str | None:
        """``better``, ``worse`` or ``same`` than the champion; None when it cannot be said."""
        delta = self.delta
        if delta is None or self.higher_is_better is None:
            return None
        if delta == 0:
            return "same"
        return "better" if (delta > 0) == self.higher_is_better else "worse"


@dataclass(frozen=True)
class GateRow:
    """A gate as judged when the version was registered."""

    gate: str
    passed: bool
    value: float | None
    threshold: float | None
    note: str


@dataclass(frozen=True)
class DataSummary:
    rows: int | None
    features: int | None
    fingerprint: str | None
    source: str | None
    git_commit: str | None
    git_dirty: bool | None
    run_id: str | None


@dataclass(frozen=True)
class HistoryPoint:
    version: int
    metrics: Mapping[str, float | None]


@dataclass(frozen=True)
class Plot:
    """A figure the report shows; its file is ``STEM-SLUG.png`` beside the report."""

    slug: str
    title: str


@dataclass(frozen=True)
class Report:
    """Everything a report shows, with no knowledge of how it is rendered."""

    model: str
    version: int
    task: Task
    against: str
    champion: int | None  # the version live in ``against``; None when nothing is
    metrics: tuple[MetricRow, ...]
    gates: tuple[GateRow, ...]
    data: DataSummary
    history: tuple[HistoryPoint, ...]
    plots: tuple[Plot, ...]
    notes: tuple[str, ...]
    artifact_sha256: str
    # The version's predictions on its evaluation set; None when it has none.
    scored: Scored | None = None

    @property
    def passed(self) -> bool:
        return all(gate.passed for gate in self.gates)

    @property
    def failed_gates(self) -> int:
        return sum(1 for gate in self.gates if not gate.passed)


def build_report(
    registry: Registry, model: str, version: int, against: str = "production"
) -> Report:
    """Read ``model`` v``version`` and the champion live in ``against`` into a Report.

    The version is scored afresh (its artifact sha256-verified by the registry) on its
    stored evaluation set for the plots, and the champion on the same rows for the
    deltas. Raises the registry's NotFoundError for an unknown model or version.
    """
    validate_name(against, what="environment name")
    info = registry.version(model, version)
    model_info = registry.model(model)
    task = _task(model_info.task)
    champion = model_info.aliases.get(against)
    notes: list[str] = []
    data = _evaluation_set(registry, info, notes)
    scored = None if data is None else score_model(registry.load_model(info), data, task)
    # Every recorded number, and those recorded as undefined (None, shown as a dash).
    names = [
        name for name, value in info.metrics.items() if value is None or _number(value) is not None
    ]
    champion_metrics = _champion_metrics(registry, info, task, against, champion, data, names)
    notes.extend(champion_metrics.notes)
    return Report(
        model=model,
        version=version,
        task=task,
        against=against,
        champion=champion,
        metrics=tuple(
            MetricRow(
                name=name,
                value=_number(info.metrics[name]),
                champion=champion_metrics.values.get(name),
                higher_is_better=_direction(name, task),
            )
            for name in names
        ),
        gates=tuple(_gate_row(item) for item in info.gate_results if isinstance(item, Mapping)),
        data=_data_summary(info, data),
        history=tuple(
            HistoryPoint(item.version, {name: _number(item.metrics.get(name)) for name in names})
            for item in registry.versions(model)
        ),
        plots=_plots(task, scored, notes, history=bool(names)),
        notes=tuple(notes),
        artifact_sha256=info.artifact_sha256,
        scored=scored,
    )


def _task(task: str) -> Task:
    if task not in ("classification", "regression"):
        raise ConfigError(f"cannot report on a {task!r} model: not a known task")
    return cast(Task, task)


def _evaluation_set(
    registry: Registry, info: VersionInfo, notes: list[str]
) -> EvaluationSet | None:
    if not info.evaluation.get("uri"):
        notes.append(
            f"v{info.version} was registered without an evaluation set: the plots of its "
            "predictions are left out (register it with eval_data to have them)"
        )
        return None
    return load_evaluation_set(registry.artifacts, info.evaluation)


@dataclass(frozen=True)
class _ChampionMetrics:
    values: dict[str, float | None]
    notes: list[str]


def _champion_metrics(
    registry: Registry,
    info: VersionInfo,
    task: Task,
    against: str,
    champion: int | None,
    data: EvaluationSet | None,
    names: Sequence[str],
) -> _ChampionMetrics:
    if champion is None:  # the renderers say so where the deltas would be
        return _ChampionMetrics({}, [])
    if champion == info.version:
        values = {name: _number(info.metrics.get(name)) for name in names}
        return _ChampionMetrics(values, [f"v{champion} is itself live in {against}"])
    champion_info = registry.version(info.model, champion)
    recorded = {name: _number(champion_info.metrics.get(name)) for name in names}
    if data is None:
        return _ChampionMetrics(
            recorded,
            [
                f"the {against} champion's metrics are those recorded when v{champion} was "
                "registered, on its own test rows"
            ],
        )
    known = [name for name in names if name in known_metrics(task)]
    try:
        scored = score_model(registry.load_model(champion_info), data, task)
    except (KeyError, ValueError, TypeError) as exc:
        return _ChampionMetrics(
            recorded,
            [
                f"the {against} champion v{champion} cannot score this version's evaluation "
                f"rows ({exc}); its metrics are those recorded at its registration"
            ],
        )
    fresh = {name: _number(value) for name, value in compute_metrics(known, task, scored).items()}
    return _ChampionMetrics(
        {**recorded, **fresh},
        [f"the {against} champion v{champion} was scored on this version's evaluation rows"],
    )


def _direction(name: str, task: Task) -> bool | None:
    try:
        return metric_def(name, task).higher_is_better
    except ConfigError:
        return None


def _gate_row(item: Mapping[str, Any]) -> GateRow:
    return GateRow(
        gate=str(item.get("gate", "")),
        passed=item.get("passed") is True,
        value=_number(item.get("value")),
        threshold=_number(item.get("threshold")),
        note=str(item.get("note") or ""),
    )


def _data_summary(info: VersionInfo, data: EvaluationSet | None) -> DataSummary:
    lineage = info.lineage
    recorded = lineage.get("git")
    git: Mapping[str, Any] = recorded if isinstance(recorded, Mapping) else {}
    rows = info.evaluation.get("rows")
    dirty = git.get("dirty")
    return DataSummary(
        rows=len(data.X) if data is not None else rows if isinstance(rows, int) else None,
        features=len(info.feature_names) if info.signature.get("inputs") else None,
        fingerprint=_text(lineage.get("data_fingerprint")),
        source=_text(lineage.get("data_source")),
        git_commit=_text(git.get("commit")),
        git_dirty=dirty if isinstance(dirty, bool) else None,
        run_id=_text(info.run_id or lineage.get("run_id")),
    )


def _plots(
    task: Task, scored: Scored | None, notes: list[str], *, history: bool
) -> tuple[Plot, ...]:
    plots: list[Plot] = []
    if scored is not None and task == "classification":
        plots.append(Plot("confusion-matrix", "Confusion matrix"))
        if scored.proba is None:
            notes.append("the model gives no class probabilities: no ROC curve")
        elif len(set(scored.y_true.tolist())) < 2:
            notes.append("the evaluation set holds a single class: no ROC curve")
        else:
            plots.append(Plot("roc", "ROC curve"))
    elif scored is not None:
        plots.append(Plot("residuals", "Residuals vs predicted"))
        plots.append(Plot("predicted-vs-actual", "Predicted vs actual"))
    if history:
        plots.append(Plot("metric-history", "Metrics across versions"))
    return tuple(plots)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
