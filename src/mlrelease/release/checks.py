"""Release checks: what a new version must show on live traffic, as a tiny language.

A check names one metric of the candidate, a comparison, and a threshold: a number,
or arithmetic over numbers and the stable version's metrics in the same window::

    latency_p95 <= 0.5
    error_rate <= stable.error_rate + 0.005
    accuracy >= stable.accuracy - 0.02
    latency_p99 <= (stable.latency_p99 + 0.01) * 1.2

The text is tokenized and parsed by hand into a small tree (never ``eval``'d).
Grammar::

    check  := METRIC OP expr          OP: >=  <=  >  <
    expr   := term (('+' | '-') term)*
    term   := unary (('*' | '/') unary)*
    unary  := '-' unary | atom
    atom   := NUMBER | 'stable' '.' METRIC | '(' expr ')'

The metrics (``KNOWN_METRICS``) are defined in :mod:`mlrelease.release.metrics`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

from mlrelease._tokens import Token, tokenize
from mlrelease.errors import ConfigError
from mlrelease.release.metrics import CANDIDATE_ONLY, METRICS

__all__ = ["KNOWN_METRICS", "Check", "parse_check"]

KNOWN_METRICS: Final[tuple[str, ...]] = tuple(METRICS)
OPERATORS: Final = (">=", "<=", ">", "<")
_MAX_NESTING: Final = 32
_MAX_LENGTH: Final = 500

FloatArray: TypeAlias = npt.NDArray[np.float64]


# --- syntax tree ----------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class StableMetric:
    name: str


@dataclass(frozen=True)
class Negate:
    operand: Expr


@dataclass(frozen=True)
class Arithmetic:
    operator: str  # + - * /
    left: Expr
    right: Expr


Expr: TypeAlias = Number | StableMetric | Negate | Arithmetic

_ARITHMETIC: Final[dict[str, Callable[[FloatArray, FloatArray], FloatArray]]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
}


def _evaluate(node: Expr, resolve: Callable[[str], FloatArray]) -> FloatArray:
    match node:
        case Number(value):
            return np.array([value])
        case StableMetric(name):
            return resolve(name)
        case Negate(operand):
            return -_evaluate(operand, resolve)
        case Arithmetic(symbol, left, right):
            lhs, rhs = _evaluate(left, resolve), _evaluate(right, resolve)
            # Division by zero and overflow show up as inf/nan in the result.
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                return _ARITHMETIC[symbol](lhs, rhs)
    raise AssertionError(f"unhandled node {node!r}")


def _stable_refs(node: Expr) -> Iterator[str]:
    match node:
        case StableMetric(name):
            yield name
        case Negate(operand):
            yield from _stable_refs(operand)
        case Arithmetic(_, left, right):
            yield from _stable_refs(left)
            yield from _stable_refs(right)


@dataclass(frozen=True)
class Check:
    """A parsed check: ``metric op threshold``; build one with :func:`parse_check`."""

    text: str
    metric: str  # the candidate's metric on the left
    op: str  # >= <= > <
    threshold: Expr  # numbers and stable.<metric>
    relative: bool  # the threshold refers to the stable version

    @property
    def stable_metrics(self) -> frozenset[str]:
        """The stable version's metrics the threshold reads."""
        return frozenset(_stable_refs(self.threshold))

    def threshold_values(self, resolve: Callable[[str], FloatArray]) -> FloatArray:
        """The threshold, with ``resolve(name)`` giving stable's metric (one value or many)."""
        return _evaluate(self.threshold, resolve)


# --- comparisons and errors -------------------------------------------------------

# Those that are not OPERATORS are read only to answer them with a hint.
_COMPARISONS: Final = (">=", "<=", "==", "!=", "=>", "=<", ">", "<", "=")
_COMPARE_HINTS: Final = {
    "==": "; '==' and '!=' cannot judge a measurement",
    "!=": "; '==' and '!=' cannot judge a measurement",
    "=": "; did you mean '>=' or '<='?",
    "=>": "; did you mean '>='?",
    "=<": "; did you mean '<='?",
}


def _error(text: str, column: int, problem: str) -> ConfigError:
    return ConfigError(
        f"check {text!r}, column {column}: {problem}",
        details={"check": text, "column": column},
    )


def _describe(token: Token) -> str:
    return "the end of the check" if token.kind == "end" else repr(token.text)


# --- parser ---------------------------------------------------------------------


