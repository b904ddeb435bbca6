"""Releases: every progressive release, and one release's steps, traffic, analysis and levers.

A release in progress refreshes itself (``data-live``); its levers (pause, resume,
promote, abort) are shown to operators only when its phase allows them, and the
release service checks the phase again under its lock.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from mlrelease.audit import EventInfo
from mlrelease.auth import Role
from mlrelease.client import Client
from mlrelease.release.phases import TRANSITIONS, Phase
from mlrelease.release.records import ReleaseInfo
from mlrelease.spec import StepSpec
from mlrelease.traffic import TrafficState, get_traffic
from mlrelease.ui.charts import Series, line_chart
from mlrelease.ui.routing import Pages, View

__all__ = ["pages"]

pages = Pages()

# Phases in which the controller (or a person) still moves the release.
LIVE_PHASES = (Phase.PENDING, Phase.PROGRESSING, Phase.PAUSED, Phase.PROMOTING)
REFRESH_SECONDS = 3


@dataclass(frozen=True)
class StepRow:
    number: int
    action: str
    state: str  # done | current | next | skipped | stopped | not reached
    detail: str = ""


@dataclass(frozen=True)
class MeasurementRow:
    at: datetime
    step: int  # 1-based, as the steps list shows it
    window: str  # "HH:MM:SS to HH:MM:SS"
    verdict: str
    checks: list[dict[str, Any]]  # {check, verdict, candidate, stable, threshold, samples, note}


@dataclass(frozen=True)
class Lever:
    name: str  # the path's last segment: pause | resume | promote | abort
    label: str
    danger: bool = False


@pages.get("/releases")
def releases(view: View) -> Response:
    found = view.client.releases.list(limit=100)
    live = any(release.phase in LIVE_PHASES for release in found)
    return view.render("releases.html", releases=found, live=live)


@pages.get("/releases/{release_id:int}")
def release(view: View, release_id: int) -> Response:
    client = view.client
    info = client.releases.get(release_id)
    return view.render(
        "release.html",
        release=info,
        live=info.phase in LIVE_PHASES,
        refresh=REFRESH_SECONDS,
        steps=_steps(info),
        traffic=_traffic(client, info),
        charts=_charts(info),
        measurements=_measurements(info),
        events=_events(client, info),
        levers=_levers(info.phase),
    )


@pages.post("/releases/{release_id:int}/pause", role=Role.operator)
def pause(view: View, release_id: int) -> Response:
    info = view.client.releases.pause(release_id, actor=view.actor_name, reason=_reason(view))
    return _done(
        view,
        info,
        f"paused: v{info.candidate_version} keeps {info.weight}% of traffic until resumed",
    )


@pages.post("/releases/{release_id:int}/resume", role=Role.operator)
def resume(view: View, release_id: int) -> Response:
    info = view.client.releases.resume(release_id, actor=view.actor_name, reason=_reason(view))
    return _done(view, info, "resumed: the controller carries on with its steps")


@pages.post("/releases/{release_id:int}/promote", role=Role.operator)
def promote(view: View, release_id: int) -> Response:
    info = view.client.releases.promote(release_id, actor=view.actor_name, reason=_reason(view))
    return _done(
        view,
        info,
        f"promoting: v{info.candidate_version} becomes the stable version in "
        f"{info.environment} on the controller's next tick",
    )


@pages.post("/releases/{release_id:int}/abort", role=Role.operator)
def abort(view: View, release_id: int) -> Response:
    info = view.client.releases.abort(release_id, actor=view.actor_name, reason=_reason(view))
    return _done(view, info, f"aborted: all traffic back on v{info.stable_version}")


def _done(view: View, info: ReleaseInfo, what: str) -> Response:
    return view.redirect(view.back(f"/releases/{info.id}"), done=f"Release #{info.id} {what}")


def _reason(view: View) -> str:
    return view.form.get("reason", "").strip()


def _levers(phase: Phase) -> list[Lever]:
    """The levers the phase allows; resume only un-pauses (the service would also start a
    pending release, which the controller does by itself)."""
    allowed = TRANSITIONS[phase]
    levers = []
    if Phase.PAUSED in allowed:
        levers.append(Lever("pause", "Pause"))
    if phase is Phase.PAUSED:
        levers.append(Lever("resume", "Resume"))
    if Phase.PROMOTING in allowed:
        levers.append(Lever("promote", "Promote now"))
    if Phase.ABORTED in allowed:
        levers.append(Lever("abort", "Abort", danger=True))
    return levers


def _steps(release: ReleaseInfo) -> list[StepRow]:
    rows = []
    for index, step in enumerate(release.strategy_spec.steps):
        state = _step_state(release, index)
        detail = _step_detail(release, step) if state == "current" else ""
        rows.append(StepRow(index + 1, _describe(release, step), state, detail))
    return rows


def _step_state(release: ReleaseInfo, index: int) -> str:
    if index < release.step_index:
        return "done"
    if release.phase in (Phase.PROMOTING, Phase.SUCCEEDED):
        return "skipped"  # promoted by hand before the steps ran out
    if release.phase is Phase.ABORTED:
        return "stopped" if index == release.step_index else "not reached"
    return "current" if index == release.step_index else "next"


def _describe(release: ReleaseInfo, step: StepSpec) -> str:
    if step.weight is not None:
        verb = "Mirror" if release.strategy == "shadow" else "Send"
        return f"{verb} {step.weight}% of requests to v{release.candidate_version}"
    if step.analysis is not None:
        analysis = step.analysis
        checks = f" against {', '.join(analysis.checks)}" if analysis.checks else ""
        plural = "s" if analysis.count != 1 else ""
        return (
            f"Analyse: {analysis.count} measurement{plural}, "
            f"one every {_duration(analysis.interval)}{checks}"
        )
    if isinstance(step.pause, dict):
        return "Wait for a person to resume"
    return f"Wait {_duration(step.pause or 0.0)}"


def _step_detail(release: ReleaseInfo, step: StepSpec) -> str:
    if step.analysis is not None:
        return f"{release.analysis_runs} of {step.analysis.count} taken"
    if release.phase is Phase.PAUSED and release.reason:
        return release.reason
    return ""


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def _traffic(client: Client, release: ReleaseInfo) -> TrafficState:
    with client.store.read() as connection:
        return get_traffic(connection, release.model, release.environment)


def _charts(release: ReleaseInfo) -> list[str]:
    """One chart per check: the candidate's value per measurement, stable's, the threshold."""
    by_check: dict[str, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
    for measurement in release.measurements:
        at = datetime.fromisoformat(measurement["at"]).timestamp()
        for check in measurement.get("checks", []):
            by_check[check["check"]].append((at, check))
    return [_chart(release, name, points) for name, points in by_check.items()]


def _chart(release: ReleaseInfo, name: str, points: list[tuple[float, dict[str, Any]]]) -> str:
    labels = [
        f"{c['candidate']:.4g} ({c['verdict']})" if c.get("candidate") is not None else ""
        for _, c in points
    ]
    lines = [
        Series(
            f"v{release.candidate_version} (candidate)",
            [(x, c.get("candidate")) for x, c in points],
            point_labels=labels,
        )
    ]
    if any(c.get("stable") is not None for _, c in points):
        lines.append(
            Series(
                f"v{release.stable_version} (stable)",
                [(x, c.get("stable")) for x, c in points],
                dashed=True,
            )
        )
    thresholds = {c["threshold"] for _, c in points if c.get("threshold") is not None}
    threshold = next(iter(thresholds)) if len(thresholds) == 1 else None
    if len(thresholds) > 1:  # relative to stable: the line moves with it
        lines.append(Series("threshold", [(x, c.get("threshold")) for x, c in points]))
    return line_chart(
        lines,
        title=name,
        x_label="measured at (UTC)",
        x_format=_clock,
        threshold=threshold,
    )


def _measurements(release: ReleaseInfo) -> list[MeasurementRow]:
    """Every analysis measurement, newest first."""
    rows = [
        MeasurementRow(
            at=datetime.fromisoformat(m["at"]),
            step=int(m.get("step", 0)) + 1,
            window=f"{_clock_of(m['window_start'])} to {_clock_of(m['window_end'])}",
            verdict=str(m["verdict"]),
            checks=list(m.get("checks", [])),
        )
        for m in release.measurements
    ]
    return rows[::-1]


def _clock_of(iso: str) -> str:
    return _clock(datetime.fromisoformat(iso).timestamp())


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


def _events(client: Client, release: ReleaseInfo) -> list[EventInfo]:
    """This release's events and its promotion request's, newest first."""

    def ours(event: EventInfo) -> bool:
        if event.payload.get("release") == release.id:
            return True
        request = event.payload.get("request")
        return release.promotion_id is not None and request == release.promotion_id

    events = client.events(release.model, environment=release.environment)
    return [event for event in reversed(events) if ours(event)]
