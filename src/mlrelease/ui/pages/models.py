"""A model's pages: its versions and their metrics, one version's lineage, two side by side.

Owns ``/models/{model}`` (versions, metric charts, recent runs),
``/models/{model}/versions/{version}`` (lineage, metrics, gates, confusion matrix,
how to promote it) and ``/models/{model}/compare?a=&b=`` (metrics with their
difference, params that differ, gates, confusion matrices or residual plots).
Models are loaded only through the registry, which verifies each artifact's sha256.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import cast

import numpy as np
from starlette.responses import Response

from mlrelease.auth import Role
from mlrelease.client import Client
from mlrelease.errors import ConfigError, MalformedRequest, VersionNotFoundError
from mlrelease.evaluation import Scored, Task
from mlrelease.pipeline.evaluate import load_evaluation_set, score_model
from mlrelease.promotion.history import has_been_live
from mlrelease.registry.records import ModelInfo, VersionInfo, VersionStatus
from mlrelease.release.records import ReleaseInfo
from mlrelease.spec import EnvironmentSpec, default_environments, order_environments
from mlrelease.ui.charts import Series, line_chart
from mlrelease.ui.pages._versions import (
    Residuals,
    compare_metrics,
    differing_params,
    flatten,
    gate_summary,
    gate_threshold,
    is_number,
    metric_columns,
    residual_plot,
    shared_ranges,
)
from mlrelease.ui.pages.approvals import what_happened
from mlrelease.ui.pages.overview import ACTIVE_PHASES, environment_order
from mlrelease.ui.rendering import segment
from mlrelease.ui.routing import Pages, View

__all__ = ["pages"]

pages = Pages()


@dataclass(frozen=True)
class VersionRow:
    info: VersionInfo
    live_in: list[str]  # environments whose alias points at it
    gates_passed: int
    gates_total: int


@pages.get("/models/{model}")
def model_page(view: View, model: str) -> Response:
    client = view.client
    info = client.registry.model(model)
    versions = client.versions(model)  # oldest first
    columns = metric_columns(version.metrics for version in versions)
    newest_first = list(reversed(versions))
    return view.render(
        "model.html",
        model=info,
        environments=environment_order(client, info.aliases),
        releases=_active_releases(client, model),
        rows=[_row(version, info) for version in newest_first],
        columns=columns,
        charts=[_metric_chart(name, versions) for name in columns],
        choices=[version.version for version in newest_first],
        default_a=newest_first[1 if len(newest_first) > 1 else 0].version,
        default_b=newest_first[0].version,
        runs=client.runs(model),
        trains_here=client.project is not None and client.project.spec.model == model,
    )


def _row(version: VersionInfo, model: ModelInfo) -> VersionRow:
    passed, total = gate_summary(version.gate_results)
    return VersionRow(version, _live_in(model, version.version), passed, total)


def _metric_chart(name: str, versions: list[VersionInfo]) -> str:
    points = [
        (float(version.version), float(value) if is_number(value) else None)
        for version in versions
        for value in [version.metrics.get(name)]
    ]
    return line_chart(
        [Series(name, points)],
        title=name,
        x_label="version",
        x_format=lambda v: f"v{v:g}",
        threshold=gate_threshold(name, versions[-1].gate_results),
        threshold_label="gate",
        width=420,
        height=220,
    )


@pages.get("/models/{model}/versions/{version:int}")
def version_page(view: View, model: str, version: int) -> Response:
    client = view.client
    info = client.registry.model(model)
    found = client.version(model, version)
    environments = environment_order(client, info.aliases)
    production = environment_order(client)[-1]
    retrain = found.lineage.get("retrain") or {}
    return view.render(
        "version.html",
        model=info,
        version=found,
        task=_task(info),
        live_in=_live_in(info, version),
        environments=environments,
        releases=[r for r in _active_releases(client, model) if r.candidate_version == version],
        production=production,
        live_version=info.aliases.get(production),
        baseline=_baseline(info, found, production),
        promote=_promotion(client, found, info),
        git=found.lineage.get("git") or {},
        packages=found.lineage.get("packages") or {},
        retrain=retrain,
        evidence=flatten(retrain.get("evidence") or {}),
        confusion=found.evaluation.get("confusion_matrix"),
    )


@pages.get("/models/{model}/compare")
def compare_page(view: View, model: str) -> Response:
    client = view.client
    info = client.registry.model(model)
    a = _version_param(view, model, "a")
    b = _version_param(view, model, "b")
    task = _task(info)
    params = differing_params(a.params, b.params)
    return view.render(
        "compare.html",
        model=info,
        task=task,
        a=a,
        b=b,
        metrics=compare_metrics(a.metrics, b.metrics, task),
        params=params,
        same_params=len(set(a.params) | set(b.params)) - len(params),
        residuals=_residual_panels(client, a, b) if task == "regression" else [],
        choices=[version.version for version in reversed(client.versions(model))],
    )


def _baseline(model: ModelInfo, version: VersionInfo, production: str) -> int | None:
    """The version to compare this one with: the one live in production, else the one before."""
    live = model.aliases.get(production)
    if live is not None and live != version.version:
        return live
    return version.version - 1 if version.version > 1 else None


def _version_param(view: View, model: str, name: str) -> VersionInfo:
    """The version query parameter ``name`` names; 400 if absent or not a number, 404 if none."""
    raw = view.request.query_params.get(name, "").strip()
    if not raw:
        raise MalformedRequest(
            f"parameter '{name}' is missing: say which two versions to compare, e.g. ?a=1&b=2"
        )
    number = raw.removeprefix("v")
    if not number.isdigit() or int(number) < 1:
        raise MalformedRequest(
            f"parameter '{name}' must be a version number such as 2, not {raw!r}"
        )
    try:
        return view.client.version(model, int(number))
    except VersionNotFoundError as exc:
        raise VersionNotFoundError(f"parameter '{name}': {exc.message}") from None


# -- residuals ------------------------------------------------------------------------


@dataclass(frozen=True)
class ResidualPanel:
    version: int
    svg: str  # empty when there is nothing to draw
    residuals: Residuals | None
    rows_of: int | None  # the version whose evaluation rows were scored
    note: str  # why there is no plot, or why the rows differ from the other panel's


def _residual_panels(client: Client, a: VersionInfo, b: VersionInfo) -> list[ResidualPanel]:
    """Residuals of a and b, both on b's evaluation rows when a can score them.

    Like the gates, the same rows for both make the plots comparable; a version
    with another signature falls back to its own rows, and the panel says so.
    """
    panels = [_residual_panel(client, version, (b, a)) for version in (a, b)]
    drawn = [panel.residuals for panel in panels if panel.residuals is not None]
    if not drawn:
        return panels
    x_range, y_range = shared_ranges(drawn)
    return [
        replace(
            panel,
            svg=residual_plot(
                panel.residuals,
                title=f"v{panel.version}: residual vs predicted",
                x_range=x_range,
                y_range=y_range,
            ),
        )
        if panel.residuals is not None
        else panel
        for panel in panels
    ]


def _residual_panel(
    client: Client, version: VersionInfo, sources: tuple[VersionInfo, ...]
) -> ResidualPanel:
    """Score ``version`` on the first of ``sources`` with an evaluation set it can read."""
    stored = [source for source in sources if source.evaluation.get("uri")]
    if not stored:
        return ResidualPanel(
            version.version,
            "",
            None,
            None,
            "registered without an evaluation set: register with eval_data=(X_test, y_test) "
            "to see residuals",
        )
    model = client.registry.load_model(version)
    for source in stored:
        data = load_evaluation_set(client.registry.artifacts, source.evaluation)
        try:
            residuals = _residuals(score_model(model, data, "regression"))
        except (KeyError, ValueError, TypeError):  # another signature: try the next set
            continue
        note = (
            ""
            if source is stored[0]
            else f"cannot read v{stored[0].version}'s rows (another signature): "
            f"scored on v{source.version}'s own"
        )
        return ResidualPanel(version.version, "", residuals, source.version, note)
    return ResidualPanel(version.version, "", None, None, "cannot score any stored evaluation set")


def _residuals(scored: Scored) -> Residuals:
    predicted = scored.y_pred.astype(np.float64)
    return Residuals(predicted.tolist(), (scored.y_true.astype(np.float64) - predicted).tolist())


# -- shared -------------------------------------------------------------------------


def _task(model: ModelInfo) -> Task:
    return cast(Task, model.task)


def _live_in(model: ModelInfo, version: int) -> list[str]:
    return [env for env, number in model.aliases.items() if number == version]


def _active_releases(client: Client, model: str) -> list[ReleaseInfo]:
    return client.releases.list(model=model, phases=ACTIVE_PHASES)


def _specs(client: Client) -> dict[str, EnvironmentSpec]:
    spec = client.project.spec if client.project else None
    return dict(spec.environments) if spec else default_environments()


@pages.post("/models/{model}/versions/{version:int}/promote", role=Role.operator)
def promote(view: View, model: str, version: int) -> Response:
    """Promote under the environment's policy: gates again, then approvals or a release."""
    target = view.form.get("to", "").strip()
    if not target:
        raise MalformedRequest("say which environment to promote to (the form's 'to' field)")
    outcome = view.client.promote(
        model, version, target, reason=view.form.get("reason", "").strip(), actor=view.actor_name
    )
    return view.redirect(
        view.back(f"/models/{segment(model)}/versions/{version}"),
        done=what_happened(view.client, outcome),
    )


