"""One pipeline run: load -> check -> split -> train -> evaluate -> gate -> register.

The run is recorded as it goes (steps, timings, logs, metrics, lineage). A data
check that fails stops the run before training; a gate that fails stops it
before anything is written to the registry or the artifact store. Progress is
reported to an :class:`Observer`, so this module knows nothing of terminals.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from mlrelease.data import (
    CheckResult,
    Split,
    build_profile,
    fingerprint,
    load_source,
    raise_for_failed,
    run_checks,
    schema_of,
    split_frame,
)
from mlrelease.errors import DataCheckFailed, DataError, GateFailed, MlreleaseError
from mlrelease.evaluation import Scored, compute_metrics, confusion_matrix
from mlrelease.gates import GateResult, raise_for_failed_gates
from mlrelease.pipeline.cache import cache_key
from mlrelease.pipeline.evaluate import (
    EvaluationSet,
    judge,
    score_model,
    store_evaluation_set,
)
from mlrelease.pipeline.lineage import collect_lineage
from mlrelease.pipeline.runs import RunInfo, RunRecorder, RunStatus, last_successful_run
from mlrelease.pipeline.training import TrainedModel, train_model
from mlrelease.registry.packaging import SavedModel, save_and_load
from mlrelease.registry.records import NewVersion, VersionInfo
from mlrelease.registry.service import Registry
from mlrelease.registry.signature import signature_of
from mlrelease.spec import LoadedSpec

__all__ = ["STEPS", "ExtraRows", "Observer", "PipelineResult", "run_pipeline"]

STEPS = ("load", "check", "split", "train", "evaluate", "gate", "register")


class Observer(Protocol):
    def step_started(self, step: str) -> None: ...

    def step_finished(self, step: str, status: str, seconds: float, detail: str) -> None: ...


class _Silent:
    def step_started(self, step: str) -> None:
        pass

    def step_finished(self, step: str, status: str, seconds: float, detail: str) -> None:
        pass


@dataclass(frozen=True)
class _Evaluated:
    saved: SavedModel
    scored: Scored
    metrics: dict[str, float]


@dataclass(frozen=True)
class ExtraRows:
    """Labelled rows to train on besides the data source's, and why (kept in the lineage)."""

    frame: pd.DataFrame  # the source's columns, target included
    lineage: dict[str, Any]


@dataclass(frozen=True)
class PipelineResult:
    run_id: str
    status: str
    version: VersionInfo | None = None
    alias: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    gates: list[GateResult] = field(default_factory=list)
    cached_from: RunInfo | None = None
    search: dict[str, Any] | None = None


def run_pipeline(
    project: LoadedSpec,
    registry: Registry,
    *,
    actor: str,
    force: bool = False,
    observer: Observer | None = None,
    extra: ExtraRows | None = None,
) -> PipelineResult:
    """Run the project's pipeline once and record it; raise on a failed check or gate.

    ``extra`` adds labelled rows (a retrain's) to what the data source gives.
    """
    spec = project.spec
    recorder = RunRecorder.start(
        registry.store, model_name=spec.model, project_path=str(project.path)
    )
    run = _PipelineRun(project, registry, recorder, observer or _Silent(), actor=actor)
    run.extra = extra
    try:
        return run.execute(force=force)
    except DataCheckFailed as exc:
        exc.details["run_id"] = recorder.id
        recorder.finish(RunStatus.CHECK_FAILED, error=exc.message)
        raise
    except GateFailed as exc:
        exc.details["run_id"] = recorder.id
        recorder.finish(RunStatus.GATE_FAILED, error=exc.message)
        raise
    except BaseException as exc:
        message = exc.message if isinstance(exc, MlreleaseError) else f"{type(exc).__name__}: {exc}"
        recorder.finish(RunStatus.FAILED, error=message)
        raise


