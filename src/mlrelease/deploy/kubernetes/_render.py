"""From a project and options to files: one YAML file per object, and a kustomization."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from mlrelease.deploy.kubernetes._argo import (
    VERSION_ARG,
    AnalysisPlan,
    UnjudgedCheck,
    analysis_plans,
    argo_duration,
    canary_steps,
)
from mlrelease.deploy.kubernetes._options import KubernetesOptions
from mlrelease.deploy.kubernetes._workloads import Context
from mlrelease.errors import ConfigError
from mlrelease.spec import ProjectSpec, PrometheusSpec, ScheduleTrigger

__all__ = [
    "KUSTOMIZATION",
    "TRAIN_JOB",
    "NotRendered",
    "deployment_notes",
    "previous_files",
    "render_manifests",
    "unjudged_checks",
]

KUSTOMIZATION: Final = "kustomization.yaml"
TRAIN_JOB: Final = "job-train.yaml"  # not in the kustomization: `kubectl create -f` runs it
_MARK: Final = "# Rendered by `mlrelease deploy kubernetes`"
_UNJUDGED_ANNOTATION: Final = "mlrelease.dev/unjudged-checks"
# The controller fires retrain schedules itself (state in the store, once per time); a
# CronJob doing the same would train twice at once. It stays suspended until the
# controller can be told to leave schedules to it.
CRONJOB_SUSPENDED: Final = True


@dataclass(frozen=True)
class NotRendered:
    """Something the user must know: a check Argo cannot judge, a suspended CronJob, ..."""

    message: str


class _Dumper(yaml.SafeDumper):
    """Block style, indented lists, multi-line strings as literal blocks, no aliases."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not re.search(r"[ \t]\n|[ \t]$", value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _yaml(data: Any, notes: list[str]) -> str:
    header = [_MARK + "; edit the project file and render again, not this file."]
    header += [f"# {line}" if line else "#" for note in notes for line in note.splitlines()]
    body = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096,
        allow_unicode=True,
    )  # fmt: skip
    return "\n".join(header) + "\n" + body


def render_manifests(
    spec: ProjectSpec, options: KubernetesOptions, *, project_text: str
) -> dict[str, str]:
    """File name -> YAML text for one environment; the same input gives the same bytes.

    ``project_text`` is the project file as written (``${VARS}`` unexpanded): it is
    mounted into every pod, and its variables come from the Secret there.
    """
    options.check(spec)
    context = Context(spec, options, project_text)
    rollout = options.uses_rollout(spec)
    objects: list[tuple[str, dict[str, Any], list[str]]] = [
        ("configmap-project.yaml", context.project_configmap(), [_PROJECT_NOTE]),
        ("service.yaml", context.service(), []),
    ]
    if rollout:
        objects += _rollout_objects(context)
    else:
        objects.append(("deployment.yaml", context.deployment(), _deployment_notes(context)))
    if options.autoscaling:
        objects.append(("hpa.yaml", context.autoscaler(rollout), _hpa_notes(options)))
    if options.lowest > 1:
        objects.append(("pdb.yaml", context.disruption_budget(), []))
    if options.service_monitor:
        objects.append(("servicemonitor.yaml", context.service_monitor(), [_MONITOR_NOTE]))
    if options.controller:
        objects += _loop_objects(context)
    files = {name: _yaml(data, notes) for name, data, notes in objects}
    listed = [name for name in files if name != TRAIN_JOB]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": listed,
    }
    notes = [f"Apply: kubectl apply -k DIR. Not listed: {TRAIN_JOB} (kubectl create -f it)."]
    files[KUSTOMIZATION] = _yaml(kustomization, notes if TRAIN_JOB in files else [])
    return files


_PROJECT_NOTE: Final = (
    "The project file, mounted at /app/mlrelease.yaml in every pod (working directory /app).\n"
    "Its ${VARS} are read from the Secret named in the pods' env."
)
_MONITOR_NOTE: Final = (
    "Scrapes the main Service only (the stable and canary Services select the same pods)."
)


def _deployment_notes(context: Context) -> list[str]:
    options, spec = context.options, context.spec
    release = spec.environments[context.env].release
    if options.version is not None:
        return [
            f"Pinned to version {options.version}: a promotion takes effect when this is "
            "rendered again with the new --version."
        ]
    if release == "direct":
        return [f"Follows the {context.env} alias: a promotion hot-swaps the model, no restart."]
    return [
        f"Follows {context.env}'s traffic: `mlrelease controller` runs its {release} releases, "
        "the servers split requests."
    ]