@pages.post("/models/{model}/run", role=Role.operator)
def run(view: View, model: str) -> Response:
    """Run the project's pipeline, as `mlrelease run` does: train, gate, register."""
    project = view.client.project
    if project is None or project.spec.model != model:
        trains = f"trains '{project.spec.model}'" if project else "has no project file"
        raise ConfigError(
            f"this server's project {trains}: run the pipeline of '{model}' with "
            "'mlrelease run' beside its own project file"
        )
    result = view.client.run(force=view.form.get("force") == "on", actor=view.actor_name)
    if result.cached_from is not None and result.version is not None:
        done = (
            f"Unchanged: data, code and settings are those of run {result.cached_from.id[:8]}, "
            f"so v{result.version.version} stands (tick 'retrain anyway' to train again)"
        )
    elif result.version is not None:
        where = f", now live in {result.alias}" if result.alias else ""
        done = f"Run {result.run_id[:8]} registered v{result.version.version}{where}"
    else:
        done = f"Run {result.run_id[:8]} finished: {result.status}"
    return view.redirect(f"/runs/{segment(result.run_id)}", done=done)


@pages.post("/models/{model}/rollback", role=Role.operator)
def rollback(view: View, model: str) -> Response:
    """Point an environment back at the version it served before."""
    environment = view.form.get("environment", "").strip()
    reason = view.form.get("reason", "").strip()
    if not environment or not reason:
        raise MalformedRequest("a rollback names its environment and a reason, for the history")
    event = view.client.rollback(model, environment, reason=reason, actor=view.actor_name)
    return view.redirect(
        view.back(f"/models/{segment(model)}"),
        done=f"Rolled back: {model} in {environment} is v{event.to_version} again",
    )


