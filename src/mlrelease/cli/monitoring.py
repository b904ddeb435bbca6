"""Commands about monitoring and retraining: monitor, retrain."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from mlrelease.cli._common import (
    DEFAULT_FILE,
    ProjectFile,
    console,
    err_console,
    notifying_client,
    open_client,
    print_json,
)

if TYPE_CHECKING:
    from mlrelease.monitoring.monitor import MonitorReport
    from mlrelease.monitoring.retrain import RetrainResult

__all__ = ["register"]


def monitor(
    model: Annotated[
        str | None, typer.Argument(help="Model to check (default: the project's).")
    ] = None,
    env: Annotated[
        str | None,
        typer.Option(
            "--env", "-e", help="Environment (default: monitoring.environment, else the last)."
        ),
    ] = None,
    window: Annotated[
        int | None,
        typer.Option(
            min=1, help="Newest served rows to compare (default: monitoring.window, 1000)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write an HTML report with plots here.")
    ] = None,
    save: Annotated[
        bool, typer.Option("--save/--no-save", help="Store the report (read by /metrics).")
    ] = True,
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Compare the live version's recent traffic with its training data: drift and live metrics.

    Exits 1 when the window shows dataset drift or a live metric past its bound (as
    a failed gate does), so a cron job or CI step can act on it; 0 otherwise, also
    while too few rows or labels have come to judge.
    """
    with open_client(project_file) as client:
        report = client.monitor(model, environment=env, window=window, save=save)
    document = report.to_dict()
    if html is not None:
        from mlrelease.monitoring.html import render_html

        _write_atomically(html, render_html(document))
        err_console.print(f"HTML report written to {html}")
    if as_json:
        print_json(document)
    else:
        _print_report(report)
    if report.drifted or any(metric.breached for metric in report.metrics):
        raise typer.Exit(1)


def retrain(
    reason: Annotated[str, typer.Option(help="Why, for the history.")] = "by hand",
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Retrain on the data source plus the labelled rows gathered since, through the gates.

    Registers the new version only if the data checks and gates pass, then promotes
    it as far as the environments' policies allow without a person. Exits 1 when
    the retrain was refused (a check or gate failed) or failed.
    """
    with notifying_client(project_file, require_project=True) as client:
        result = client.retrain(reason=reason)
    _print_retrain(result)
    if not result.succeeded:
        raise typer.Exit(1)


def _print_report(report: MonitorReport) -> None:
    where = f"{report.model} v{report.version} in {report.environment}"
    console.print(f"[bold]{where}[/]: {report.rows} served rows in the window")
    for note in report.notes:
        console.print(f"[yellow]{note}[/]")
    if report.features:
        console.print(_drift_table("Feature drift", report.features))
    if report.predictions:
        console.print(_drift_table("Prediction drift", report.predictions))
    if report.metrics:
        console.print(_metrics_table(report))
    if report.judged:
        share = report.drift_share or 0.0
        verdict = "[red]dataset drift[/]" if report.drifted else "[green]no dataset drift[/]"
        console.print(
            f"{len(report.drifted_features)} of {len(report.features)} features drifted "
            f"({share:.0%}; drift from {report.share_threshold:.0%}): {verdict}"
        )


def _drift_table(title: str, results: list[Any]) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("feature", "method", "score", "threshold", "drifted", "rows"):
        table.add_column(
            column, justify="right" if column in ("score", "threshold", "rows") else "left"
        )
    ordered = sorted(results, key=lambda result: not result.drifted)
    for result in ordered:
        table.add_row(
            result.feature,
            result.method + (" (p)" if result.p_value is not None else ""),
            _figure(result.score) if result.score is not None else (result.note or "-"),
            f"{result.threshold:g}",
            "[red]yes[/]" if result.drifted else "no",
            str(result.current_count),
        )
    return table


def _metrics_table(report: MonitorReport) -> Table:
    table = Table(title="Live metrics (from feedback)", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("metric", "value", "labels", "bound", "status"):
        table.add_column(column)
    for metric in report.metrics:
        bound = f">= {metric.min:g}" if metric.min is not None else f"<= {metric.max:g}"
        status = (
            "[red]breached[/]" if metric.breached else "ok" if metric.judged else "too few labels"
        )
        value = "-" if metric.value is None else _figure(metric.value)
        table.add_row(metric.name, value, str(metric.labels), bound, status)
    return table


def _print_retrain(result: RetrainResult) -> None:
    if not result.succeeded:
        err_console.print(f"[red]retrain failed[/]: {result.error}")
        err_console.print("nothing that serves changed")
        return
    outcome = f"registered v{result.version}" if result.version else "no new version"
    if result.unchanged:
        outcome += f" ({result.unchanged})"
    console.print(f"retrain on the source plus {result.rows_added} labelled rows: {outcome}")
    for promotion in result.promotions:
        console.print(f"  {promotion.environment}: {promotion.status}")


def _figure(value: float) -> str:
    return f"{value:.4g}"


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def register(app: typer.Typer) -> None:
    app.command()(monitor)
    app.command()(retrain)
