"""``alerts.yml``: alerting rules on serving health and on model quality.

Serving rules judge the error rate and p95 latency against the plan's thresholds
(the canary checks' absolute bounds, else the defaults); quality rules judge the
newest monitor report's drift and each live-metric floor or ceiling the project
file gives. Every rule says in its description what to run next.
"""

from __future__ import annotations

from typing import Any, Final

from mlrelease.deploy.monitoring._options import (
    ALERTS_FILE,
    PROMETHEUS_FILE,
    QUALITY_FOR,
    Bound,
    Plan,
)
from mlrelease.deploy.monitoring._promql import (
    FEATURES,
    LOST,
    PREDICTIONS,
    STATUS_5XX,
    duration,
    label_matchers,
    number,
    percent,
    selector,
)
from mlrelease.deploy.monitoring._scrape import prometheus_yaml

__all__ = ["alerts_text"]


def alerts_text(plan: Plan) -> str:
    groups = [
        {"name": "mlrelease-serving", "rules": _serving_rules(plan)},
        {"name": "mlrelease-model-quality", "rules": _quality_rules(plan)},
    ]
    if plan.bounds:
        bounds = ", ".join(f"{b.metric} {_inverse(b.breach)} {b.value:g}" for b in plan.bounds)
        live = f"from the project file's monitoring section: {bounds}"
    else:
        live = (
            "none: no floor is known; give a project file (--file)\n"
            "#   whose monitoring section has one, e.g. accuracy: {min: 0.85}"
        )
    header = (
        "# Prometheus alerting rules for mlrelease, written by `mlrelease deploy monitoring`.\n"
        f"# Check: promtool check rules {ALERTS_FILE}; {PROMETHEUS_FILE} loads it (rule_files).\n"
        f"# Scope: {_scope_text(plan.job, plan.model, plan.environment)}.\n"
        f"# Live-metric rules: {live}.\n"
    )
    return header + prometheus_yaml({"groups": groups})


def _rule(
    name: str, expr: str, hold: float, severity: str, summary: str, description: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration(hold),
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }


_WHERE: Final = (
    "{{ $labels.model }} v{{ $labels.version }} ({{ $labels.role }}) in {{ $labels.env }}"
)
_BY_ROLE: Final = "model, env, version, role"


def _serving_rules(plan: Plan) -> list[dict[str, Any]]:
    scope = label_matchers(job=plan.job, model=plan.model, env=plan.environment)
    model, env = plan.model or "MODEL", plan.environment or "ENV"
    scoped = _scope_text(plan.job, plan.model, plan.environment)
    requests = selector("mlrelease_requests_total", scope)
    failed = selector("mlrelease_requests_total", scope, STATUS_5XX)
    buckets = selector("mlrelease_request_duration_seconds_bucket", scope)
    abort = "if it is a canary, abort its release: `mlrelease release status`, then"
    return [
        _rule(
            "MlreleaseTargetDown",
            f"up{{{label_matchers(job=plan.job)}}} == 0",
            120,
            "critical",
            "mlrelease server {{ $labels.instance }} is down",
            f"Prometheus has not scraped /metrics at {{{{ $labels.instance }}}} (job {plan.job}) "
            "for 2 minutes. Look at the process and its log; start it again with "
            f"`mlrelease serve --model {model} --env {env} --host HOST --port PORT` and check "
            "`curl http://{{ $labels.instance }}/v2/health/ready`.",
        ),
        _rule(
            "MlreleaseNotServing",
            f"absent({selector('mlrelease_model_info', scope)})",
            300,
            "critical",
            f"no server reports a loaded version ({scoped})",
            f"No target exports mlrelease_model_info for {scoped}: no server is up, or none "
            "has a version loaded (it answers 503). `mlrelease models` shows what each "
            f"environment runs; `mlrelease serve --model {model} --env {env}` serves it.",
        ),
        _rule(
            "MlreleaseHighErrorRate",
            f"sum by ({_BY_ROLE}) (rate({failed}[5m])) / "
            f"sum by ({_BY_ROLE}) (rate({requests}[5m])) > {number(plan.max_error_rate)}",
            300,
            "critical",
            f"{_WHERE}: {{{{ $value | humanizePercentage }}}} of requests fail with 5xx",
            f"More than {percent(plan.max_error_rate)} of requests answered 5xx over 5 minutes. "
            f'{abort.capitalize()} `mlrelease release abort ID --reason "5xx rate"`; if it is '
            "the stable version, roll back: `mlrelease rollback {{ $labels.model }} --env "
            '{{ $labels.env }} --reason "5xx rate"`. The server log names the failing requests.',
        ),
        _rule(
            "MlreleaseHighLatencyP95",
            f"histogram_quantile(0.95, sum by ({_BY_ROLE}, le) (rate({buckets}[5m]))) > "
            f"{number(plan.max_latency_p95)}",
            600,
            "warning",
            f"{_WHERE}: p95 latency {{{{ $value | humanizeDuration }}}}",
            f"The 95th percentile of request latency stayed above {plan.max_latency_p95:g} s "
            f'for 10 minutes. {abort.capitalize()} `mlrelease release abort ID --reason "p95"`; '
            "if it is the stable version, look at the batch size and load first, or roll back: "
            '`mlrelease rollback {{ $labels.model }} --env {{ $labels.env }} --reason "p95"`.',
        ),
        _rule(
            "MlreleaseModelLoadFailed",
            "sum by (model, env, instance) "
            f"(increase({selector('mlrelease_model_load_failures_total', scope)}[15m])) > 0",
            60,
            "warning",
            "{{ $labels.instance }} refused to load a version of {{ $labels.model }} "
            "({{ $labels.env }})",
            "A version failed to load or failed its sha256 check in the last 15 minutes; the "
            "server keeps serving what it had. Its log says which version and why; "
            "`mlrelease show {{ $labels.model }} VERSION` shows the artifact and its sha256.",
        ),
        _rule(
            "MlreleasePredictionLogRowsLost",
            "sum by (model, env, instance, outcome) (increase("
            f"{selector('mlrelease_prediction_log_rows_total', scope, LOST)}"
            "[10m])) > 0",
            60,
            "warning",
            "{{ $labels.instance }}: prediction-log rows {{ $labels.outcome }} for "
            "{{ $labels.model }} ({{ $labels.env }})",
            "{{ $value | humanize }} served rows were not logged in 10 minutes (dropped: the "
            "log queue was full, the metadata store is too slow; failed: the writes failed, "
            "see the server log). `mlrelease monitor` and /feedback miss them; "
            "`mlrelease predictions {{ $labels.model }} --env {{ $labels.env }}` lists what "
            "was logged.",
        ),
    ]