class _Parser:
    """Recursive descent over the grammar in the module docstring."""

    def __init__(self, text: str, metrics: Collection[str]) -> None:
        self._text = text
        self._metrics = metrics
        self._tokens = tokenize(
            text,
            comparisons=_COMPARISONS,
            fail=lambda column, problem: _error(text, column, problem),
        )
        self._current = next(self._tokens)
        self._nesting = 0

    def parse(self) -> Check:
        first = self._advance()
        if first.kind == "end":
            raise self._fail(first, "the check is empty; write e.g. 'latency_p95 <= 0.5'")
        if first.kind != "name" or first.text == "stable":
            raise self._fail(
                first, "a check starts with a metric of the new version, as in 'error_rate <= 0.01'"
            )
        metric = self._metric(first)
        op = self._advance()
        if op.kind != "compare" or op.text not in OPERATORS:
            expected = f"expected one of {' '.join(OPERATORS)} after {metric!r}"
            hint = _COMPARE_HINTS.get(op.text, "")
            raise self._fail(op, f"{expected}, found {_describe(op)}{hint}")
        threshold = self._expr()
        trailing = self._current
        if trailing.kind == "compare":
            raise self._fail(trailing, "a check holds exactly one comparison; write two checks")
        if trailing.kind != "end":
            raise self._fail(
                trailing, f"expected an operator (+ - * /) or the end, found {_describe(trailing)}"
            )
        relative = any(True for _ in _stable_refs(threshold))
        return Check(self._text, metric, op.text, threshold, relative)

    def _expr(self) -> Expr:
        node = self._term()
        while self._at_symbol("+", "-"):
            symbol = self._advance().text
            node = Arithmetic(symbol, node, self._term())
        return node

    def _term(self) -> Expr:
        node = self._unary()
        while self._at_symbol("*", "/"):
            symbol = self._advance().text
            node = Arithmetic(symbol, node, self._unary())
        return node

    def _unary(self) -> Expr:
        if self._at_symbol("-"):
            token = self._advance()
            self._enter(token)
            node = Negate(self._unary())
            self._nesting -= 1
            return node
        return self._atom()

    def _atom(self) -> Expr:
        token = self._advance()
        if token.kind == "number":
            value = float(token.text)
            if not math.isfinite(value):
                raise self._fail(token, f"number {token.text!r} is too large")
            return Number(value)
        if token.kind == "name" and token.text == "stable":
            return self._stable_metric()
        if token.kind == "name" and token.text in self._metrics:
            raise self._fail(
                token,
                f"the threshold may use numbers and stable.<metric> only; "
                f"write stable.{token.text} for the stable version's {token.text}",
            )
        if token.kind == "name":
            problem = "the threshold may use numbers and stable.<metric> only"
            raise self._fail(token, f"unknown name {token.text!r}; {problem}")
        if token.text == "(":
            self._enter(token)
            inner = self._expr()
            self._nesting -= 1
            closing = self._advance()
            if closing.text != ")":
                raise self._fail(closing, f"expected ')', found {_describe(closing)}")
            return inner
        found = _describe(token)
        raise self._fail(token, f"expected a number, stable.<metric> or '(', found {found}")

    def _stable_metric(self) -> StableMetric:
        dot = self._advance()
        if dot.text != ".":
            raise self._fail(dot, f"expected '.' after 'stable', found {_describe(dot)}")
        token = self._advance()
        if token.kind != "name":
            raise self._fail(token, f"expected a metric after 'stable.', found {_describe(token)}")
        name = self._metric(token)
        if name in CANDIDATE_ONLY:
            raise self._fail(
                token, f"{name} already compares the new version with stable; use it on the left"
            )
        return StableMetric(name)

    def _metric(self, token: Token) -> str:
        if token.text not in self._metrics:
            close = difflib.get_close_matches(token.text, sorted(self._metrics), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            known = ", ".join(sorted(self._metrics))
            raise self._fail(token, f"unknown metric {token.text!r}; {hint}known: {known}")
        return token.text

    def _enter(self, token: Token) -> None:
        self._nesting += 1
        if self._nesting > _MAX_NESTING:
            raise self._fail(token, f"nested more than {_MAX_NESTING} levels deep")

    def _at_symbol(self, *symbols: str) -> bool:
        return self._current.kind == "symbol" and self._current.text in symbols

    def _advance(self) -> Token:
        token = self._current
        if token.kind != "end":  # the end token stays, so errors can point at it
            self._current = next(self._tokens)
        return token

    def _fail(self, token: Token, problem: str) -> ConfigError:
        return _error(self._text, token.column, problem)


def parse_check(text: str, *, extra_metrics: Collection[str] = ()) -> Check:
    """Parse one check; ``ConfigError`` names the column and the problem in one line.

    ``extra_metrics`` are further metric names (e.g. the keys of a Prometheus
    strategy's ``queries``) the check may use besides ``KNOWN_METRICS``.
    """
    if not isinstance(text, str):
        raise ConfigError(f"a check must be text like 'latency_p95 <= 0.5', got {text!r}")
    if len(text) > _MAX_LENGTH:
        raise ConfigError(f"check is longer than {_MAX_LENGTH} characters: {text[:40]!r}...")
    return _Parser(text, {*KNOWN_METRICS, *extra_metrics}).parse()
