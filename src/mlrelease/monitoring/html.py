"""A monitor report as one self-contained HTML page, made to be looked at rather than read.

``render_html`` turns the JSON document ``MonitorReport.to_dict()`` produces into a page:
the verdict in a banner, the live metrics, the features (drifted first, worst first), one
reference-vs-current histogram per drifted feature, and the other histograms folded away
under "All features". ``histogram_svg`` draws one such histogram on its own, for the web UI.

The page is inert and self-contained: inline CSS and hand-built SVG, no scripts, fonts,
images or any other outside reference (a Content-Security-Policy says so to the browser
too), so it can be mailed, archived, printed or opened offline. It is also well-formed XML,
which keeps the markup honest and lets tests query it. Every text from the report is
escaped. The same report gives the same bytes: no render time, no random ids. Keys are read
defensively, so a partial or older document renders with dashes and notes, not a traceback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

__all__ = ["histogram_svg", "render_html"]

_REFERENCE = "#98a2b3"  # the reference profile: a quiet grey
_CURRENT = "#2563eb"  # the served window: the colour the eye should follow
_INK, _MUTED, _GRID = "#1f2933", "#667085", "#e4e7ec"
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
# Copies of drift.P_VALUE_METHODS and profile.OTHER (tests pin them), so that rendering a
# page imports neither numpy nor scipy.
_P_VALUE_METHODS = frozenset({"ks", "chisquare"})  # drift when the score falls below threshold
_OTHER = "__other__"  # the bin of categories the profile did not keep
_GLYPH = 6.0  # rough width of a 10px glyph: decides when x labels thin out or turn
_DASH = "—"
_FLAT_LABELS = 20.0  # room under the plot for x labels that need not turn
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def render_html(report: Mapping[str, Any]) -> str:
    """The page for one monitor report (``MonitorReport.to_dict()``), as a complete document."""
    features = _ordered(_entries(report.get("features")))
    predictions = _ordered(_entries(report.get("predictions")))
    anchored = [(f"feature-{i}", entry) for i, entry in enumerate(features, 1)]
    anchored += [(f"prediction-{i}", entry) for i, entry in enumerate(predictions, 1)]
    body = [
        _header(report),
        _banner(report, features, predictions),
        _notes(report),
        _metrics_section(_entries(report.get("metrics"))),
        _drift_table("Features", features, section="features", anchor="feature"),
        _drift_table("Predictions", predictions, section="predictions", anchor="prediction")
        if predictions
        else "",
        _drifted_section(anchored, judged=_judged(report)),
        _others_section(anchored),
        _footer(report),
    ]
    title = f"Drift report: {_name(report)}"
    return _PAGE.format(title=_text(title), css=_CSS, body="\n".join(part for part in body if part))


def histogram_svg(
    histogram: Mapping[str, Any], *, title: str, width: int = 420, height: int = 180
) -> str:
    """Reference vs current shares per bin as grouped bars: an ``<svg>`` element to inline.

    The y axis is in percent of rows; numeric bins are labelled at their edges, categories
    under their bars, abbreviated and turned when they do not fit (turned labels add to
    ``height`` rather than squash the bars; each bar's tooltip has the full label). The
    element has no ``xmlns``, which inline SVG in HTML does not need:
    add ``xmlns="http://www.w3.org/2000/svg"`` to save it as a ``.svg`` file of its own.
    """
    labels, edges, reference, current = _bins(histogram)
    width, height = max(int(width), 160), max(int(height), 120)
    left, right, top = 44.0, 20.0, 40.0  # right: room for the last edge label
    plot_width = width - left - right
    ticks, turned = _x_ticks(labels, edges, plot_width)
    box = _Box(left, top, plot_width, height - top - _FLAT_LABELS)
    height += math.ceil(_x_margin(ticks, turned) - _FLAT_LABELS)
    parts = [
        f'<svg class="histogram" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" font-family="{_text(_FONT)}" font-size="10" '
        f'fill="{_INK}"><title>{_text(title)}</title>',
        f'<text x="2" y="14" font-size="13" font-weight="600">'
        f"{_text(_abbreviate(title, int((width - 4) / 7.2)))}</text>",
        _legend(),
    ]
    if labels:
        peak, y_ticks = _y_scale(max(reference + current))
        parts += [
            _y_axis(box, peak, y_ticks),
            _bars(box, labels, reference, current, peak),
            _x_axis(box, ticks, turned),
        ]
    else:
        parts.append(
            f'<text x="{width / 2:.1f}" y="{box.y + box.height / 2:.1f}" text-anchor="middle" '
            f'fill="{_MUTED}">No histogram data</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# -- the page ---------------------------------------------------------------------------


def _header(report: Mapping[str, Any]) -> str:
    rows, min_rows = report.get("rows"), report.get("min_rows")
    window = f"{_count(rows)} rows (min {_count(min_rows)})"
    start, end = report.get("window_start"), report.get("window_end")
    if start or end:
        window += f" · {_when(start)} – {_when(end)}"
    facts = [
        ("Model", _field(report, "model")),
        ("Version", _field(report, "version")),
        ("Environment", _field(report, "environment")),
        ("Checked", _when(report.get("created_at"))),
        ("Window", window),
    ]
    if report.get("id") is not None:
        facts.append(("Report", f"#{_text(report.get('id'))}"))
    items = "".join(f"<div><dt>{label}</dt><dd>{value}</dd></div>" for label, value in facts)
    return (
        f'<header><p class="kicker">Drift report</p><h1>{_text(_name(report))}</h1>'
        f'<dl class="facts">{items}</dl></header>'
    )


def _banner(
    report: Mapping[str, Any],
    features: Sequence[Mapping[str, Any]],
    predictions: Sequence[Mapping[str, Any]],
) -> str:
    if not _judged(report):
        notes = _texts(report.get("notes"))
        reason = notes[0] if notes else _too_few(report)
        return f'<p class="banner muted" role="status">Not judged: {_text(reason)}</p>'
    compared = [entry for entry in features if entry.get("statistic") is not None]
    drifted = sum(1 for entry in compared if entry.get("drifted") is True)
    share = _finite(report.get("drift_share"))
    if share is None and compared:
        share = drifted / len(compared)  # as drift_share counts: compared features only
    share_text = f" ({_percent(share)})" if share is not None else ""
    dataset = report.get("drifted") is True
    verdict = "dataset drift" if dataset else "no dataset drift"
    line = (
        f"Drift: {drifted} of {len(compared)} features{share_text} "
        f"— threshold {_percent(report.get('share_threshold'))}: {verdict}"
    )
    subs = []
    if len(compared) < len(features):
        subs.append(f"{len(features) - len(compared)} not compared: their notes say why.")
    moved = [entry for entry in predictions if entry.get("drifted") is True]
    if moved:
        subs.append(f"The predictions drifted too: {_score_text(moved[0])}")
    extra = "".join(f'<span class="sub">{_text(sub)}</span>' for sub in subs)
    tone = "alert" if dataset else "warn" if drifted or moved else "ok"
    return f'<p class="banner {tone}" role="status"><strong>{_text(line)}</strong>{extra}</p>'


def _too_few(report: Mapping[str, Any]) -> str:
    rows, min_rows = _count(report.get("rows")), _count(report.get("min_rows"))
    return f"the window holds {rows} served rows, fewer than min_rows={min_rows}"


def _notes(report: Mapping[str, Any]) -> str:
    notes = _texts(report.get("notes"))
    if not _judged(report):
        notes = notes[1:]  # the first one is the banner's reason
    if not notes:
        return ""
    items = "".join(f"<li>{_text(note)}</li>" for note in notes)
    return f'<section id="notes"><h2>Notes</h2><ul class="notes">{items}</ul></section>'


def _metrics_section(metrics: Sequence[Mapping[str, Any]]) -> str:
    if not metrics:
        return (
            '<section id="metrics"><h2>Live metrics</h2>'
            '<p class="empty">No live metrics in this report.</p></section>'
        )
    rows = "".join(
        f"<tr><td>{_field(metric, 'name')}</td>"
        f'<td class="num">{_fixed(metric.get("value"))}</td>'
        f'<td class="num">{_count(metric.get("labels"))}</td>'
        f'<td class="num">{_text(_bound(metric))}</td>'
        f"<td>{_metric_status(metric)}</td></tr>"
        for metric in metrics
    )
    head = "<th>Metric</th><th>Value</th><th>Labels</th><th>Bound</th><th>Status</th>"
    return (
        '<section id="metrics"><h2>Live metrics</h2><div class="scroll"><table>'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div></section>"
    )


def _metric_status(metric: Mapping[str, Any]) -> str:
    if metric.get("judged") is not True:
        labels = metric.get("labels")
        if not isinstance(labels, int) or labels <= 0:
            hint = "no labelled rows yet"
        elif _finite(metric.get("value")) is None:
            hint = "no value could be measured"
        else:
            hint = f"only {_count(labels)} labels, too few to judge"
        return f'{_badge("muted", "not judged")} <span class="hint">{_text(hint)}</span>'
    if metric.get("breached") is True:
        return _badge("alert", "breached")
    return _badge("ok", "ok")


def _drift_table(
    heading: str, entries: Sequence[Mapping[str, Any]], *, section: str, anchor: str
) -> str:
    if not entries:
        return (
            f'<section id="{section}"><h2>{heading}</h2>'
            '<p class="empty">No features were compared.</p></section>'
        )
    head = "".join(
        f"<th>{name}</th>"
        for name in ("Feature", "Kind", "Method", "Statistic", "p-value", "Threshold")
    )
    head += "<th>Drifted</th><th>Missing (current)</th>"
    rows = "".join(
        _drift_row(entry, f"{anchor}-{i}" if _has_bins(entry) else None)  # the card's id
        for i, entry in enumerate(entries, 1)
    )
    return (
        f'<section id="{section}"><h2>{heading}</h2><div class="scroll"><table>'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div></section>"
    )


def _drift_row(entry: Mapping[str, Any], anchor: str | None) -> str:
    name = _field(entry, "feature")
    cell = f'<a href="#{anchor}">{name}</a>' if anchor else name
    if entry.get("note"):
        cell += f'<span class="hint block">{_text(entry["note"])}</span>'
    drifted = entry.get("drifted") is True
    return (
        f'<tr class="{"drifted" if drifted else "steady"}"><td>{cell}</td>'
        f"<td>{_field(entry, 'kind')}</td><td>{_field(entry, 'method')}</td>"
        f'<td class="num">{_num(entry.get("statistic"))}</td>'
        f'<td class="num">{_num(entry.get("p_value"))}</td>'
        f'<td class="num">{_num(entry.get("threshold"))}</td>'
        f"<td>{_badge('alert', 'drifted') if drifted else _badge('ok', 'no')}</td>"
        f'<td class="num">{_percent(entry.get("current_missing_fraction"))}</td></tr>'
    )


def _drifted_section(anchored: Sequence[tuple[str, Mapping[str, Any]]], *, judged: bool) -> str:
    cards = [_card(anchor, e) for anchor, e in anchored if e.get("drifted") is True]
    empty = "No feature drifted." if judged else "Drift was not judged for this window."
    content = (
        f'<div class="cards">{"".join(cards)}</div>' if cards else f'<p class="empty">{empty}</p>'
    )

    return f'<section id="drifted"><h2>Drifted features</h2>{content}</section>'


def _others_section(anchored: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    cards = [_card(anchor, e) for anchor, e in anchored if e.get("drifted") is not True]
    if not cards:
        return ""
    return (
        f'<section id="all-features"><details><summary>All features: {len(cards)} '
        f'without drift</summary><div class="cards">{"".join(cards)}</div></details></section>'
    )


def _card(anchor: str, entry: Mapping[str, Any]) -> str:
    title = f"{entry.get('feature') or _DASH} · {_score_text(entry)}"
    histogram = entry.get("histogram")
    if isinstance(histogram, Mapping) and _has_bins(entry):
        plot = histogram_svg(histogram, title=title)
    else:
        plot = (
            f'<p class="card-title">{_text(title)}</p>'
            '<p class="hint">No histogram in the report for this feature.</p>'
        )
    facts = (
        f"reference {_count(entry.get('reference_count'))} rows · current "
        f"{_count(entry.get('current_count'))} rows · "
        f"{_percent(entry.get('current_missing_fraction'))} missing"
    )
    note = f'<span class="block">{_text(entry["note"])}</span>' if entry.get("note") else ""
    return (
        f'<figure class="card" id="{anchor}">{plot}<figcaption>{facts}{note}</figcaption></figure>'
    )


def _footer(report: Mapping[str, Any]) -> str:
    number = f" #{_text(report['id'])}" if report.get("id") is not None else ""
    return (
        f"<footer>mlrelease monitor report{number}. Bars show each bin's share of rows: "
        f'<span class="swatch" style="background: {_REFERENCE}"></span>reference profile, '
        f'<span class="swatch" style="background: {_CURRENT}"></span>current window.</footer>'
    )


# -- reading the report -------------------------------------------------------------------


def _entries(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _texts(value: Any) -> list[str]:
    return [str(item) for item in value if item] if isinstance(value, list) else []


def _name(report: Mapping[str, Any]) -> str:
    model, version = report.get("model", "model"), report.get("version")
    name = f"{model} v{version}" if version is not None else str(model)
    return f"{name} in {report['environment']}" if report.get("environment") else name


def _judged(report: Mapping[str, Any]) -> bool:
    judged = report.get("judged")
    return judged is True if judged is not None else report.get("drift_share") is not None


def _lower_is_worse(entry: Mapping[str, Any]) -> bool:
    """Whether the score is a p-value, which signals drift by falling below the threshold."""
    method = entry.get("method")
    if method in _P_VALUE_METHODS:
        return True
    p_value = _finite(entry.get("p_value"))
    return method not in (None, "") and p_value is not None and p_value == entry.get("score")


def _severity(entry: Mapping[str, Any]) -> float:
    """How far past (or short of) its threshold an entry's score is, comparable across methods."""
    score, threshold = _finite(entry.get("score")), _finite(entry.get("threshold"))
    if score is None:
        return -math.inf
    if _lower_is_worse(entry):
        if threshold is None:
            return 1.0 - score
        return threshold / score if score > 0 else math.inf
    return score / threshold if threshold else score


def _ordered(entries: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(
        entries,
        key=lambda e: (e.get("drifted") is not True, -_severity(e), str(e.get("feature", ""))),
    )


def _score_text(entry: Mapping[str, Any]) -> str:
    method = str(entry.get("method") or "drift")
    score, threshold = _finite(entry.get("score")), _finite(entry.get("threshold"))
    if score is None:
        return f"{method}: no score"
    lower = _lower_is_worse(entry)
    name = f"{method} p-value" if lower else method
    if threshold is None:
        return f"{name} {_num(score)}"
    sign = "<" if score < threshold else "≥"  # the same sign reads right for either direction
    return f"{name} {_num(score)} {sign} {_num(threshold)}"


def _bound(metric: Mapping[str, Any]) -> str:
    low, high = _finite(metric.get("min")), _finite(metric.get("max"))
    parts = ([f">= {_num(low)}"] if low is not None else []) + (
        [f"<= {_num(high)}"] if high is not None else []
    )
    return " and ".join(parts) or _DASH


def _has_bins(entry: Mapping[str, Any]) -> bool:
    histogram = entry.get("histogram")
    return isinstance(histogram, Mapping) and bool(_bins(histogram)[0])


def _bins(
    histogram: Mapping[str, Any],
) -> tuple[list[str], list[float | None] | None, list[float], list[float]]:
    """Labels, edges (when they bound the bins), and reference and current shares, aligned."""
    reference = _shares(histogram.get("reference"))
    current = _shares(histogram.get("current"))
    size = min(len(reference), len(current))
    raw_labels = histogram.get("labels")
    labels = [_bin_label(label) for label in raw_labels] if isinstance(raw_labels, list) else []
    labels = (labels + [f"bin {i + 1}" for i in range(len(labels), size)])[:size]
    raw_edges = histogram.get("edges")
    edges = (
        [_edge(raw) for raw in raw_edges]
        if isinstance(raw_edges, list) and len(raw_edges) == size + 1
        else None
    )
    return labels, edges, reference[:size], current[:size]


def _bin_label(label: Any) -> str:
    return "(other)" if label == _OTHER else str(label)


def _edge(raw: Any) -> float | None:
    """A bin edge; infinities stay (they show as ∞), anything else unusable is None."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or math.isnan(raw):
        return None
    return float(raw)


def _shares(values: Any) -> list[float]:
    """Shares of rows per bin; counts (a total above one) are turned into shares."""
    if not isinstance(values, list):
        return []
    shares = [max(_finite(value) or 0.0, 0.0) for value in values]
    total = sum(shares)
    return [share / total for share in shares] if total > 1.000001 else shares


# -- the plot -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass(frozen=True)
class _Tick:
    at: float  # fraction of the plot's width
    text: str
    full: str


def _legend() -> str:
    return (
        f'<rect x="2" y="22" width="10" height="10" rx="2" fill="{_REFERENCE}"/>'
        f'<text x="16" y="31" fill="{_MUTED}">reference</text>'
        f'<rect x="76" y="22" width="10" height="10" rx="2" fill="{_CURRENT}"/>'
        f'<text x="90" y="31" fill="{_MUTED}">current</text>'
    )


def _y_scale(peak: float) -> tuple[float, list[float]]:
    """The axis top (a share) and its ticks (in percent): round steps, at most about five."""
    percent = peak * 100 if peak > 0 else 1.0
    rough = percent / 4
    magnitude = 10.0 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= rough)
    count = math.ceil(percent / step - 1e-9)
    return count * step / 100, [round(i * step, 6) for i in range(count + 1)]


def _y_axis(box: _Box, peak: float, ticks: Sequence[float]) -> str:
    lines = []
    for tick in ticks:
        y = box.bottom - tick / 100 / peak * box.height
        lines.append(
            f'<line x1="{box.x:.2f}" x2="{box.x + box.width:.2f}" y1="{y:.2f}" y2="{y:.2f}" '
            f'stroke="{_GRID}" stroke-width="1"/>'
            f'<text x="{box.x - 5:.2f}" y="{y + 3.5:.2f}" text-anchor="end" fill="{_MUTED}">'
            f"{tick:g}%</text>"
        )
    return f'<g class="y-axis">{"".join(lines)}</g>'


def _bars(
    box: _Box,
    labels: Sequence[str],
    reference: Sequence[float],
    current: Sequence[float],
    peak: float,
) -> str:
    group = box.width / len(labels)
    bar = group * 0.36
    rects = []
    for i, label in enumerate(labels):
        start = box.x + i * group + group * 0.14
        for offset, series, share, colour in (
            (0.0, "reference", reference[i], _REFERENCE),
            (bar, "current", current[i], _CURRENT),
        ):
            tall = share / peak * box.height
            rects.append(
                f'<rect class="bar {series}" x="{start + offset:.2f}" y="{box.bottom - tall:.2f}" '
                f'width="{bar:.2f}" height="{tall:.2f}" fill="{colour}">'
                f"<title>{_text(label)}: {series} {_percent(share)}</title></rect>"
            )
    baseline = (
        f'<line x1="{box.x:.2f}" x2="{box.x + box.width:.2f}" y1="{box.bottom:.2f}" '
        f'y2="{box.bottom:.2f}" stroke="{_MUTED}" stroke-width="1"/>'
    )
    return f'<g class="bars">{"".join(rects)}{baseline}</g>'


def _x_ticks(
    labels: Sequence[str], edges: Sequence[float | None] | None, width: float
) -> tuple[list[_Tick], bool]:
    """The x labels, thinned to fit, and whether they must be turned to fit."""
    if not labels:
        return [], False
    slot = width / len(labels)
    if edges is not None:  # numeric bins: label the edges, which are short
        texts = [_short(edge) for edge in edges]
        for end, label in ((0, labels[0]), (-1, labels[-1])):
            if "inf" in label:  # an open outer bin: its profile min or max is no bound
                texts[end] = ""
        step = math.ceil((max(map(len, texts)) * _GLYPH + 8) / slot)
        ticks = [_Tick(i / len(labels), t, t) for i, t in enumerate(texts) if i % step == 0]
        return ticks, False
    if max(map(len, labels)) * _GLYPH + 6 <= slot:
        return [_Tick((i + 0.5) / len(labels), t, t) for i, t in enumerate(labels)], False
    step = math.ceil(16 / slot)
    return [
        _Tick((i + 0.5) / len(labels), _abbreviate(t, 10), t)
        for i, t in enumerate(labels)
        if i % step == 0
    ], True


def _x_margin(ticks: Sequence[_Tick], turned: bool) -> float:
    if not turned:
        return _FLAT_LABELS
    longest = max(len(tick.text) for tick in ticks)
    return 14.0 + longest * _GLYPH * math.sin(math.radians(40))


def _x_axis(box: _Box, ticks: Sequence[_Tick], turned: bool) -> str:
    texts = []
    for tick in ticks:
        x, y = box.x + tick.at * box.width, box.bottom + 13
        place = (
            f'text-anchor="end" transform="rotate(-40 {x:.2f} {y:.2f})"'
            if turned
            else 'text-anchor="middle"'
        )
        hover = f"<title>{_text(tick.full)}</title>" if tick.full != tick.text else ""
        texts.append(
            f'<text x="{x:.2f}" y="{y:.2f}" {place} fill="{_MUTED}">{_text(tick.text)}{hover}'
            "</text>"
        )
    return f'<g class="x-axis">{"".join(texts)}</g>'


# -- formatting ---------------------------------------------------------------------------


def _field(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    return _DASH if value is None or value == "" else _text(value)


def _text(value: Any) -> str:
    """Escaped for HTML and XML alike: characters XML forbids are dropped."""
    return escape(_NOT_XML.sub("", str(value)), quote=True)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _num(value: Any) -> str:
    number = _finite(value)
    if number is None:
        return _DASH
    return f"{number:.2e}" if number != 0 and abs(number) < 1e-3 else f"{number:.4g}"


def _fixed(value: Any) -> str:
    number = _finite(value)
    return _DASH if number is None else f"{number:.4f}"


def _short(edge: float | None) -> str:
    if edge is None:
        return ""
    if math.isinf(edge):
        return "∞" if edge > 0 else "−∞"
    return f"{edge:.2g}" if edge != 0 and not 1e-3 <= abs(edge) < 1e5 else f"{edge:.4g}"


def _percent(value: Any) -> str:
    number = _finite(value)
    if number is None:
        return _DASH
    text = f"{number * 100:.1f}".rstrip("0").rstrip(".")
    return f"{'0' if text == '-0' else text}%"


def _count(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return _DASH
    return f"{value:,}"


def _when(value: Any) -> str:
    if not value:
        return _DASH
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return _text(value)
    shown = moment.strftime("%Y-%m-%d %H:%M:%S")
    offset = moment.utcoffset()
    if offset is not None:
        shown += " UTC" if not offset else moment.strftime(" UTC%z")
    return f'<time datetime="{_text(value)}">{_text(shown)}</time>'


def _abbreviate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 1)] + "…"


def _badge(tone: str, text: str) -> str:
    return f'<span class="badge {tone}">{_text(text)}</span>'


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"/>
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
  --paper: #ffffff; --page: #f6f7f9; --ok: #067647; --ok-bg: #ecfdf3; --warn: #93370d;
  --warn-bg: #fffaeb; --alert: #b42318; --alert-bg: #fef3f2; --mute-bg: #f2f4f7; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 32px 24px 48px; }
h1 { font-size: 26px; line-height: 1.2; margin: 0 0 12px; overflow-wrap: anywhere; }
h2 { font-size: 17px; margin: 32px 0 12px; }
.kicker { margin: 0; color: var(--muted); font-size: 13px; text-transform: uppercase;
  letter-spacing: .06em; }
.facts { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 0; }
.facts dt { color: var(--muted); font-size: 12px; }
.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
.banner { margin: 24px 0 0; padding: 14px 18px; border-radius: 8px; border: 1px solid;
  border-left-width: 6px; font-size: 16px; overflow-wrap: anywhere; }
.banner .sub { display: block; font-size: 14px; margin-top: 4px; }
.banner.ok { color: var(--ok); background: var(--ok-bg); }
.banner.warn { color: var(--warn); background: var(--warn-bg); }
.banner.alert { color: var(--alert); background: var(--alert-bg); }
.banner.muted { color: var(--ink); background: var(--mute-bg); border-color: var(--muted); }
.notes { margin: 0; padding-left: 20px; color: var(--muted); }
.scroll { overflow-x: auto; background: var(--paper); border: 1px solid var(--line);
  border-radius: 8px; }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th, td { padding: 7px 12px; text-align: left; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; white-space: nowrap; }
tbody tr:last-child td { border-bottom: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td a { color: inherit; text-decoration: underline dotted var(--muted); }
td a:hover { text-decoration-style: solid; }
tr.drifted td:first-child { font-weight: 600; }
.badge { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12px;
  font-weight: 600; border: 1px solid; }
.badge.ok { color: var(--ok); background: var(--ok-bg); }
.badge.alert { color: var(--alert); background: var(--alert-bg); }
.badge.muted { color: var(--muted); background: var(--mute-bg); }
.hint { color: var(--muted); font-size: 12px; }
.block { display: block; }
.empty { color: var(--muted); }
.cards { display: grid; gap: 16px;
  grid-template-columns: repeat(auto-fill, minmax(min(380px, 100%), 1fr)); }
.card { margin: 0; padding: 14px 16px 12px; background: var(--paper);
  border: 1px solid var(--line); border-radius: 8px; break-inside: avoid; }
.card svg { display: block; width: 100%; height: auto; }
.card-title { margin: 0 0 8px; font-weight: 600; }
figcaption { margin-top: 6px; color: var(--muted); font-size: 12px; }
details { margin-top: 32px; }
summary { cursor: pointer; font-size: 17px; font-weight: 600; margin-bottom: 12px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin: 0 4px 0 2px; vertical-align: -1px; }
@media print {
  body { background: #fff; font-size: 12px; }
  main { max-width: none; padding: 0; }
  .banner, .badge, .swatch { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  .scroll { overflow: visible; border: 0; }
  .card { border-color: #ccc; }
  .cards { grid-template-columns: repeat(2, 1fr); }
  td a { text-decoration: none; }
}
"""
