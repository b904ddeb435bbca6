"""A real Prometheus for tests: found or skipped, started on a free port, stopped by PID.

Prometheus runs as a child in its own session with a throw-away config
(``scrape_interval: 1s``) and TSDB under the test's ``tmp_path``, listening on
127.0.0.1 only. It is stopped with SIGTERM to its PID, then SIGKILL to its process
group if it has not exited within ``STOP_TIMEOUT``. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
SCRAPE_INTERVAL = 1.0  # seconds


def prometheus_binary() -> str:
    """The prometheus executable; skip without one, except under CI (CI=true): fail."""
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if found:
        return found
    reason = "the prometheus binary is not installed (apt-get install prometheus)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run the Prometheus tests")
    pytest.skip(reason)


@dataclass
class Prometheus:
    process: subprocess.Popen[bytes]
    port: int
    log_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_file.read_text(errors="replace")[-4000:]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result of an instant query now (empty when Prometheus is not answering)."""
        params = urllib.parse.urlencode({"query": promql})
        with suppress(OSError, ValueError):
            url = f"{self.url}/api/v1/query?{params}"
            with urllib.request.urlopen(url, timeout=5) as response:
                result: list[dict[str, Any]] = json.load(response)["data"]["result"]
                return result
        return []

    def wait_until(self, promql: str, satisfied: Any, timeout: float, what: str) -> float:
        """Poll ``promql`` (one series) until ``satisfied(value)``; its value then."""
        deadline = time.monotonic() + timeout
        last: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited with {self.process.returncode}:\n{self.output()}")
            last = self.query(promql)
            if len(last) == 1 and satisfied(float(last[0]["value"][1])):
                return float(last[0]["value"][1])
            time.sleep(0.25)
        pytest.fail(f"{what}: not within {timeout:.0f} s ({promql} -> {last}):\n{self.output()}")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited with {self.process.returncode}:\n{self.output()}")
            with suppress(OSError), urllib.request.urlopen(f"{self.url}/-/ready", timeout=2):
                return
            time.sleep(0.1)
        pytest.fail(f"prometheus not ready within {START_TIMEOUT:.0f} s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)


def write_config(directory: Path, target: str) -> Path:
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n"
        f"  scrape_interval: {SCRAPE_INTERVAL:g}s\n"
        f"  evaluation_interval: {SCRAPE_INTERVAL:g}s\n"
        "scrape_configs:\n"
        "  - job_name: mlrelease\n"
        "    metrics_path: /metrics\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    return config


@contextmanager
def running_prometheus(directory: Path, port: int, target: str) -> Iterator[Prometheus]:
    """Prometheus scraping ``target`` (host:port) every second; always stopped on the way out."""
    directory.mkdir(parents=True, exist_ok=True)
    with prometheus_with(write_config(directory, target), directory, port) as prometheus:
        yield prometheus


@contextmanager
def prometheus_with(config: Path, directory: Path, port: int) -> Iterator[Prometheus]:
    """Prometheus run with ``config`` (data and log in ``directory``), ready; always stopped."""
    binary = prometheus_binary()
    log_file = directory / "prometheus.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    prometheus = Prometheus(process, port, log_file)
    try:
        prometheus.wait_ready()
        yield prometheus
    finally:
        prometheus.stop()
