"""Model reports for pull requests: what a CI job posts about a new version.

``build_report`` reads one version from the registry -- its metrics beside those of
the champion live in an environment (scored afresh on the version's own evaluation
rows), its gate results, where its data and code came from, and its predictions on
its stored evaluation set -- into a :class:`Report`. ``write_report`` renders it as
Markdown (a PR comment, found again by the hidden ``<!-- mlrelease-report -->`` first
line) or as an HTML page, and its plots as PNG files linked beside it::

    report = build_report(client.registry, "breast-cancer", 2, against="production")
    write_report(report, Path("out/report.md"))   # + out/report-confusion-matrix.png ...

Text output is deterministic: nothing in it depends on the time it was made. The
PNGs are byte-stable for the same matplotlib and fonts. The plots need matplotlib
(``pip install 'mlrelease[report]'``), imported only when they are drawn.
"""

from __future__ import annotations

from mlrelease.deploy.report._html import render_html
from mlrelease.deploy.report._markdown import MARKER, render_markdown
from mlrelease.deploy.report._model import (
    DataSummary,
    GateRow,
    HistoryPoint,
    MetricRow,
    Plot,
    Report,
    build_report,
)
from mlrelease.deploy.report._plots import render_plots
from mlrelease.deploy.report._write import ReportFormat, image_names, write_report

__all__ = [
    "MARKER",
    "DataSummary",
    "GateRow",
    "HistoryPoint",
    "MetricRow",
    "Plot",
    "Report",
    "ReportFormat",
    "build_report",
    "image_names",
    "render_html",
    "render_markdown",
    "render_plots",
    "write_report",
]
