"""A registry with a few versions of one model, and a gate checker the tests can steer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from mlrelease.gates import GateResult
from mlrelease.promotion import Policies, Promotions
from mlrelease.registry.records import NewVersion
from mlrelease.registry.service import Registry
from mlrelease.spec import EnvironmentSpec

MODEL = "churn"


@dataclass
class Gates:
    """Which (version, environment) pairs fail their gates; everything else passes."""

    failing: set[tuple[int, str]] = field(default_factory=set)
    calls: list[tuple[str, int, str]] = field(default_factory=list)

    def __call__(self, model: str, version: int, env: str) -> Sequence[GateResult]:
        self.calls.append((model, version, env))
        passed = (version, env) not in self.failing
        return [
            GateResult(
                gate="macro_f1 >= 0.5",
                passed=passed,
                value=0.8 if passed else 0.3,
                threshold=0.5,
                op=">=",
                env=None,
                champion_version=None,
                confidence=None,
                bound=None,
                note="",
            )
        ]


def register_versions(registry: Registry, count: int, *, model: str = MODEL) -> None:
    for _ in range(count):
        registry.register(
            model,
            "classification",
            NewVersion(
                flavor="function",
                artifact_uri="file:///nowhere",
                artifact_sha256="0" * 64,
                signature={"inputs": [{"name": "x", "kind": "float"}]},
            ),
            actor="trainer",
        )


def default_policies(**production: object) -> Policies:
    return Policies(
        {
            "dev": EnvironmentSpec(),
            "staging": EnvironmentSpec(after="dev"),
            "production": EnvironmentSpec.model_validate(
                {"after": "staging", "approvals": 1, **production}
            ),
        }
    )


@pytest.fixture
def gates() -> Gates:
    return Gates()


@pytest.fixture
def promotions(registry: Registry, gates: Gates) -> Promotions:
    register_versions(registry, 4)
    return Promotions(registry.store, default_policies(), check_gates=gates)
