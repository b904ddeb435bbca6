"""The command line, end to end on the embedded default (SQLite + local files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mlrelease.cli import app
from mlrelease.client import Client

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _commands(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(prefix, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*prefix, name))
    return found


@pytest.mark.parametrize(
    "path", [path for path, _ in _commands(typer.main.get_command(app))], ids=" ".join
)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    command = dict(_commands(typer.main.get_command(app)))[path]
    assert (command.help or "").strip(), f"{' '.join(path)} has no help text"
    code, output = invoke(*path, "--help")
    assert code == 0 and "Usage" in output


def test_quickstart_trains_gates_registers_and_then_recognises_no_change(
    isolated_env: Path,
) -> None:
    code, output = invoke("quickstart")
    assert code == 0, output
    assert "registered breast-cancer version 1 -> dev" in output
    assert "macro_f1 >= 0.5" in output and "no champion" in output
    assert "mlrelease versions breast-cancer" in output  # what to try next

    code, output = invoke("quickstart")
    assert code == 0, output
    assert "unchanged" in output and "version 1 stands" in output

    code, output = invoke("quickstart", "--force")
    assert code == 0, output
    assert "registered breast-cancer version 2 -> dev" in output

    with Client.from_project(isolated_env) as client:
        assert client.registry.model("breast-cancer").aliases == {"dev": 2}
        assert [run.status for run in client.runs()] == ["succeeded", "cached", "succeeded"]


def test_validate_exits_2_with_one_line_naming_the_key(isolated_env: Path) -> None:
    invoke("init")
    path = isolated_env / "mlrelease.yaml"
    path.write_text(path.read_text().replace("- macro_f1 >= 0.5", "- f1_macro >= 0.5"))
    code, output = invoke("validate")
    assert code == 2
    assert "gates[0]:" in output and "unknown metric 'f1_macro'; known: accuracy" in output


def test_validate_accepts_a_good_file(isolated_env: Path) -> None:
    invoke("init", "--task", "regression", "--model", "houses")
    code, output = invoke("validate")
    assert code == 0 and "is valid" in output and "houses (regression)" in output


def test_init_refuses_to_overwrite_without_force(isolated_env: Path) -> None:
    assert invoke("init")[0] == 0
    code, output = invoke("init")
    assert code == 5 and "--force" in output
    assert invoke("init", "--force")[0] == 0


def test_a_failed_gate_exits_1_with_every_gate_and_registers_nothing(isolated_env: Path) -> None:
    invoke("init")
    path = isolated_env / "mlrelease.yaml"
    path.write_text(path.read_text().replace("- macro_f1 >= 0.5", "- macro_f1 >= 0.999"))
    code, output = invoke("run")
    assert code == 1
    assert "FAIL" in output and "macro_f1 >= 0.999" in output and "pass" in output
    code, output = invoke("models", "-o", "json")
    assert json.loads(output) == []
    assert not list((isolated_env / ".mlrelease" / "artifacts").rglob("*.skops"))


def test_a_failed_data_check_exits_1_before_training(isolated_env: Path) -> None:
    invoke("init")
    path = isolated_env / "mlrelease.yaml"
    path.write_text(path.read_text().replace("min_rows: 100", "min_rows: 100000"))
    code, output = invoke("run")
    assert code == 1 and "min_rows" in output
    _, listing = invoke("runs", "-o", "json")
    (run,) = json.loads(listing)
    assert run["status"] == "check_failed"
    assert [step["name"] for step in run["steps"]] == ["load", "check"]


def test_registry_listings_and_the_ci_gate(isolated_env: Path) -> None:
    assert invoke("quickstart")[0] == 0
    code, output = invoke("models", "-o", "json")
    (model,) = json.loads(output)
    assert model["name"] == "breast-cancer" and model["aliases"] == {"dev": 1}

    code, output = invoke("versions", "breast-cancer", "-o", "json")
    (version,) = json.loads(output)
    assert len(version["artifact_sha256"]) == 64
    assert {item["name"] for item in version["signature"]["inputs"]} >= {"mean radius"}
    assert version["lineage"]["packages"]["scikit-learn"]

    code, output = invoke("show", "breast-cancer", "1")
    assert code == 0 and "sha256" in output and "signature: 30 inputs" in output

    code, output = invoke("gate", "breast-cancer", "1", "--env", "production")
    assert code == 0 and "passed" in output

    code, output = invoke("runs")
    assert code == 0 and "succeeded" in output
    run_id = json.loads(invoke("runs", "-o", "json")[1])[0]["id"]
    code, output = invoke("runs", "show", run_id[:8])
    assert code == 0 and "train" in output and "Quality gates" in output


def test_the_ci_gate_exits_1_when_the_gates_are_tightened(isolated_env: Path) -> None:
    assert invoke("quickstart")[0] == 0
    path = isolated_env / "mlrelease.yaml"
    path.write_text(path.read_text().replace("- macro_f1 >= 0.5", "- accuracy >= 0.9999"))
    code, output = invoke("gate", "breast-cancer", "1")
    assert code == 1 and "FAIL" in output


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("versions", "nope"), 4, "no model named 'nope'"),
        (("show", "nope", "1"), 4, "no model named 'nope'"),
        (("runs", "show", "abcdef12"), 4, "no run with id"),
        (("run",), 2, "mlrelease init"),
    ],
)
def test_bad_input_gets_one_clear_error_and_its_exit_code(
    isolated_env: Path, args: tuple[str, ...], code: int, text: str
) -> None:
    actual, output = invoke(*args)
    assert actual == code and text in output


def test_db_upgrade_creates_and_then_reports_up_to_date(isolated_env: Path) -> None:
    code, output = invoke("db", "upgrade")
    assert code == 0 and "(empty) -> " in output
    code, output = invoke("db", "upgrade")
    assert code == 0 and "already at revision" in output


def test_regression_projects_run_end_to_end(isolated_env: Path) -> None:
    invoke("init", "--task", "regression")
    code, output = invoke("run")
    assert code == 0, output
    assert "registered diabetes version 1 -> dev" in output and "rmse" in output