@dataclass(frozen=True)
class Promotion:
    """What promoting a version next means: where to, and the command that does it."""

    environment: str | None  # None: archived, or already through the last environment
    command: str
    approvals: int
    why_not: str


def _promotion(client: Client, version: VersionInfo, model: ModelInfo) -> Promotion:
    if version.status == VersionStatus.ARCHIVED:
        return Promotion(None, "", 0, "Archived versions are kept for history and never go live.")
    specs = _specs(client)
    target = _next_environment(specs, client, version, model)
    if target is None:
        last = order_environments(specs)[-1]
        return Promotion(None, "", 0, f"It has reached {last}, the last environment.")
    command = f"mlrelease promote {model.name} {version.version} --to {target}"
    return Promotion(target, command, specs[target].approvals, "")


def _next_environment(
    specs: dict[str, EnvironmentSpec], client: Client, version: VersionInfo, model: ModelInfo
) -> str | None:
    """The environment after the furthest one the version has been in; None past the last.

    A version that has never been live anywhere goes to the first environment.
    """
    order = order_environments(specs)
    with client.store.read() as connection:
        reached = [
            index
            for index, env in enumerate(order)
            if model.aliases.get(env) == version.version
            or has_been_live(connection, model.name, env, version.version)
        ]
    following = max(reached, default=-1) + 1
    return order[following] if following < len(order) else None