def _quality_rules(plan: Plan) -> list[dict[str, Any]]:
    scope = label_matchers(job=plan.job, model=plan.model, env=plan.quality_environment)
    where = "{{ $labels.model }} v{{ $labels.version }} in {{ $labels.env }}"
    monitor = "`mlrelease monitor {{ $labels.model }} --env {{ $labels.env }} --html drift.html`"
    drifted = "mlrelease_feature_drifted"
    rules = [
        _rule(
            "MlreleaseFeatureDrift",
            f"avg by (model, env, version) ({selector(drifted, scope, FEATURES)})"
            f" >= {number(plan.drift_share)}",
            plan.drift_hold,
            "warning",
            f"{where}: {{{{ $value | humanizePercentage }}}} of the features drifted",
            f"The newest monitor report finds at least {percent(plan.drift_share)} of the "
            f"input features drifted from the training data. See which and how far: {monitor}; "
            "retrain on the labelled rows gathered: `mlrelease retrain --reason drift`.",
        ),
        _rule(
            "MlreleasePredictionDrift",
            f"max by (model, env, version) ({selector(drifted, scope, PREDICTIONS)}) == 1",
            plan.drift_hold,
            "info",
            f"{where}: the predictions drifted",
            "The distribution of the predictions differs from the one on the training data in "
            f"the newest monitor report. See it: {monitor}.",
        ),
    ]
    return rules + [_bound_rule(bound, scope, where) for bound in plan.bounds]


def _bound_rule(bound: Bound, scope: str, where: str) -> dict[str, Any]:
    metric = label_matchers(metric=bound.metric)
    by = "by (model, env, version, metric)"
    worst = "min" if bound.breach == "<" else "max"
    floor = bound.breach == "<"
    return _rule(
        f"MlreleaseLive{bound.metric.title().replace('_', '')}"
        f"{'BelowFloor' if floor else 'AboveCeiling'}",
        f"{worst} {by} ({selector('mlrelease_online_metric', scope, metric)}) {bound.breach} "
        f"{number(bound.value)} and on (model, env, version, metric) max {by} "
        f"({selector('mlrelease_online_metric_labels', scope, metric)}) >= {bound.min_labels}",
        bound.hold or QUALITY_FOR,
        "warning",
        f'{where}: live {bound.metric} {{{{ $value | printf "%.4g" }}}} '
        f"{'below' if floor else 'above'} {bound.value:g}",
        f"Measured on served rows from their ground-truth feedback (at least "
        f"{bound.min_labels} labels) in the newest monitor report. Check: `mlrelease monitor "
        "{{ $labels.model }} --env {{ $labels.env }}`; roll back: `mlrelease rollback "
        f'{{{{ $labels.model }}}} --env {{{{ $labels.env }}}} --reason "{bound.metric}"`; '
        f'or retrain: `mlrelease retrain --reason "{bound.metric}"`.',
    )


def _inverse(breach: str) -> str:
    return ">=" if breach == "<" else "<="


def _scope_text(job: str, model: str | None, env: str | None) -> str:
    return (
        f"job {job}, "
        + (f"model {model}" if model else "every model")
        + (f", environment {env}" if env else ", every environment")
    )
