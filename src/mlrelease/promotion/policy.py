"""Each environment's policy, read from the project file (or the defaults without one)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mlrelease.errors import ConfigError
from mlrelease.spec import (
    EnvironmentSpec,
    ProjectSpec,
    ReleaseSpec,
    StrategySpec,
    default_environments,
    order_environments,
)

__all__ = ["EnvironmentPolicy", "Policies"]


@dataclass(frozen=True)
class EnvironmentPolicy:
    name: str
    after: str | None  # the environment a version must have been in first
    approvals: int  # approvals needed before the alias moves; 0 moves it at once
    self_approval: bool  # may the person who asked approve their own request?
    release: str  # direct | canary | shadow (the release controller drives the last two)


class Policies:
    """The environments in order, with their policies."""

    def __init__(
        self, environments: dict[str, EnvironmentSpec], release: ReleaseSpec | None = None
    ) -> None:
        self._release = release or ReleaseSpec()
        order = order_environments(environments)
        self._by_name = {
            name: _policy(name, environments[name], is_last=name == order[-1]) for name in order
        }

    @classmethod
    def from_spec(cls, spec: ProjectSpec | None) -> Policies:
        if spec is None:
            return cls(default_environments())
        return cls(spec.environments, spec.release)

    def strategy(self, name: str) -> StrategySpec:
        """The steps and checks of a ``release:`` strategy (canary or shadow)."""
        strategy = getattr(self._release, name, None)
        if not isinstance(strategy, StrategySpec):
            raise ConfigError(
                f"an environment releases by '{name}', but the project file has no "
                f"release: {name}: section; add one with its steps"
            )
        return strategy

    def __getitem__(self, name: str) -> EnvironmentPolicy:
        try:
            return self._by_name[name]
        except KeyError:
            raise ConfigError(
                f"no environment named '{name}'; defined: {', '.join(self._by_name)} "
                "(environments: in the project file)"
            ) from None

    def __iter__(self) -> Iterator[EnvironmentPolicy]:
        return iter(self._by_name.values())

    @property
    def names(self) -> list[str]:
        return list(self._by_name)


def _policy(name: str, spec: EnvironmentSpec, *, is_last: bool) -> EnvironmentPolicy:
    # Unset self_approval: the last environment (production by default) needs someone else.
    self_approval = not is_last if spec.self_approval is None else spec.self_approval
    return EnvironmentPolicy(
        name=name,
        after=spec.after,
        approvals=spec.approvals,
        self_approval=self_approval,
        release=spec.release,
    )
