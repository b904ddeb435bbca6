"""`mlrelease monitor` and `mlrelease retrain` as a person (or cron) runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlrelease.cli import app
from mlrelease.client import Client

from ..monitoring._loop import MODEL, breast_cancer, go_live, log_served, make_project

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"MLRELEASE_ACTOR": "alice"})
    return result.exit_code, result.output


@pytest.fixture
def live(isolated_env: Path) -> Path:
    project = make_project(isolated_env)
    with Client.from_project(project) as client:
        go_live(client)
    return project


def test_monitor_prints_each_feature_and_exits_1_on_drift(live: Path) -> None:
    with Client.from_project(live) as client:
        log_served(client, breast_cancer(drifted=True, flip_labels=True, rows=300))
    code, output = invoke("monitor", MODEL, "--env", "production", "--html", "drift.html")
    assert code == 1, output
    assert "mean radius" in output and "dataset drift" in output
    assert "accuracy" in output and "breached" in output
    page = (live.parent / "drift.html").read_text()
    assert "<svg" in page and "mean radius" in page


def test_monitor_json_is_the_stored_report(live: Path) -> None:
    with Client.from_project(live) as client:
        log_served(client, breast_cancer(drifted=False, flip_labels=False, rows=200))
    code, output = invoke("monitor", "--json", "--window", "150")
    assert code == 0, output
    report = json.loads(output)
    assert report["rows"] == 150 and report["drifted"] is False and report["id"] == 1
    assert {item["feature"] for item in report["features"]} >= {"mean radius"}
    assert report["metrics"][0]["labels"] == 200  # its own window: 300 labelled rows


def test_monitor_without_a_live_version_says_how_to_get_one(isolated_env: Path) -> None:
    make_project(isolated_env)
    with Client.from_project(isolated_env / "mlrelease.yaml") as client:
        client.run()
    code, output = invoke("monitor", "--env", "production")
    assert code == 4
    assert "mlrelease promote breast-cancer VERSION --to production" in output


def test_retrain_by_hand_registers_and_promotes_as_far_as_policy_allows(live: Path) -> None:
    with Client.from_project(live) as client:
        log_served(client, breast_cancer(drifted=True, flip_labels=True, rows=200))
    code, output = invoke("retrain", "--reason", "labels came in")
    assert code == 0, output
    assert "200 labelled rows: registered v2" in output
    assert "staging: promoted" in output and "production: pending" in output
    code, output = invoke("retrain")
    assert code == 0 and "no new version (the data is unchanged since run" in output, output
