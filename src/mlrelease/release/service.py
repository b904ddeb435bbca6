"""Releases in the store: starting one, reading them, and what a person may do to one.

Every change is one transaction that takes the model's row lock first (as every
alias change does), re-reads the release under it, checks the phase transition,
writes the release, the traffic split and the audit event together.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from mlrelease.audit import Announcer, EventInfo, EventKind, record_event
from mlrelease.errors import NotFoundError
from mlrelease.registry.service import lock_model, move_alias, version_row
from mlrelease.release.phases import ACTIVE_PHASES, Phase
from mlrelease.release.records import ReleaseInfo
from mlrelease.spec import StrategySpec
from mlrelease.store import Store, tables
from mlrelease.traffic import write_traffic

__all__ = ["Releases", "start_release"]

_R = tables.releases.c
_M = tables.models.c
_P = tables.promotions.c


def start_release(
    connection: Connection,
    *,
    model: str,
    model_id: int,
    environment: str,
    strategy: str,
    spec: StrategySpec,
    stable: int,
    candidate: int,
    promotion_id: int | None,
    actor: str,
    reason: str = "",
) -> EventInfo:
    """Open a release in the caller's transaction (a promotion that needs one)."""
    now = datetime.now(UTC)
    release_id = connection.execute(
        insert(tables.releases).returning(_R.id),
        {
            "model_id": model_id,
            "environment": environment,
            "strategy": strategy,
            "spec": spec.model_dump(mode="json"),
            "stable_version": stable,
            "candidate_version": candidate,
            "promotion_id": promotion_id,
            "phase": Phase.PENDING.value,
            "step_index": 0,
            "step_started_at": now,
            "weight": 0,
            "analysis_runs": 0,
            "failures": 0,
            "measurements": [],
            "reason": "",
            "created_by": actor,
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
        },
    ).scalar_one()
    # The candidate is loaded by the servers now, at 0%, so the first step is instant.
    set_share(connection, model, environment, strategy, candidate, 0, actor=actor)
    return record_event(
        connection,
        kind=EventKind.RELEASE_STARTED,
        model=model,
        actor=actor,
        environment=environment,
        from_version=stable,
        to_version=candidate,
        reason=reason,
        payload={"release": release_id, "strategy": strategy, "steps": len(spec.steps)},
    )


def set_share(
    connection: Connection,
    model: str,
    environment: str,
    strategy: str,
    candidate: int | None,
    share: int,
    *,
    actor: str,
) -> None:
    """The candidate's share as a canary weight or a shadow share; None clears both."""
    canary = strategy == "canary" and candidate is not None
    write_traffic(
        connection,
        model,
        environment,
        canary=candidate if canary else None,
        canary_weight=share if canary else 0,
        shadow=candidate if not canary else None,
        shadow_share=share if not canary and candidate is not None else 0,
        actor=actor,
        reason="release step",
    )


