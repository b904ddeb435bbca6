"""The release controller: advances every active release by idempotent ticks.

One ``advance`` looks at a release's phase and current step and does what is due
-- set a weight, wait out a pause, take one measurement, promote or abort --
each as one transaction that locks the release and re-checks it first. State
lives only in the store, so a controller killed at any moment and started
again carries on where it stopped; a measurement taken but not committed is
simply taken again, and the router is told the current split on every tick,
which repairs a crash between the commit and the router.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mlrelease.audit import Announcer, EventInfo, EventKind
from mlrelease.errors import MlreleaseError
from mlrelease.release.phases import Phase
from mlrelease.release.records import ReleaseInfo
from mlrelease.release.service import (
    abort_release,
    active_releases,
    complete_release,
    lock_release,
    read_release,
    release_event,
    set_share,
    update_release,
)
from mlrelease.spec import AnalysisSpec, PrometheusSpec, StrategySpec
from mlrelease.store import Store
from mlrelease.traffic import TrafficState, get_traffic

__all__ = ["Analyse", "Controller", "Outcome"]

log = logging.getLogger("mlrelease.release")

CONTROLLER = "controller"  # the actor of what the controller does on its own
_MAX_MOVES_PER_TICK = 50  # a release never loops; this bounds a tick even if a step did


class Outcome(Protocol):
    """One measurement's result, as the analysis returns it."""

    @property
    def verdict(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


# (release, strategy, analysis step, window start, window end) -> the measurement
Analyse = Callable[[ReleaseInfo, StrategySpec, AnalysisSpec, datetime, datetime], Outcome]


class Router(Protocol):
    def apply(self, state: TrafficState) -> None: ...
    def problem(self) -> str | None: ...


RouterFactory = Callable[[StrategySpec], Router]


class Controller:
    def __init__(
        self,
        store: Store,
        *,
        announcer: Announcer | None = None,
        analyse: Analyse | None = None,
        routers: RouterFactory | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self._announcer = announcer
        self._analyse = analyse or _analysis_over(store)
        self._routers = routers or _default_router
        self._now = now

    def tick(self) -> list[ReleaseInfo]:
        """Advance every active release once; one release's failure does not stop the rest."""
        with self.store.read() as connection:
            active = active_releases(connection)
        advanced = []
        for release in active:
            try:
                advanced.append(self.advance(release))
            except MlreleaseError as exc:
                log.warning("release #%s: %s", release.id, exc.message)
        return advanced

    def run(
        self,
        *,
        interval: float,
        stop: threading.Event,
        after_tick: Callable[[list[ReleaseInfo]], None] = lambda releases: None,
    ) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set; a failed tick is logged."""
        while not stop.is_set():
            try:
                after_tick(self.tick())
            except Exception:  # the store may be briefly unreachable: the next tick retries
                log.exception("release controller tick failed")
            stop.wait(interval)

    def advance(self, release: ReleaseInfo | int) -> ReleaseInfo:
        """Do everything that is due for one release now, then sync its router."""
        if isinstance(release, int):
            release = self._read(release)
        release_id = release.id
        router = self._routers(release.strategy_spec)
        for _ in range(_MAX_MOVES_PER_TICK):
            if not self._move(release, router):
                break
            release = self._read(release_id)
        # Told every tick, so a crash between a commit and the router is repaired; a
        # router whose servers read the traffic table themselves needs no telling.
        if not getattr(router, "reads_the_store", False):
            with self.store.read() as connection:
                router.apply(get_traffic(connection, release.model, release.environment))
        return release

    # -- one move -------------------------------------------------------------------------

    def _move(self, release: ReleaseInfo, router: Router) -> bool:
        """Make the one change that is due; False when nothing is due now."""
        if release.phase is Phase.PENDING:
            return self._transition(release, Phase.PROGRESSING, "the controller took it up")
        if release.phase is Phase.PROMOTING:
            return self._write(
                release,
                lambda c, r: complete_release(c, r, actor=CONTROLLER, announce=self._announce),
            )
        if release.phase is not Phase.PROGRESSING:
            return False
        problem = router.problem()
        if problem is not None:
            return self._abort(release, f"the router reports: {problem}")
        step = release.step
        if step is None:
            return self._transition(release, Phase.PROMOTING, "every step passed")
        if step.weight is not None:
            return self._set_weight(release, step.weight)
        if isinstance(step.pause, dict):
            return self._transition(
                release,
                Phase.PAUSED,
                f"waiting for a person at step {release.step_index + 1}: "
                f"mlrelease release resume {release.id}",
            )
        if step.pause is not None:
            if self._now() < release.step_started_at + timedelta(seconds=step.pause):
                return False
            return self._next_step(release)
        assert step.analysis is not None  # the spec allows exactly one action per step
        return self._analyse_once(release, step.analysis)

    def _set_weight(self, release: ReleaseInfo, weight: int) -> bool:
        def write(connection: Any, current: ReleaseInfo) -> None:
            set_share(
                connection,
                current.model,
                current.environment,
                current.strategy,
                current.candidate_version,
                weight,
                actor=CONTROLLER,
            )
            self._advance_step(connection, current, weight=weight)
            release_event(
                connection,
                current,
                EventKind.RELEASE_STEP,
                CONTROLLER,
                f"{weight}% to v{current.candidate_version}",
                weight=weight,
            )

        return self._write(release, write)

    def _next_step(self, release: ReleaseInfo) -> bool:
        return self._write(release, lambda c, r: self._advance_step(c, r))

    def _advance_step(self, connection: Any, release: ReleaseInfo, **values: Any) -> None:
        update_release(
            connection,
            release.id,
            step_index=release.step_index + 1,
            step_started_at=self._now(),
            analysis_runs=0,
            **values,
        )

    def _analyse_once(self, release: ReleaseInfo, analysis: AnalysisSpec) -> bool:
        now = self._now()
        if now < release.step_started_at + timedelta(seconds=analysis.interval):
            return False
        start = now - timedelta(seconds=analysis.interval)
        try:
            outcome = self._analyse(release, release.strategy_spec, analysis, start, now)
        except MlreleaseError as exc:
            return self._transition(release, Phase.PAUSED, f"analysis could not run: {exc}")
        record = {**outcome.to_dict(), "step": release.step_index, "at": now.isoformat()}
        failed = outcome.verdict == "failed"
        failures = release.failures + int(failed)
        limit = release.strategy_spec.failure_limit

        def write(connection: Any, current: ReleaseInfo) -> None:
            runs = current.analysis_runs + 1
            update_release(
                connection,
                current.id,
                measurements=[*current.measurements, record],
                failures=failures,
                analysis_runs=runs,
                step_started_at=now,
            )
            release_event(
                connection,
                current,
                EventKind.RELEASE_ANALYSED,
                CONTROLLER,
                outcome.verdict,
                measurement=record,
            )
            if failed and failures > limit:
                abort_release(
                    connection,
                    read_release(connection, current.id),
                    actor=CONTROLLER,
                    reason=f"{failures} failed measurement(s), more than the limit of {limit}",
                    announce=self._announce,
                    measurements=[record],
                )
            elif outcome.verdict == "inconclusive":
                self._pause(
                    connection,
                    current,
                    "an analysis was inconclusive; look at it, "
                    f"then: mlrelease release resume {current.id} (or abort)",
                )
            elif runs >= analysis.count:
                self._advance_step(connection, read_release(connection, current.id))

        return self._write(release, write)

    # -- writing --------------------------------------------------------------------------

    def _write(self, seen: ReleaseInfo, change: Callable[[Any, ReleaseInfo], None]) -> bool:
        """Apply ``change`` if the release is still as ``seen``; False if it moved meanwhile."""
        with self.store.write() as connection:
            current = lock_release(connection, seen.id)
            if _position(current) != _position(seen):
                return False  # a person (or another controller) acted first: look again
            change(connection, current)
        return True

    def _transition(self, release: ReleaseInfo, phase: Phase, reason: str) -> bool:
        def write(connection: Any, current: ReleaseInfo) -> None:
            current.phase.check_transition(phase, current.id)
            update_release(
                connection,
                current.id,
                phase=phase.value,
                reason=reason,
                step_started_at=self._now(),
            )
            if phase is Phase.PAUSED:
                self._announce_event(connection, current, EventKind.RELEASE_PAUSED, reason)

        return self._write(release, write)

    def _pause(self, connection: Any, release: ReleaseInfo, reason: str) -> None:
        update_release(connection, release.id, phase=Phase.PAUSED.value, reason=reason)
        self._announce_event(connection, release, EventKind.RELEASE_PAUSED, reason)

    def _abort(self, release: ReleaseInfo, reason: str) -> bool:
        return self._write(
            release,
            lambda c, r: abort_release(
                c, r, actor=CONTROLLER, reason=reason, announce=self._announce
            ),
        )

    def _announce_event(
        self, connection: Any, release: ReleaseInfo, kind: str, reason: str
    ) -> None:
        self._announce(connection, release_event(connection, release, kind, CONTROLLER, reason))

    def _announce(self, connection: Any, event: EventInfo) -> None:
        if self._announcer is not None:
            self._announcer.announce(connection, event)

    def _read(self, release_id: int) -> ReleaseInfo:
        with self.store.read() as connection:
            return read_release(connection, release_id)


def _position(release: ReleaseInfo) -> tuple[Phase, int, int]:
    return release.phase, release.step_index, release.analysis_runs


def _analysis_over(store: Store) -> Analyse:
    """The real analysis: the strategy's checks over its metrics provider."""

    def analyse(
        release: ReleaseInfo,
        strategy: StrategySpec,
        analysis: AnalysisSpec,
        start: datetime,
        end: datetime,
    ) -> Outcome:
        from mlrelease.release.analysis import Subject, measure
        from mlrelease.release.checks import parse_check
        from mlrelease.release.metrics import make_provider

        custom = strategy.metrics.queries if isinstance(strategy.metrics, PrometheusSpec) else {}
        checks = [
            parse_check(text, extra_metrics=custom) for text in analysis.checks or strategy.checks
        ]
        subject = Subject(
            model=release.model,
            environment=release.environment,
            stable=release.stable_version,
            candidate=release.candidate_version,
            role=release.strategy,
        )
        provider = make_provider(strategy.metrics, store)
        return measure(checks, provider, subject, start=start, end=end)

    return analyse


def _default_router(strategy: StrategySpec) -> Router:
    from mlrelease.release.routers import make_router

    return make_router(strategy.router)
