"""The gate language: its grammar, tokenizer and recursive-descent parser.

User text is tokenized and parsed by hand into a small tree; nothing is ever
``eval``'d.

Grammar (one comparison per gate)::

    comparison := expr OP expr            OP: >=  <=  >  <  ==  !=
    expr       := term (('+' | '-') term)*
    term       := unary (('*' | '/') unary)*
    unary      := '-' unary | atom
    atom       := NUMBER | METRIC | 'champion' '.' METRIC | '(' expr ')'

"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

from mlrelease._tokens import Token, tokenize
from mlrelease.errors import ConfigError, GateExpressionError
from mlrelease.evaluation.bootstrap import Side
from mlrelease.evaluation.metrics import Task, metric_def

__all__ = ["Gate", "gates_need_champion", "metrics_used", "parse_gate"]

_COMPARISONS: Final = (">=", "<=", ">", "<", "==", "!=")
ONE_SIDED: Final[dict[str, Side]] = {">=": "lower", ">": "lower", "<=": "upper", "<": "upper"}
# What a failed comparison looks like written out: "0.42 < 0.5".
NEGATED: Final = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!=", "!=": "=="}
COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
# Parentheses and unary minus recurse; a hostile "((((...))))" must not blow the stack.
_MAX_NESTING: Final = 32

FloatArray: TypeAlias = npt.NDArray[np.float64]


# --- syntax tree ----------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Metric:
    name: str
    of_champion: bool


@dataclass(frozen=True)
class Negate:
    operand: Expr


@dataclass(frozen=True)
class Arithmetic:
    operator: str  # + - * /
    left: Expr
    right: Expr


Expr: TypeAlias = Number | Metric | Negate | Arithmetic


@dataclass(frozen=True)
class Comparison:
    operator: str
    left: Expr
    right: Expr


def _metric_refs(node: Expr) -> Iterator[Metric]:
    match node:
        case Metric():
            yield node
        case Negate(operand):
            yield from _metric_refs(operand)
        case Arithmetic(_, left, right):
            yield from _metric_refs(left)
            yield from _metric_refs(right)


# --- errors -----------------------------------------------------------------------


def _describe(token: Token) -> str:
    return "the end of the gate" if token.kind == "end" else repr(token.text)


def _syntax_error(text: str, column: int, message: str) -> GateExpressionError:
    # Whitespace is shown as plain spaces so the caret lines up under tabs and newlines.
    shown = re.sub(r"\s", " ", text)
    return GateExpressionError(
        f"gate {text!r}, column {column}: {message}\n    {shown}\n    {' ' * (column - 1)}^",
        details={"gate": text, "column": column},
    )


# --- parser ---------------------------------------------------------------------


class _Parser:
    """Recursive descent over the grammar in the module docstring, one gate at a time."""

    def __init__(self, text: str, task: Task) -> None:
        self._text = text
        self._task = task
        self._tokens = tokenize(
            text,
            comparisons=_COMPARISONS,
            fail=lambda column, problem: _syntax_error(text, column, problem),
        )
        self._current = next(self._tokens)
        self._nesting = 0

    def parse(self) -> Comparison:
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
        return Comparison(comparison.text, left, right)

    def _expr(self) -> Expr:
        node = self._term()
        while self._peek_symbol("+", "-"):
            symbol = self._advance().text
            node = Arithmetic(symbol, node, self._term())
        return node

    def _term(self) -> Expr:
        node = self._unary()
        while self._peek_symbol("*", "/"):
            symbol = self._advance().text
            node = Arithmetic(symbol, node, self._unary())
        return node

    def _unary(self) -> Expr:
        if self._peek_symbol("-"):
            with self._nested(self._advance()):
                return Negate(self._unary())
        return self._atom()

    def _atom(self) -> Expr:
        token = self._advance()
        if token.kind == "number":
            value = float(token.text)
            if not math.isfinite(value):
                raise self._error(token, f"number {token.text!r} is too large")
            return Number(value)
        if token.kind == "name":
            if self._peek_symbol("("):
                raise self._error(token, "a gate has no functions; only metrics and numbers")
            metric = self._champion_metric(token) if token.text == "champion" else token
            node = Metric(self._known_metric(metric), of_champion=metric is not token)
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

    def _champion_metric(self, champion: Token) -> Token:
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

    def _known_metric(self, token: Token) -> str:
        try:
            return metric_def(token.text, self._task).name
        except ConfigError as exc:
            raise self._error(token, exc.message) from None

    @contextmanager
    def _nested(self, token: Token) -> Iterator[None]:
        self._nesting += 1
        if self._nesting > _MAX_NESTING:
            raise self._error(token, f"nested more than {_MAX_NESTING} levels deep")
        try:
            yield
        finally:
            self._nesting -= 1

    def _peek(self) -> Token:
        return self._current

    def _peek_symbol(self, *symbols: str) -> bool:
        token = self._peek()
        return token.kind == "symbol" and token.text in symbols

    def _advance(self) -> Token:
        token = self._current
        if token.kind != "end":  # the end token stays put so errors can point at it
            self._current = next(self._tokens)
        return token

    def _error(self, token: Token, message: str) -> GateExpressionError:
        return _syntax_error(self._text, token.column, message)


# --- gates ----------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """A parsed quality gate; build one with ``parse_gate``."""

    text: str
    env: str = "production"  # whose champion ``champion.`` refers to
    confidence: float | None = None  # e.g. 0.95: a bootstrap bound of lhs - rhs must clear 0
    _comparison: Comparison = field(kw_only=True, repr=False)

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

    def _refs(self) -> Iterator[Metric]:
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
        if comparison.operator not in ONE_SIDED:
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