def _hpa_notes(options: KubernetesOptions) -> list[str]:
    notes = ["Replicas are the autoscaler's: the server omits spec.replicas."]
    if options.hpa_rps is not None:
        notes.append(
            "mlrelease_requests_per_second is a Pods metric served by prometheus-adapter;\n"
            "a rule for it (prometheus-adapter values, rules.custom):\n"
            '  - seriesQuery: \'mlrelease_requests_total{namespace!="",pod!=""}\'\n'
            "    resources: {overrides: {namespace: {resource: namespace}, "
            "pod: {resource: pod}}}\n"
            '    name: {matches: "^mlrelease_requests_total$", '
            'as: "mlrelease_requests_per_second"}\n'
            "    metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m])) "
            "by (<<.GroupBy>>)'"
        )
    return notes


# --- Argo Rollouts ------------------------------------------------------------------


def _prometheus_address(context: Context) -> str | None:
    if context.options.prometheus_url is not None:
        return context.options.prometheus_url
    metrics = context.spec.release.canary.metrics
    return metrics.prometheus if isinstance(metrics, PrometheusSpec) else None


def _rollout_objects(context: Context) -> list[tuple[str, dict[str, Any], list[str]]]:
    version = context.options.version
    if version is None:
        raise ConfigError(
            f"--version: {context.env} releases by canary through Argo Rollouts, which rolls "
            "out a new version when the pod template changes, so the template pins one; pass "
            "--version N (the version to run), or --no-argo to let mlrelease split traffic"
        )
    strategy = context.spec.release.canary
    plans = [plan for plan in _plans(context) if plan.metrics]
    names = _template_names(context, plans)
    templates = {step: names[i] for i, plan in enumerate(plans) for step in plan.steps}
    unjudged = _unjudged_texts(context)
    annotations = {_UNJUDGED_ANNOTATION: "\n".join(unjudged)} if unjudged else {}
    rollout_notes = [
        f"Pinned to version {version}: render again with --version N to roll out N.",
        "Without trafficRouting, weights are approximate: Argo scales the canary's pods.",
    ]
    objects: list[tuple[str, dict[str, Any], list[str]]] = [
        ("service-stable.yaml", context.service("stable"), []),
        ("service-canary.yaml", context.service("canary"), []),
        (
            "rollout.yaml",
            context.rollout(canary_steps(strategy, templates, version), annotations),
            rollout_notes,
        ),
    ]
    for index, plan in enumerate(plans):
        file = "analysistemplate.yaml" if len(plans) == 1 else f"analysistemplate-{index + 1}.yaml"
        objects.append((file, _analysis_template(context, plan, names[index]), _plan_notes(plan)))
    return objects


def _plans(context: Context) -> list[AnalysisPlan]:
    return analysis_plans(context.spec.release.canary, model=context.model, env=context.env)


def _template_names(context: Context, plans: list[AnalysisPlan]) -> list[str]:
    if len(plans) == 1:
        return [context.name()]
    return [context.name(str(index + 1)) for index in range(len(plans))]


def _analysis_template(context: Context, plan: AnalysisPlan, name: str) -> dict[str, Any]:
    address = _prometheus_address(context)
    metrics = []
    used: set[str] = set()
    for metric in plan.metrics:
        metric_name = _unique(metric.metric.replace("_", "-"), used)
        prometheus = {"address": address} if address else {}
        metrics.append(
            {
                "name": metric_name,
                "initialDelay": argo_duration(plan.interval),
                "interval": argo_duration(plan.interval),
                "count": plan.count,
                "failureLimit": context.spec.release.canary.failure_limit,
                "successCondition": metric.success,
                "failureCondition": metric.failure,
                "provider": {"prometheus": {**prometheus, "query": metric.query}},
            }
        )
    annotations = {"mlrelease.dev/checks": "\n".join(metric.check for metric in plan.metrics)}
    if plan.unjudged:
        annotations[_UNJUDGED_ANNOTATION] = "\n".join(item.text for item in plan.unjudged)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": context.metadata(name, "analysis", annotations=annotations),
        "spec": {"args": [{"name": VERSION_ARG}], "metrics": metrics},
    }


def _unique(name: str, used: set[str]) -> str:
    candidate, number = name, 1
    while candidate in used:
        number += 1
        candidate = f"{name}-{number}"
    used.add(candidate)
    return candidate


def _plan_notes(plan: AnalysisPlan) -> list[str]:
    notes = [f"{metric.check}  ->  metric {metric.metric}" for metric in plan.metrics]
    notes.append(
        "No data, NaN, or too few requests behind a figure is inconclusive: the Rollout pauses."
    )
    if plan.unjudged:
        notes.append("NOT judged by Argo (see the mlrelease.dev/unjudged-checks annotation):")
        notes += [f"  {item.text}  ({item.reason})" for item in plan.unjudged]
    return notes


def _unjudged_texts(context: Context) -> list[str]:
    seen: dict[str, None] = {}
    for plan in _plans(context):
        for item in plan.unjudged:
            seen.setdefault(item.text)
    return list(seen)


