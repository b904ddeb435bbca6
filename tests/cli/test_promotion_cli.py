"""The promotion commands, end to end on the embedded default with a real trained model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlrelease.cli import app
from mlrelease.client import Client

runner = CliRunner()
MODEL = "breast-cancer"


def invoke(*args: str, actor: str = "alice") -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"MLRELEASE_ACTOR": actor}, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def project(isolated_env: Path) -> Path:
    code, output = invoke("quickstart")
    assert code == 0, output
    return isolated_env


def test_dev_to_staging_to_production_with_an_approval_by_someone_else(project: Path) -> None:
    before_production = datetime.now(UTC).isoformat()
    code, output = invoke("promote", MODEL, "1", "--to", "staging", "--reason", "nightly")
    assert code == 0, output
    assert "breast-cancer v1 is live in staging" in output
    assert "macro_f1 >= 0.5" in output  # the gates, judged again

    code, output = invoke("promote", MODEL, "1", "--to", "production")
    assert code == 0, output
    assert "request #2 waits for 1 more approval(s): mlrelease approve 2" in output

    code, output = invoke("approvals", "-o", "json")
    (waiting,) = json.loads(output)
    assert (waiting["id"], waiting["environment"], waiting["requested_by"]) == (
        2,
        "production",
        "alice",
    )

    code, output = invoke("approve", "2")
    assert code == 5
    assert "needs the approval of someone else" in output

    code, output = invoke("approve", "2", "--reason", "reviewed the report", actor="bob")
    assert code == 0, output
    assert "breast-cancer v1 is live in production" in output

    code, output = invoke("history", MODEL)
    assert code == 0, output
    assert "live now: dev=v1, staging=v1, production=v1" in output
    code, output = invoke("history", MODEL, "--env", "production", "-o", "json")
    story = [(e["kind"], e["actor"], e["reason"]) for e in json.loads(output)["events"]]
    assert story == [
        ("promotion.requested", "alice", ""),
        ("promotion.approved", "bob", "reviewed the report"),
        ("promotion.promoted", "bob", ""),
    ]

    code, output = invoke("history", MODEL, "--at", before_production, "-o", "json")
    assert json.loads(output)["live"] == {"dev": 1}


def test_refusals_exit_non_zero_with_the_rule_and_the_fix(project: Path) -> None:
    code, output = invoke("promote", MODEL, "1", "--to", "production")
    assert code == 5
    assert "has not been in staging" in output
    assert "mlrelease promote breast-cancer 1 --to staging" in output

    code, output = invoke("promote", MODEL, "1", "--to", "prod")
    assert code == 2 and "defined: dev, staging, production" in output

    code, output = invoke("reject", "7", "--reason", "no")
    assert code == 4 and "no promotion request #7" in output

    code, output = invoke("history", MODEL, "--at", "yesterday")
    assert code == 2 and "2026-11-20T10:00" in output


def test_a_failed_gate_at_promotion_exits_1_and_is_in_the_history(project: Path) -> None:
    spec = project / "mlrelease.yaml"
    strict = "staging: {after: dev, gates: ['accuracy >= 0.999']}"
    spec.write_text(spec.read_text().replace("staging: {after: dev}", strict))

    code, output = invoke("promote", MODEL, "1", "--to", "staging")
    assert code == 1
    assert "accuracy >= 0.999" in output and "FAIL" in output
    code, output = invoke("history", MODEL, "-o", "json")
    assert json.loads(output)["events"][-1]["kind"] == "gate.failed"
    with Client.from_project(project) as client:
        assert client.registry.model(MODEL).aliases == {"dev": 1}


def test_rollback_puts_the_previous_version_back(project: Path) -> None:
    assert invoke("quickstart", "--force")[0] == 0  # v2 -> dev
    code, output = invoke("rollback", MODEL, "--env", "dev", "--reason", "v2 misbehaves")
    assert code == 0, output
    assert "rolled back from v2 to v1" in output
    code, output = invoke("rollback", MODEL, "--env", "dev", "--reason", "again")
    assert code == 5 and "no earlier version" in output
    code, output = invoke("rollback", MODEL, "--env", "dev")
    assert code == 2 and "--reason" in output


def test_archive_retires_a_version(project: Path) -> None:
    assert invoke("quickstart", "--force")[0] == 0  # v2 -> dev
    code, output = invoke("archive", MODEL, "1", "--reason", "superseded")
    assert code == 0, output
    code, output = invoke("rollback", MODEL, "--env", "dev", "--to", "1", "--reason", "x")
    assert code == 0, output  # a rollback may still return to an archived version
    code, output = invoke("promote", MODEL, "1", "--to", "staging")
    assert code == 5 and "archived" in output
