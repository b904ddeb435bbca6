"""Releases from the command line: a canary environment, the controller, a person's levers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlrelease.cli import app
from mlrelease.client import Client

runner = CliRunner()
MODEL = "breast-cancer"
CANARY = """
release:
  canary:
    steps: [{weight: 20}, {pause: {}}, {weight: 60}]
"""


def invoke(*args: str, actor: str = "alice") -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"MLRELEASE_ACTOR": actor}, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def releasing(isolated_env: Path) -> Path:
    """v1 live everywhere; v2 promoted into production, whose policy is a canary."""
    assert invoke("quickstart")[0] == 0
    spec = isolated_env / "mlrelease.yaml"
    text = spec.read_text().replace(
        "production: {after: staging, approvals: 1}",
        "production: {after: staging, approvals: 1, release: canary}",
    )
    spec.write_text(text + CANARY)
    for version, quickstart in ((1, False), (2, True)):
        if quickstart:
            assert invoke("quickstart", "--force")[0] == 0
        for env in ("staging", "production"):
            code, output = invoke("promote", MODEL, str(version), "--to", env)
            assert code == 0, output
        approvals = json.loads(invoke("approvals", "-o", "json")[1])
        code, output = invoke("approve", str(approvals[0]["id"]), actor="bob")
        assert code == 0, output
    return isolated_env


def _status() -> dict[str, object]:
    code, output = invoke("release", "status", "-o", "json")
    assert code == 0, output
    (release,) = json.loads(output)
    return dict(release)


def test_the_controller_walks_a_canary_and_a_person_resumes_it(releasing: Path) -> None:
    assert _status()["phase"] == "pending"
    code, output = invoke("controller", "--once")
    assert code == 0, output
    status = _status()
    assert (status["phase"], status["weight"]) == ("paused", 20)
    assert "mlrelease release resume 1" in str(status["reason"])

    code, output = invoke("release", "resume", "1", "--reason", "dashboards look fine")
    assert code == 0 and "progressing" in output
    code, output = invoke("controller", "--once")
    assert code == 0 and "succeeded" in output

    with Client.from_project(releasing) as client:
        assert client.registry.model(MODEL).aliases["production"] == 2
    code, output = invoke("release", "status")
    assert code == 0 and "succeeded" in output


def test_abort_puts_all_traffic_back_and_keeps_the_alias(releasing: Path) -> None:
    assert invoke("controller", "--once")[0] == 0
    code, output = invoke("release", "abort", "1")
    assert code == 2 and "--reason" in output
    code, output = invoke("release", "abort", "1", "--reason", "p95 too high")
    assert code == 0 and "aborted (p95 too high)" in output
    code, output = invoke("traffic", "show", "--model", MODEL, "--env", "production")
    assert "stable v1" in output and "canary" not in output
    code, output = invoke("release", "resume", "1")
    assert code == 5 and "aborted: it cannot become progressing" in output
    code, output = invoke("release", "status", "9")
    assert code == 4 and "no release #9" in output
