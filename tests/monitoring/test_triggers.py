"""Conditions fire once per breach, after holding for their ``for``; schedules once a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlrelease.monitoring.triggers import (
    INACTIVE,
    TriggerState,
    judge,
    read_state,
    schedule_due,
    write_state,
)
from mlrelease.store import Store

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _run(holds: list[bool | None], hold_for: float, step: float = 60.0) -> list[tuple[str, bool]]:
    state = TriggerState("drift")
    seen = []
    for tick, value in enumerate(holds):
        now = T0 + timedelta(seconds=step * tick)
        state, fired = judge(state, holds=value, hold_for=hold_for, now=now, evidence={"t": tick})
        seen.append((state.state, fired))
    return seen


def test_a_breach_fires_once_not_on_every_tick() -> None:
    seen = _run([True, True, True, False, True], hold_for=0)
    assert [fired for _, fired in seen] == [True, False, False, False, True]
    assert [state for state, _ in seen] == ["firing", "firing", "firing", "inactive", "firing"]


def test_for_waits_until_the_condition_has_held_that_long() -> None:
    seen = _run([True, True, True, True], hold_for=120)
    assert seen == [("pending", False), ("pending", False), ("firing", True), ("firing", False)]


def test_a_gap_resets_the_wait() -> None:
    seen = _run([True, False, True, True, True], hold_for=120)
    assert [fired for _, fired in seen] == [False, False, False, False, True]


def test_a_check_that_could_not_judge_keeps_the_state() -> None:
    seen = _run([True, None, True], hold_for=0)
    assert seen == [("firing", True), ("firing", False), ("firing", False)]
    pending = _run([True, None, True], hold_for=120)
    assert pending[-1] == ("firing", True)  # the unjudged tick did not reset the clock


def test_a_schedule_fires_once_per_time_and_not_for_times_before_it_was_seen() -> None:
    state = TriggerState("schedule")
    state, fired = schedule_due(state, "0 3 * * *", T0)  # first seen: anchors, no fire
    assert not fired and state.since == T0
    state, fired = schedule_due(state, "0 3 * * *", T0 + timedelta(hours=12))
    assert not fired
    later = T0 + timedelta(hours=17, minutes=1)  # 03:01 the next day
    state, fired = schedule_due(state, "0 3 * * *", later)
    assert fired and state.fired_at == later
    assert state.evidence["due"].startswith("2026-11-24T03:00")
    state, fired = schedule_due(state, "0 3 * * *", later + timedelta(minutes=5))
    assert not fired


def test_states_survive_a_restart(store: Store) -> None:
    with store.write() as connection:
        assert read_state(connection, "m", "production", "drift").state == INACTIVE
        state = TriggerState("drift", "firing", T0, T0, {"share": 0.6})
        write_state(connection, "m", "production", state, T0)
        write_state(connection, "m", "production", state, T0)  # an update, not a second row
    with store.read() as connection:
        again = read_state(connection, "m", "production", "drift")
    assert again == state
