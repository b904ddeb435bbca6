"""A real NGINX for tests: found or skipped, started in the foreground, stopped by PID.

NGINX runs with ``-g 'daemon off;'`` as a child in its own session, so the child's
PID is the master's; it is stopped with SIGTERM to that PID (then SIGKILL to its
process group). Every wait is bounded. A reload is over once the master's worker
processes are all new ones (read from /proc, so Linux only, as NGINX tests are).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
RELOAD_TIMEOUT = 15.0


def nginx_binary() -> str:
    """The nginx executable; skip the test without one, except under CI (CI=true)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        reason = "nginx is not installed (apt-get install nginx); the NGINX router tests need it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; it is required in CI")
        pytest.skip(reason)
    return found


@dataclass
class Nginx:
    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else "(no error.log)"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"nginx exited with {self.process.returncode}:\n{self.error_log()}")
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5):
                if self.workers():
                    return
            time.sleep(0.05)
        pytest.fail(f"nginx not listening within {START_TIMEOUT:.0f} s:\n{self.error_log()}")

    def workers(self) -> set[int]:
        """PIDs of the master's children (its worker processes)."""
        children: set[int] = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with suppress(OSError, ValueError, IndexError):
                if int(stat.read_text().rpartition(")")[2].split()[1]) == self.process.pid:
                    children.add(int(stat.parent.name))
        return children

    def wait_reloaded(self, before: set[int]) -> None:
        """Wait until every worker that ran before the reload has been replaced."""
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while time.monotonic() < deadline:
            now = self.workers()
            if now and not now & before:
                return
            time.sleep(0.05)
        pytest.fail(f"nginx did not reload within {RELOAD_TIMEOUT:.0f} s:\n{self.error_log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT)
        with suppress(ProcessLookupError):  # workers left behind by a master that hung
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def running_nginx(start_command: list[str], port: int, directory: Path) -> Iterator[Nginx]:
    """``start_command -g 'daemon off;'``, ready to answer; always stopped on the way out."""
    process = subprocess.Popen(
        [*start_command, "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    nginx = Nginx(process, port, directory)
    try:
        nginx.wait_ready()
        yield nginx
    finally:
        nginx.stop()
