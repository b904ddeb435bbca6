"""The prediction log on both backends: batching, back-pressure, sampling, failures."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, text

from mlrelease.errors import ConfigError
from mlrelease.serving.predlog import (
    PredictionLog,
    ServedRequest,
    _input_texts,
    _json_text,
    _sqlite_timestamp,
    decode_batch,
    encode_batch,
    is_sampled,
    new_request_id,
)
from mlrelease.store import Store, tables

WAIT = 20.0  # seconds: the bound on every wait; never reached when things work


def served(request_id: str, rows: int = 1, *, role: str = "stable") -> ServedRequest:
    """A request of ``rows`` rows, as the server hands it to the log."""
    return ServedRequest(
        request_id,
        time.time(),
        "churn",
        "production",
        1,
        role,
        200,
        1.5,
        inputs=np.array([[float(row), 2.0] for row in range(rows)]),
        labels=np.ones(rows, dtype=np.int64),
        proba=np.array([[0.25, 0.75]] * rows),
    )


def count_rows(store: Store) -> int:
    with store.read() as connection:
        return int(
            connection.execute(select(func.count()).select_from(tables.predictions)).scalar_one()
        )


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


@pytest.fixture(params=["thread", "process"])
def make_log(
    store: Store, request: pytest.FixtureRequest
) -> Iterator[Callable[..., PredictionLog]]:
    """Logs whose rows are inserted by their writer thread, or by a writer process
    (REAL PROCESS: ``python -m mlrelease.serving.logwriter``, stopped by ``close``)."""
    made: list[PredictionLog] = []
    writer_process = request.param == "process"

    def make(*, start: bool = True, **options: object) -> PredictionLog:
        log = PredictionLog(store, writer_process=writer_process, **options)  # type: ignore[arg-type]
        made.append(log)
        if start:
            log.start()
        return log

    yield make
    for log in made:
        log.close(timeout=WAIT)


def test_rows_appended_from_many_threads_are_written_exactly_once(
    store: Store, make_log: Callable[..., PredictionLog]
) -> None:
    log = make_log(batch_size=64, flush_interval=0.01)
    threads, requests, rows = 8, 40, 3
    barrier = threading.Barrier(threads)

    def serve(worker: int) -> None:
        barrier.wait(timeout=WAIT)
        for number in range(requests):
            kept = log.append(served(f"w{worker}-r{number}", rows))
            assert kept

    workers = [threading.Thread(target=serve, args=(worker,)) for worker in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(WAIT)
    assert log.flush(timeout=WAIT)

    expected = threads * requests * rows
    with store.read() as connection:
        keys = connection.execute(
            select(tables.predictions.c.request_id, tables.predictions.c.row)
        ).all()
    assert len(keys) == expected
    assert len(set(keys)) == expected
    assert log.written == expected
    assert (log.dropped, log.sampled_out, log.failed_batches) == (0, 0, 0)
    assert log.stats() == {"written": expected, "dropped": 0, "sampled_out": 0, "failed": 0}


def test_a_full_queue_drops_and_counts_without_blocking(
    store: Store, make_log: Callable[..., PredictionLog]
) -> None:
    log = make_log(start=False, capacity=10)
    assert all(log.append(served(f"r{n}")) for n in range(6))
    assert log.append(served("r6", 4))  # exactly full
    assert not log.append(served("r7"))
    assert not log.append(served("r8", 3))
    assert (log.pending, log.dropped, log.written) == (10, 4, 0)
    assert not log.flush(timeout=0.01)  # no writer: nothing to wait for

    log.close()  # never started: what was queued is dropped, and counted
    assert log.dropped == 14
    assert count_rows(store) == 0


def test_a_full_queue_drops_while_the_writer_is_blocked_by_the_database(
    store: Store, make_log: Callable[..., PredictionLog]
) -> None:
    log = make_log(capacity=10, flush_interval=0.01)
    with store.write() as connection:
        if store.dialect == "postgresql":
            connection.execute(text("LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE"))
        # (SQLite: this open BEGIN IMMEDIATE transaction already blocks every writer.)
        assert log.append(served("first"))
        wait_until(lambda: log.pending == 0)  # the writer took it and now waits for the lock
        assert log.append(served("ten", 10))
        assert not log.append(served("one-too-many"))
        assert (log.written, log.dropped, log.pending) == (0, 1, 10)
    assert log.flush(timeout=WAIT)
    assert (log.written, log.dropped) == (11, 1)
    assert count_rows(store) == 11


def test_sampling_none_or_all(store: Store, make_log: Callable[..., PredictionLog]) -> None:
    none = make_log(start=False, sample_rate=0.0)
    every = make_log(start=False, sample_rate=1.0)
    for number in range(200):
        assert not none.append(served(f"r{number}", 2))
        assert every.append(served(f"r{number}", 2))
    assert (none.sampled_out, none.pending) == (400, 0)
    assert (every.sampled_out, every.pending) == (0, 400)


def test_sampling_half_keeps_about_half_of_the_requests_deterministically(
    store: Store, make_log: Callable[..., PredictionLog]
) -> None:
    log = make_log(start=False, sample_rate=0.5, capacity=100_000)
    ids = [f"req-{number:05d}" for number in range(2000)]
    kept = {request_id for request_id in ids if log.append(served(request_id, 3))}
    assert 850 <= len(kept) <= 1150
    assert log.pending == 3 * len(kept)  # a request's rows share one fate
    assert log.sampled_out == 3 * (2000 - len(kept))
    # The same answer every time, and from the function feedback uses to recognise them.
    again = make_log(start=False, sample_rate=0.5, capacity=100_000)
    assert {request_id for request_id in ids if again.append(served(request_id))} == kept
    assert {request_id for request_id in ids if is_sampled(request_id, 0.5)} == kept


def test_close_writes_what_is_queued_and_is_idempotent(
    store: Store, make_log: Callable[..., PredictionLog]
) -> None:
    log = make_log(flush_interval=30.0, batch_size=1000)  # would wait long without close()
    for number in range(25):
        log.append(served(f"r{number}"))
    log.close(timeout=WAIT)
    assert count_rows(store) == 25 and log.written == 25
    log.close(timeout=WAIT)  # again: nothing happens
    assert not log.append(served("late"))
    assert log.dropped == 1 and count_rows(store) == 25


def test_the_writer_survives_a_database_error_and_carries_on(
    store: Store, make_log: Callable[..., PredictionLog]
) -> None:
    errors: list[Exception] = []
    log = make_log(flush_interval=0.01, retries=2, retry_backoff=0.01, on_error=errors.append)
    assert log.append(served("before"))
    assert log.flush(timeout=WAIT)

    with store.write() as connection:  # the table disappears under the running writer
        tables.predictions.drop(connection)
    assert log.append(served("lost", 3))
    assert log.flush(timeout=WAIT)  # done: counted as failed, not written
    assert (log.written, log.failed_batches, log.failed) == (1, 1, 3)
    assert len(errors) == 1 and "predictions" in str(errors[0])

    with store.write() as connection:
        tables.predictions.create(connection)
    assert log.append(served("after"))
    assert log.flush(timeout=WAIT)
    assert log.written == 2 and log.failed_batches == 1
    assert count_rows(store) == 1


def test_values_json_cannot_hold_are_stored_as_null_or_plain_numbers(
    store: Store, make_log: Callable[..., PredictionLog]
) -> None:
    log = make_log(flush_interval=0.01)
    frame = pd.DataFrame({"age": [float("nan")], "visits": [3], "ok": [True]})
    nan_row = served("nan")._replace(latency_ms=np.float64(2.5), inputs=frame)
    assert log.append(nan_row)
    assert log.flush(timeout=WAIT)
    assert log.failed_batches == 0
    with store.read() as connection:
        stored = connection.execute(
            select(tables.predictions.c.inputs, tables.predictions.c.outputs)
        ).one()
    assert stored.inputs == {"age": None, "visits": 3, "ok": True}
    assert stored.outputs == {"prediction": 1, "proba": [0.25, 0.75]}


def test_append_never_raises(store: Store, make_log: Callable[..., PredictionLog]) -> None:
    log = make_log(start=False, sample_rate=0.5)
    assert not log.append(object())  # type: ignore[arg-type]
    assert log.dropped == 1


@pytest.mark.parametrize(
    "options",
    [{"capacity": 0}, {"batch_size": 0}, {"flush_interval": 0}, {"sample_rate": 1.5}],
    ids=str,
)
def test_unusable_options_are_refused(store: Store, options: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        PredictionLog(store, **options)  # type: ignore[arg-type]


def test_request_ids_the_server_makes_are_uuid7_and_sort_by_time() -> None:
    before = time.time_ns() // 1_000_000
    first = new_request_id()
    after = time.time_ns() // 1_000_000
    time.sleep(0.002)  # ids of one millisecond share their time part; later ones sort later
    later = [new_request_id() for _ in range(1000)]
    assert len(set(later)) == 1000
    assert all(first < request_id for request_id in later)
    parsed = uuid.UUID(first)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert before <= int(first[:12], 16) <= after  # milliseconds since the epoch


def test_a_request_is_stored_as_one_row_per_prediction(
    store: Store, make_log: Callable[..., PredictionLog]
) -> None:
    log = make_log(flush_interval=0.01)
    request = served("three", 3, role="canary")
    assert log.append(request)
    assert log.flush(timeout=WAIT)
    with store.read() as connection:
        rows = connection.execute(
            select(tables.predictions).order_by(tables.predictions.c.row)
        ).all()
    assert [(row.request_id, row.row, row.role, row.status) for row in rows] == [
        ("three", 0, "canary", 200),
        ("three", 1, "canary", 200),
        ("three", 2, "canary", 200),
    ]
    assert [row.inputs for row in rows] == [{"features": [float(n), 2.0]} for n in range(3)]
    assert {json.dumps(row.outputs) for row in rows} == {
        json.dumps({"prediction": 1, "proba": [0.25, 0.75]})
    }
    assert rows[0].timestamp.tzinfo is not None  # read back as aware UTC
    assert abs(rows[0].timestamp.timestamp() - request.timestamp) < 1e-3


def test_a_failed_request_is_one_row_without_data(
    store: Store, make_log: Callable[..., PredictionLog]
) -> None:
    log = make_log(flush_interval=0.01)
    failed = served("boom")._replace(status=500, inputs=None, labels=None, proba=None)
    assert failed.rows == 1
    assert log.append(failed)
    assert log.flush(timeout=WAIT)
    with store.read() as connection:
        row = connection.execute(select(tables.predictions)).one()
    assert (row.request_id, row.row, row.status) == ("boom", 0, 500)
    assert (row.inputs, row.outputs) == ({}, {})


def test_a_request_whose_rows_do_not_line_up_fails_its_batch_only(
    store: Store, make_log: Callable[..., PredictionLog]
) -> None:
    log = make_log(flush_interval=0.01)
    broken = served("broken", 2)._replace(labels=np.ones(3))  # 2 input rows, 3 predictions
    assert log.append(broken)
    assert log.flush(timeout=WAIT)
    assert (log.written, log.failed) == (0, 3)
    assert log.append(served("fine"))
    assert log.flush(timeout=WAIT)
    assert log.written == 1 and count_rows(store) == 1


@pytest.mark.parametrize(
    "matrix",
    [
        np.array([[17.99, 10.38, 1e16], [-0.0, 5e-324, 123.456]]),
        np.array([[1.5, np.nan]], dtype=np.float32),  # NaN is stored as null
        np.arange(12.0).reshape(3, 4)[:, ::2],  # not contiguous
        np.empty((2, 0)),
        np.empty((0, 3)),
    ],
    ids=["float64", "float32", "strided", "no-columns", "no-rows"],
)
def test_a_matrix_rows_texts_are_what_json_makes_of_each_row(matrix: np.ndarray) -> None:
    expected = [_json_text({"features": row.tolist()}) for row in matrix]
    assert _input_texts(matrix) == expected


def test_timestamps_are_stored_as_their_utc_text() -> None:
    for stamp in (0.0, 1_700_000_000.25, 1_700_000_000.9999996, 4_102_444_799.000001):
        as_datetime = datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None)
        assert _sqlite_timestamp(stamp) == as_datetime.isoformat(sep=" ", timespec="microseconds")


def test_a_batch_crosses_to_the_writer_process_unchanged() -> None:
    records = [{"age": 41.0, "plan": "pro"}]
    requests = [
        served("matrix", 3),
        served("records")._replace(inputs=records, labels=["yes"], proba=None),
        served("frame")._replace(inputs=pd.DataFrame(records)),
        served("failed")._replace(status=500, inputs=None, labels=None, proba=None),
        served("float32")._replace(inputs=np.ones((1, 2), dtype=np.float32)),
        served("wider")._replace(inputs=np.full((1, 3), 0.5)),
        served("strided", 2)._replace(inputs=np.arange(8.0).reshape(2, 4)[:, ::2]),
    ]
    frame = b"".join(encode_batch(requests))
    assert b"0.5" not in frame  # "wider"'s numbers are not written as text
    decoded = decode_batch(frame)
    assert [request.request_id for request in decoded] == [r.request_id for r in requests]
    for sent, received in zip(requests, decoded, strict=True):
        assert received[:8] == sent[:8]
        assert received.labels == (None if sent.labels is None else _plain(sent.labels))
        assert received.proba == (None if sent.proba is None else _plain(sent.proba))
        if isinstance(sent.inputs, np.ndarray) and sent.inputs.dtype == np.float64:
            # float64 matrices cross as raw numbers, and arrive as their rows' texts
            assert received.inputs == _input_texts(sent.inputs)
        else:
            assert received.inputs == _plain(sent.inputs)
    with pytest.raises(ValueError, match="8 bytes"):
        decode_batch(frame + bytes(8))


def _plain(values: object) -> object:
    if isinstance(values, pd.DataFrame):
        return values.to_dict("records")
    return values.tolist() if isinstance(values, np.ndarray) else values
