"""The release controller over a real store, with the analysis and the router as seams."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlrelease.audit import EventKind, list_events
from mlrelease.errors import ConfigError, ConflictError
from mlrelease.promotion import Policies, Promotions, PromotionStatus
from mlrelease.registry.service import Registry
from mlrelease.release.controller import Controller
from mlrelease.release.phases import TRANSITIONS, Phase
from mlrelease.release.service import Releases
from mlrelease.spec import EnvironmentSpec, ReleaseSpec, StrategySpec
from mlrelease.store import Store
from mlrelease.traffic import TrafficState, get_traffic

from ..promotion.conftest import MODEL, Gates, register_versions

STEPS = [
    {"weight": 20},
    {"analysis": {"interval": "10s", "count": 2}},
    {"weight": 50},
    {"pause": {}},
    {"pause": "1m"},
]


@dataclass
class Clock:
    now: datetime = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Outcome:
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "checks": []}


@dataclass
class Analysis:
    """Verdicts to hand out, in order; the windows it was asked about."""

    verdicts: list[str] = field(default_factory=list)
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)

    def __call__(
        self, release: Any, strategy: Any, step: Any, start: datetime, end: datetime
    ) -> Outcome:
        self.windows.append((start, end))
        return Outcome(self.verdicts.pop(0) if self.verdicts else "successful")


@dataclass
class Router:
    applied: list[TrafficState] = field(default_factory=list)
    trouble: str | None = None

    def apply(self, state: TrafficState) -> None:
        self.applied.append(state)

    def problem(self) -> str | None:
        return self.trouble


@dataclass
class Setup:
    store: Store
    registry: Registry
    promotions: Promotions
    releases: Releases
    controller: Controller
    clock: Clock
    analysis: Analysis
    router: Router

    def run_for(self, seconds: float, every: float = 1.0) -> None:
        for _ in range(int(seconds / every)):
            self.clock.advance(every)
            self.controller.tick()

    def traffic(self) -> TrafficState:
        with self.store.read() as connection:
            return get_traffic(connection, MODEL, "production")

    def kinds(self) -> list[str]:
        with self.store.read() as connection:
            return [e.kind for e in list_events(connection, model=MODEL, environment="production")]


def _policies(steps: list[dict[str, Any]], failure_limit: int = 0) -> Policies:
    strategy = StrategySpec.model_validate({"steps": steps, "failure_limit": failure_limit})
    return Policies(
        {
            "dev": EnvironmentSpec(),
            "staging": EnvironmentSpec(after="dev"),
            "production": EnvironmentSpec(after="staging", release="canary"),
        },
        ReleaseSpec(canary=strategy),
    )


def _setup(registry: Registry, steps: list[dict[str, Any]] = STEPS, **options: Any) -> Setup:
    register_versions(registry, 3)
    promotions = Promotions(registry.store, _policies(steps, **options), check_gates=Gates())
    for version in (1, 2):
        for env in ("dev", "staging", "production"):
            promotions.promote(MODEL, version, env, actor="alice")
    clock, analysis, router = Clock(), Analysis(), Router()
    controller = Controller(
        registry.store, analyse=analysis, routers=lambda spec: router, now=clock
    )
    return Setup(
        registry.store,
        registry,
        promotions,
        Releases(registry.store, now=clock),
        controller,
        clock,
        analysis,
        router,
    )


def _release(setup: Setup) -> Any:
    (release,) = setup.releases.list()
    return release


def test_a_first_version_goes_live_directly_and_the_next_starts_a_release(
    registry: Registry,
) -> None:
    setup = _setup(registry)
    release = _release(setup)
    assert (release.phase, release.stable_version, release.candidate_version) == (
        Phase.PENDING,
        1,
        2,
    )
    assert registry.alias_version(MODEL, "production") == 1  # the alias waits for the release
    traffic = setup.traffic()
    assert (traffic.stable, traffic.canary, traffic.canary_weight) == (1, 2, 0)
    request = setup.promotions.request(release.promotion_id)
    assert request.status is PromotionStatus.RELEASING
    setup.promotions.promote(MODEL, 3, "dev", actor="alice")
    setup.promotions.promote(MODEL, 3, "staging", actor="alice")
    with pytest.raises(ConflictError, match=f"release #{release.id} is moving production"):
        setup.promotions.promote(MODEL, 3, "production", actor="alice")


def test_the_steps_run_in_order_to_a_promotion(registry: Registry) -> None:
    setup = _setup(registry)
    weights = []

    setup.controller.tick()  # pending -> progressing -> 20%
    weights.append(setup.traffic().canary_weight)
    setup.run_for(25)  # two measurements 10 s apart, then 50%, then the pause for a person
    release = _release(setup)
    assert release.phase is Phase.PAUSED and "mlrelease release resume" in release.reason
    assert [end - start for start, end in setup.analysis.windows] == [timedelta(seconds=10)] * 2
    weights.append(setup.traffic().canary_weight)

    setup.releases.resume(release.id, actor="bob")
    setup.run_for(30)
    assert _release(setup).phase is Phase.PROGRESSING  # the 1 minute pause
    setup.run_for(40)

    release = _release(setup)
    assert release.phase is Phase.SUCCEEDED
    assert weights == [20, 50]
    assert registry.alias_version(MODEL, "production") == 2
    traffic = setup.traffic()
    assert (traffic.stable, traffic.canary, traffic.canary_weight) == (2, None, 0)
    assert setup.promotions.request(release.promotion_id).status is PromotionStatus.PROMOTED
    assert setup.router.applied[-1] == traffic
    kinds = setup.kinds()
    assert kinds.count(EventKind.RELEASE_PROMOTED) == 1
    assert kinds.index(EventKind.RELEASE_STARTED) < kinds.index(EventKind.PROMOTED, 3)
    assert max(state.canary_weight for state in setup.router.applied) == 50


def test_failed_measurements_over_the_limit_abort_at_once(registry: Registry) -> None:
    steps = [{"weight": 20}, {"analysis": {"interval": "10s", "count": 5}}, {"weight": 50}]
    setup = _setup(registry, steps, failure_limit=1)
    setup.analysis.verdicts = ["failed", "successful", "failed"]
    setup.run_for(60)
    release = _release(setup)
    assert release.phase is Phase.ABORTED
    assert release.failures == 2 and "more than the limit of 1" in release.reason
    assert registry.alias_version(MODEL, "production") == 1
    traffic = setup.traffic()
    assert (traffic.canary, traffic.canary_weight) == (None, 0)
    assert setup.router.applied[-1] == traffic
    assert setup.kinds().count(EventKind.RELEASE_ABORTED) == 1
    request = setup.promotions.request(release.promotion_id)
    assert request.status is PromotionStatus.CANCELLED
    setup.run_for(10)
    assert setup.kinds().count(EventKind.RELEASE_ABORTED) == 1  # aborted once, told once


def test_an_inconclusive_measurement_pauses_for_a_person(registry: Registry) -> None:
    setup = _setup(registry)
    setup.analysis.verdicts = ["inconclusive"]
    setup.run_for(12)
    release = _release(setup)
    assert release.phase is Phase.PAUSED and "inconclusive" in release.reason
    assert setup.traffic().canary_weight == 20  # paused, not rolled back
    setup.run_for(30)
    assert _release(setup).analysis_runs == 1  # nothing happens while paused
    setup.releases.resume(release.id, actor="bob")
    setup.run_for(11)
    assert _release(setup).step_index == 3  # the second measurement, then 50%, then wait


def test_a_router_problem_aborts(registry: Registry) -> None:
    setup = _setup(registry)
    setup.controller.tick()
    setup.router.trouble = "canary at 127.0.0.1:9 refused the connection"
    setup.controller.tick()
    release = _release(setup)
    assert release.phase is Phase.ABORTED and "refused the connection" in release.reason


def test_a_person_can_pause_promote_and_abort(registry: Registry) -> None:
    setup = _setup(registry)
    setup.controller.tick()
    release = _release(setup)
    setup.releases.pause(release.id, actor="bob", reason="holiday")
    setup.run_for(30)
    assert _release(setup).phase is Phase.PAUSED and setup.analysis.windows == []
    setup.releases.promote(release.id, actor="bob")
    setup.controller.tick()
    assert _release(setup).phase is Phase.SUCCEEDED
    with pytest.raises(ConflictError, match="succeeded: it cannot become aborted"):
        setup.releases.abort(release.id, actor="bob", reason="too late")


def test_a_rollback_during_a_release_aborts_it(registry: Registry) -> None:
    setup = _setup(registry)
    setup.releases.promote(_release(setup).id, actor="bob")
    setup.controller.tick()  # v2 is the stable version now
    for env in ("dev", "staging", "production"):
        setup.promotions.promote(MODEL, 3, env, actor="alice")
    setup.controller.tick()
    assert setup.traffic().canary == 3

    setup.promotions.rollback(MODEL, "production", actor="ops", reason="errors")

    newest = setup.releases.list()[0]
    assert newest.phase is Phase.ABORTED and newest.reason == "rolled back: errors"
    traffic = setup.traffic()
    assert (traffic.stable, traffic.canary) == (1, None)


def test_a_new_controller_carries_on_where_another_stopped(registry: Registry) -> None:
    setup = _setup(registry)
    setup.run_for(12)  # 20%, first measurement
    before = _release(setup)
    fresh = Controller(
        setup.store, analyse=setup.analysis, routers=lambda spec: setup.router, now=setup.clock
    )
    setup.controller = fresh
    setup.run_for(10)
    after = _release(setup)
    assert (before.step_index, before.analysis_runs) == (1, 1)
    assert (after.step_index, after.analysis_runs) == (3, 0)  # 2nd measurement, 50%, pause
    assert len(setup.analysis.windows) == 2  # no measurement repeated


@pytest.mark.parametrize(("source", "target"), list(itertools.product(Phase, Phase)))
def test_only_the_transitions_in_the_table_are_allowed(source: Phase, target: Phase) -> None:
    if target in TRANSITIONS[source]:
        source.check_transition(target, 1)
    else:
        with pytest.raises(ConflictError, match=f"cannot become {target.value}"):
            source.check_transition(target, 1)


def test_a_shadow_release_mirrors_and_never_serves_until_promoted(registry: Registry) -> None:
    register_versions(registry, 2)
    shadow = StrategySpec.model_validate(
        {"steps": [{"weight": 50}, {"analysis": {"interval": "10s", "count": 1}}]}
    )
    policies = Policies(
        {"production": EnvironmentSpec(release="shadow")},
        ReleaseSpec(shadow=shadow),
    )
    promotions = Promotions(registry.store, policies, check_gates=Gates())
    promotions.promote(MODEL, 1, "production", actor="alice")
    promotions.promote(MODEL, 2, "production", actor="alice")
    clock, analysis, router = Clock(), Analysis(), Router()
    controller = Controller(registry.store, analyse=analysis, routers=lambda s: router, now=clock)

    controller.tick()
    with registry.store.read() as connection:
        traffic = get_traffic(connection, MODEL, "production")
    assert (traffic.canary, traffic.canary_weight) == (None, 0)  # nothing answered by v2
    assert (traffic.shadow, traffic.shadow_share) == (2, 50)
    clock.advance(11)
    (release,) = [controller.advance(r.id) for r in Releases(registry.store).list()]
    assert release.phase is Phase.SUCCEEDED
    assert registry.alias_version(MODEL, "production") == 2


def test_a_shadow_environment_needs_a_shadow_strategy(registry: Registry) -> None:
    register_versions(registry, 2)
    policies = Policies({"production": EnvironmentSpec(release="shadow")}, ReleaseSpec())
    promotions = Promotions(registry.store, policies, check_gates=Gates())
    promotions.promote(MODEL, 1, "production", actor="alice")
    with pytest.raises(ConfigError, match="no release: shadow: section"):
        promotions.promote(MODEL, 2, "production", actor="alice")
    assert registry.alias_version(MODEL, "production") == 1
