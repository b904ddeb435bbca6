"""What the release service hands out."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from functools import cached_property
from typing import Any

from mlrelease.release.phases import Phase
from mlrelease.spec import StepSpec, StrategySpec

__all__ = ["ReleaseInfo"]


@dataclass(frozen=True)
class ReleaseInfo:
    id: int
    model: str
    environment: str
    strategy: str  # canary | shadow
    spec: dict[str, Any]
    stable_version: int
    candidate_version: int
    promotion_id: int | None
    phase: Phase
    step_index: int
    step_started_at: datetime
    weight: int
    analysis_runs: int
    failures: int
    measurements: list[dict[str, Any]]
    reason: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @cached_property
    def strategy_spec(self) -> StrategySpec:
        return StrategySpec.model_validate(self.spec)

    @property
    def step(self) -> StepSpec | None:
        """The step being worked on; None once every step is done."""
        steps = self.strategy_spec.steps
        return steps[self.step_index] if self.step_index < len(steps) else None

    def to_dict(self) -> dict[str, Any]:
        data = {field.name: getattr(self, field.name) for field in fields(self)}
        data["phase"] = self.phase.value
        for key in ("step_started_at", "created_at", "updated_at", "finished_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        data["steps"] = len(self.strategy_spec.steps)
        return data