def unjudged_checks(spec: ProjectSpec, options: KubernetesOptions) -> list[UnjudgedCheck]:
    """The canary checks Argo Rollouts cannot judge (none when no Rollout is rendered)."""
    if not options.uses_rollout(spec):
        return []
    found: dict[str, UnjudgedCheck] = {}
    strategy = spec.release.canary
    for plan in analysis_plans(strategy, model=spec.model, env=options.environment):
        for item in plan.unjudged:
            found.setdefault(item.text, item)
    return list(found.values())


# --- the rest of the loop -----------------------------------------------------------


def _schedules(spec: ProjectSpec) -> list[str]:
    return [item.schedule for item in spec.retrain.on if isinstance(item, ScheduleTrigger)]


def _loop_objects(context: Context) -> list[tuple[str, dict[str, Any], list[str]]]:
    objects: list[tuple[str, dict[str, Any], list[str]]] = [
        (
            "controller.yaml",
            context.controller(),
            ["Advances releases, monitors, and retrains on triggers: one per project."],
        )
    ]
    schedules = _schedules(context.spec)
    for index, schedule in enumerate(schedules):
        suffix = "" if len(schedules) == 1 else f"-{index + 1}"
        name = context.project_name("retrain" + suffix, limit=52)
        notes = [
            f"retrain.on schedule {schedule!r} (UTC)."
            + (
                "\nSuspended: the controller above already fires this schedule (once per "
                "time, state in the store);\nunsuspended, both would train at the same time."
                if CRONJOB_SUSPENDED
                else ""
            )
        ]
        objects.append(
            (
                f"cronjob-retrain{suffix}.yaml",
                context.retrain_cronjob(name, schedule, suspend=CRONJOB_SUSPENDED),
                notes,
            )
        )
    objects.append(
        (
            TRAIN_JOB,
            context.train_job(),
            [f"Train in the cluster (`mlrelease run`): kubectl create -f {TRAIN_JOB}"],
        )
    )
    return objects


# --- what the user must know, and what a previous rendering left -------------------


def deployment_notes(spec: ProjectSpec, options: KubernetesOptions) -> list[NotRendered]:
    """Warnings for a rendering: unjudged checks, a suspended CronJob, an unreachable URL."""
    notes = []
    unjudged = unjudged_checks(spec, options)
    if unjudged:
        listed = "; ".join(f"{item.text} ({item.reason})" for item in unjudged)
        notes.append(
            NotRendered(
                f"Argo Rollouts cannot judge these checks of {options.environment}'s canary: "
                f"{listed}. They are listed in the AnalysisTemplate's {_UNJUDGED_ANNOTATION} "
                "annotation and not judged during an Argo rollout (its pods are pinned to one "
                "version and log every row as stable). `mlrelease controller` judges them with "
                "the builtin provider in releases it runs itself: render with --no-argo to let "
                "it run this canary in-process, every check judged."
            )
        )
    if options.uses_rollout(spec):
        notes += _prometheus_notes(spec, options)
    if options.controller and _schedules(spec) and CRONJOB_SUSPENDED:
        notes.append(
            NotRendered(
                "The retrain CronJob is rendered suspended: `mlrelease controller` already "
                "fires retrain.on schedules; running both would train twice at the same time."
            )
        )
    if options.image.rsplit("/", 1)[-1].find(":") < 0 and "@" not in options.image:
        notes.append(NotRendered(f"--image {options.image} has no tag: pin one (or a digest)."))
    return notes


def _prometheus_notes(spec: ProjectSpec, options: KubernetesOptions) -> list[NotRendered]:
    address = options.prometheus_url
    if address is None and isinstance(spec.release.canary.metrics, PrometheusSpec):
        address = spec.release.canary.metrics.prometheus
    if address is None:
        return [
            NotRendered(
                "No Prometheus address for the AnalysisTemplate: Argo Rollouts then uses its "
                "controller's ARGO_ROLLOUTS_PROMETHEUS_ADDRESS; pass --prometheus-url to name one."
            )
        ]
    host = urllib.parse.urlsplit(address).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return [
            NotRendered(
                f"The AnalysisTemplate queries {address}, a loopback address Argo Rollouts "
                "cannot reach in the cluster; pass --prometheus-url with the in-cluster URL."
            )
        ]
    return []


def previous_files(directory: Path) -> set[str]:
    """Files an earlier rendering wrote into ``directory`` (from its kustomization)."""
    path = directory / KUSTOMIZATION
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return set()
    if not text.startswith(_MARK):
        return set()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return set()
    listed = data.get("resources", []) if isinstance(data, dict) else []
    names = {
        item
        for item in listed
        if isinstance(item, str) and re.fullmatch(r"[\w-][\w.-]*\.yaml", item)
    }
    return names | {KUSTOMIZATION, TRAIN_JOB}
