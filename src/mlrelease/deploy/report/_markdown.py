"""The report as GitHub-flavoured Markdown: the comment a CI job posts on a pull request.

The first line is the hidden marker ``<!-- mlrelease-report -->``, by which a job finds
its earlier comment and updates it instead of adding another. Every text that comes
from the registry is escaped (a gate's note cannot open a link, a table cell or an
HTML tag); identifiers are code spans. Images are relative links to the PNG files
written beside the report, as ``cml comment create`` expects to upload them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

from mlrelease.deploy.report import _words as words
from mlrelease.deploy.report._model import Report

__all__ = ["MARKER", "render_markdown"]

MARKER = "<!-- mlrelease-report -->"

# What Markdown (or GitHub: @mentions, #references, $math$) may act on anywhere in a
# line, plus a list marker at its start; a backslash before each shows it as it is.
_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&@$])|^([-+])")
_SPACE = re.compile(r"\s+")


def render_markdown(report: Report, images: Mapping[str, str]) -> str:
    """The Markdown text; ``images`` maps each plot's slug to its file name beside it."""
    sections = [
        f"{MARKER}\n## {_text(words.verdict(report))}\n\n{_text(words.comparison(report))}",
        _metrics(report),
        _gates(report),
        _data(report),
        _plots(report, images),
        _notes(report),
        f"<sub>mlrelease report · artifact sha256 {_code(report.artifact_sha256)}</sub>",
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def _metrics(report: Report) -> str:
    if not report.metrics:
        return "### Metrics\n\nNo metrics were recorded for this version."
    compare = report.champion is not None
    head = ["Metric", f"v{report.version}"]
    if compare:
        head += [words.champion_heading(report), "Δ"]
    rows = [_row(head), _row(["---"] + ["---:"] * (len(head) - 1))]
    for metric in report.metrics:
        mark = words.direction_mark(metric)
        cells = [f"{_code(metric.name, table=True)} {mark}".rstrip(), words.fixed(metric.value)]
        if compare:
            cells += [words.fixed(metric.champion), words.delta_text(metric)]
        rows.append(_row(cells))
    legend = words.LEGEND if compare else words.LEGEND.split(";")[0] + "."
    return "### Metrics\n\n" + "\n".join(rows) + f"\n\n<sub>{_text(legend)}</sub>"


def _gates(report: Report) -> str:
    if not report.gates:
        return "### Quality gates\n\nNo quality gates were recorded for this version."
    rows = [
        _row(["", "Gate", "Value", "Threshold", "Note"]),
        _row([":-:", "---", "---:", "---:", "---"]),
    ]
    for gate in report.gates:
        rows.append(
            _row(
                [
                    "✅" if gate.passed else "❌",
                    _code(gate.gate, table=True),
                    words.fixed(gate.value),
                    words.fixed(gate.threshold),
                    _text(gate.note),
                ]
            )
        )
    return "### Quality gates\n\nAs judged when the version was registered.\n\n" + "\n".join(rows)


def _data(report: Report) -> str:
    lines = []
    for fact in words.data_facts(report):
        value = _code(fact.value) if fact.code else _text(fact.value)
        suffix = f" {_text(fact.suffix)}" if fact.suffix else ""
        lines.append(f"- **{fact.label}:** {value}{suffix}")
    return "### Data\n\n" + "\n".join(lines)


def _plots(report: Report, images: Mapping[str, str]) -> str:
    shown = [
        f"![{_text(plot.title)}]({quote(images[plot.slug])})"
        for plot in report.plots
        if plot.slug in images
    ]
    return "### Plots\n\n" + "\n\n".join(shown) if shown else ""


def _notes(report: Report) -> str:
    if not report.notes:
        return ""
    return "### Notes\n\n" + "\n".join(f"- {_text(note)}" for note in report.notes)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _text(value: str) -> str:
    """Plain text on one line, with everything Markdown could act on escaped."""
    return _SPECIAL.sub(lambda match: "\\" + match.group(0), _SPACE.sub(" ", value).strip())


def _code(value: str, *, table: bool = False) -> str:
    """An identifier as a code span; inside a table a ``|`` must still be escaped."""
    flat = _SPACE.sub(" ", value).strip()
    if "`" in flat or not flat:
        return _text(flat)
    return f"`{flat.replace('|', chr(92) + '|') if table else flat}`"
