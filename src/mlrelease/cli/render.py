"""Turning core records into terminal output: tables, panels and the step progress display."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlrelease.cli._common import console, err_console
from mlrelease.errors import MlreleaseError

__all__ = [
    "StepProgress",
    "checks_table",
    "gates_table",
    "render_error",
    "timestamp",
]


def timestamp(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def render_error(exc: MlreleaseError) -> None:
    for line in exc.message.splitlines() or [exc.message]:
        err_console.print(f"[bold red]error:[/] {escape(line)}", markup=True)
    if exc.details.get("checks"):
        err_console.print(checks_table(exc.details["checks"]))
    if exc.details.get("gates"):
        err_console.print(gates_table(exc.details["gates"]))
    if exc.details.get("run_id"):
        err_console.print(f"see: mlrelease runs show {exc.details['run_id'][:8]}")


def gates_table(gates: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title="Quality gates", title_justify="left")
    for column in ("gate", "result", "value", "threshold", "note"):
        table.add_column(column)
    for gate in gates:
        verdict = "[green]pass[/]" if gate["passed"] else "[bold red]FAIL[/]"
        table.add_row(
            gate["gate"],
            verdict,
            number(gate.get("value")),
            number(gate.get("threshold")),
            gate.get("note") or "",
        )
    return table


def checks_table(checks: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title="Data checks", title_justify="left")
    for column in ("check", "result", "detail"):
        table.add_column(column)
    for check in checks:
        verdict = "[green]pass[/]" if check["passed"] else "[bold red]FAIL[/]"
        table.add_row(check["name"], verdict, check.get("detail", ""))
    return table


def key_value_table(title: str, rows: Iterable[tuple[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in rows:
        table.add_row(key, number(value))
    return table


class StepProgress:
    """Shows each pipeline step as it runs, with its time and a one-line result."""

    _SYMBOLS = {"ok": "[green]✓[/]", "skipped": "[yellow]-[/]", "failed": "[red]✗[/]"}

    def __init__(self) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> StepProgress:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def step_started(self, step: str) -> None:
        self._tasks[step] = self._progress.add_task(step, total=None)

    def step_finished(self, step: str, status: str, seconds: float, detail: str) -> None:
        task = self._tasks.pop(step, None)
        if task is not None:
            self._progress.remove_task(task)
        symbol = self._SYMBOLS.get(status, status)
        timing = f"{seconds:6.2f}s" if status != "skipped" else "       "
        self._progress.console.print(f"{symbol} {step:<9} {timing}  {detail}")
