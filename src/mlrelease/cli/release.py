"""Commands about progressive releases: release status|pause|resume|promote|abort, controller."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from mlrelease.audit import current_actor
from mlrelease.cli._common import (
    DEFAULT_FILE,
    Output,
    OutputFormat,
    ProjectFile,
    console,
    deliver_notifications,
    notifying_client,
    open_client,
    print_json,
)
from mlrelease.release.phases import ACTIVE_PHASES
from mlrelease.release.records import ReleaseInfo

if TYPE_CHECKING:
    from mlrelease.monitoring.watch import WatchResult

__all__ = ["register"]

release_app = typer.Typer(
    help="Progressive releases (canary, shadow): status, and the levers a person pulls.",
    no_args_is_help=True,
)
ReleaseId = Annotated[int, typer.Argument(min=1, help="Release number (see `release status`).")]
Reason = Annotated[str, typer.Option(help="Why, for the history.")]


@release_app.command("status")
def status(
    release_id: Annotated[
        int | None, typer.Argument(min=1, help="One release; default: the recent ones.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    env: Annotated[str | None, typer.Option("--env", help="Only this environment.")] = None,
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """Show releases: phase, step, the candidate's share, failures, last measurement."""
    with open_client(project_file) as client:
        if release_id is not None:
            releases = [client.releases.get(release_id)]
        else:
            releases = client.releases.list(model=model, environment=env, limit=20)
    if output is OutputFormat.json:
        print_json([release.to_dict() for release in releases])
        return
    if not releases:
        console.print(
            "no releases yet: promoting into an environment with release: canary starts one"
        )
        return
    console.print(_table(releases))
    if release_id is not None and releases[0].reason:
        console.print(f"reason: {releases[0].reason}")


@release_app.command("pause")
def pause(
    release_id: ReleaseId, reason: Reason = "", project_file: ProjectFile = DEFAULT_FILE
) -> None:
    """Hold a release where it is (traffic stays as it is) until `release resume`."""
    with notifying_client(project_file) as client:
        _said(client.releases.pause(release_id, actor=current_actor(), reason=reason))


@release_app.command("resume")
def resume(
    release_id: ReleaseId, reason: Reason = "", project_file: ProjectFile = DEFAULT_FILE
) -> None:
    """Continue a paused release (past a `pause: {}` step that waits for a person)."""
    with notifying_client(project_file) as client:
        _said(client.releases.resume(release_id, actor=current_actor(), reason=reason))


@release_app.command("promote")
def promote(
    release_id: ReleaseId, reason: Reason = "", project_file: ProjectFile = DEFAULT_FILE
) -> None:
    """Skip the remaining steps: the candidate becomes the stable version on the next tick."""
    with notifying_client(project_file) as client:
        _said(client.releases.promote(release_id, actor=current_actor(), reason=reason))


@release_app.command("abort")
def abort(
    release_id: ReleaseId,
    reason: Annotated[str, typer.Option(help="Why (required), for the history.")],
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Stop a release: all traffic back on the stable version at once; the alias stays."""
    with notifying_client(project_file) as client:
        _said(client.releases.abort(release_id, actor=current_actor(), reason=reason))


def controller(
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between ticks over the active releases.")
    ] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="One tick, then exit (for cron).")] = False,
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Run the controller: advance every active release, and monitor and retrain the project.

    Each tick advances the releases; beside a project file with monitoring: or
    retrain: it also takes labelled rows from the stream sources, checks drift and
    live metrics every monitoring.interval, and retrains when a trigger fires.
    It keeps no state of its own: stop it at any moment (Ctrl-C, SIGTERM, a crash)
    and start it again, and it carries on where the store says things stand.
    """
    with open_client(project_file) as client:
        watcher = client.watcher() if client.project is not None else None
        watching = watcher is not None and watcher.active

        def report(releases: list[ReleaseInfo]) -> None:
            for release in releases:
                if release.phase not in ACTIVE_PHASES:
                    console.print(_line(release))
            if watching:
                assert watcher is not None
                _said_watch(watcher.tick())
            deliver_notifications(client)

        running = client.controller()
        try:
            if once:
                report(running.tick())
                return
            what = "releases, monitoring and retraining" if watching else "releases"
            console.print(f"controller: {what}, a tick every {interval:g} s (Ctrl-C stops)")
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            with contextlib.suppress(KeyboardInterrupt):
                running.run(interval=interval, stop=stop, after_tick=report)
            console.print("stopped")
        finally:
            if watcher is not None:
                watcher.close()


def _said_watch(result: WatchResult) -> None:
    if result.ingested:
        console.print(f"{result.ingested} labelled row(s) taken from the stream sources")
    if result.report is not None:
        report = result.report
        share = "not judged" if report.drift_share is None else f"{report.drift_share:.0%} drifted"
        console.print(
            f"monitor: v{report.version} in {report.environment}, {report.rows} rows, {share}"
        )
    for name in result.fired:
        console.print(f"[yellow]fired[/]: {name}")
    retrained = result.retrained
    if retrained is not None:
        outcome = (
            f"failed: {retrained.error}"
            if not retrained.succeeded
            else f"v{retrained.version}"
            if retrained.version
            else f"no new version, {retrained.unchanged}"
        )
        console.print(f"retrain ({retrained.reason}): {outcome}")


def _said(release: ReleaseInfo) -> None:
    console.print(_line(release))


def _line(release: ReleaseInfo) -> str:
    head = (
        f"release #{release.id}: {release.model}@{release.environment} "
        f"v{release.stable_version} -> v{release.candidate_version} {release.phase.value}"
    )
    return f"{head} ({release.reason})" if release.reason else head


def _table(releases: list[ReleaseInfo]) -> Table:
    table = Table(title="Releases", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("id", "where", "versions", "phase", "step", "share", "failed", "last check"):
        table.add_column(column, no_wrap=column == "phase")
    for release in releases:
        steps = len(release.strategy_spec.steps)
        last = release.measurements[-1]["verdict"] if release.measurements else "-"
        table.add_row(
            str(release.id),
            f"{release.model}@{release.environment}",
            f"v{release.stable_version} -> v{release.candidate_version}",
            release.phase.value,
            f"{min(release.step_index + 1, steps)}/{steps}",
            f"{release.weight}% {release.strategy}",
            str(release.failures),
            last,
        )
    return table


def register(app: typer.Typer) -> None:
    app.add_typer(release_app, name="release")
    app.command()(controller)
