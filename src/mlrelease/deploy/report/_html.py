"""The report as one HTML page, with its plots as PNG files linked beside it.

Linked rather than embedded as ``data:`` URIs so that both formats come from one
writer and one set of files (a CI job uploads the folder as it is); the page is
otherwise inert: inline CSS, no scripts, fonts or remote references, and a
Content-Security-Policy allowing only styles and images. Every text from the
registry is escaped, and the page is well-formed XML, as the monitor report is.
The same report gives the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from typing import Any
from urllib.parse import quote

from mlrelease.deploy.report import _words as words
from mlrelease.deploy.report._model import Report

__all__ = ["render_html"]

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def render_html(report: Report, images: Mapping[str, str]) -> str:
    """The page as a complete document; ``images`` maps each plot's slug to its file name."""
    body = [
        _header(report),
        _banner(report),
        _metrics(report),
        _gates(report),
        _data(report),
        _plots(report, images),
        _notes(report),
        f"<footer>mlrelease report · artifact sha256 <code>{_text(report.artifact_sha256)}"
        "</code></footer>",
    ]
    title = f"Model report: {report.model} v{report.version}"
    return _PAGE.format(title=_text(title), css=_CSS, body="\n".join(part for part in body if part))


def _header(report: Report) -> str:
    champion = f"v{report.champion}" if report.champion is not None else "nothing live"
    facts = [
        ("Model", report.model),
        ("Version", f"v{report.version}"),
        ("Task", report.task),
        ("Compared with", f"{report.against}: {champion}"),
    ]
    items = "".join(f"<div><dt>{_text(k)}</dt><dd>{_text(v)}</dd></div>" for k, v in facts)
    return (
        '<header><p class="kicker">Model report</p>'
        f"<h1>{_text(report.model)} v{report.version}</h1>"
        f'<dl class="facts">{items}</dl></header>'
    )


def _banner(report: Report) -> str:
    tone = "ok" if report.passed else "alert"
    return (
        f'<p class="banner {tone}" role="status"><strong>{_text(words.verdict(report))}</strong>'
        f'<span class="sub">{_text(words.comparison(report))}</span></p>'
    )


