"""The report command: a version's metrics, gates, data and plots, for a pull request."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mlrelease.cli._common import DEFAULT_FILE, ProjectFile, console, open_client

__all__ = ["register"]

ModelName = Annotated[str, typer.Argument(help="Model name, e.g. breast-cancer.")]
VersionNumber = Annotated[int, typer.Argument(min=1, help="Version number.")]


# The core's ReportFormat, spelled again so that `--help` does not load pandas.
class Format(StrEnum):
    markdown = "markdown"
    html = "html"


_SUFFIXES = {Format.markdown: ".md", Format.html: ".html"}


def report(
    model: ModelName,
    version: VersionNumber,
    against: Annotated[
        str,
        typer.Option(
            help="Compare with the version live in this environment (nothing live: no deltas)."
        ),
    ] = "production",
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            help="markdown (a PR comment) or html (a page). Default: from --out's suffix "
            "(.html, .htm: html), else markdown.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="The report's file (default report.md or report.html); its folder is created. "
            "Plots go beside it as STEM-NAME.png."
        ),
    ] = None,
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Write a report on a version: the comment a CI job posts on a pull request.

    Metrics with deltas against the champion, the gate results under one verdict
    line, a data summary (rows, features, fingerprint, source, git commit, run), and
    plots saved as PNG files beside the report: confusion matrix and ROC curve
    (classifiers) or residuals and predicted vs actual (regressors), from the model
    scored on its stored evaluation set, and each metric across versions. The
    Markdown starts with the hidden line <!-- mlrelease-report --> by which a job can
    find and update its earlier comment. Exits 0 whatever the verdict: block a
    deployment with `mlrelease gate`. Plots need `pip install 'mlrelease[report]'`.
    """
    from mlrelease.deploy.report import ReportFormat, build_report, write_report

    chosen = fmt or _format_of(out)
    path = out if out is not None else Path(f"report{_SUFFIXES[chosen]}")
    with open_client(project_file) as client:
        built = build_report(client.registry, model, version, against=against)
        written = write_report(built, path, ReportFormat(chosen.value))
    verdict = "passed" if built.passed else "FAILED"
    console.print(f"{model} v{version}: gates {verdict}; wrote {written[-1]}", markup=False)
    for plot in written[:-1]:
        console.print(f"  plot {plot}", markup=False)


def _format_of(out: Path | None) -> Format:
    if out is not None and out.suffix.lower() in (".html", ".htm"):
        return Format.html
    return Format.markdown


def register(app: typer.Typer) -> None:
    app.command()(report)
