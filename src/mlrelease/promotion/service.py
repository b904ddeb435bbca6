"""Promote, approve, reject, roll back and archive: each one transaction with its events.

Gates are judged before the transaction (scoring a model can take seconds and
must not hold a write lock); the transaction then checks that the environment
has not moved meanwhile. Every alias change takes the model's row lock first,
and a request's approvals are counted under that lock, so two approvals racing
for the last slot, or a promotion racing a rollback, happen one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from mlrelease.audit import Announcer, EventInfo, EventKind, list_events, record_event
from mlrelease.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    PromotionRefused,
)
from mlrelease.gates import GateResult, raise_for_failed_gates
from mlrelease.promotion import _queries as queries
from mlrelease.promotion.history import ALIAS_KINDS, has_been_live, live_lineage
from mlrelease.promotion.policy import EnvironmentPolicy, Policies
from mlrelease.promotion.records import PromotionInfo, PromotionStatus
from mlrelease.registry.records import VersionStatus
from mlrelease.registry.service import lock_model, move_alias, version_row
from mlrelease.release.service import abort_release, lock_release, start_release
from mlrelease.store import Store, tables

__all__ = ["Announcer", "GateChecker", "Promotions"]

_P = tables.promotions.c
_D = tables.decisions.c
_M = tables.models.c
_V = tables.versions.c

# (model, version, environment) -> the gate results for promoting there.
GateChecker = Callable[[str, int, str], Sequence[GateResult]]


class Promotions:
    """The promotion service over one metadata store."""

    def __init__(
        self,
        store: Store,
        policies: Policies,
        *,
        check_gates: GateChecker,
        announcer: Announcer | None = None,
        on_alias_moved: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self.store = store
        self.policies = policies
        self._check_gates = check_gates
        self._announcer = announcer
        # Called with (model, environment, version) once a move is committed (GitOps).
        self._on_alias_moved = on_alias_moved

    # -- asking -----------------------------------------------------------------

    def promote(
        self, model: str, version: int, to: str, *, actor: str, reason: str = ""
    ) -> PromotionInfo:
        """Move ``version`` into ``to`` now, or open a request that waits for approvals.

        Refused (PromotionRefused / GateFailed / ConflictError, nothing written but a
        ``gate.failed`` event) when the version skipped the previous environment, is
        archived, is already live there, another request waits, or a gate fails.
        """
        policy = self.policies[to]
        with self.store.read() as connection:
            live_before = self._check_promotable(connection, model, version, policy)
        results = list(self._check_gates(model, version, to))
        if any(not result.passed for result in results):
            self._record_gate_failure(model, version, to, results, actor=actor)
            raise_for_failed_gates(results, subject=f"{model} v{version} for {to}")
        gates = [result.to_dict() for result in results]
        with self.store.write() as connection:
            model_id, _ = lock_model(connection, model)
            if self._check_promotable(connection, model, version, policy) != live_before:
                raise ConflictError(
                    f"{to} changed while the gates ran (another promotion or a rollback); "
                    "run the promotion again to judge against what is live now"
                )
            request_id = self._insert_request(
                connection, model_id, version, policy, live_before, gates, reason, actor
            )
            if policy.approvals == 0:
                self._complete(connection, model, model_id, request_id, actor=actor)
            else:
                self._emit(
                    connection,
                    kind=EventKind.PROMOTION_REQUESTED,
                    model=model,
                    actor=actor,
                    environment=to,
                    from_version=live_before,
                    to_version=version,
                    reason=reason,
                    payload={"request": request_id, "approvals": policy.approvals, "gates": gates},
                )
            outcome = queries.read_request(connection, request_id)
        self._moved(outcome)
        return outcome

    def _check_promotable(
        self, connection: Connection, model: str, version: int, policy: EnvironmentPolicy
    ) -> int | None:
        """Every rule that does not need the gates; returns the version live in the target."""
        model_id = queries.model_id(connection, model)
        _, status = version_row(connection, model_id, version)
        target = policy.name
        if status == VersionStatus.ARCHIVED:
            raise PromotionRefused(
                f"{model} v{version} is archived and can never be promoted again; "
                "promote a newer version"
            )
        if policy.after is not None and not has_been_live(connection, model, policy.after, version):
            raise PromotionRefused(
                f"{model} v{version} has not been in {policy.after}, which comes before "
                f"{target}; promote it there first: "
                f"mlrelease promote {model} {version} --to {policy.after}"
            )
        live = queries.live_version(connection, model_id, target)
        if live == version:
            raise ConflictError(f"{model} v{version} is already live in {target}")
        releasing = queries.active_release(connection, model_id, target)
        if releasing is not None:
            raise ConflictError(
                f"release #{releasing} is moving {target} to another version; wait for it, or "
                f'stop it: mlrelease release abort {releasing} --reason "..."'
            )
        waiting = queries.pending_request(connection, model_id, target)
        if waiting is not None:
            raise ConflictError(
                f"promotion request #{waiting.id} ({model} v{waiting.version} to {target}) "
                f"already waits; approve or reject it first (mlrelease approvals)"
            )
        return live

    def _insert_request(
        self,
        connection: Connection,
        model_id: int,
        version: int,
        policy: EnvironmentPolicy,
        live: int | None,
        gates: list[dict[str, Any]],
        reason: str,
        actor: str,
    ) -> int:
        values = {
            "model_id": model_id,
            "version": version,
            "environment": policy.name,
            "status": PromotionStatus.PENDING.value,
            "approvals_required": policy.approvals,
            "allow_self_approval": policy.self_approval,
            "from_version": live,
            "gate_results": gates,
            "reason": reason,
            "requested_by": actor,
            "requested_at": datetime.now(UTC),
            "decided_at": None,
        }
        return int(connection.execute(queries.INSERT_REQUEST, values).scalar_one())

    def _record_gate_failure(
        self, model: str, version: int, to: str, results: list[GateResult], *, actor: str
    ) -> None:
        with self.store.write() as connection:
            live = queries.live_version(connection, queries.model_id(connection, model), to)
            self._emit(
                connection,
                kind=EventKind.GATE_FAILED,
                model=model,
                actor=actor,
                environment=to,
                from_version=live,
                to_version=version,
                reason="; ".join(result.gate for result in results if not result.passed),
                payload={"gates": [result.to_dict() for result in results]},
            )

    # -- deciding ---------------------------------------------------------------

    def approve(self, request_id: int, *, actor: str, reason: str = "") -> PromotionInfo:
        """Add ``actor``'s approval; the last one needed moves the alias in the same step."""
        with self.store.write() as connection:
            request = self._lock_request(connection, request_id)
            PromotionStatus(request.status).check_transition(PromotionStatus.PROMOTED, request_id)
            if actor == request.requested_by and not request.allow_self_approval:
                raise PromotionRefused(
                    f"{actor} asked for promotion #{request_id}, and {request.environment} needs "
                    "the approval of someone else (environments."
                    f"{request.environment}.self_approval is off)"
                )
            self._insert_decision(connection, request, actor, "approve", reason)
            approvals = queries.count_approvals(connection, request_id)
            self._request_event(
                connection,
                request,
                EventKind.PROMOTION_APPROVED,
                actor,
                reason,
                approvals=approvals,
                required=request.approvals_required,
            )
            if approvals >= request.approvals_required:
                live = queries.live_version(connection, request.model_id, request.environment)
                if live != request.from_version:
                    self._cancel(
                        connection,
                        request,
                        actor=actor,
                        reason=f"{request.environment} moved from v{request.from_version} to "
                        f"v{live} since the request; gates were judged against the old one",
                    )
                else:
                    self._complete(
                        connection, request.model, request.model_id, request_id, actor=actor
                    )
            outcome = queries.read_request(connection, request_id)
        if outcome.status is PromotionStatus.CANCELLED:
            raise ConflictError(
                f"promotion #{request_id} was cancelled: {request.environment} changed since it "
                f"was asked for; ask again: mlrelease promote {request.model} {request.version} "
                f"--to {request.environment}"
            )
        self._moved(outcome)
        return outcome

    def _moved(self, outcome: PromotionInfo) -> None:
        if self._on_alias_moved is not None and outcome.status is PromotionStatus.PROMOTED:
            self._on_alias_moved(outcome.model, outcome.environment, outcome.version)

    def reject(self, request_id: int, *, actor: str, reason: str) -> PromotionInfo:
        """Close a waiting request; the reason is required, so the history says why."""
        if not reason.strip():
            raise ConfigError('a rejection needs a reason: --reason "..."')
        with self.store.write() as connection:
            request = self._lock_request(connection, request_id)
            PromotionStatus(request.status).check_transition(PromotionStatus.REJECTED, request_id)
            self._insert_decision(connection, request, actor, "reject", reason)
            queries.set_status(connection, request_id, PromotionStatus.REJECTED)
            self._request_event(connection, request, EventKind.PROMOTION_REJECTED, actor, reason)
            return queries.read_request(connection, request_id)

    def _lock_request(self, connection: Connection, request_id: int) -> Any:
        model = connection.execute(
            select(_M.name)
            .select_from(tables.promotions.join(tables.models, _P.model_id == _M.id))
            .where(_P.id == request_id)
        ).scalar_one_or_none()
        if model is None:
            raise NotFoundError(
                f"no promotion request #{request_id}; see 'mlrelease approvals --all'"
            )
        lock_model(connection, model)  # the model lock first, as every alias change does
        return connection.execute(
            queries.REQUEST.where(_P.id == request_id).with_for_update()
        ).one()

    @staticmethod
    def _insert_decision(
        connection: Connection, request: Any, actor: str, decision: str, reason: str
    ) -> None:
        already = connection.execute(
            select(_D.decision).where(_D.promotion_id == request.id, _D.actor == actor)
        ).scalar_one_or_none()
        if already is not None:
            raise ConflictError(
                f"{actor} already decided on promotion #{request.id} ({already}); "
                "each person decides once"
            )
        connection.execute(
            insert(tables.decisions).values(
                promotion_id=request.id,
                actor=actor,
                decision=decision,
                reason=reason,
                created_at=datetime.now(UTC),
            )
        )

    def _complete(
        self, connection: Connection, model: str, model_id: int, request_id: int, *, actor: str
    ) -> None:
        """Move the alias now, or start the environment's progressive release."""
        request = connection.execute(queries.REQUEST.where(_P.id == request_id)).one()
        policy = self.policies[request.environment]
        live = queries.live_version(connection, model_id, request.environment)
        if policy.release != "direct" and live is not None:
            queries.set_status(connection, request_id, PromotionStatus.RELEASING)
            event = start_release(
                connection,
                model=model,
                model_id=model_id,
                environment=request.environment,
                strategy=policy.release,
                spec=self.policies.strategy(policy.release),
                stable=live,
                candidate=request.version,
                promotion_id=request_id,
                actor=actor,
                reason=request.reason,
            )
            self._announce(connection, event)
            return
        # Archiving cancels waiting requests under the same lock, so the version is live-able.
        version_id, _ = version_row(connection, model_id, request.version)
        queries.set_status(connection, request_id, PromotionStatus.PROMOTED)
        approvers = connection.execute(
            select(_D.actor).where(_D.promotion_id == request_id, _D.decision == "approve")
        ).scalars()
        event = move_alias(
            connection,
            model,
            model_id,
            request.environment,
            version_id,
            request.version,
            actor=actor,
            reason=request.reason,
            kind=EventKind.PROMOTED,
            payload={
                "request": request_id,
                "requested_by": request.requested_by,
                "approved_by": list(approvers),
                "gates": request.gate_results,
            },
        )
        self._announce(connection, event)

    def _cancel(self, connection: Connection, request: Any, *, actor: str, reason: str) -> None:
        queries.set_status(connection, request.id, PromotionStatus.CANCELLED)
        self._request_event(connection, request, EventKind.PROMOTION_CANCELLED, actor, reason)

    def _request_event(
        self,
        connection: Connection,
        request: Any,
        kind: str,
        actor: str,
        reason: str,
        **payload: Any,
    ) -> None:
        """An event about a promotion request, from the version live then to the requested."""
        self._emit(
            connection,
            kind=kind,
            model=request.model,
            actor=actor,
            environment=request.environment,
            from_version=request.from_version,
            to_version=request.version,
            reason=reason,
            payload={"request": request.id, **payload},
        )

    # -- the emergency path and retirement --------------------------------------------

    def rollback(
        self, model: str, environment: str, *, to: int | None = None, actor: str, reason: str
    ) -> EventInfo:
        """Put back the previous (or a named, once-live) version at once, without approval.

        Any canary or shadow on the environment is cleared in the same step: after a
        rollback exactly one known version serves.
        """
        _ = self.policies[environment]  # an unknown environment is refused here
        if not reason.strip():
            raise ConfigError('a rollback needs a reason: --reason "..."')
        with self.store.write() as connection:
            model_id, _ = lock_model(connection, model)
            live = queries.live_version(connection, model_id, environment)
            if live is None:
                raise ConflictError(f"nothing is live in {environment} for '{model}'")
            target = self._rollback_target(connection, model, environment, live, to)
            version_id, _ = version_row(connection, model_id, target)
            releasing = queries.active_release(connection, model_id, environment)
            if releasing is not None:
                abort_release(
                    connection,
                    lock_release(connection, releasing),
                    actor=actor,
                    reason=f"rolled back: {reason}",
                    announce=self._announce,
                )
            cleared = queries.clear_traffic(connection, model_id, environment)
            event = move_alias(
                connection,
                model,
                model_id,
                environment,
                version_id,
                target,
                actor=actor,
                reason=reason,
                kind=EventKind.ROLLED_BACK,
                payload={"cleared_traffic": cleared} if cleared else None,
            )
            self._announce(connection, event)
        if self._on_alias_moved is not None:
            self._on_alias_moved(model, environment, target)
        return event

    @staticmethod
    def _rollback_target(
        connection: Connection, model: str, environment: str, live: int, to: int | None
    ) -> int:
        moves = list_events(connection, model=model, environment=environment, kinds=ALIAS_KINDS)
        if to is None:
            lineage = live_lineage(moves)
            if len(lineage) < 2:
                raise ConflictError(
                    f"{environment} has no earlier version of '{model}' to return to; "
                    "name one with --to VERSION"
                )
            return lineage[-2]
        if to == live:
            raise ConflictError(f"{model} v{to} is already live in {environment}")
        if not any(event.to_version == to for event in moves):
            raise PromotionRefused(
                f"{model} v{to} was never live in {environment}; a rollback only returns to a "
                f"version that was, anything else goes through: mlrelease promote {model} {to} "
                f"--to {environment}"
            )
        return to

    def archive(self, model: str, version: int, *, actor: str, reason: str = "") -> int:
        """Retire a version for good; cancels its waiting requests (returns how many)."""
        with self.store.write() as connection:
            model_id, _ = lock_model(connection, model)
            version_id, status = version_row(connection, model_id, version)
            if status == VersionStatus.ARCHIVED:
                raise ConflictError(f"{model} v{version} is already archived")
            live_in = queries.environments_running(connection, version_id)
            if live_in:
                raise ConflictError(
                    f"{model} v{version} is live in {', '.join(live_in)}; promote or roll back "
                    "to another version there first"
                )
            connection.execute(
                update(tables.versions)
                .where(_V.id == version_id)
                .values(status=VersionStatus.ARCHIVED)
            )
            record_event(
                connection,
                kind=EventKind.VERSION_ARCHIVED,
                model=model,
                actor=actor,
                to_version=version,
                reason=reason,
            )
            waiting = connection.execute(
                queries.REQUEST.where(
                    _P.model_id == model_id,
                    _P.version == version,
                    _P.status == PromotionStatus.PENDING.value,
                )
            ).all()
            for request in waiting:
                self._cancel(connection, request, actor=actor, reason=f"v{version} was archived")
            return len(waiting)

    # -- reading ----------------------------------------------------------------

    def requests(
        self,
        *,
        model: str | None = None,
        environment: str | None = None,
        status: PromotionStatus | None = PromotionStatus.PENDING,
        limit: int = 100,
    ) -> list[PromotionInfo]:
        """Promotion requests, newest first; by default only those that wait."""
        query = queries.REQUEST.order_by(_P.id.desc()).limit(limit)
        if model is not None:
            query = query.where(_M.name == model)
        if environment is not None:
            query = query.where(_P.environment == environment)
        if status is not None:
            query = query.where(_P.status == status.value)
        with self.store.read() as connection:
            rows = connection.execute(query).all()
            return [queries.with_decisions(connection, row) for row in rows]

    def request(self, request_id: int) -> PromotionInfo:
        with self.store.read() as connection:
            return queries.read_request(connection, request_id)

    # -- events -----------------------------------------------------------------

    def _emit(self, connection: Connection, **event: Any) -> None:
        self._announce(connection, record_event(connection, **event))

    def _announce(self, connection: Connection, event: EventInfo) -> None:
        if self._announcer is not None:
            self._announcer.announce(connection, event)