def _metrics(report: Report) -> str:
    if not report.metrics:
        return _section("metrics", "Metrics", '<p class="empty">No metrics were recorded.</p>')
    compare = report.champion is not None
    head = ["Metric", f"v{report.version}"]
    if compare:
        head += [words.champion_heading(report), "Δ"]
    rows = []
    for metric in report.metrics:
        cells = [
            f"<td><code>{_text(metric.name)}</code> {_text(words.direction_mark(metric))}</td>",
            f'<td class="num">{_text(words.fixed(metric.value))}</td>',
        ]
        if compare:
            tone = metric.verdict or "same"
            cells += [
                f'<td class="num">{_text(words.fixed(metric.champion))}</td>',
                f'<td class="num {tone}">{_text(words.delta_text(metric))}</td>',
            ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    legend = words.LEGEND if compare else words.LEGEND.split(";")[0] + "."
    return _section(
        "metrics", "Metrics", _table(head, rows) + f'<p class="hint">{_text(legend)}</p>'
    )


def _gates(report: Report) -> str:
    if not report.gates:
        empty = '<p class="empty">No quality gates were recorded for this version.</p>'
        return _section("gates", "Quality gates", empty)
    rows = [
        f'<tr class="{"passed" if gate.passed else "failed"}">'
        f"<td>{_badge('ok', 'pass') if gate.passed else _badge('alert', 'FAIL')}</td>"
        f"<td><code>{_text(gate.gate)}</code></td>"
        f'<td class="num">{_text(words.fixed(gate.value))}</td>'
        f'<td class="num">{_text(words.fixed(gate.threshold))}</td>'
        f"<td>{_text(gate.note)}</td></tr>"
        for gate in report.gates
    ]
    intro = '<p class="hint">As judged when the version was registered.</p>'
    return _section(
        "gates", "Quality gates", intro + _table(["", "Gate", "Value", "Threshold", "Note"], rows)
    )


def _data(report: Report) -> str:
    items = []
    for fact in words.data_facts(report):
        value = f"<code>{_text(fact.value)}</code>" if fact.code else _text(fact.value)
        suffix = f" {_text(fact.suffix)}" if fact.suffix else ""
        items.append(f"<div><dt>{_text(fact.label)}</dt><dd>{value}{suffix}</dd></div>")
    return _section("data", "Data", f'<dl class="facts data">{"".join(items)}</dl>')


def _plots(report: Report, images: Mapping[str, str]) -> str:
    figures = [
        f'<figure class="{_card_class(plot.slug)}"><img src="{_text(quote(images[plot.slug]))}" '
        f'alt="{_text(plot.title)}"/><figcaption>{_text(plot.title)}</figcaption></figure>'
        for plot in report.plots
        if plot.slug in images
    ]
    if not figures:
        return ""
    return _section("plots", "Plots", f'<div class="cards">{"".join(figures)}</div>')


def _card_class(slug: str) -> str:
    return "card wide" if slug == "metric-history" else "card"  # small multiples need room


def _notes(report: Report) -> str:
    if not report.notes:
        return ""
    items = "".join(f"<li>{_text(note)}</li>" for note in report.notes)
    return _section("notes", "Notes", f'<ul class="notes">{items}</ul>')


def _section(anchor: str, heading: str, content: str) -> str:
    return f'<section id="{anchor}"><h2>{heading}</h2>{content}</section>'


def _table(head: list[str], rows: list[str]) -> str:
    cells = "".join(f"<th>{_text(name)}</th>" for name in head)
    return (
        f'<div class="scroll"><table><thead><tr>{cells}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _badge(tone: str, text: str) -> str:
    return f'<span class="badge {tone}">{_text(text)}</span>'


def _text(value: Any) -> str:
    """Escaped for HTML and XML alike: characters XML forbids are dropped."""
    return escape(_NOT_XML.sub("", str(value)), quote=True)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<meta http-equiv="Content-Security-Policy" \
content="default-src 'none'; style-src 'unsafe-inline'; img-src *"/>
<meta name="referrer" content="no-referrer"/>
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""

_CSS = """
:root { color-scheme: light; --ink: #1f2933; --muted: #667085; --line: #e4e7ec;
  --paper: #ffffff; --page: #f6f7f9; --ok: #067647; --ok-bg: #ecfdf3;
  --alert: #b42318; --alert-bg: #fef3f2; --mute-bg: #f2f4f7; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 32px 24px 48px; }
h1 { font-size: 26px; line-height: 1.2; margin: 0 0 12px; overflow-wrap: anywhere; }
h2 { font-size: 17px; margin: 32px 0 12px; }
code { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  overflow-wrap: anywhere; }
.kicker { margin: 0; color: var(--muted); font-size: 13px; text-transform: uppercase;
  letter-spacing: .06em; }
.facts { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 0; }
.facts dt { color: var(--muted); font-size: 12px; }
.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
.facts.data { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr));
  background: var(--paper); border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 16px; }
.banner { margin: 24px 0 0; padding: 14px 18px; border-radius: 8px; border: 1px solid;
  border-left-width: 6px; font-size: 16px; overflow-wrap: anywhere; }
.banner .sub { display: block; font-size: 14px; margin-top: 4px; color: var(--ink); }
.banner.ok { color: var(--ok); background: var(--ok-bg); }
.banner.alert { color: var(--alert); background: var(--alert-bg); }
.scroll { overflow-x: auto; background: var(--paper); border: 1px solid var(--line);
  border-radius: 8px; }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th, td { padding: 7px 12px; text-align: left; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; white-space: nowrap; }
tbody tr:last-child td { border-bottom: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.better { color: var(--ok); }
td.worse { color: var(--alert); }
tr.failed td { background: var(--alert-bg); }
.badge { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12px;
  font-weight: 600; border: 1px solid; }
.badge.ok { color: var(--ok); background: var(--ok-bg); }
.badge.alert { color: var(--alert); background: var(--alert-bg); }
.hint { color: var(--muted); font-size: 12px; }
.empty { color: var(--muted); }
.notes { margin: 0; padding-left: 20px; color: var(--muted); }
.cards { display: grid; gap: 16px;
  grid-template-columns: repeat(auto-fill, minmax(min(420px, 100%), 1fr)); }
.card { margin: 0; padding: 14px 16px 12px; background: var(--paper);
  border: 1px solid var(--line); border-radius: 8px; break-inside: avoid; }
.card.wide { grid-column: 1 / -1; }
.card img { display: block; width: 100%; height: auto; }
.card.wide img { max-width: 1120px; }
figcaption { margin-top: 6px; color: var(--muted); font-size: 12px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
@media print {
  body { background: #fff; }
  main { max-width: none; padding: 0; }
}
"""
