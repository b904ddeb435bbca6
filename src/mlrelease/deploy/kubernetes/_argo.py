"""A canary strategy of the project file as Argo Rollouts steps and AnalysisTemplates.

Steps: ``weight`` -> ``setWeight``; ``pause: 30s`` -> ``pause: {duration: 30s}``;
``pause: {}`` -> ``pause: {}``; ``analysis`` -> an inline ``analysis`` step naming an
AnalysisTemplate (one per distinct interval/count/checks) and passing the version the
Rollout pins as the argument ``version``.

Checks become Prometheus metrics of the template, from the same PromQL templates the
prometheus provider uses (``DEFAULT_QUERIES`` plus the strategy's ``queries``):

* ``$model``/``$env`` are filled in; ``$window`` is the analysis interval.
* The version: Argo knows the canary only by its pod-template hash, which is not a
  label of mlrelease's metrics; the Rollout pins the version (``--version``), so the
  template matches ``version="{{args.version}}"`` for the new version and
  ``version!="{{args.version}}"`` for the stable pods.
* The role matcher is dropped: a pinned server labels all it serves ``role="stable"``,
  canary pods included; the version tells the two apart.
* ``metric OP number`` -> ``successCondition: len(result) > 0 && result[0] OP number``
  and a failure condition with the opposite comparison, so no data (or NaN) is
  *inconclusive*, which pauses the Rollout for a person, as an inconclusive
  measurement pauses an mlrelease release.
* ``metric OP f(stable.x, ...)`` -> one PromQL expression, ``(canary) - (f(stable))``,
  compared with 0: Argo runs one query per metric, PromQL does the arithmetic.
* Each query is gated on the requests behind it (``and on() (requests >= n)``, n from
  ``METRICS``, what a pass needs), so a thin window is inconclusive, not a verdict.

What Argo cannot judge (accuracy, macro_f1, rmse, mae from ground-truth labels;
divergence, which compares both versions' predictions row by row; a custom query that
uses ``$role``/``$version`` other than as ``label="$x"``) is returned as
:class:`UnjudgedCheck` s: listed in the template's annotation and by the CLI, never
dropped silently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from string import Template
from typing import Any, Final

from mlrelease.errors import ConfigError
from mlrelease.release.checks import (
    Arithmetic,
    Check,
    Expr,
    Negate,
    Number,
    StableMetric,
    parse_check,
)
from mlrelease.release.metrics import METRICS, UNKNOWN_METRIC
from mlrelease.release.metrics.prometheus import DEFAULT_QUERIES, promql_string
from mlrelease.spec import AnalysisSpec, PrometheusSpec, StrategySpec

__all__ = [
    "VERSION_ARG",
    "AnalysisPlan",
    "ArgoMetric",
    "UnjudgedCheck",
    "analysis_plans",
    "argo_duration",
    "canary_steps",
    "translate_check",
]

VERSION_ARG: Final = "version"
_ARG: Final = "{{args." + VERSION_ARG + "}}"
_MARK: Final = "__mlrelease_mark__"
_FAIL_OP: Final = {"<=": ">", "<": ">=", ">=": "<", ">": "<="}
_LABELLED: Final = "labelled rows"


@dataclass(frozen=True)
class UnjudgedCheck:
    """A check Argo Rollouts cannot evaluate, and why."""

    text: str
    reason: str


@dataclass(frozen=True)
class ArgoMetric:
    """One check as an Argo Rollouts Prometheus metric."""

    check: str
    metric: str
    query: str
    success: str
    failure: str


@dataclass(frozen=True)
class AnalysisPlan:
    """One AnalysisTemplate: the checks of the analysis steps that share its settings."""

    interval: float
    count: int
    metrics: tuple[ArgoMetric, ...]
    unjudged: tuple[UnjudgedCheck, ...]
    steps: tuple[int, ...]  # indexes of the strategy's steps that run it


def argo_duration(seconds: float) -> str:
    """``30s``, ``10m``, ``1h``, or ``1500ms`` for a fraction of a second."""
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    if whole and whole % 3600 == 0:
        return f"{whole // 3600}h"
    if whole and whole % 60 == 0:
        return f"{whole // 60}m"
    return f"{whole}s"


def _number(value: float) -> str:
    """A plain decimal, read the same by PromQL and by Argo's expression language."""
    if not math.isfinite(value):
        raise ConfigError(f"a check's threshold is not a finite number ({value})")
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _queries(strategy: StrategySpec) -> dict[str, str]:
    custom = strategy.metrics.queries if isinstance(strategy.metrics, PrometheusSpec) else {}
    return {**DEFAULT_QUERIES, **custom}


class _Untranslatable(Exception):
    pass


def _fill(template: str, *, model: str, env: str, window: str, canary: bool) -> str:
    try:
        text = Template(template).substitute(
            model=promql_string(model), env=promql_string(env), window=window,
            version=_MARK, role=_MARK,
        )  # fmt: skip
    except (KeyError, ValueError) as exc:
        raise _Untranslatable(f"its query template is not usable ({exc})") from None
    text = re.sub(rf',\s*role="{_MARK}"|role="{_MARK}"\s*,?\s*', "", text)
    operator = "=" if canary else "!="
    text = text.replace(f'version="{_MARK}"', f'version{operator}"{_ARG}"')
    if _MARK in text:
        raise _Untranslatable(
            'its query uses $role or $version other than as role="$role" / '
            'version="$version", which Argo cannot fill'
        )
    return text


