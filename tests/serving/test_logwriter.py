"""The prediction log's writer process: started on first use, replaced when it dies,
deaf to Ctrl-C until the server has flushed through it, stopped by ``close``.

REAL PROCESSES: each log here starts ``python -m mlrelease.serving.logwriter`` as a
child of the test process; every test closes its log, which stops the child, and a
child that outlives a test is killed by its PID.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlrelease.serving.logwriter import _NICENESS, WriterProcess
from mlrelease.serving.predlog import PredictionLog, encode_batch
from mlrelease.store import Store

from .test_predlog import served

WAIT = 30.0


def writer_pid(log: PredictionLog) -> int:
    process = log._process._process if log._process is not None else None
    assert process is not None and process.poll() is None, "no writer process is running"
    return process.pid


@pytest.fixture
def log(store: Store) -> Iterator[PredictionLog]:
    opened = PredictionLog(store, flush_interval=0.01, writer_process=True)
    opened.start()
    try:
        yield opened
    finally:
        process = opened._process._process if opened._process is not None else None
        opened.close(timeout=WAIT)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()


def test_rows_are_written_by_a_process_that_close_stops(log: PredictionLog) -> None:
    assert log.append(served("five", 5))
    assert log.flush(timeout=WAIT)
    assert log.written == 5
    assert log._process is not None
    process = log._process._process
    assert process is not None and process.pid != os.getpid()
    log.close(timeout=WAIT)
    assert process.wait(timeout=WAIT) == 0


def test_a_writer_process_that_died_is_replaced_and_nothing_is_lost(log: PredictionLog) -> None:
    assert log.append(served("first"))
    assert log.flush(timeout=WAIT)
    first = writer_pid(log)
    os.kill(first, signal.SIGKILL)
    time.sleep(0.2)
    assert log.append(served("second"))
    assert log.flush(timeout=WAIT)
    assert (log.written, log.failed) == (2, 0)
    assert writer_pid(log) != first


def test_the_writer_runs_below_the_server_s_cpu_priority(log: PredictionLog) -> None:
    assert log.append(served("first"))
    assert log.flush(timeout=WAIT)  # the process lowers its priority before its first batch
    server = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, writer_pid(log)) == min(server + _NICENESS, 19)


def test_ctrl_c_does_not_stop_the_writer_before_the_server_flushes(log: PredictionLog) -> None:
    assert log.append(served("first"))
    assert log.flush(timeout=WAIT)
    pid = writer_pid(log)
    os.kill(pid, signal.SIGINT)  # as a Ctrl-C reaches the whole process group
    os.kill(pid, signal.SIGTERM)
    time.sleep(0.2)
    assert log.append(served("after the signal"))
    assert log.flush(timeout=WAIT)
    assert (log.written, log.failed) == (2, 0)
    assert writer_pid(log) == pid


def test_an_in_memory_database_is_written_by_the_thread() -> None:
    store = Store.open("sqlite://")
    try:
        log = PredictionLog(store, writer_process=True)
        assert log._process is None
    finally:
        store.close()


def test_a_database_error_in_the_process_is_returned_not_raised(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"  # a database without the schema
    writer = WriterProcess(f"sqlite:///{empty}", retries=0, retry_backoff=0)
    try:
        error = writer.write(encode_batch([served("r")]))
        assert error is not None and "no such table: predictions" in str(error)
    finally:
        writer.close(timeout=WAIT)
