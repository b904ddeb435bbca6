"""Promotion rules, approvals, rejection, rollback and archive, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from mlrelease.audit import EventKind, list_events
from mlrelease.errors import (
    ConfigError,
    ConflictError,
    GateFailed,
    NotFoundError,
    PromotionRefused,
)
from mlrelease.promotion import Promotions, PromotionStatus
from mlrelease.registry.service import Registry
from mlrelease.store import tables
from mlrelease.traffic import get_traffic, set_traffic

from .conftest import MODEL, Gates, default_policies


def _to_production(promotions: Promotions, version: int, *, approver: str = "bob") -> None:
    promotions.promote(MODEL, version, "dev", actor="alice")
    promotions.promote(MODEL, version, "staging", actor="alice")
    request = promotions.promote(MODEL, version, "production", actor="alice")
    promotions.approve(request.id, actor=approver)


def _kinds(promotions: Promotions) -> list[str]:
    with promotions.store.read() as connection:
        return [event.kind for event in list_events(connection, model=MODEL)]


def _live(registry: Registry, env: str) -> int | None:
    return registry.alias_version(MODEL, env)


def test_a_promotion_without_approvals_moves_the_alias_at_once(
    promotions: Promotions, registry: Registry, gates: Gates
) -> None:
    outcome = promotions.promote(MODEL, 1, "dev", actor="alice", reason="first")
    assert outcome.status is PromotionStatus.PROMOTED
    assert outcome.gate_results[0]["passed"] is True
    assert _live(registry, "dev") == 1
    assert gates.calls == [(MODEL, 1, "dev")]
    with promotions.store.read() as connection:
        promoted = list_events(connection, model=MODEL, kinds=[EventKind.PROMOTED])
    assert [(e.actor, e.environment, e.from_version, e.to_version, e.reason) for e in promoted] == [
        ("alice", "dev", None, 1, "first")
    ]
    assert promoted[0].payload["gates"][0]["gate"] == "macro_f1 >= 0.5"


def test_skipping_an_environment_is_refused_naming_the_command(
    promotions: Promotions, registry: Registry
) -> None:
    with pytest.raises(PromotionRefused, match=r"has not been in dev.*--to dev") as caught:
        promotions.promote(MODEL, 1, "staging", actor="alice")
    assert caught.value.exit_code != 0
    assert _live(registry, "staging") is None
    assert EventKind.PROMOTED not in _kinds(promotions)


def test_an_unknown_environment_lists_the_defined_ones(promotions: Promotions) -> None:
    with pytest.raises(ConfigError, match="defined: dev, staging, production"):
        promotions.promote(MODEL, 1, "prod", actor="alice")


def test_a_failed_gate_refuses_and_is_recorded(
    promotions: Promotions, registry: Registry, gates: Gates
) -> None:
    promotions.promote(MODEL, 1, "dev", actor="alice")
    gates.failing.add((1, "staging"))
    with pytest.raises(GateFailed, match="macro_f1 >= 0.5") as caught:
        promotions.promote(MODEL, 1, "staging", actor="alice")
    assert caught.value.details["gates"][0]["passed"] is False
    assert _live(registry, "staging") is None
    assert _kinds(promotions)[-1] == EventKind.GATE_FAILED
    assert promotions.requests(status=None)[0].environment == "dev"  # no staging request


def test_production_waits_for_an_approval_by_someone_else(
    promotions: Promotions, registry: Registry
) -> None:
    promotions.promote(MODEL, 1, "dev", actor="alice")
    promotions.promote(MODEL, 1, "staging", actor="alice")
    request = promotions.promote(MODEL, 1, "production", actor="alice", reason="q4 model")
    assert request.status is PromotionStatus.PENDING
    assert _live(registry, "production") is None
    assert [r.id for r in promotions.requests()] == [request.id]

    with pytest.raises(PromotionRefused, match="needs the approval of someone else"):
        promotions.approve(request.id, actor="alice")
    done = promotions.approve(request.id, actor="bob", reason="looks good")

    assert done.status is PromotionStatus.PROMOTED
    assert done.approvals == 1
    assert [d.actor for d in done.decisions] == ["bob"]
    assert _live(registry, "production") == 1
    assert promotions.requests() == []
    with promotions.store.read() as connection:
        (promoted,) = list_events(
            connection, model=MODEL, environment="production", kinds=[EventKind.PROMOTED]
        )
    assert promoted.payload["requested_by"] == "alice"
    assert promoted.payload["approved_by"] == ["bob"]
    assert promoted.reason == "q4 model"


def test_self_approval_is_a_per_environment_setting(registry: Registry, gates: Gates) -> None:
    from .conftest import register_versions

    register_versions(registry, 1)
    promotions = Promotions(registry.store, default_policies(self_approval=True), check_gates=gates)
    promotions.promote(MODEL, 1, "dev", actor="alice")
    promotions.promote(MODEL, 1, "staging", actor="alice")
    request = promotions.promote(MODEL, 1, "production", actor="alice")
    assert promotions.approve(request.id, actor="alice").status is PromotionStatus.PROMOTED


def test_two_approvals_needed_means_the_first_one_waits(registry: Registry, gates: Gates) -> None:
    from .conftest import register_versions

    register_versions(registry, 1)
    promotions = Promotions(registry.store, default_policies(approvals=2), check_gates=gates)
    promotions.promote(MODEL, 1, "dev", actor="alice")
    promotions.promote(MODEL, 1, "staging", actor="alice")
    request = promotions.promote(MODEL, 1, "production", actor="alice")
    first = promotions.approve(request.id, actor="bob")
    assert (first.status, first.approvals_missing) == (PromotionStatus.PENDING, 1)
    with pytest.raises(ConflictError, match="already decided"):
        promotions.approve(request.id, actor="bob")
    assert promotions.approve(request.id, actor="carol").status is PromotionStatus.PROMOTED


def test_a_rejection_needs_a_reason_and_closes_the_request(
    promotions: Promotions, registry: Registry
) -> None:
    promotions.promote(MODEL, 1, "dev", actor="alice")
    promotions.promote(MODEL, 1, "staging", actor="alice")
    request = promotions.promote(MODEL, 1, "production", actor="alice")
    with pytest.raises(ConfigError, match="needs a reason"):
        promotions.reject(request.id, actor="bob", reason=" ")
    rejected = promotions.reject(request.id, actor="bob", reason="latency too high")
    assert rejected.status is PromotionStatus.REJECTED
    with pytest.raises(ConflictError, match="already rejected"):
        promotions.approve(request.id, actor="carol")
    assert _live(registry, "production") is None
    # A rejected request no longer blocks a new one.
    assert promotions.promote(MODEL, 1, "production", actor="alice").status == "pending"


def test_a_waiting_request_blocks_another_for_the_same_environment(
    promotions: Promotions,
) -> None:
    for version in (1, 2):
        promotions.promote(MODEL, version, "dev", actor="alice")
        promotions.promote(MODEL, version, "staging", actor="alice")
    first = promotions.promote(MODEL, 1, "production", actor="alice")
    with pytest.raises(ConflictError, match=f"#{first.id}.*already waits"):
        promotions.promote(MODEL, 2, "production", actor="alice")


def test_an_approval_after_the_environment_moved_cancels_the_request(
    promotions: Promotions, registry: Registry
) -> None:
    _to_production(promotions, 1)
    _to_production(promotions, 2)
    promotions.promote(MODEL, 3, "dev", actor="alice")
    promotions.promote(MODEL, 3, "staging", actor="alice")
    request = promotions.promote(MODEL, 3, "production", actor="alice")
    # An emergency rollback while v3 waits: its gates were judged against v2.
    promotions.rollback(MODEL, "production", actor="ops", reason="v2 errors")
    with pytest.raises(ConflictError, match="cancelled.*ask again"):
        promotions.approve(request.id, actor="bob")
    assert promotions.request(request.id).status is PromotionStatus.CANCELLED
    assert _live(registry, "production") == 1


def test_archived_versions_cannot_be_promoted_and_their_requests_are_cancelled(
    promotions: Promotions, registry: Registry
) -> None:
    promotions.promote(MODEL, 1, "dev", actor="alice")
    with pytest.raises(ConflictError, match="live in dev"):
        promotions.archive(MODEL, 1, actor="admin")
    promotions.promote(MODEL, 2, "dev", actor="alice")
    promotions.promote(MODEL, 1, "staging", actor="alice")
    promotions.promote(MODEL, 2, "staging", actor="alice")
    promotions.promote(MODEL, 1, "production", actor="alice")  # waits
    promotions.rollback(MODEL, "staging", actor="ops", reason="v2 misbehaves")
    promotions.promote(MODEL, 3, "dev", actor="alice")
    assert promotions.archive(MODEL, 2, actor="admin", reason="superseded") == 0
    with pytest.raises(PromotionRefused, match="archived"):
        promotions.promote(MODEL, 2, "staging", actor="alice")
    (waiting,) = promotions.requests()
    assert waiting.version == 1


def test_rollback_returns_to_the_previous_version_and_clears_the_canary(
    promotions: Promotions, registry: Registry
) -> None:
    for version in (1, 2, 3):
        promotions.promote(MODEL, version, "dev", actor="alice")
    set_traffic(registry.store, MODEL, "dev", canary=1, canary_weight=20, actor="ops")
    event = promotions.rollback(MODEL, "dev", actor="ops", reason="errors spiked")
    assert (event.from_version, event.to_version, event.kind) == (3, 2, EventKind.ROLLED_BACK)
    assert event.payload["cleared_traffic"]["canary_version"] == 1
    with registry.store.read() as connection:
        assert get_traffic(connection, MODEL, "dev").canary is None
    # A second rollback goes further back instead of re-deploying what was rolled back.
    assert promotions.rollback(MODEL, "dev", actor="ops", reason="still bad").to_version == 1
    with pytest.raises(ConflictError, match="no earlier version"):
        promotions.rollback(MODEL, "dev", actor="ops", reason="again")
    assert _live(registry, "dev") == 1


def test_rollback_to_a_named_version_only_if_it_was_live_there(
    promotions: Promotions, registry: Registry
) -> None:
    for version in (1, 2, 3):
        promotions.promote(MODEL, version, "dev", actor="alice")
    promotions.promote(MODEL, 1, "staging", actor="alice")
    with pytest.raises(PromotionRefused, match="v3 was never live in staging"):
        promotions.rollback(MODEL, "staging", to=3, actor="ops", reason="x")
    with pytest.raises(PromotionRefused, match="v4 was never live in dev"):
        promotions.rollback(MODEL, "dev", to=4, actor="ops", reason="x")
    with pytest.raises(ConfigError, match="needs a reason"):
        promotions.rollback(MODEL, "dev", to=1, actor="ops", reason="")
    assert promotions.rollback(MODEL, "dev", to=1, actor="ops", reason="x").to_version == 1
    assert _live(registry, "dev") == 1


def test_rollback_with_nothing_live_is_a_conflict(promotions: Promotions) -> None:
    with pytest.raises(ConflictError, match="nothing is live in production"):
        promotions.rollback(MODEL, "production", actor="ops", reason="x")


def test_unknown_requests_and_models_are_not_found(promotions: Promotions) -> None:
    with pytest.raises(NotFoundError, match="#99"):
        promotions.approve(99, actor="bob")
    with pytest.raises(NotFoundError, match="no model named 'nope'"):
        promotions.promote("nope", 1, "dev", actor="alice")
    with pytest.raises(NotFoundError, match="no version 9"):
        promotions.promote(MODEL, 9, "dev", actor="alice")


def test_the_history_replayed_says_what_was_live_at_any_moment(
    promotions: Promotions, registry: Registry
) -> None:
    from mlrelease.promotion import live_at

    promotions.promote(MODEL, 1, "dev", actor="alice")
    after_first = datetime.now(UTC)
    promotions.promote(MODEL, 2, "dev", actor="alice")
    promotions.promote(MODEL, 2, "staging", actor="alice")
    after_second = datetime.now(UTC)
    promotions.rollback(MODEL, "dev", actor="ops", reason="x")
    with registry.store.read() as connection:
        assert live_at(connection, MODEL, after_first) == {"dev": 1}
        assert live_at(connection, MODEL, after_second) == {"dev": 2, "staging": 2}
        assert live_at(connection, MODEL) == {"dev": 1, "staging": 2}
    assert registry.model(MODEL).aliases == {"dev": 1, "staging": 2}


def test_a_refused_promotion_writes_nothing_but_its_event(promotions: Promotions) -> None:
    promotions.promote(MODEL, 1, "dev", actor="alice")
    with promotions.store.read() as connection:
        before = connection.execute(select(func.count()).select_from(tables.events)).scalar()
    with pytest.raises(ConflictError):
        promotions.promote(MODEL, 1, "dev", actor="alice")
    with promotions.store.read() as connection:
        after = connection.execute(select(func.count()).select_from(tables.events)).scalar()
        requests = connection.execute(select(func.count()).select_from(tables.promotions))
        assert requests.scalar() == 1
    assert after == before
