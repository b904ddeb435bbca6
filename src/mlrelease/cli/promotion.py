"""Commands that move versions between environments: promote, approvals, approve,
reject, rollback, history and archive.

Each runs against the local stores, or against a remote mlrelease server with
``--server URL`` (or ``MLRELEASE_SERVER``) and a token in ``MLRELEASE_TOKEN``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer
from rich import box
from rich.table import Table

from mlrelease.audit import EventInfo
from mlrelease.cli._common import (
    DEFAULT_FILE,
    Output,
    OutputFormat,
    ProjectFile,
    console,
    notifying_client,
    print_json,
)
from mlrelease.cli.render import gates_table, timestamp
from mlrelease.errors import ConfigError
from mlrelease.promotion.records import PromotionInfo, PromotionStatus

__all__ = ["register"]

ModelName = Annotated[str, typer.Argument(help="Model name, e.g. breast-cancer.")]
RequestId = Annotated[int, typer.Argument(min=1, help="Promotion request number (see approvals).")]
Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="MLRELEASE_SERVER",
        help="URL of an mlrelease server to act through (token from MLRELEASE_TOKEN); "
        "default: the local stores.",
    ),
]


class Backend(Protocol):
    """What these commands need; the local Client and the RemoteClient both provide it."""

    def promote(self, model: str, version: int, to: str, *, reason: str = "") -> PromotionInfo: ...
    def approve(self, request_id: int, *, reason: str = "") -> PromotionInfo: ...
    def reject(self, request_id: int, *, reason: str) -> PromotionInfo: ...
    def rollback(
        self, model: str, environment: str, *, to: int | None = None, reason: str
    ) -> EventInfo: ...
    def promotion_requests(
        self,
        *,
        model: str | None = None,
        environment: str | None = None,
        status: PromotionStatus | None = PromotionStatus.PENDING,
    ) -> list[PromotionInfo]: ...
    def events(
        self,
        model: str | None = None,
        *,
        environment: str | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[EventInfo]: ...
    def live_at(self, model: str, at: datetime | None = None) -> dict[str, int]: ...
    def archive(self, model: str, version: int, *, reason: str = "") -> int: ...


@contextmanager
def _backend(project_file: Path, server: str | None) -> Iterator[Backend]:
    if server:
        from mlrelease.remote import RemoteClient

        with RemoteClient.from_env(server) as remote:
            yield remote
        return
    with notifying_client(project_file) as client:
        yield client


def promote(
    model: ModelName,
    version: Annotated[int, typer.Argument(min=1, help="Version number to promote.")],
    to: Annotated[str, typer.Option("--to", help="Target environment, e.g. staging.")],
    reason: Annotated[str, typer.Option(help="Why, for the history.")] = "",
    server: Server = None,
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """Promote a version into an environment, under that environment's policy.

    The version must have been in the environment before (its `after`), and
    the gates are judged again against the target's champion. Without
    approvals needed the alias moves now; otherwise a request waits for
    `mlrelease approve`. A refusal names the rule and exits non-zero.
    """
    with _backend(project_file, server) as backend:
        outcome = backend.promote(model, version, to, reason=reason)
    _show_outcome(outcome, output, with_gates=True)


def approvals(
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    env: Annotated[str | None, typer.Option(help="Only this environment.")] = None,
    all_requests: Annotated[
        bool, typer.Option("--all", help="Also decided requests, not only waiting ones.")
    ] = False,
    server: Server = None,
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """List promotion requests waiting for approval (newest first)."""
    status = None if all_requests else PromotionStatus.PENDING
    with _backend(project_file, server) as backend:
        requests = backend.promotion_requests(model=model, environment=env, status=status)
    if output is OutputFormat.json:
        print_json([request.to_dict() for request in requests])
        return
    if not requests:
        console.print("nothing waits for approval" if status else "no promotion requests")
        return
    table = Table(title="Promotion requests", title_justify="left")
    for column in ("id", "model", "version", "to", "status", "approvals", "asked by", "asked at"):
        table.add_column(column)
    for request in requests:
        table.add_row(
            str(request.id),
            request.model,
            f"v{request.version}",
            request.environment,
            request.status.value,
            f"{request.approvals}/{request.approvals_required}",
            request.requested_by,
            timestamp(request.requested_at),
        )
    console.print(table)


def approve(
    request_id: RequestId,
    reason: Annotated[str, typer.Option(help="Why, for the history.")] = "",
    server: Server = None,
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """Approve a waiting promotion; the last approval needed moves the alias."""
    with _backend(project_file, server) as backend:
        outcome = backend.approve(request_id, reason=reason)
    _show_outcome(outcome, output)


def reject(
    request_id: RequestId,
    reason: Annotated[str, typer.Option(help="Why (required), for the history.")],
    server: Server = None,
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """Reject a waiting promotion, with a reason."""
    with _backend(project_file, server) as backend:
        outcome = backend.reject(request_id, reason=reason)
    _show_outcome(outcome, output)


def rollback(
    model: ModelName,
    env: Annotated[str, typer.Option("--env", help="Environment to roll back.")],
    reason: Annotated[str, typer.Option(help="Why (required), for the history.")],
    to: Annotated[
        int | None,
        typer.Option(min=1, help="Version to return to (default: the previous one)."),
    ] = None,
    server: Server = None,
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """Put back the previous (or a named, once-live) version now, without approval.

    The emergency path: any canary or shadow on the environment is removed too.
    """
    with _backend(project_file, server) as backend:
        event = backend.rollback(model, env, to=to, reason=reason)
    if output is OutputFormat.json:
        print_json(_event_dict(event))
        return
    console.print(f"{model}@{env}: rolled back from v{event.from_version} to v{event.to_version}")


def history(
    model: ModelName,
    env: Annotated[str | None, typer.Option("--env", help="Only this environment.")] = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="A moment, e.g. 2026-11-20T10:00 (UTC unless it has an offset): show what "
            "was live then, and the history up to it."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most the newest N events.")] = 200,
    server: Server = None,
    project_file: ProjectFile = DEFAULT_FILE,
    output: Output = OutputFormat.table,
) -> None:
    """The append-only history of a model: who did what, when, why, from which version to which."""
    moment = _parse_moment(at)
    with _backend(project_file, server) as backend:
        events = backend.events(model, environment=env, until=moment, limit=limit)
        live = backend.live_at(model, moment)
    if env is not None:
        live = {name: version for name, version in live.items() if name == env}
    if output is OutputFormat.json:
        print_json({"live": live, "at": at, "events": [_event_dict(e) for e in events]})
        return
    when = f"at {timestamp(moment)} UTC" if moment else "now"
    lives = ", ".join(f"{name}=v{version}" for name, version in live.items()) or "nothing"
    console.print(f"{model} live {when}: {lives}")
    console.print(_history_table(events))


def archive(
    model: ModelName,
    version: Annotated[int, typer.Argument(min=1, help="Version number to retire.")],
    reason: Annotated[str, typer.Option(help="Why, for the history.")] = "",
    server: Server = None,
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Retire a version for good: it can never be promoted again (rollback still can)."""
    with _backend(project_file, server) as backend:
        cancelled = backend.archive(model, version, reason=reason)
    extra = f"; {cancelled} waiting request(s) cancelled" if cancelled else ""
    console.print(f"{model} v{version} archived{extra}")


