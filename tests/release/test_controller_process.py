"""A real `mlrelease controller` process, killed mid-release and started again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlrelease.audit import EventKind
from mlrelease.cli import app
from mlrelease.client import Client
from mlrelease.release.phases import Phase

MODEL = "breast-cancer"
STRATEGY = """
release:
  canary:
    steps: [{weight: 20}, {pause: 2s}, {weight: 50}, {pause: 2s}]
"""
WAIT = 60.0  # seconds, at most, for any one thing to happen


def _cli(*args: str, actor: str = "alice") -> str:
    result = CliRunner().invoke(
        app, list(args), env={"MLRELEASE_ACTOR": actor}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


def _start_release(folder: Path) -> None:
    _cli("quickstart")
    spec = folder / "mlrelease.yaml"
    text = spec.read_text().replace(
        "production: {after: staging, approvals: 1}",
        "production: {after: staging, approvals: 0, release: canary}",
    )
    spec.write_text(text + STRATEGY)
    for env in ("staging", "production"):
        _cli("promote", MODEL, "1", "--to", env)
    _cli("quickstart", "--force")
    for env in ("staging", "production"):
        _cli("promote", MODEL, "2", "--to", env)


def _controller(folder: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLRELEASE_")}
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-c", "from mlrelease.cli import main; main()", "controller"]
            + ["--interval", "0.2"],
            cwd=folder,
            env={**env, "MLRELEASE_ACTOR": "controller-host"},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _release(folder: Path) -> dict[str, object]:
    (release,) = json.loads(_cli("release", "status", "-o", "json"))
    return dict(release)


def _wait_for(folder: Path, done: object, log: Path) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if done(_release(folder)):  # type: ignore[operator]
            return
        time.sleep(0.1)
    pytest.fail(f"release did not get there in {WAIT:.0f} s:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> int:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    return process.wait(timeout=WAIT)


def test_killed_mid_release_and_started_again_it_ends_as_without_the_kill(
    isolated_env: Path,
) -> None:
    _start_release(isolated_env)
    log = isolated_env / "controller.log"
    first = _controller(isolated_env, log)
    try:
        _wait_for(isolated_env, lambda r: r["weight"] == 20, log)
    finally:
        _stop(first, signal.SIGKILL)  # no chance to clean up
    assert _release(isolated_env)["phase"] == Phase.PROGRESSING.value

    second = _controller(isolated_env, log)
    try:
        _wait_for(isolated_env, lambda r: r["phase"] == Phase.SUCCEEDED.value, log)
    finally:
        assert _stop(second, signal.SIGTERM) == 0, log.read_text()

    with Client.from_project(isolated_env) as client:
        assert client.registry.model(MODEL).aliases["production"] == 2
        events = client.events(MODEL, environment="production")
    steps = [event.payload["weight"] for event in events if event.kind == EventKind.RELEASE_STEP]
    assert steps == [20, 50]  # each step's side effect happened exactly once
    assert [e.kind for e in events].count(EventKind.RELEASE_PROMOTED) == 1
