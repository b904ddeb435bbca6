"""Running `mlrelease` commands as real processes in tests: start, wait until ready, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_cli(args: list[str], *, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """``mlrelease ARGS`` in ``cwd``, output to ``log``, with no MLRELEASE_* settings leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLRELEASE_")}
    env.update({"MLRELEASE_ACTOR": "ops", "PYTHONUNBUFFERED": "1"})
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-c", "from mlrelease.cli import main; main()", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()}")
        with suppress(httpx.TransportError):
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"the server was not ready in {timeout:.0f} s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL to the whole process group if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