class Releases:
    """Reading releases, and the levers a person pulls: pause, resume, promote, abort."""

    def __init__(
        self,
        store: Store,
        *,
        announcer: Announcer | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self._announcer = announcer
        self._now = now

    # -- reading ----------------------------------------------------------------------

    def get(self, release_id: int) -> ReleaseInfo:
        with self.store.read() as connection:
            return read_release(connection, release_id)

    def list(
        self,
        *,
        model: str | None = None,
        environment: str | None = None,
        phases: tuple[Phase, ...] = (),
        limit: int = 50,
    ) -> list[ReleaseInfo]:
        """Releases, newest first."""
        query = _RELEASE.order_by(_R.id.desc()).limit(limit)
        if model is not None:
            query = query.where(_M.name == model)
        if environment is not None:
            query = query.where(_R.environment == environment)
        if phases:
            query = query.where(_R.phase.in_([phase.value for phase in phases]))
        with self.store.read() as connection:
            return [_info(row) for row in connection.execute(query)]

    # -- a person's levers ---------------------------------------------------------------

    def pause(self, release_id: int, *, actor: str, reason: str = "") -> ReleaseInfo:
        return self._change(
            release_id, Phase.PAUSED, EventKind.RELEASE_PAUSED, actor, reason or "paused by hand"
        )

    def resume(self, release_id: int, *, actor: str, reason: str = "") -> ReleaseInfo:
        """Continue; a release paused at a ``pause: {}`` step moves past it."""
        with self.store.write() as connection:
            release = lock_release(connection, release_id)
            release.phase.check_transition(Phase.PROGRESSING, release_id)
            step = release.step
            waiting_step = step is not None and isinstance(step.pause, dict)
            values: dict[str, Any] = {"phase": Phase.PROGRESSING.value, "reason": ""}
            if waiting_step:
                values |= {"step_index": release.step_index + 1, "analysis_runs": 0}
            values["step_started_at"] = self._now()  # a pause or the next measurement starts now
            update_release(connection, release_id, **values)
            self._event(connection, release, EventKind.RELEASE_RESUMED, actor, reason)
            return read_release(connection, release_id)

    def promote(self, release_id: int, *, actor: str, reason: str = "") -> ReleaseInfo:
        """Skip the remaining steps: the controller moves the alias on its next tick."""
        return self._change(
            release_id, Phase.PROMOTING, EventKind.RELEASE_STEP, actor, reason or "promoted by hand"
        )

    def abort(self, release_id: int, *, actor: str, reason: str) -> ReleaseInfo:
        with self.store.write() as connection:
            release = lock_release(connection, release_id)
            abort_release(
                connection,
                release,
                actor=actor,
                reason=reason or "aborted by hand",
                announce=self._announce,
            )
            return read_release(connection, release_id)

    def _change(
        self, release_id: int, phase: Phase, kind: str, actor: str, reason: str
    ) -> ReleaseInfo:
        with self.store.write() as connection:
            release = lock_release(connection, release_id)
            release.phase.check_transition(phase, release_id)
            update_release(connection, release_id, phase=phase.value, reason=reason)
            self._event(connection, release, kind, actor, reason)
            return read_release(connection, release_id)

    def _event(
        self, connection: Connection, release: ReleaseInfo, kind: str, actor: str, reason: str
    ) -> None:
        self._announce(connection, release_event(connection, release, kind, actor, reason))

    def _announce(self, connection: Connection, event: EventInfo) -> None:
        if self._announcer is not None:
            self._announcer.announce(connection, event)


# -- shared with the controller ---------------------------------------------------------


def lock_release(connection: Connection, release_id: int) -> ReleaseInfo:
    """The model lock first (like every alias change), then the release row."""
    model = connection.execute(
        select(_M.name)
        .select_from(tables.releases.join(tables.models, _R.model_id == _M.id))
        .where(_R.id == release_id)
    ).scalar_one_or_none()
    if model is None:
        raise NotFoundError(f"no release #{release_id}; see 'mlrelease release status'")
    lock_model(connection, model)
    row = connection.execute(_RELEASE.where(_R.id == release_id).with_for_update()).one()
    return _info(row)


def active_releases(connection: Connection) -> list[ReleaseInfo]:
    """The releases a controller tick looks at, oldest first, in one query."""
    active = [phase.value for phase in ACTIVE_PHASES]
    return [
        _info(row)
        for row in connection.execute(_RELEASE.where(_R.phase.in_(active)).order_by(_R.id))
    ]


def read_release(connection: Connection, release_id: int) -> ReleaseInfo:
    row = connection.execute(_RELEASE.where(_R.id == release_id)).first()
    if row is None:
        raise NotFoundError(f"no release #{release_id}; see 'mlrelease release status'")
    return _info(row)


def update_release(connection: Connection, release_id: int, **values: Any) -> None:
    connection.execute(
        update(tables.releases)
        .where(_R.id == release_id)
        .values(updated_at=datetime.now(UTC), **values)
    )


def release_event(
    connection: Connection,
    release: ReleaseInfo,
    kind: str,
    actor: str,
    reason: str,
    **payload: Any,
) -> EventInfo:
    return record_event(
        connection,
        kind=kind,
        model=release.model,
        actor=actor,
        environment=release.environment,
        from_version=release.stable_version,
        to_version=release.candidate_version,
        reason=reason,
        payload={"release": release.id, **payload},
    )


def abort_release(
    connection: Connection,
    release: ReleaseInfo,
    *,
    actor: str,
    reason: str,
    announce: Any,
    measurements: list[dict[str, Any]] | None = None,
) -> None:
    """All traffic back on the stable version at once; the alias does not move."""
    release.phase.check_transition(Phase.ABORTED, release.id)
    set_share(
        connection, release.model, release.environment, release.strategy, None, 0, actor=actor
    )
    now = datetime.now(UTC)
    update_release(
        connection,
        release.id,
        phase=Phase.ABORTED.value,
        weight=0,
        reason=reason,
        finished_at=now,
    )
    _close_promotion(connection, release, promoted=False)
    failing = measurements if measurements is not None else release.measurements[-3:]
    announce(
        connection,
        release_event(
            connection, release, EventKind.RELEASE_ABORTED, actor, reason, measurements=failing
        ),
    )


def complete_release(
    connection: Connection, release: ReleaseInfo, *, actor: str, announce: Any
) -> None:
    """The candidate becomes the stable version: alias, traffic and release in one step."""
    release.phase.check_transition(Phase.SUCCEEDED, release.id)
    model_id, _ = lock_model(connection, release.model)
    version_id, _ = version_row(connection, model_id, release.candidate_version)
    set_share(
        connection, release.model, release.environment, release.strategy, None, 0, actor=actor
    )
    moved = move_alias(
        connection,
        release.model,
        model_id,
        release.environment,
        version_id,
        release.candidate_version,
        actor=actor,
        reason=f"release #{release.id} succeeded",
        kind=EventKind.PROMOTED,
        payload={"release": release.id, "request": release.promotion_id},
    )
    update_release(
        connection,
        release.id,
        phase=Phase.SUCCEEDED.value,
        weight=100,
        reason="",
        finished_at=datetime.now(UTC),
    )
    _close_promotion(connection, release, promoted=True)
    announce(connection, moved)
    announce(
        connection,
        release_event(connection, release, EventKind.RELEASE_PROMOTED, actor, "all steps passed"),
    )


def _close_promotion(connection: Connection, release: ReleaseInfo, *, promoted: bool) -> None:
    if release.promotion_id is None:
        return
    connection.execute(
        update(tables.promotions)
        .where(_P.id == release.promotion_id)
        .values(status="promoted" if promoted else "cancelled", decided_at=datetime.now(UTC))
    )


_RELEASE = select(
    tables.releases.c.id,
    _M.name.label("model"),
    *[column for column in tables.releases.c if column.name not in {"id", "model_id"}],
).select_from(tables.releases.join(tables.models, _R.model_id == _M.id))


def _info(row: Any) -> ReleaseInfo:
    data = row._asdict()
    data["phase"] = Phase(data["phase"])
    return ReleaseInfo(**data)
