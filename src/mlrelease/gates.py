"""Quality gates: a tiny comparison language, parsed by hand and never ``eval``'d.

Owns the gate grammar, its tokenizer and recursive-descent parser, and the
evaluation of parsed gates against a candidate's metrics and, where a gate says
``champion.<metric>``, against the model live in an environment now.

Grammar (one comparison per gate)::

    comparison := expr OP expr            OP: >=  <=  >  <  ==  !=
    expr       := term (('+' | '-') term)*
    term       := unary (('*' | '/') unary)*
    unary      := '-' unary | atom
    atom       := NUMBER | METRIC | 'champion' '.' METRIC | '(' expr ')'

A gate with ``confidence`` holds only if a one-sided paired-bootstrap bound of
``lhs - rhs`` satisfies the comparison against 0 (see ``evaluation.bootstrap``).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from mlrelease.errors import ConfigError, DataError, GateExpressionError
from mlrelease.evaluation.bootstrap import Side, one_sided_bound, paired_bootstrap
from mlrelease.evaluation.metrics import Scored, Task, compute_metric, metric_def

__all__ = [
    "Champion",
    "Gate",
    "GateResult",
    "evaluate_gates",
    "gates_need_champion",
    "metrics_used",
    "parse_gate",
]

_COMPARISONS: Final = (">=", "<=", ">", "<", "==", "!=")
_ONE_SIDED: Final[dict[str, Side]] = {">=": "lower", ">": "lower", "<=": "upper", "<": "upper"}
# What a failed comparison looks like written out: "0.42 < 0.5".
_NEGATED: Final = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!=", "!=": "=="}
_COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
# Parentheses and unary minus recurse; a hostile "((((...))))" must not blow the stack.
_MAX_NESTING: Final = 32

_FloatArray: TypeAlias = npt.NDArray[np.float64]


# --- syntax tree ----------------------------------------------------------------


@dataclass(frozen=True)
class _Number:
    value: float


@dataclass(frozen=True)
class _Metric:
    name: str
    of_champion: bool


@dataclass(frozen=True)
class _Negate:
    operand: _Expr


@dataclass(frozen=True)
class _Arithmetic:
    operator: str  # + - * /
    left: _Expr
    right: _Expr


_Expr: TypeAlias = _Number | _Metric | _Negate | _Arithmetic


@dataclass(frozen=True)
class _Comparison:
    operator: str
    left: _Expr
    right: _Expr


def _metric_refs(node: _Expr) -> Iterator[_Metric]:
    match node:
        case _Metric():
            yield node
        case _Negate(operand):
            yield from _metric_refs(operand)
        case _Arithmetic(_, left, right):
            yield from _metric_refs(left)
            yield from _metric_refs(right)


# --- tokenizer ------------------------------------------------------------------

_TokenKind: TypeAlias = Literal["number", "name", "compare", "symbol", "end"]

_TOKEN: Final = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<compare>>=|<=|==|!=|>|<)
    | (?P<symbol>[-+*/().])
    """,
    re.VERBOSE | re.ASCII,
)
_WORD_CHARS: Final = re.compile(r"[A-Za-z0-9_.]*", re.ASCII)


@dataclass(frozen=True)
class _Token:
    kind: _TokenKind
    text: str
    column: int  # 1-based, as people count


def _describe(token: _Token) -> str:
    return "the end of the gate" if token.kind == "end" else repr(token.text)


def _syntax_error(text: str, column: int, message: str) -> GateExpressionError:
    # Whitespace is shown as plain spaces so the caret lines up under tabs and newlines.
    shown = re.sub(r"\s", " ", text)
    return GateExpressionError(
        f"gate {text!r}, column {column}: {message}\n    {shown}\n    {' ' * (column - 1)}^",
        details={"gate": text, "column": column},
    )


def _tokenize(text: str) -> Iterator[_Token]:
    """Tokens on demand, so the parser reports the leftmost problem first."""
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            hint = " (did you mean '=='?)" if char == "=" else ""
            raise _syntax_error(text, position + 1, f"unexpected character {char!r}{hint}")
        kind = match.lastgroup
        if kind == "number" and match.end() < len(text):
            # "1e", "0.5x", "1.2.3": a number glued to more word characters is a typo.
            glued = _WORD_CHARS.match(text, match.end())
            if glued is not None and glued.end() > match.end():
                bad = text[position : glued.end()]
                raise _syntax_error(text, position + 1, f"malformed number {bad!r}")
        if kind is not None and kind != "space":
            yield _Token(_token_kind(kind), match.group(), position + 1)
        position = match.end()
    yield _Token("end", "", len(text) + 1)


