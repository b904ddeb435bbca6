"""Commands about notifications: notify test | deliver | status."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mlrelease.cli._common import (
    DEFAULT_FILE,
    Output,
    OutputFormat,
    ProjectFile,
    console,
    open_client,
    print_json,
)
from mlrelease.cli.render import timestamp
from mlrelease.errors import ConfigError, MlreleaseError, NotificationError
from mlrelease.spec import DEFAULT_FILENAME

if TYPE_CHECKING:
    from mlrelease.notify import DeliveryReport, Outbox

__all__ = ["register"]

notify_app = typer.Typer(
    help="Notifications to Slack, webhooks and email: send a test, deliver the outbox, status.",
    no_args_is_help=True,
)

# Block-style lists only: error lines are printed with rich markup, which eats [...].
_EXAMPLE = """add channels under notify: in the project file, for example:
  notify:
    - name: team-slack
      slack: ${SLACK_WEBHOOK_URL}      # a Slack incoming-webhook URL
      "on":                            # topics to send (quoted: YAML reads on as true)
        - promoted
        - gate_failed
    - webhook: {url: "https://hooks.example.com/mlrelease", secret: "${HOOK_SECRET}"}
    - email:
        smtp: smtp://mail.example.com:587
        starttls: true
        to:
          - ml-team@example.com
then check them with: mlrelease notify test"""

# The pause between --watch rounds; a seam so tests need not wait.
_sleep: Callable[[float], None] = time.sleep


@contextmanager
def _outbox(project_file: Path) -> Iterator[Outbox]:
    """The project's outbox; a clear ConfigError when there is no channel to use."""
    from mlrelease.notify import Outbox

    path = project_file / DEFAULT_FILENAME if project_file.is_dir() else project_file
    if not path.is_file():
        raise ConfigError(
            f"{path}: project file not found (run 'mlrelease init' or pass --file PATH); "
            f"notification channels live in it: {_EXAMPLE}"
        )
    with open_client(project_file, require_project=True) as client:
        spec = client.project.spec if client.project is not None else None
        if spec is None or not spec.notify:
            raise ConfigError(f"{path}: no notification channels configured; {_EXAMPLE}")
        yield Outbox.from_spec(client.store, spec)


@notify_app.command("test")
def send_tests(
    channel: Annotated[
        str | None,
        typer.Option(
            "--channel",
            "-c",
            help="Only this channel: its name, or slack / webhook / email when unnamed.",
        ),
    ] = None,
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Send a test message to every channel (or one) now, not through the outbox.

    Prints one line per channel that worked; each one that failed is one error
    line, and the command exits 1 (2 when a channel is refused as configured).
    """
    with _outbox(project_file) as outbox:
        names = [channel] if channel else list(outbox.channels)
        failures: list[MlreleaseError] = []
        for name in names:
            try:
                outbox.send_test(name)
            except (NotificationError, ConfigError) as exc:
                failures.append(exc)
                continue
            console.print(f"ok  {escape(name)} ({outbox.channels[name].kind})")
    if failures:
        message = "\n".join(exc.message for exc in failures)
        if all(isinstance(exc, ConfigError) for exc in failures):
            raise ConfigError(message)
        raise NotificationError(message)


@notify_app.command("deliver")
def deliver(
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep delivering until Ctrl-C, a round per interval.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between rounds with --watch.")
    ] = 5.0,
    limit: Annotated[int, typer.Option(min=1, help="Most messages sent per round.")] = 100,
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Deliver the outbox's due messages: once, or with --watch until Ctrl-C.

    A message whose receiver is down is retried later, with a growing pause (2 s,
    4 s, ... at most 10 min); after 20 attempts it is marked failed (see
    `mlrelease notify status`). Several deliverers may run at once.
    """
    with _outbox(project_file) as outbox:
        if not watch:
            _print_report(outbox.deliver_due(limit=limit))
            return
        console.print(f"delivering due notifications every {interval:g}s; Ctrl-C to stop")
        try:
            _watch(outbox, interval=interval, limit=limit)
        except KeyboardInterrupt:
            console.print("stopped")


def _watch(outbox: Outbox, *, interval: float, limit: int) -> None:
    while True:
        report = outbox.deliver_due(limit=limit)
        if report.attempted:
            _print_report(report)
        if report.attempted < limit:  # a full round may have left more: go again at once
            _sleep(interval)


def _print_report(report: DeliveryReport) -> None:
    console.print(
        f"delivered {report.delivered}, retrying {report.retrying}, failed {report.failed}"
    )
    for line in report.errors:
        console.print(f"  {escape(line)}")


@notify_app.command("status")
def status(
    limit: Annotated[int, typer.Option(min=1, help="Most pending or failed rows shown.")] = 50,
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """Show how many notifications are pending, delivered and failed, and the open ones."""
    from mlrelease.notify import pending

    with open_client(project_file) as client:
        state = pending(client.store, limit=limit)
    if output is OutputFormat.json:
        print_json({"counts": state.counts, "entries": [asdict(row) for row in state.entries]})
        return
    console.print(", ".join(f"{name} {count}" for name, count in state.counts.items()))
    if not state.entries:
        return
    table = Table(title="Pending and failed notifications", title_justify="left")
    for column in ("id", "channel", "event", "status", "attempts", "next attempt", "last error"):
        table.add_column(column, overflow="fold")
    for row in state.entries:
        table.add_row(
            str(row.id),
            escape(row.channel),
            row.kind,
            row.status,
            str(row.attempts),
            timestamp(row.next_attempt_at) if row.status == "pending" else "-",
            escape(row.last_error),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(notify_app, name="notify")
