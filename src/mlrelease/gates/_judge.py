"""Judging parsed gates against a candidate's metrics and the champions live now.

A gate with ``confidence`` holds only if a one-sided paired-bootstrap bound of
``lhs - rhs`` satisfies the comparison against 0 (see ``evaluation.bootstrap``).
A champion is always scored afresh on the candidate's own evaluation rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final, TypeAlias

import numpy as np

from mlrelease.errors import ConfigError, DataError, GateFailed
from mlrelease.evaluation.bootstrap import one_sided_bound, paired_bootstrap
from mlrelease.evaluation.metrics import Scored, Task, compute_metric, metric_def
from mlrelease.gates._syntax import (
    COMPARE,
    NEGATED,
    ONE_SIDED,
    Arithmetic,
    Comparison,
    Expr,
    FloatArray,
    Gate,
    Metric,
    Negate,
    Number,
)

__all__ = ["Champion", "GateResult", "evaluate_gates", "raise_for_failed_gates"]


@dataclass(frozen=True)
class Champion:
    """The version live in an environment, scored on the candidate's evaluation rows."""

    version: int
    scored: Scored


@dataclass(frozen=True)
class GateResult:
    """The verdict on one gate, with the figures behind it."""

    gate: str
    passed: bool
    value: float  # lhs on the full evaluation set
    threshold: float  # rhs on the full evaluation set
    op: str
    env: str | None  # set when the gate refers to a champion
    champion_version: int | None
    confidence: float | None
    bound: float | None  # bootstrap bound of lhs - rhs, when confidence was asked
    note: str  # one human sentence

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: nan and infinities become ``None``."""
        return {f.name: _json_safe(getattr(self, f.name)) for f in fields(self)}


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def evaluate_gates(
    gates: Sequence[Gate],
    task: Task,
    *,
    candidate: Scored | None,
    candidate_metrics: Mapping[str, float],
    champions: Mapping[str, Champion | None],
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[GateResult]:
    """Evaluate every gate; failures are results, not exceptions.

    ``candidate`` is ``None`` when only ``candidate_metrics`` are known; gates that
    compare with a champion or ask for confidence then raise ``ConfigError``.
    ``champions`` maps each environment in ``gates_need_champion(gates)`` to its
    champion, or ``None`` when no version is live there (such gates pass).
    """
    evaluator = _Evaluator(task, candidate, candidate_metrics, champions, n_resamples, seed)
    return [evaluator.evaluate(gate) for gate in gates]


class _DivisionByZero(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(f"division by zero ({count}x)")
        self.count = count


# Values are arrays so one tree walk evaluates either a full-set figure (shape (1,))
# or a whole bootstrap distribution (shape (n_resamples,)).
_Resolve: TypeAlias = Callable[[Metric], FloatArray]

_ARITHMETIC: Final[dict[str, Callable[[FloatArray, FloatArray], FloatArray]]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
}


def _evaluate(node: Expr, resolve: _Resolve) -> FloatArray:
    match node:
        case Number(value):
            return np.array([value])
        case Metric():
            return resolve(node)
        case Negate(operand):
            return -_evaluate(operand, resolve)
        case Arithmetic(symbol, left, right):
            lhs, rhs = _evaluate(left, resolve), _evaluate(right, resolve)
            if symbol == "/" and (zeros := int(np.count_nonzero(rhs == 0))):
                raise _DivisionByZero(zeros)
            # Overflow to inf is reported through the result, not as a warning.
            with np.errstate(over="ignore", invalid="ignore"):
                return _ARITHMETIC[symbol](lhs, rhs)
    raise AssertionError(f"unhandled node {node!r}")


class _Evaluator:
    """Evaluates gates for one candidate, caching metrics and bootstrap distributions.

    Every distribution uses the same ``n_rows`` and ``seed``, so all of them, across
    gates and models, are computed on one shared, paired set of resamples.
    """

    def __init__(
        self,
        task: Task,
        candidate: Scored | None,
        candidate_metrics: Mapping[str, float],
        champions: Mapping[str, Champion | None],
        n_resamples: int,
        seed: int,
    ) -> None:
        self._task = task
        self._candidate = candidate
        self._candidate_metrics = candidate_metrics
        self._champions = champions
        self._n_resamples = n_resamples
        self._seed = seed
        self._full: dict[tuple[int, str], float] = {}
        self._distributions: dict[tuple[int, str], FloatArray] = {}

    def evaluate(self, gate: Gate) -> GateResult:
        champion = self._champion_of(gate)
        comparison = gate._comparison
        verdict = _Verdict(gate, champion)
        if gate.refers_to_champion and champion is None:
            value, threshold = self._full_sides_or_nan(comparison, None)
            return verdict(True, value, threshold, f"no champion in {gate.env} yet: passes")
        if gate.refers_to_champion or gate.confidence is not None:
            self._require_candidate(gate, champion)
        try:
            resolve = self._full_resolver(champion)
            value = float(_evaluate(comparison.left, resolve)[0])
            threshold = float(_evaluate(comparison.right, resolve)[0])
        except _DivisionByZero:
            nan = math.nan
            return verdict(False, nan, nan, "division by zero on the full evaluation set")
        if math.isnan(value) or math.isnan(threshold):
            return verdict(False, value, threshold, self._nan_note(gate, champion))
        holds = COMPARE[comparison.operator](value, threshold)
        if gate.confidence is None:
            shown = comparison.operator if holds else NEGATED[comparison.operator]
            return verdict(holds, value, threshold, f"{value:.4g} {shown} {threshold:.4g}")
        return self._bootstrap_verdict(gate, champion, verdict, value, threshold)

    def _bootstrap_verdict(
        self,
        gate: Gate,
        champion: Champion | None,
        verdict: _Verdict,
        value: float,
        threshold: float,
    ) -> GateResult:
        comparison = gate._comparison
        confidence = gate.confidence
        assert confidence is not None  # only called for confidence gates
        candidate = self._require_candidate(gate, champion)
        resolve = self._bootstrap_resolver(candidate, champion)
        try:
            difference = _evaluate(comparison.left, resolve) - _evaluate(comparison.right, resolve)
        except _DivisionByZero as exc:
            note = f"division by zero in {exc.count} of {self._n_resamples} resamples"
            return verdict(False, value, threshold, note)
        undefined = int(np.count_nonzero(np.isnan(difference)))
        if undefined:
            note = f"nan in {undefined} of {self._n_resamples} resamples: no bound"
            return verdict(False, value, threshold, note)
        side = ONE_SIDED[comparison.operator]
        bound = one_sided_bound(difference, confidence, side)
        holds = COMPARE[comparison.operator](bound, 0.0)
        shown = comparison.operator if holds else NEGATED[comparison.operator]
        note = f"{confidence * 100:g}% {side} bound of difference {bound:.4g} {shown} 0"
        return verdict(holds, value, threshold, note, bound=bound)

    def _champion_of(self, gate: Gate) -> Champion | None:
        if not gate.refers_to_champion:
            return None
        if gate.env not in self._champions:
            raise ConfigError(
                f"gate {gate.text!r} compares with the champion in {gate.env!r}, which was "
                "not looked up (see gates_need_champion)"
            )
        return self._champions[gate.env]

    def _require_candidate(self, gate: Gate, champion: Champion | None) -> Scored:
        if self._candidate is None:
            reason = "compares with the champion" if champion else "asks for confidence"
            raise ConfigError(
                f"gate {gate.text!r} {reason}, which needs the candidate's predictions on "
                "evaluation data: pass eval data when registering",
                details={"gate": gate.text},
            )
        if champion is not None and champion.scored.n_rows != self._candidate.n_rows:
            raise DataError(
                f"gate {gate.text!r}: champion v{champion.version} was scored on "
                f"{champion.scored.n_rows} rows, the candidate on {self._candidate.n_rows}; "
                "both must be scored on the same evaluation rows"
            )
        return self._candidate

    def _full_sides_or_nan(
        self, comparison: Comparison, champion: Champion | None
    ) -> tuple[float, float]:
        resolve = self._full_resolver(champion)
        sides = []
        for side in (comparison.left, comparison.right):
            try:
                sides.append(float(_evaluate(side, resolve)[0]))
            except _DivisionByZero:
                sides.append(math.nan)
        return sides[0], sides[1]

    def _full_resolver(self, champion: Champion | None) -> _Resolve:
        return lambda ref: np.array([self._full_value(ref, champion)])

    def _full_value(self, ref: Metric, champion: Champion | None) -> float:
        if ref.of_champion:
            # Always recomputed from predictions: a stored figure may come from other rows.
            return math.nan if champion is None else self._full_metric(ref.name, champion.scored)
        if ref.name in self._candidate_metrics:
            return float(self._candidate_metrics[ref.name])
        if self._candidate is None:
            raise ConfigError(
                f"metric {ref.name!r} was not computed for the candidate and no evaluation "
                "data was given to compute it",
                details={"metric": ref.name},
            )
        return self._full_metric(ref.name, self._candidate)

    def _full_metric(self, name: str, scored: Scored) -> float:
        key = (id(scored), name)
        if key not in self._full:
            self._full[key] = compute_metric(name, self._task, scored)
        return self._full[key]

    def _bootstrap_resolver(self, candidate: Scored, champion: Champion | None) -> _Resolve:
        def resolve(ref: Metric) -> FloatArray:
            scored = champion.scored if ref.of_champion and champion else candidate
            return self._distribution(ref.name, scored)

        return resolve

    def _distribution(self, name: str, scored: Scored) -> FloatArray:
        key = (id(scored), name)
        if key not in self._distributions:
            self._distributions[key] = paired_bootstrap(
                lambda rows: compute_metric(name, self._task, scored, rows),
                scored.n_rows,
                n_resamples=self._n_resamples,
                seed=self._seed,
            )
        return self._distributions[key]

    def _nan_note(self, gate: Gate, champion: Champion | None) -> str:
        for ref in gate._refs():
            if not math.isnan(self._full_value(ref, champion)):
                continue
            scored: Scored | None
            if ref.of_champion and champion is not None:
                label, scored = f"champion.{ref.name} (v{champion.version})", champion.scored
            else:
                label, scored = ref.name, self._candidate
            lacks_proba = scored is not None and scored.proba is None
            if lacks_proba and metric_def(ref.name, self._task).needs_proba:
                return f"nan: {label}: model has no predict_proba"
            return f"nan: {label} is undefined on this evaluation set"
        return "nan: the gate's value is undefined"


@dataclass(frozen=True)
class _Verdict:
    """Builds the results of one gate, filling in what every result repeats."""

    gate: Gate
    champion: Champion | None

    def __call__(
        self, passed: bool, value: float, threshold: float, note: str, *, bound: float | None = None
    ) -> GateResult:
        return GateResult(
            gate=self.gate.text,
            passed=passed,
            value=value,
            threshold=threshold,
            op=self.gate.op,
            env=self.gate.env if self.gate.refers_to_champion else None,
            champion_version=self.champion.version if self.champion else None,
            confidence=self.gate.confidence,
            bound=bound,
            note=note,
        )


def raise_for_failed_gates(results: Sequence[GateResult], *, subject: str) -> None:
    """Raise GateFailed naming the failed gates; ``details['gates']`` holds every result."""
    failed = [result for result in results if not result.passed]
    if failed:
        names = "; ".join(result.gate for result in failed)
        raise GateFailed(
            f"{subject} failed {len(failed)} of {len(results)} gate(s): {names}",
            details={"gates": [result.to_dict() for result in results]},
        )