def _token_kind(group: str) -> _TokenKind:
    match group:
        case "number" | "name" | "compare" | "symbol":
            return group
    raise AssertionError(f"unhandled token group {group!r}")


# --- parser ---------------------------------------------------------------------


class _Parser:
    """Recursive descent over the grammar in the module docstring, one gate at a time."""

    def __init__(self, text: str, task: Task) -> None:
        self._text = text
        self._task = task
        self._tokens = _tokenize(text)
        self._current = next(self._tokens)
        self._nesting = 0

    def parse(self) -> _Comparison:
        if self._peek().kind == "end":
            raise self._error(self._peek(), "the gate is empty; write e.g. 'accuracy >= 0.8'")
        left = self._expr()
        comparison = self._peek()
        if comparison.kind != "compare":
            raise self._error(
                comparison,
                f"expected a comparison ({' '.join(_COMPARISONS)}) or an operator "
                f"(+ - * /), found {_describe(comparison)}",
            )
        self._advance()
        right = self._expr()
        trailing = self._peek()
        if trailing.kind == "compare":
            raise self._error(
                trailing,
                f"a gate holds exactly one comparison, found a second {trailing.text!r}; "
                "write two gates instead",
            )
        if trailing.kind != "end":
            raise self._error(
                trailing,
                f"expected an operator (+ - * /) or the end of the gate, "
                f"found {_describe(trailing)}",
            )
        return _Comparison(comparison.text, left, right)

    def _expr(self) -> _Expr:
        node = self._term()
        while self._peek_symbol("+", "-"):
            symbol = self._advance().text
            node = _Arithmetic(symbol, node, self._term())
        return node

    def _term(self) -> _Expr:
        node = self._unary()
        while self._peek_symbol("*", "/"):
            symbol = self._advance().text
            node = _Arithmetic(symbol, node, self._unary())
        return node

    def _unary(self) -> _Expr:
        if self._peek_symbol("-"):
            with self._nested(self._advance()):
                return _Negate(self._unary())
        return self._atom()

    def _atom(self) -> _Expr:
        token = self._advance()
        if token.kind == "number":
            value = float(token.text)
            if not math.isfinite(value):
                raise self._error(token, f"number {token.text!r} is too large")
            return _Number(value)
        if token.kind == "name":
            if self._peek_symbol("("):
                raise self._error(token, "a gate has no functions; only metrics and numbers")
            metric = self._champion_metric(token) if token.text == "champion" else token
            node = _Metric(self._known_metric(metric), of_champion=metric is not token)
            if self._peek_symbol("."):
                raise self._error(
                    self._peek(), "'.' may only follow 'champion', as in champion.accuracy"
                )
            return node
        if token.kind == "symbol" and token.text == "(":
            with self._nested(token):
                inner = self._expr()
            closing = self._advance()
            if closing.text != ")":
                raise self._error(closing, f"expected ')', found {_describe(closing)}")
            return inner
        raise self._error(
            token,
            f"expected a number, a metric, champion.<metric> or '(', found {_describe(token)}",
        )

    def _champion_metric(self, champion: _Token) -> _Token:
        dot = self._advance()
        if dot.text != ".":
            raise self._error(
                dot,
                f"expected '.' after 'champion' (as in champion.accuracy), found {_describe(dot)}",
            )
        metric = self._advance()
        if metric.kind != "name":
            found = _describe(metric)
            raise self._error(metric, f"expected a metric after 'champion.', found {found}")
        return metric

    def _known_metric(self, token: _Token) -> str:
        try:
            return metric_def(token.text, self._task).name
        except ConfigError as exc:
            raise self._error(token, exc.message) from None

    @contextmanager
    def _nested(self, token: _Token) -> Iterator[None]:
        self._nesting += 1
        if self._nesting > _MAX_NESTING:
            raise self._error(token, f"nested more than {_MAX_NESTING} levels deep")
        try:
            yield
        finally:
            self._nesting -= 1

    def _peek(self) -> _Token:
        return self._current

    def _peek_symbol(self, *symbols: str) -> bool:
        token = self._peek()
        return token.kind == "symbol" and token.text in symbols

    def _advance(self) -> _Token:
        token = self._current
        if token.kind != "end":  # the end token stays put so errors can point at it
            self._current = next(self._tokens)
        return token

    def _error(self, token: _Token, message: str) -> GateExpressionError:
        return _syntax_error(self._text, token.column, message)