def _show_outcome(
    outcome: PromotionInfo, output: OutputFormat, *, with_gates: bool = False
) -> None:
    if output is OutputFormat.json:
        print_json(outcome.to_dict())
        return
    subject = f"{outcome.model} v{outcome.version}"
    if outcome.status is PromotionStatus.PROMOTED:
        console.print(f"[green]{subject} is live in {outcome.environment}[/]", markup=True)
    elif outcome.status is PromotionStatus.PENDING:
        console.print(
            f"{subject} -> {outcome.environment}: request #{outcome.id} waits for "
            f"{outcome.approvals_missing} more approval(s): mlrelease approve {outcome.id}"
        )
    else:
        console.print(f"{subject} -> {outcome.environment}: request #{outcome.id} {outcome.status}")
    if with_gates and outcome.gate_results:
        console.print(gates_table(outcome.gate_results))


def _history_table(events: list[EventInfo]) -> Table:
    table = Table(title="History", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("time (UTC)", "actor", "event", "env", "versions"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason", min_width=16)
    for event in events:
        table.add_row(
            timestamp(event.timestamp),
            event.actor,
            event.kind,
            event.environment or "",
            _versions(event),
            event.reason,
        )
    return table


def _versions(event: EventInfo) -> str:
    if event.from_version is None and event.to_version is None:
        return ""
    if event.from_version is None:
        return f"v{event.to_version}"
    return f"v{event.from_version} -> v{event.to_version}"


def _event_dict(event: EventInfo) -> dict[str, Any]:
    data = dict(event.__dict__)
    data["timestamp"] = event.timestamp.isoformat()
    return data


def _parse_moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--at {text!r}: not a date and time; write it like 2026-11-20T10:00 "
            "(UTC) or 2026-11-20T11:00+01:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def register(app: typer.Typer) -> None:
    for command in (promote, approvals, approve, reject, rollback, history, archive):
        app.command()(command)