def _why_not(metric: str) -> str:
    if METRICS.get(metric, UNKNOWN_METRIC).counts == _LABELLED:
        return f"{metric} needs ground-truth labels, which only mlrelease's prediction log has"
    if metric == "divergence":
        return "divergence compares both versions' predictions row by row (prediction log)"
    return f"no Prometheus query for {metric}"


def _threshold(node: Expr, stable: Callable[[str], str]) -> str:
    match node:
        case Number(value):
            return _number(value)
        case StableMetric(name):
            return f"({stable(name)})"
        case Negate(operand):
            return f"-({_threshold(operand, stable)})"
        case Arithmetic(symbol, left, right):
            return f"({_threshold(left, stable)} {symbol} {_threshold(right, stable)})"
    raise AssertionError(f"unhandled node {node!r}")


def _needed(metrics: Sequence[str]) -> int:
    return max(
        (METRICS.get(name, UNKNOWN_METRIC).min_samples_to_pass for name in metrics), default=0
    )


def translate_check(
    check: Check, queries: Mapping[str, str], *, model: str, env: str, interval: float
) -> ArgoMetric | UnjudgedCheck:
    """One parsed check as an Argo metric, or why it cannot be one."""
    missing = [
        name for name in (check.metric, *sorted(check.stable_metrics)) if name not in queries
    ]
    if missing:
        return UnjudgedCheck(check.text, _why_not(missing[0]))
    window = f"{max(1, round(interval * 1000))}ms"

    def side(name: str, *, canary: bool) -> str:
        return _fill(queries[name], model=model, env=env, window=window, canary=canary)

    try:
        expression = side(check.metric, canary=True)
        gates = [(side("requests", canary=True), _needed([check.metric]))]
        if check.relative:
            threshold = _threshold(check.threshold, lambda name: side(name, canary=False))
            expression = f"({expression})\n- {threshold}"
            gates.append((side("requests", canary=False), _needed(sorted(check.stable_metrics))))
            bound = "0"
        else:
            bound = _number(float(check.threshold_values(_no_stable)[0]))
    except _Untranslatable as exc:
        return UnjudgedCheck(check.text, f"{check.metric}: {exc}")
    query = "".join(
        [f"(\n{expression}\n)"] + [f"\nand on() ({req} >= {n})" for req, n in gates if n > 0]
    )
    return ArgoMetric(
        check=check.text,
        metric=check.metric,
        query=query + "\n",
        success=f"len(result) > 0 && result[0] {check.op} {bound}",
        failure=f"len(result) > 0 && result[0] {_FAIL_OP[check.op]} {bound}",
    )


def _no_stable(name: str) -> Any:
    raise AssertionError(f"a check without stable.* read stable.{name}")


def analysis_plans(strategy: StrategySpec, *, model: str, env: str) -> list[AnalysisPlan]:
    """The AnalysisTemplates a strategy needs: one per distinct analysis settings."""
    queries = _queries(strategy)
    extra = [name for name in queries if name not in DEFAULT_QUERIES]
    grouped: dict[tuple[float, int, tuple[str, ...]], list[int]] = {}
    for index, step in enumerate(strategy.steps):
        if step.analysis is not None:
            grouped.setdefault(_key(step.analysis, strategy), []).append(index)
    plans = []
    for (interval, count, texts), steps in grouped.items():
        metrics: list[ArgoMetric] = []
        unjudged: list[UnjudgedCheck] = []
        for text in texts:
            check = parse_check(text, extra_metrics=extra)
            found = translate_check(check, queries, model=model, env=env, interval=interval)
            if isinstance(found, ArgoMetric):
                metrics.append(found)
            else:
                unjudged.append(found)
        plans.append(AnalysisPlan(interval, count, tuple(metrics), tuple(unjudged), tuple(steps)))
    return plans


def _key(analysis: AnalysisSpec, strategy: StrategySpec) -> tuple[float, int, tuple[str, ...]]:
    return analysis.interval, analysis.count, tuple(analysis.checks or strategy.checks)


def canary_steps(
    strategy: StrategySpec, templates: Mapping[int, str], version: int
) -> list[dict[str, Any]]:
    """Argo steps; ``templates`` names the AnalysisTemplate of each analysis step (by index).

    An analysis step without a template (no check Argo can judge) pauses for a person.
    """
    steps: list[dict[str, Any]] = []
    for index, step in enumerate(strategy.steps):
        if step.weight is not None:
            steps.append({"setWeight": step.weight})
        elif isinstance(step.pause, dict):
            steps.append({"pause": {}})
        elif step.pause is not None:
            steps.append({"pause": {"duration": argo_duration(math.ceil(step.pause))}})
        elif index in templates:
            steps.append(
                {
                    "analysis": {
                        "templates": [{"templateName": templates[index]}],
                        "args": [{"name": VERSION_ARG, "value": str(version)}],
                    }
                }
            )
        else:
            steps.append({"pause": {}})
    return steps
