"""What both renderings say in words: the verdict, the comparison, the facts and numbers.

Plain, unescaped text: each renderer escapes it for its own format.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlrelease.deploy.report._model import MetricRow, Report

__all__ = [
    "DASH",
    "LEGEND",
    "Fact",
    "champion_heading",
    "comparison",
    "data_facts",
    "delta_text",
    "direction_mark",
    "fixed",
    "verdict",
]

DASH = "—"
VERDICT_MARK = {"better": "🟢", "worse": "🔴"}


def verdict(report: Report) -> str:
    """The one line a reader needs: passed or failed, and how many gates."""
    subject = f"{report.model} v{report.version}"
    total = len(report.gates)
    if not total:
        return f"✅ {subject} passed: no quality gates were recorded for it"
    gates = f"quality gate{'s' if total > 1 else ''}"
    if report.passed:
        return f"✅ {subject} passed {'all ' if total > 1 else ''}{total} {gates}"
    return f"❌ {subject} failed {report.failed_gates} of {total} {gates}"


def comparison(report: Report) -> str:
    if report.champion is None:
        return f"Nothing is live in {report.against}: no champion to compare with, so no deltas."
    return f"Compared with v{report.champion}, the version live in {report.against}."


def champion_heading(report: Report) -> str:
    return f"v{report.champion} ({report.against})"


def direction_mark(row: MetricRow) -> str:
    return {True: "↑", False: "↓", None: ""}[row.higher_is_better]


def delta_text(row: MetricRow) -> str:
    """``+0.0123 🟢``: the signed change, marked by whether it is an improvement."""
    delta = row.delta
    if delta is None:
        return DASH
    mark = VERDICT_MARK.get(row.verdict or "")
    text = fixed(delta, signed=True)
    return f"{text} {mark}" if mark else text


LEGEND = "↑ higher is better, ↓ lower is better; 🟢 better than the champion, 🔴 worse."


def fixed(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return DASH
    sign = "+" if signed else ""
    if value != 0 and not 1e-4 <= abs(value) < 1e6:
        return f"{value:{sign}.3e}"
    return f"{value:{sign}.4f}"


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    code: bool = False  # an identifier, shown as code
    suffix: str = ""  # plain words after the value and a space


def data_facts(report: Report) -> list[Fact]:
    data = report.data
    facts = [
        Fact("Evaluation rows", f"{data.rows:,}" if data.rows is not None else "none stored"),
        Fact("Features", str(data.features) if data.features is not None else DASH),
        _identifier("Data fingerprint", data.fingerprint),
        _identifier("Data source", data.source),
    ]
    if data.git_commit is None:
        facts.append(
            Fact("Git commit", "unknown (not recorded, or not trained in a git work tree)")
        )
    else:
        dirty = {True: "(dirty: uncommitted changes)", False: "(clean)", None: ""}
        facts.append(Fact("Git commit", data.git_commit, code=True, suffix=dirty[data.git_dirty]))
    facts.append(_identifier("Training run", data.run_id))
    return facts


def _identifier(label: str, value: str | None) -> Fact:
    return Fact(label, DASH) if value is None else Fact(label, value, code=True)
