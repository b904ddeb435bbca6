"""Racing decisions leave exactly one consistent alias and a complete history (both backends)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from mlrelease.audit import EventKind, list_events
from mlrelease.errors import MlreleaseError
from mlrelease.promotion import Promotions, PromotionStatus, live_at
from mlrelease.registry.service import Registry

from .conftest import MODEL, Gates, default_policies, register_versions


def _race(*actions: Callable[[], Any]) -> list[Any]:
    """Run the actions at the same moment; each result is a value or the error raised."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def run(index: int, action: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = action()
        except MlreleaseError as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=item) for item in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _assert_history_matches_aliases(promotions: Promotions, registry: Registry) -> None:
    with promotions.store.read() as connection:
        assert live_at(connection, MODEL) == registry.model(MODEL).aliases


def test_two_approvals_racing_for_the_last_slot_promote_once(
    registry: Registry, gates: Gates
) -> None:
    register_versions(registry, 1)
    promotions = Promotions(registry.store, default_policies(approvals=2), check_gates=gates)
    promotions.promote(MODEL, 1, "dev", actor="alice")
    promotions.promote(MODEL, 1, "staging", actor="alice")
    request = promotions.promote(MODEL, 1, "production", actor="alice")
    promotions.approve(request.id, actor="bob")

    outcomes = _race(
        lambda: promotions.approve(request.id, actor="carol"),
        lambda: promotions.approve(request.id, actor="dave"),
    )

    won = [o for o in outcomes if not isinstance(o, Exception)]
    lost = [o for o in outcomes if isinstance(o, Exception)]
    assert len(won) == 1 and won[0].status is PromotionStatus.PROMOTED
    assert len(lost) == 1 and "already promoted" in lost[0].message
    with promotions.store.read() as connection:
        promoted = list_events(
            connection, model=MODEL, environment="production", kinds=[EventKind.PROMOTED]
        )
    assert len(promoted) == 1
    assert registry.alias_version(MODEL, "production") == 1
    _assert_history_matches_aliases(promotions, registry)


def test_a_promotion_racing_a_rollback_leaves_one_consistent_alias(
    registry: Registry, gates: Gates
) -> None:
    register_versions(registry, 7)
    promotions = Promotions(registry.store, default_policies(), check_gates=gates)
    promotions.promote(MODEL, 1, "dev", actor="alice")
    for version in (2, 4, 6):
        promotions.promote(MODEL, version, "dev", actor="alice")
        outcomes = _race(
            lambda v=version: promotions.promote(MODEL, v + 1, "dev", actor="alice"),
            lambda: promotions.rollback(MODEL, "dev", actor="ops", reason="race"),
        )
        assert all(not isinstance(o, Exception) or o.exit_code == 5 for o in outcomes), outcomes
        _assert_history_matches_aliases(promotions, registry)
    with promotions.store.read() as connection:
        moves = list_events(connection, model=MODEL, environment="dev")
    # Every move starts from where the previous one left the alias: no lost update.
    for before, after in zip(moves, moves[1:], strict=False):
        assert after.from_version == before.to_version
