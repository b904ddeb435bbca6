"""Retraining: the project's pipeline on its source plus the labelled rows gathered since.

The labelled rows are the served rows that got ground-truth feedback (their logged
inputs, with the label as the target) and the rows that stream sources delivered.
They go through the same data checks and gates as any run, gates comparing with
the champion included; only a version that passes is registered. It is then
promoted environment by environment as far as the policies allow without a person
(an environment that needs approval gets a waiting request, one with a canary
release starts it), up to ``retrain.promote_to``. A failed retrain changes nothing
that serves, and says why in a ``retrain.failed`` event.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import and_, select

from mlrelease.audit import Announcer, EventKind, record_event
from mlrelease.errors import MlreleaseError
from mlrelease.monitoring._log import inputs_frame
from mlrelease.pipeline.runner import ExtraRows, Observer, run_pipeline
from mlrelease.promotion.records import PromotionInfo, PromotionStatus
from mlrelease.promotion.service import Promotions
from mlrelease.registry.service import Registry
from mlrelease.spec import LoadedSpec
from mlrelease.store import Store, tables

__all__ = ["RetrainResult", "gather_labelled", "retrain"]

_P = tables.predictions.c
_F = tables.feedback.c
_L = tables.labelled_rows.c


@dataclass(frozen=True)
class RetrainResult:
    reason: str
    rows_added: int
    version: int | None = None  # registered; None when the run failed or reused a cached one
    promotions: list[PromotionInfo] = field(default_factory=list)
    error: str = ""
    unchanged: str = ""  # why no new version was needed (the same data as a past run)

    @property
    def succeeded(self) -> bool:
        return not self.error


def gather_labelled(
    registry: Registry, project: LoadedSpec, *, feedback: bool = True
) -> pd.DataFrame:
    """Every labelled row gathered for the model, with the source's feature and target columns."""
    spec = project.spec
    parts = []
    if feedback:
        parts.append(_feedback_rows(registry, spec.model, spec.data.target))
    parts.append(_streamed_rows(registry.store, spec.model))
    frames = [part for part in parts if len(part)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _feedback_rows(registry: Registry, model: str, target: str) -> pd.DataFrame:
    joined = tables.predictions.join(
        tables.feedback, and_(_F.request_id == _P.request_id, _F.row == _P.row)
    )
    # A shadow answered the same request as stable: its row would count the label twice.
    query = (
        select(_P.version, _P.inputs, _F.label)
        .select_from(joined)
        .where(_P.model == model, _P.status == 200, _P.role != "shadow")
        .order_by(_P.id)
    )
    with registry.store.read() as connection:
        found = connection.execute(query).all()
    by_version: dict[int, list[Any]] = defaultdict(list)
    for row in found:
        by_version[row.version].append(row)
    frames = []
    for number, rows in by_version.items():
        features = registry.version(model, number).feature_names
        frame = inputs_frame([row.inputs for row in rows], features)
        frame[target] = [row.label.get("value") for row in rows]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _streamed_rows(store: Store, model: str) -> pd.DataFrame:
    query = select(_L.record).where(_L.model == model).order_by(_L.id)
    with store.read() as connection:
        records = connection.execute(query).scalars().all()
    return pd.DataFrame.from_records(records) if records else pd.DataFrame()


def retrain(
    project: LoadedSpec,
    registry: Registry,
    promotions: Promotions,
    *,
    actor: str,
    reason: str,
    evidence: dict[str, Any] | None = None,
    announcer: Announcer | None = None,
    observer: Observer | None = None,
) -> RetrainResult:
    """Retrain, register if the checks and gates pass, and promote as the policies allow."""
    spec = project.spec
    labelled = gather_labelled(registry, project, feedback=spec.retrain.feedback)
    note = {"reason": reason, "evidence": evidence or {}, "rows_added": len(labelled)}
    _event(registry.store, announcer, EventKind.RETRAIN_STARTED, spec.model, actor, reason, note)
    try:
        result = run_pipeline(
            project,
            registry,
            actor=actor,
            observer=observer,
            extra=ExtraRows(labelled, note) if len(labelled) else None,
        )
    except Exception as exc:  # a controller must outlive a failed training, whatever the cause
        message = exc.message if isinstance(exc, MlreleaseError) else f"{type(exc).__name__}: {exc}"
        failed = {**note, "error": message}
        _event(
            registry.store, announcer, EventKind.RETRAIN_FAILED, spec.model, actor, message, failed
        )
        return RetrainResult(reason, len(labelled), error=message)
    if result.cached_from is not None:  # same data and settings as a past run: nothing new
        unchanged = f"the data is unchanged since run {result.cached_from.id[:8]}"
        _event(
            registry.store,
            announcer,
            EventKind.RETRAIN_FINISHED,
            spec.model,
            actor,
            f"{reason}; {unchanged}, no new version",
            {**note, "run_id": result.run_id},
        )
        return RetrainResult(reason, len(labelled), unchanged=unchanged)
    version = result.version.version if result.version else None
    promoted = _promote_onwards(project, promotions, version, actor, reason) if version else []
    done = {
        **note,
        "run_id": result.run_id,
        "promotions": [
            {"environment": p.environment, "status": str(p.status), "id": p.id} for p in promoted
        ],
    }
    _event(
        registry.store,
        announcer,
        EventKind.RETRAIN_FINISHED,
        spec.model,
        actor,
        reason,
        done,
        to_version=version,
    )
    return RetrainResult(reason, len(labelled), version, promoted)


def _promote_onwards(
    project: LoadedSpec, promotions: Promotions, version: int, actor: str, reason: str
) -> list[PromotionInfo]:
    """Promote through the environments after the first until one needs a person (or fails)."""
    spec = project.spec
    order = spec.environment_order
    last = order.index(spec.retrain.promote_to) if spec.retrain.promote_to else len(order) - 1
    done: list[PromotionInfo] = []
    for environment in order[1 : last + 1]:
        try:
            info = promotions.promote(
                spec.model, version, environment, actor=actor, reason=f"retrained: {reason}"
            )
        except MlreleaseError:
            break  # refused (a gate of that environment, say): recorded as its own event
        done.append(info)
        if info.status != PromotionStatus.PROMOTED:
            break  # waits for approvals, or a release runs: a person or the controller goes on
    return done


def _event(
    store: Store,
    announcer: Announcer | None,
    kind: str,
    model: str,
    actor: str,
    reason: str,
    payload: dict[str, Any],
    *,
    to_version: int | None = None,
) -> None:
    with store.write() as connection:
        event = record_event(
            connection,
            kind=kind,
            model=model,
            actor=actor,
            to_version=to_version,
            reason=reason,
            payload=payload,
        )
        if announcer is not None:
            announcer.announce(connection, event)
