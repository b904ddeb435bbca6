"""`mlrelease predictions` and `mlrelease feedback import`, on the embedded default store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import insert
from typer.testing import CliRunner

from mlrelease.cli import app
from mlrelease.cli.predictions import register
from mlrelease.client import Client
from mlrelease.store import tables

runner = CliRunner()

_wired = "predictions" in getattr(typer.main.get_command(app), "commands", {})
needs_wiring = pytest.mark.skipif(
    not _wired, reason="mlrelease.cli.predictions.register(app) is not wired into mlrelease.cli yet"
)


def _own_app() -> typer.Typer:
    """Our commands alone, registered the way mlrelease.cli registers them."""
    own = typer.Typer()
    register(own)
    return own


def invoke(target: typer.Typer, *args: str) -> tuple[int, str]:
    result = runner.invoke(target, list(args), catch_exceptions=False)
    return result.exit_code, result.output


APPS = [
    pytest.param(_own_app(), id="registered"),
    pytest.param(app, id="mlrelease", marks=needs_wiring),
]


@pytest.fixture
def served(isolated_env: Path) -> Path:
    """Two requests served by churn in production, one in staging."""
    rows: list[dict[str, Any]] = [
        _row("req-1", 0, "production", prediction="yes"),
        _row("req-2", 0, "production", prediction="no", role="canary", version=2),
        _row("req-2", 1, "production", prediction="yes", role="canary", version=2),
        _row("req-3", 0, "staging", prediction="no"),
    ]
    with Client.open(base_dir=isolated_env) as client, client.store.write() as connection:
        connection.execute(insert(tables.predictions), rows)
    return isolated_env


def _row(
    request_id: str, row: int, env: str, *, prediction: str, role: str = "stable", version: int = 1
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "row": row,
        "timestamp": datetime.now(UTC),
        "model": "churn",
        "environment": env,
        "version": version,
        "role": role,
        "status": 200,
        "latency_ms": 4.25,
        "inputs": {"features": [1, 2]},
        "outputs": {"prediction": prediction},
    }


@pytest.mark.parametrize("target", APPS)
def test_import_labels_then_list_them(served: Path, target: typer.Typer) -> None:
    (served / "labels.csv").write_text("request_id,label,row\nreq-1,yes,\nreq-2,no,1\n")
    code, output = invoke(target, "feedback", "import", "labels.csv")
    assert code == 0, output
    assert "labelled 2 rows from labels.csv" in output

    code, output = invoke(target, "predictions", "churn", "-o", "json")
    assert code == 0, output
    rows = json.loads(output)
    assert [(r["request_id"], r["row"], r["role"], r["label"]) for r in rows] == [
        ("req-2", 1, "canary", "no"),
        ("req-2", 0, "canary", None),
        ("req-1", 0, "stable", "yes"),
    ]

    code, output = invoke(target, "predictions", "churn", "--env", "staging", "--limit", "5")
    assert code == 0, output
    assert "req-3" in output and "req-1" not in output

    code, output = invoke(target, "predictions", "churn", "--limit", "1")
    assert code == 0, output
    assert "req-2" in output and "canary" in output and "4.2" in output
    assert "label" in output and "no" in output


@pytest.mark.parametrize("target", APPS)
def test_no_predictions_says_so(isolated_env: Path, target: typer.Typer) -> None:
    code, output = invoke(target, "predictions", "churn")
    assert code == 0, output
    assert "no predictions logged for churn in production" in output


@pytest.mark.parametrize("target", APPS)
def test_help_texts(target: typer.Typer) -> None:
    for path in (["predictions"], ["feedback"], ["feedback", "import"]):
        code, output = invoke(target, *path, "--help")
        assert code == 0 and "Usage" in output, path
    command = typer.main.get_command(target)
    feedback = command.commands["feedback"]  # type: ignore[attr-defined]
    assert (command.commands["predictions"].help or "").strip()  # type: ignore[attr-defined]
    assert (feedback.help or "").strip()
    assert (feedback.commands["import"].help or "").strip()


@needs_wiring
def test_unknown_request_ids_exit_4_and_write_nothing(served: Path) -> None:
    (served / "labels.csv").write_text("request_id,label\nreq-1,yes\nghost,no\n")
    code, output = invoke(app, "feedback", "import", "labels.csv")
    assert code == 4
    assert "labels.csv:3:" in output and "'ghost'" in output
    code, output = invoke(app, "predictions", "churn", "-o", "json")
    assert all(row["label"] is None for row in json.loads(output))


@needs_wiring
def test_a_bad_line_exits_1_naming_it(served: Path) -> None:
    (served / "labels.csv").write_text("request_id,label,row\nreq-1,yes,first\n")
    code, output = invoke(app, "feedback", "import", "labels.csv")
    assert code == 1
    assert "labels.csv:2: row 'first' is not a row number" in output
