"""A state machine over promote / approve / reject / rollback keeps the promotion invariants.

- an environment's alias points to exactly one version, and replaying the history
  gives the aliases as they are;
- production never gets a version that skipped staging, nor one without an
  approval by someone other than the person who asked.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from mlrelease.artifacts import open_artifact_store
from mlrelease.audit import EventKind, list_events
from mlrelease.errors import MlreleaseError
from mlrelease.promotion import ALIAS_KINDS, Promotions, live_at
from mlrelease.registry.service import Registry
from mlrelease.store import Store

from .conftest import MODEL, Gates, default_policies, register_versions

ENVIRONMENTS = ("dev", "staging", "production")
ACTORS = ("alice", "bob", "carol")
VERSIONS = st.integers(min_value=1, max_value=4)


class PromotionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="mlrelease-sm-"))
        self.store = Store.open(f"sqlite:///{self.folder / 'meta.db'}")
        registry = Registry(self.store, open_artifact_store(str(self.folder / "artifacts")))
        register_versions(registry, 4)
        self.registry = registry
        self.gates = Gates()
        self.promotions = Promotions(self.store, default_policies(), check_gates=self.gates)

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _try(self, action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except MlreleaseError as exc:
            assert exc.exit_code in {1, 2, 5}, exc  # refused by a rule, never a crash

    @rule(version=VERSIONS, env=st.sampled_from(ENVIRONMENTS), actor=st.sampled_from(ACTORS))
    def promote(self, version: int, env: str, actor: str) -> None:
        self._try(lambda: self.promotions.promote(MODEL, version, env, actor=actor))

    @rule(version=VERSIONS, asker=st.sampled_from(ACTORS), approver=st.sampled_from(ACTORS))
    def walk_to_production(self, version: int, asker: str, approver: str) -> None:
        """The common path, as one step, so that production is reached often."""
        for env in ENVIRONMENTS:
            self.promote(version, env, asker)
        for request in self.promotions.requests(environment="production"):
            self._try(lambda r=request: self.promotions.approve(r.id, actor=approver))

    @rule(version=VERSIONS, env=st.sampled_from(ENVIRONMENTS), fail=st.booleans())
    def set_gate(self, version: int, env: str, fail: bool) -> None:
        (self.gates.failing.add if fail else self.gates.failing.discard)((version, env))

    @rule(actor=st.sampled_from(ACTORS), pick=st.integers(min_value=0, max_value=3))
    def approve(self, actor: str, pick: int) -> None:
        waiting = self.promotions.requests()
        if waiting:
            request = waiting[pick % len(waiting)]
            self._try(lambda: self.promotions.approve(request.id, actor=actor))

    @rule(actor=st.sampled_from(ACTORS), pick=st.integers(min_value=0, max_value=3))
    def reject(self, actor: str, pick: int) -> None:
        waiting = self.promotions.requests()
        if waiting:
            request = waiting[pick % len(waiting)]
            self._try(lambda: self.promotions.reject(request.id, actor=actor, reason="no"))

    @rule(env=st.sampled_from(ENVIRONMENTS), to=st.none() | VERSIONS)
    def rollback(self, env: str, to: int | None) -> None:
        self._try(
            lambda: self.promotions.rollback(MODEL, env, to=to, actor="ops", reason="incident")
        )

    @invariant()
    def history_replays_to_the_aliases(self) -> None:
        with self.store.read() as connection:
            assert live_at(connection, MODEL) == self.registry.model(MODEL).aliases

    @invariant()
    def production_only_gets_staged_and_approved_versions(self) -> None:
        with self.store.read() as connection:
            moves = list_events(connection, model=MODEL, kinds=ALIAS_KINDS)
        staged: set[int] = set()
        for event in moves:
            assert event.to_version is not None
            if event.environment == "staging":
                staged.add(event.to_version)
            if event.environment == "production" and event.kind == EventKind.PROMOTED:
                assert event.to_version in staged
                approvers = event.payload["approved_by"]
                assert approvers and event.payload["requested_by"] not in approvers


TestPromotionMachine = PromotionMachine.TestCase
TestPromotionMachine.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
