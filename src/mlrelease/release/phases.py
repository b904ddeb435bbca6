"""The phases of a release and the only transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum

from mlrelease.errors import ConflictError

__all__ = ["ACTIVE_PHASES", "Phase"]


class Phase(StrEnum):
    PENDING = "pending"  # started by a promotion; the controller has not acted yet
    PROGRESSING = "progressing"  # the controller walks the steps
    PAUSED = "paused"  # waits for a person: a pause step, an inconclusive analysis, or by hand
    PROMOTING = "promoting"  # every step passed (or a person said so): the alias moves next
    SUCCEEDED = "succeeded"  # the candidate is the stable version (final)
    ABORTED = "aborted"  # all traffic back on the stable version (final)

    def check_transition(self, target: Phase, release_id: int) -> None:
        """Raise ConflictError unless a release in this phase may move to ``target``."""
        if target not in TRANSITIONS[self]:
            allowed = ", ".join(sorted(phase.value for phase in TRANSITIONS[self])) or "nothing"
            raise ConflictError(
                f"release #{release_id} is {self.value}: it cannot become {target.value} "
                f"(from {self.value} it can become: {allowed})"
            )


TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.PENDING: frozenset({Phase.PROGRESSING, Phase.PAUSED, Phase.PROMOTING, Phase.ABORTED}),
    Phase.PROGRESSING: frozenset({Phase.PAUSED, Phase.PROMOTING, Phase.ABORTED}),
    Phase.PAUSED: frozenset({Phase.PROGRESSING, Phase.PROMOTING, Phase.ABORTED}),
    Phase.PROMOTING: frozenset({Phase.SUCCEEDED, Phase.ABORTED}),
    Phase.SUCCEEDED: frozenset(),
    Phase.ABORTED: frozenset(),
}

# What the controller looks at on each tick (a paused release waits for a person).
ACTIVE_PHASES = (Phase.PENDING, Phase.PROGRESSING, Phase.PROMOTING)