class _PipelineRun:
    def __init__(
        self,
        project: LoadedSpec,
        registry: Registry,
        recorder: RunRecorder,
        observer: Observer,
        *,
        actor: str,
    ) -> None:
        self.project = project
        self.spec = project.spec
        self.registry = registry
        self.recorder = recorder
        self.observer = observer
        self.actor = actor
        self.data_fingerprint = ""
        self.lineage: dict[str, Any] = {}
        self.extra: ExtraRows | None = None

    @contextmanager
    def _step(self, name: str) -> Iterator[list[str]]:
        """Time a step; the caller appends a one-line detail to the yielded list."""
        detail: list[str] = []
        self.observer.step_started(name)
        started = time.perf_counter()
        status = "failed"
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                yield detail
            for warning in caught:
                self.recorder.log(
                    f"{name}: {warning.category.__name__}: {warning.message}", "warning"
                )
            status = "ok"
        finally:
            seconds = time.perf_counter() - started
            text = "; ".join(detail)
            self.recorder.step_done(name, status, seconds, text)
            self.observer.step_finished(name, status, seconds, text)

    def _skip(self, name: str, reason: str) -> None:
        self.recorder.step_done(name, "skipped", 0.0, reason)
        self.observer.step_finished(name, "skipped", 0.0, reason)

    def execute(self, *, force: bool) -> PipelineResult:
        with tempfile.TemporaryDirectory(prefix="mlrelease-run-") as workdir:
            self.workdir = Path(workdir)
            return self._execute(force=force)

    def _execute(self, *, force: bool) -> PipelineResult:
        frame = self._load()
        key = cache_key(
            self.spec, data_fingerprint=self.data_fingerprint, base_dir=self.project.project_dir
        )
        self.recorder.update(cache_key=key)
        cached = (
            None
            if force
            else last_successful_run(self.registry.store, self.spec.model, cache_key=key)
        )
        if cached is not None:
            return self._reuse(cached)
        checks = self._check(frame)
        split = self._split(frame)
        trained = self._train(split)
        data = EvaluationSet(X=split.X_test, y=split.y_test)
        evaluated = self._evaluate(trained, data)
        gates = self._gate(evaluated, data)
        version = self._register(trained, split, data, evaluated, gates)
        self.recorder.finish(
            RunStatus.SUCCEEDED,
            model_version=version.version,
            gate_results=[g.to_dict() for g in gates],
        )
        return PipelineResult(
            run_id=self.recorder.id,
            status=RunStatus.SUCCEEDED,
            version=version,
            alias=self.spec.first_environment,
            metrics=evaluated.metrics,
            checks=checks,
            gates=gates,
            search=trained.search,
        )

    def _load(self) -> pd.DataFrame:
        with self._step("load") as detail:
            data = self.spec.data
            frame = load_source(data.source, base_dir=self.project.project_dir, target=data.target)
            self.lineage = collect_lineage(self.project.project_dir)
            if self.extra is not None:
                frame = _with_extra(frame, self.extra.frame, data.source)
                self.lineage["retrain"] = self.extra.lineage
                detail.append(f"{len(self.extra.frame)} labelled rows added")
            self.data_fingerprint = fingerprint(frame)
            self.recorder.update(
                data_fingerprint=self.data_fingerprint,
                data_schema=schema_of(frame, data.target),
                lineage=self.lineage,
            )
            detail.append(f"{len(frame)} rows x {frame.shape[1] - 1} features from {data.source}")
        return frame

    def _reuse(self, cached: RunInfo) -> PipelineResult:
        reason = f"unchanged since run {cached.id[:8]} (version {cached.model_version})"
        for name in STEPS[1:]:
            self._skip(name, reason)
        self.recorder.finish(
            RunStatus.CACHED,
            model_version=cached.model_version,
            metrics=cached.metrics,
            gate_results=cached.gate_results,
        )
        version = (
            self.registry.version(self.spec.model, cached.model_version)
            if cached.model_version is not None
            else None
        )
        return PipelineResult(
            run_id=self.recorder.id,
            status=RunStatus.CACHED,
            version=version,
            metrics=dict(cached.metrics),
            cached_from=cached,
        )

    def _check(self, frame: pd.DataFrame) -> list[CheckResult]:
        with self._step("check") as detail:
            checks_spec = self.spec.data.checks
            previous = last_successful_run(self.registry.store, self.spec.model)
            results = run_checks(
                frame,
                target=self.spec.data.target,
                min_rows=checks_spec.min_rows,
                max_missing_fraction=checks_spec.max_missing_fraction,
                previous_schema=previous.data_schema if previous else None,
                schema_policy=checks_spec.schema_,
            )
            self.recorder.update(checks=[result.to_dict() for result in results])
            raise_for_failed(results)
            detail.append(f"{len(results)} checks passed")
        return results

    def _split(self, frame: pd.DataFrame) -> Split:
        with self._step("split") as detail:
            split_spec = self.spec.data.split
            split = split_frame(
                frame,
                target=self.spec.data.target,
                test_size=split_spec.test_size,
                seed=split_spec.seed,
                stratify=self.spec.stratify,
            )
            detail.append(f"{len(split.X_train)} train / {len(split.X_test)} test rows")
        return split

    def _train(self, split: Split) -> TrainedModel:
        with self._step("train") as detail:
            trained = train_model(
                self.spec.train, self.spec.task, split, base_dir=self.project.project_dir
            )
            for note in trained.notes:
                self.recorder.log(note)
            self.recorder.update(params=_json_safe(trained.params))
            what = self.spec.train.estimator or self.spec.train.entrypoint or ""
            detail.append(what.rsplit(".", 1)[-1])
            if trained.search is not None:
                detail.append(
                    f"grid search over {trained.search['candidates']} candidates, best "
                    f"{trained.search['metric']}={trained.search['best_score']:.4f}"
                )
        return trained

    def _evaluate(self, trained: TrainedModel, data: EvaluationSet) -> _Evaluated:
        with self._step("evaluate") as detail:
            saved = save_and_load(
                trained.model, self.workdir, trusted_types=self.registry.trusted_types
            )
            scored = score_model(saved.loaded, data, self.spec.task)
            metrics = compute_metrics(self.spec.metric_names, self.spec.task, scored)
            self.recorder.update(metrics=metrics)
            detail.append(", ".join(f"{name}={value:.4f}" for name, value in metrics.items()))
        return _Evaluated(saved=saved, scored=scored, metrics=metrics)

    def _gate(self, evaluated: _Evaluated, data: EvaluationSet) -> list[GateResult]:
        gates = self.spec.parsed_gates()
        if not gates:
            self._skip("gate", "no gates in the project file")
            return []
        with self._step("gate") as detail:
            results = judge(
                gates,
                task=self.spec.task,
                model_name=self.spec.model,
                candidate=evaluated.scored,
                data=data,
                registry=self.registry,
            )
            self.recorder.update(gate_results=[result.to_dict() for result in results])
            raise_for_failed_gates(results, subject="the candidate model")
            detail.append(f"{len(results)} of {len(results)} gates passed")
        return results

    def _register(
        self,
        trained: TrainedModel,
        split: Split,
        data: EvaluationSet,
        evaluated: _Evaluated,
        gates: list[GateResult],
    ) -> VersionInfo:
        with self._step("register") as detail:
            saved = evaluated.saved
            artifact = self.registry.artifacts.put_file(saved.path, saved.flavor.filename)
            scored = evaluated.scored
            new = NewVersion(
                flavor=saved.flavor.name,
                artifact_uri=artifact.uri,
                artifact_sha256=artifact.sha256,
                signature=signature_of(
                    split.X_train, task=self.spec.task, classes=saved.loaded.classes
                ),
                params=_json_safe(trained.params),
                metrics=evaluated.metrics,
                profile=build_profile(
                    split.X_train, predictions=saved.loaded.predict(split.X_train)
                ),
                lineage={
                    "run_id": self.recorder.id,
                    "data_source": self.spec.data.source,
                    "data_fingerprint": self.data_fingerprint,
                    **self.lineage,
                },
                gate_results=[result.to_dict() for result in gates],
                evaluation={
                    **store_evaluation_set(self.registry.artifacts, data),
                    "confusion_matrix": confusion_matrix(scored)
                    if self.spec.task == "classification"
                    else None,
                },
                trusted_types=saved.trusted_types,
                run_id=self.recorder.id,
                serving_form=self.registry.store_serving_form(saved, split.X_train),
            )
            alias = self.spec.first_environment
            version = self.registry.register(
                self.spec.model, self.spec.task, new, actor=self.actor, alias=alias
            )
            detail.append(f"{self.spec.model} v{version.version} -> {alias}")
        return version


def _with_extra(frame: pd.DataFrame, extra: pd.DataFrame, source: str) -> pd.DataFrame:
    missing = [column for column in frame.columns if column not in extra.columns]
    if missing:
        raise DataError(
            f"the labelled rows to add lack column(s) {', '.join(map(str, missing))} of {source}; "
            "every new row needs each feature and the target"
        )
    added = extra[list(frame.columns)].astype(frame.dtypes.to_dict(), errors="ignore")
    return pd.concat([frame, added], ignore_index=True)


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, str | int | float | bool) or value is None:
            safe[key] = value
        elif isinstance(value, list | tuple):
            safe[key] = [
                item if isinstance(item, str | int | float | bool) else repr(item) for item in value
            ]
        else:
            safe[key] = repr(value)
    return safe
