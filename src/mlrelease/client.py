"""The Python API: everything the CLI does, for notebooks and CI scripts.

from mlrelease import Client

client = Client.from_project("mlrelease.yaml")
result = client.run()                              # train -> gate -> register
model = client.load_model("models:/breast-cancer@dev")

# a model trained elsewhere goes through the same gates
client.register_model("churn", fitted, task="classification",
                      sample_input=X_test, eval_data=(X_test, y_test),
                      gates=["macro_f1 >= 0.6"])
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlrelease.artifacts import open_artifact_store
from mlrelease.audit import EventInfo, EventKind, current_actor, list_events, record_event
from mlrelease.data import build_profile
from mlrelease.errors import ConfigError, GateFailed
from mlrelease.evaluation import Scored, Task, compute_metrics, confusion_matrix, known_metrics
from mlrelease.gates import Gate, GateResult, evaluate_gates, parse_gate, raise_for_failed_gates
from mlrelease.names import ModelRef, validate_name
from mlrelease.pipeline.evaluate import (
    EvaluationSet,
    judge,
    load_evaluation_set,
    score_model,
    store_evaluation_set,
)
from mlrelease.pipeline.runs import RunInfo, RunLog, RunRecorder, get_run, list_runs
from mlrelease.promotion import Policies, PromotionInfo, Promotions, PromotionStatus, live_at
from mlrelease.registry.flavors import LoadedModel
from mlrelease.registry.packaging import save_and_load
from mlrelease.registry.records import ModelInfo, NewVersion, VersionInfo
from mlrelease.registry.service import Registry
from mlrelease.registry.signature import signature_of
from mlrelease.release.service import Releases
from mlrelease.settings import Settings, load_project, resolve_settings
from mlrelease.spec import LoadedSpec, gate_from_item
from mlrelease.store import Store

if TYPE_CHECKING:
    from mlrelease.monitoring.monitor import MonitorReport
    from mlrelease.monitoring.retrain import RetrainResult
    from mlrelease.monitoring.watch import Watcher
    from mlrelease.notify import Outbox
    from mlrelease.pipeline.runner import Observer, PipelineResult
    from mlrelease.release.controller import Controller

__all__ = ["Client"]


class Client:
    """A connection to one metadata store and one artifact store."""

    def __init__(self, settings: Settings, *, project: LoadedSpec | None = None) -> None:
        self.settings = settings
        self.project = project
        self.store = Store.open(settings.db_url, base_dir=settings.base_dir)
        artifacts = open_artifact_store(settings.artifacts_url, base_dir=settings.base_dir)
        self.registry = Registry(self.store, artifacts, trusted_types=settings.trusted_types)

    @classmethod
    def from_project(
        cls, path: str | Path = ".", *, env: Mapping[str, str] | None = None
    ) -> Client:
        """Open the stores the project file names (or the defaults beside it)."""
        project, settings = load_project(Path(path), os.environ if env is None else env)
        return cls(settings, project=project)

    @classmethod
    def open(
        cls,
        db: str | None = None,
        artifacts: str | None = None,
        *,
        base_dir: str | Path = ".",
        env: Mapping[str, str] | None = None,
    ) -> Client:
        """Open stores by URL; unset ones come from MLRELEASE_DB, MLRELEASE_ARTIFACTS, defaults."""
        environment = dict(os.environ if env is None else env)
        if db is not None:
            environment["MLRELEASE_DB"] = db
        if artifacts is not None:
            environment["MLRELEASE_ARTIFACTS"] = artifacts
        return cls(resolve_settings(None, base_dir=Path(base_dir), env=environment))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the pipeline ---------------------------------------------------------------

    def run(
        self, *, force: bool = False, observer: Observer | None = None, actor: str | None = None
    ) -> PipelineResult:
        """Run the project's pipeline; raises DataCheckFailed or GateFailed when refused."""
        from mlrelease.pipeline.runner import run_pipeline  # loads scikit-learn

        project = self._require_project()
        try:
            return run_pipeline(
                project,
                self.registry,
                actor=actor or current_actor(),
                force=force,
                observer=observer,
            )
        except GateFailed as exc:
            self._announce_gate_failure(project.spec.model, exc)
            raise

    def _announce_gate_failure(self, model: str, failure: GateFailed) -> None:
        with self.store.write() as connection:
            event = record_event(
                connection,
                kind=EventKind.GATE_FAILED,
                model=model,
                actor=current_actor(),
                reason=failure.message,
                payload={
                    "gates": failure.details.get("gates", []),
                    "run_id": failure.details.get("run_id"),
                },
            )
            self.outbox.announce(connection, event)

    def runs(self, model: str | None = None, *, limit: int = 20) -> list[RunInfo]:
        return list_runs(self.store, model=model, limit=limit)

    def get_run(self, run_id: str) -> tuple[RunInfo, list[RunLog]]:
        return get_run(self.store, run_id)

    def start_run(self, model: str) -> RunRecorder:
        """Record a run of your own training code (metrics, logs), MLflow-style."""
        return RunRecorder.start(self.store, model_name=model)

    # -- the registry -----------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        return self.registry.models()

    def versions(self, model: str) -> list[VersionInfo]:
        return self.registry.versions(model)

    def version(self, model: str, version: int) -> VersionInfo:
        return self.registry.version(model, version)

    def resolve(self, ref: str | ModelRef) -> VersionInfo:
        return self.registry.resolve(ModelRef.parse(ref) if isinstance(ref, str) else ref)

    def load_model(self, ref: str | ModelRef) -> LoadedModel:
        """Load a version (``models:/NAME/3`` or ``models:/NAME@production``), sha256-verified."""
        return self.registry.load_model(self.resolve(ref))

    def events(
        self,
        model: str | None = None,
        *,
        environment: str | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[EventInfo]:
        """The audit log, oldest first: who did what, when, why, from which version to which."""
        with self.store.read() as connection:
            return list_events(
                connection, model=model, environment=environment, until=until, limit=limit
            )

    def live_at(self, model: str, at: datetime | None = None) -> dict[str, int]:
        """What each environment served at ``at`` (now when None), replayed from the events."""
        self.registry.model(model)  # a clear error for an unknown model
        with self.store.read() as connection:
            return live_at(connection, model, at)

    # -- promotion ----------------------------------------------------------------------

    @cached_property
    def promotions(self) -> Promotions:
        """Promote, approve, reject, roll back and archive under the project's policies."""
        return Promotions(
            self.store,
            Policies.from_spec(self.project.spec if self.project else None),
            check_gates=lambda model, version, env: self.check_gates(model, version, env=env),
            announcer=self.outbox,
            on_alias_moved=self._commit_manifests if self._uses_gitops else None,
        )

    @property
    def _uses_gitops(self) -> bool:
        spec = self.project.spec if self.project else None
        return spec is not None and any(env.gitops for env in spec.environments.values())

    def _commit_manifests(self, model: str, environment: str, version: int) -> None:
        """GitOps: the environment's manifests follow its alias (``environments.E.gitops``)."""
        from mlrelease.deploy.sync import sync_environment

        project = self._require_project()
        if model == project.spec.model:
            sync_environment(project, environment, version)

    @cached_property
    def releases(self) -> Releases:
        """Progressive releases: read them; pause, resume, promote or abort one."""
        return Releases(self.store, announcer=self.outbox)

    def controller(self) -> Controller:
        """The release controller over this client's store (``tick()`` advances releases)."""
        from mlrelease.release.controller import Controller

        return Controller(self.store, announcer=self.outbox)

    # -- monitoring and retraining ------------------------------------------------------

    def monitor(
        self,
        model: str | None = None,
        *,
        environment: str | None = None,
        window: int | None = None,
        save: bool = True,
    ) -> MonitorReport:
        """Check the live version's recent traffic for drift and its live metrics.

        The project's ``monitoring:`` settings apply to its own model; another model
        (or no project) is judged with the defaults (PSI, Evidently's thresholds).
        """
        from mlrelease.monitoring.monitor import Monitor
        from mlrelease.spec import MonitoringSpec

        spec = self.project.spec if self.project else None
        name = model or (spec.model if spec else None)
        if name is None:
            raise ConfigError("name the model to monitor, or run this beside its project file")
        own = spec is not None and spec.model == name
        settings = (spec.monitoring if own and spec else None) or MonitoringSpec()
        where = environment or (spec.monitored_environment if own and spec else "production")
        task = self.registry.model(name).task
        return Monitor(self.registry, name, task, settings).check(where, window=window, save=save)

    def watcher(self) -> Watcher:
        """The project's monitoring loop: ingest streams, check, judge triggers, retrain."""
        from mlrelease.monitoring.watch import Watcher

        return Watcher(
            self._require_project(),
            self.registry,
            self.promotions,
            actor=current_actor(),
            announcer=self.outbox,
        )

    def retrain(self, *, reason: str = "by hand") -> RetrainResult:
        """Retrain on the source plus the labelled rows gathered; promote as policies allow."""
        return self.watcher().retrain(reason)

    @cached_property
    def outbox(self) -> Outbox:
        """Notifications for the project's channels (none without a ``notify:`` section)."""
        from mlrelease.notify import Outbox

        return Outbox.from_spec(self.store, self.project.spec if self.project else None)

    def promote(
        self, model: str, version: int, to: str, *, reason: str = "", actor: str | None = None
    ) -> PromotionInfo:
        return self.promotions.promote(
            model, version, to, actor=actor or current_actor(), reason=reason
        )

    def approve(
        self, request_id: int, *, reason: str = "", actor: str | None = None
    ) -> PromotionInfo:
        return self.promotions.approve(request_id, actor=actor or current_actor(), reason=reason)

    def reject(self, request_id: int, *, reason: str, actor: str | None = None) -> PromotionInfo:
        return self.promotions.reject(request_id, actor=actor or current_actor(), reason=reason)

    def promotion_requests(
        self,
        *,
        model: str | None = None,
        environment: str | None = None,
        status: PromotionStatus | None = PromotionStatus.PENDING,
    ) -> list[PromotionInfo]:
        """Promotion requests, newest first; by default those waiting for approval."""
        return self.promotions.requests(model=model, environment=environment, status=status)

    def archive(
        self, model: str, version: int, *, reason: str = "", actor: str | None = None
    ) -> int:
        """Retire a version for good; returns how many waiting requests were cancelled."""
        return self.promotions.archive(
            model, version, actor=actor or current_actor(), reason=reason
        )

    def rollback(
        self,
        model: str,
        environment: str,
        *,
        to: int | None = None,
        reason: str,
        actor: str | None = None,
    ) -> EventInfo:
        return self.promotions.rollback(
            model, environment, to=to, actor=actor or current_actor(), reason=reason
        )

    def register_model(
        self,
        name: str,
        model: Any,
        *,
        task: Task,
        sample_input: pd.DataFrame | np.ndarray,
        eval_data: tuple[pd.DataFrame | np.ndarray, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        gates: Sequence[str | Gate] | None = None,
        alias: str | None = None,
    ) -> VersionInfo:
        """Register a model trained elsewhere, through the same gates as a pipeline run.

        With ``eval_data`` the metrics are computed here and champion comparisons
        score the champion on the same rows; without it, only ``metrics`` you pass
        are known and gates that compare with a champion cannot be checked.
        Nothing is written unless every gate passes.
        """
        validate_name(name, what="model name")  # before any work is done for it
        sample = _as_frame(sample_input)
        with tempfile.TemporaryDirectory(prefix="mlrelease-") as tmp:
            saved = save_and_load(model, Path(tmp), trusted_types=self.settings.trusted_types)
            data = None if eval_data is None else _evaluation_set(eval_data, sample.columns)
            scored = None if data is None else score_model(saved.loaded, data, task)
            all_metrics = dict(metrics or {})
            if scored is not None:
                all_metrics.update(compute_metrics(known_metrics(task), task, scored))
            parsed = self._gates_for_registration(gates, task)
            results = self._judge_registration(name, task, parsed, scored, data, all_metrics)
            raise_for_failed_gates(results, subject=f"{name} (new version)")
            artifact = self.registry.artifacts.put_file(saved.path, saved.flavor.filename)
            serving_form = self.registry.store_serving_form(saved, sample)
        evaluation: dict[str, Any] = {}
        if data is not None and scored is not None:
            evaluation = store_evaluation_set(self.registry.artifacts, data)
            if task == "classification":
                evaluation["confusion_matrix"] = confusion_matrix(scored)
        new = NewVersion(
            flavor=saved.flavor.name,
            artifact_uri=artifact.uri,
            artifact_sha256=artifact.sha256,
            signature=signature_of(sample, task=task, classes=saved.loaded.classes),
            params=dict(params or {}),
            metrics=all_metrics,
            profile=build_profile(sample),
            lineage={"registered_from": "python"},
            gate_results=[result.to_dict() for result in results],
            evaluation=evaluation,
            trusted_types=saved.trusted_types,
            serving_form=serving_form,
        )
        return self.registry.register(name, task, new, actor=current_actor(), alias=alias)

    def _gates_for_registration(self, gates: Sequence[str | Gate] | None, task: Task) -> list[Gate]:
        if gates is None:
            return self.project.spec.parsed_gates() if self.project else []
        return [parse_gate(gate, task) if isinstance(gate, str) else gate for gate in gates]

    def _judge_registration(
        self,
        name: str,
        task: Task,
        gates: list[Gate],
        scored: Scored | None,
        data: EvaluationSet | None,
        metrics: dict[str, float],
    ) -> list[GateResult]:
        if scored is not None and data is not None:
            return judge(
                gates,
                task=task,
                model_name=name,
                candidate=scored,
                data=data,
                registry=self.registry,
            )
        champions = {gate.env: None for gate in gates if gate.refers_to_champion}
        if any(self.registry.alias_version(name, env) is not None for env in champions):
            raise ConfigError(
                "gates compare with a champion, which needs evaluation data: pass "
                "eval_data=(X_test, y_test) to register_model"
            )
        return evaluate_gates(
            gates, task, candidate=None, candidate_metrics=metrics, champions=champions
        )

    def check_gates(self, model: str, version: int, *, env: str | None = None) -> list[GateResult]:
        """Re-evaluate the gates for an existing version against today's champions.

        Gates come from the project file (plus those of ``env``'s policy) or, with no
        project file, from the ones recorded when the version was registered.
        ``env`` names the environment whose champion plain gates compare with.
        """
        info = self.registry.version(model, version)
        task: Task = info.signature.get("task", "classification")
        gates = self._gates_to_check(info, task, env)
        if not gates:
            return []
        if not info.evaluation.get("uri"):
            raise ConfigError(
                f"{model} v{version} was registered without an evaluation set, so its gates "
                "cannot be re-checked; register it with eval_data"
            )
        data = load_evaluation_set(self.registry.artifacts, info.evaluation)
        scored = score_model(self.registry.load_model(info), data, task)
        return judge(
            gates, task=task, model_name=model, candidate=scored, data=data, registry=self.registry
        )

    def _gates_to_check(self, info: VersionInfo, task: Task, env: str | None) -> list[Gate]:
        if self.project is not None and self.project.spec.model == info.model:
            spec = self.project.spec
            if env is None:
                return spec.parsed_gates()
            if env not in spec.environments:
                raise ConfigError(
                    f"--env {env}: no such environment; defined: {', '.join(spec.environments)}"
                )
            # A gate written as plain text compares with ``env``'s champion; one that
            # names its environment keeps it.
            return [
                parse_gate(item, task, env=env)
                if isinstance(item, str)
                else gate_from_item(item, task)
                for item in [*spec.gates, *spec.environments[env].gates]
            ]
        return [
            parse_gate(
                recorded["gate"],
                task,
                env=env or recorded.get("env") or "production",
                confidence=recorded.get("confidence"),
            )
            for recorded in info.gate_results
        ]

    def _require_project(self) -> LoadedSpec:
        if self.project is None:
            raise ConfigError(
                "this needs a project file; open the client with Client.from_project(path)"
            )
        return self.project


def _as_frame(data: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    array = np.asarray(data)
    if array.ndim != 2:
        raise ConfigError(
            f"sample_input must be 2-dimensional (rows x features), got {array.ndim}-d"
        )
    return pd.DataFrame(array, columns=[f"x{index}" for index in range(array.shape[1])])


def _evaluation_set(eval_data: tuple[Any, Any], columns: pd.Index) -> EvaluationSet:
    X, y = eval_data
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X), columns=columns)
    target = y if isinstance(y, pd.Series) else pd.Series(np.asarray(y), name="target")
    if len(frame) != len(target):
        raise ConfigError(f"eval_data: X has {len(frame)} rows but y has {len(target)}")
    return EvaluationSet(X=frame.reset_index(drop=True), y=target.reset_index(drop=True))