# --- gates ----------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """A parsed quality gate; build one with ``parse_gate``."""

    text: str
    env: str = "production"  # whose champion ``champion.`` refers to
    confidence: float | None = None  # e.g. 0.95: a bootstrap bound of lhs - rhs must clear 0
    _comparison: _Comparison = field(kw_only=True, repr=False)

    @property
    def op(self) -> str:
        return self._comparison.operator

    @property
    def metrics(self) -> frozenset[str]:
        """Every metric the gate reads, of the candidate or of the champion."""
        return frozenset(ref.name for ref in self._refs())

    @property
    def refers_to_champion(self) -> bool:
        return any(ref.of_champion for ref in self._refs())

    def _refs(self) -> Iterator[_Metric]:
        yield from _metric_refs(self._comparison.left)
        yield from _metric_refs(self._comparison.right)


def parse_gate(
    text: str, task: Task, *, env: str = "production", confidence: float | None = None
) -> Gate:
    """Parse ``text`` for ``task``; ``GateExpressionError`` says where and what went wrong."""
    comparison = _Parser(text, task).parse()
    gate = Gate(text, env, confidence, _comparison=comparison)
    if all(ref.of_champion for ref in gate._refs()):  # also true of a gate with no metric
        raise GateExpressionError(
            f"gate {text!r} never reads a metric of the candidate, so it cannot judge it",
            details={"gate": text},
        )
    if not env:
        raise GateExpressionError(f"gate {text!r}: env must not be empty", details={"gate": text})
    if confidence is not None:
        # bool is an int; "confidence: true" in YAML must not read as 100%.
        if isinstance(confidence, bool) or not 0.5 < confidence < 1:
            raise GateExpressionError(
                f"gate {text!r}: confidence must be strictly between 0.5 and 1 "
                f"(e.g. 0.95), got {confidence!r}",
                details={"gate": text},
            )
        if comparison.operator not in _ONE_SIDED:
            raise GateExpressionError(
                f"gate {text!r}: confidence needs a one-sided comparison (>= <= > <), "
                f"not {comparison.operator!r}",
                details={"gate": text},
            )
    return gate


def gates_need_champion(gates: Sequence[Gate]) -> set[str]:
    """The environments whose live version must be looked up to evaluate ``gates``."""
    return {gate.env for gate in gates if gate.refers_to_champion}


def metrics_used(gates: Sequence[Gate]) -> set[str]:
    """Every metric any of ``gates`` reads."""
    return set().union(*(gate.metrics for gate in gates))


# --- evaluation -----------------------------------------------------------------


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
_Resolve: TypeAlias = Callable[[_Metric], _FloatArray]

_ARITHMETIC: Final[dict[str, Callable[[_FloatArray, _FloatArray], _FloatArray]]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
}


def _evaluate(node: _Expr, resolve: _Resolve) -> _FloatArray:
    match node:
        case _Number(value):
            return np.array([value])
        case _Metric():
            return resolve(node)
        case _Negate(operand):
            return -_evaluate(operand, resolve)
        case _Arithmetic(symbol, left, right):
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
        self._distributions: dict[tuple[int, str], _FloatArray] = {}

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
        holds = _COMPARE[comparison.operator](value, threshold)
        if gate.confidence is None:
            shown = comparison.operator if holds else _NEGATED[comparison.operator]
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
        side = _ONE_SIDED[comparison.operator]
        bound = one_sided_bound(difference, confidence, side)
        holds = _COMPARE[comparison.operator](bound, 0.0)
        shown = comparison.operator if holds else _NEGATED[comparison.operator]
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
        self, comparison: _Comparison, champion: Champion | None
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

    def _full_value(self, ref: _Metric, champion: Champion | None) -> float:
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
        def resolve(ref: _Metric) -> _FloatArray:
            scored = champion.scored if ref.of_champion and champion else candidate
            return self._distribution(ref.name, scored)

        return resolve

    def _distribution(self, name: str, scored: Scored) -> _FloatArray:
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
