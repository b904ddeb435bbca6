"""The prediction log: every served row, written to the metadata store off the request path.

A request handler calls :meth:`PredictionLog.append` with one
:class:`ServedRequest`: a tuple holding the model's input and output arrays as they
are, built in about a microsecond. Appending is a deque append under a lock held
for microseconds: it never blocks on the database and never raises. One daemon
writer thread takes up to ``batch_size`` rows (or whatever arrived within
``flush_interval`` of the first waiting request) and inserts them in one short
write transaction -- itself, or, with ``writer_process``, through a process of its
own (:mod:`mlrelease.serving.logwriter`). Only the writer turns a request into its
rows (one per prediction), so that building, encoding and binding rows stays off the
request path (and, with the process, out of the server's interpreter lock).

Back-pressure is by dropping, never by waiting: when the bounded queue is full the
rows are dropped and counted. Sampling is per request, decided from a hash of the
request id (:func:`is_sampled`), so a request's rows are kept or dropped together
and a later label for a request that was sampled out can be recognised as such.
A database error is retried a few times with backoff; then the batch is counted
as failed, ``on_error`` hears about it, and the writer carries on.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import os
import random
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import orjson
from sqlalchemy import JSON, Connection, String, bindparam, cast, insert
from sqlalchemy import exc as sa_exc

from mlrelease.errors import ConfigError, ConflictError
from mlrelease.serving.logwriter import WriterProcess
from mlrelease.store import Store, tables

__all__ = [
    "PredictionLog",
    "ServedRequest",
    "decode_batch",
    "encode_batch",
    "is_sampled",
    "new_request_id",
]

_log = logging.getLogger(__name__)


# PostgreSQL: the rows' JSON, serialised once by orjson in ``_rows``, goes in as text
# through an explicit cast instead of SQLAlchemy's json.dumps per row.
_INSERT_POSTGRESQL = insert(tables.predictions).values(
    inputs=cast(bindparam("inputs", type_=String()), JSON),
    outputs=cast(bindparam("outputs", type_=String()), JSON),
)
_HASH_SPACE = 1 << 64


_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _json_fallback(value: Any) -> Any:
    """What orjson cannot write itself: numpy values as plain numbers, else the string."""
    for method in ("item", "tolist"):  # numpy scalars and arrays orjson did not take
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                return convert()
            except (TypeError, ValueError):
                continue
    return str(value)


class ServedRequest(NamedTuple):
    """One served (or failed) request as the log queues it: a tuple of what the request
    path already holds, so that making one costs about a microsecond.

    The writer stores one row per prediction: inputs as ``{"features": [...]}`` (a
    matrix row) or the record itself, outputs as ``{"prediction": ..., "proba": [...]}``;
    a failed request is one row with ``{}`` for both. In the writer process (see
    :func:`decode_batch`) labels and probabilities arrive as nested lists, and float64
    input matrices as their rows' texts (:class:`InputTexts`).
    """

    request_id: str
    timestamp: float  # seconds since the epoch (time.time())
    model: str
    environment: str
    version: int
    role: str  # "stable" | "canary" | "shadow"
    status: int  # HTTP status
    latency_ms: float
    inputs: Any  # the float64 matrix, a DataFrame or one dict per row; unused if labels is None
    labels: Any  # one prediction per row; None: the request failed (one row, no data)
    proba: Any = None  # one row of class probabilities per row, if any

    @property
    def rows(self) -> int:
        """Rows it stores."""
        return 1 if self.labels is None else len(self.labels)

    def plain(self) -> tuple[Any, ...]:
        """Its fields as JSON takes them: numpy arrays as they are (orjson writes them),
        a DataFrame as one dict per row."""
        if hasattr(self.inputs, "to_dict"):
            return tuple(self._replace(inputs=_plain(self.inputs)))
        return tuple(self)


def _plain(values: Any) -> Any:
    """Lists of plain values: from an array, a DataFrame (one dict per row) or as given."""
    if isinstance(values, np.ndarray):
        return values.tolist()
    if hasattr(values, "to_dict"):  # a DataFrame; pandas is not imported by the writer process
        return values.to_dict("records")
    return values


def new_request_id() -> str:
    """A new request id: 32 hex digits in the UUIDv7 layout (milliseconds since the
    epoch, then 74 random bits), so ids made later sort later.

    The log's index on request ids then grows at its end. Random ids (uuid4) land
    all over it: past a few hundred thousand rows each insert dirties an index page
    of its own, and SQLite's inserts got ten times slower.
    """
    random_bits = _ID_RANDOM.getrandbits(74)
    value = (
        (time.time_ns() // 1_000_000) << 80
        | 0x7 << 76  # version 7
        | (random_bits >> 62) << 64
        | 0x2 << 62  # variant 0b10 (RFC 9562)
        | (random_bits & ((1 << 62) - 1))
    )
    return f"{value:032x}"


# Not the module-level generator, which a served model may seed; reseeded in a forked
# child, so two workers never share a sequence.
_ID_RANDOM = random.Random()
os.register_at_fork(after_in_child=_ID_RANDOM.seed)


def _threshold(sample_rate: float) -> int:
    return int(sample_rate * _HASH_SPACE)


def _request_hash(request_id: str) -> int:
    digest = hashlib.blake2b(request_id.encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def is_sampled(request_id: str, sample_rate: float) -> bool:
    """Whether a log with ``sample_rate`` keeps ``request_id``: the same answer every time."""
    if sample_rate >= 1.0:
        return True
    return _request_hash(request_id) < _threshold(sample_rate)


class PredictionLog:
    """Appends served rows to the store in batches, off the request path."""

    def __init__(
        self,
        store: Store,
        *,
        capacity: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        sample_rate: float = 1.0,
        on_error: Callable[[Exception], None] | None = None,
        retries: int = 3,
        retry_backoff: float = 0.2,
        writer_process: bool = False,
    ) -> None:
        if capacity < 1:
            raise ConfigError(f"prediction log capacity must be at least 1 (got {capacity})")
        if batch_size < 1:
            raise ConfigError(f"prediction log batch size must be at least 1 (got {batch_size})")
        if not flush_interval > 0:
            raise ConfigError(
                f"prediction log flush interval must be > 0 seconds (got {flush_interval})"
            )
        if not 0.0 <= sample_rate <= 1.0:
            raise ConfigError(
                f"prediction log sample rate must be between 0 and 1 (got {sample_rate})"
            )
        if retries < 0 or retry_backoff < 0:
            raise ConfigError("prediction log retries and retry backoff must not be negative")
        self._store = store
        self._capacity = capacity
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._sample_rate = sample_rate
        self._keep_all = sample_rate >= 1.0
        self._threshold = _threshold(sample_rate)
        self._on_error = on_error
        self._retries = retries
        self._retry_backoff = retry_backoff
        # Where the rows are inserted: this thread, or a process of its own (a file or
        # server database only: an in-memory SQLite database is this process's alone).
        self._process: WriterProcess | None = None
        if writer_process and store.shareable:
            url = store.url.render_as_string(hide_password=False)
            self._process = WriterProcess(url, retries=retries, retry_backoff=retry_backoff)

        self._queue: deque[ServedRequest] = deque()
        self._queued = 0  # rows in the queue
        self._lock = threading.Lock()
        self._wake_writer = threading.Condition(self._lock)  # rows arrived / flush / close
        self._progress = threading.Condition(self._lock)  # rows finished (for flush)
        self._thread: threading.Thread | None = None
        self._closed = False
        # Sequence numbers over accepted rows, in queue order: flush waits for _done.
        self._accepted = 0
        self._done = 0
        self._flush_target = 0
        self._in_flight = 0
        # Counters (rows unless named otherwise); written under the lock.
        self._written = 0
        self._dropped = 0
        self._sampled_out = 0
        self._failed = 0
        self._failed_batches = 0

    # -- the request path ---------------------------------------------------------

    def append(self, request: ServedRequest) -> bool:
        """Queue ``request``'s rows for writing; never blocks, never raises.

        Returns True when they were queued; False when the request was sampled out,
        the queue was full (its rows are dropped and counted) or the log is closed.
        """
        try:
            count = request.rows
            if not self._keep_all and _request_hash(request.request_id) >= self._threshold:
                with self._lock:
                    self._sampled_out += count
                return False
            with self._lock:
                queued = self._queued
                if self._closed or queued + count > self._capacity:
                    self._dropped += count
                    return False
                self._queue.append(request)
                self._queued = queued + count
                self._accepted += count
                # Wake the writer when rows arrive in an empty queue, and when they
                # make a full batch; not again for every row of a batch that waits.
                if queued == 0 or queued < self._batch_size <= queued + count:
                    self._wake_writer.notify()
            return True
        except Exception:  # never let logging break serving: not a ServedRequest at all
            with self._lock:
                self._dropped += 1
            return False

    # -- control ------------------------------------------------------------------

    def start(self) -> None:
        """Start the daemon writer thread (once; later calls do nothing)."""
        with self._lock:
            if self._closed:
                raise ConflictError("the prediction log is closed; create a new one")
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="mlrelease-prediction-log", daemon=True
            )
            self._thread.start()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every row appended so far has been written (or counted as failed).

        Returns False if that did not happen within ``timeout`` seconds, or if the
        writer is not running; True otherwise.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            target = self._accepted
            if self._done >= target:
                return True
            if self._thread is None or not self._thread.is_alive():
                return False
            if target > self._flush_target:
                self._flush_target = target
                self._wake_writer.notify()
            while self._done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._progress.wait(remaining)
            return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and stop the writer; idempotent. Later appends are dropped."""
        with self._lock:
            if self._closed:
                thread = None
            else:
                self._closed = True
                thread = self._thread
                if thread is None:  # never started: nothing will write the queue
                    self._drop_queued()
                self._wake_writer.notify()
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                _log.warning(
                    "prediction log writer did not finish within %.1fs; %d rows not written",
                    timeout,
                    self.pending + self._in_flight,
                )
                return  # the writer thread may still be using the process
        if self._process is not None:
            self._process.close()

    def _drop_queued(self) -> None:
        count, self._queued = self._queued, 0
        self._queue.clear()
        self._dropped += count
        self._done += count
        self._progress.notify_all()

    # -- counters -----------------------------------------------------------------

    @property
    def sample_rate(self) -> float:
        return self._sample_rate

    @property
    def written(self) -> int:
        """Rows inserted into the store."""
        return self._written

    @property
    def dropped(self) -> int:
        """Rows refused because the queue was full (or the log closed)."""
        return self._dropped

    @property
    def sampled_out(self) -> int:
        """Rows not kept by sampling."""
        return self._sampled_out

    @property
    def failed(self) -> int:
        """Rows of batches that could not be written after retrying."""
        return self._failed

    @property
    def failed_batches(self) -> int:
        """Batches that could not be written after retrying."""
        return self._failed_batches

    @property
    def pending(self) -> int:
        """Rows queued and not yet taken by the writer."""
        return self._queued

    def stats(self) -> dict[str, int]:
        """Row counters by outcome, each only ever growing (for /metrics)."""
        with self._lock:
            return {
                "written": self._written,
                "dropped": self._dropped,
                "sampled_out": self._sampled_out,
                "failed": self._failed,
            }

    # -- the writer thread --------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            rows = self._in_flight
            written = False
            try:
                written = self._write(batch, rows)
            except Exception:  # pragma: no cover - _write handles its own errors
                _log.exception("prediction log writer failed unexpectedly")
            with self._lock:
                if written:
                    self._written += rows
                else:
                    self._failed += rows
                    self._failed_batches += 1
                self._done += rows
                self._in_flight = 0
                self._progress.notify_all()

    def _next_batch(self) -> list[ServedRequest] | None:
        """Requests holding about ``batch_size`` rows (at least one request), taken off
        the queue; their row count is left in ``_in_flight``."""
        queue = self._queue
        with self._lock:
            while not queue:
                if self._closed:
                    return None
                self._wake_writer.wait()
            # Rows are waiting: gather more for up to flush_interval, unless a full
            # batch is there, someone waits in flush(), or the log is closing.
            deadline = time.monotonic() + self._flush_interval
            while (
                self._queued < self._batch_size
                and not self._closed
                and self._flush_target <= self._done
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._wake_writer.wait(remaining)
            batch = [queue.popleft()]
            rows = batch[0].rows
            while queue and rows + queue[0].rows <= self._batch_size:
                request = queue.popleft()
                batch.append(request)
                rows += request.rows
            self._queued -= rows
            self._in_flight = rows
            return batch

    def _write(self, batch: list[ServedRequest], rows: int) -> bool:
        """Insert ``batch``'s rows in one transaction (here or in the writer process);
        True on success."""
        if self._process is not None:
            try:
                frame = encode_batch(batch)
            except Exception as exc:  # inputs pandas cannot turn into records
                error: Exception | None = exc
            else:
                error = self._process.write(frame)
        else:
            error = insert_requests(
                self._store, batch, retries=self._retries, retry_backoff=self._retry_backoff
            )
        if error is not None:
            self._report(error, rows)
        return error is None

    def _report(self, exc: Exception, rows: int) -> None:
        _log.warning("prediction log: could not write %d rows: %s", rows, exc)
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                _log.exception("prediction log: on_error callback failed")


def insert_requests(
    store: Store, requests: Sequence[ServedRequest], *, retries: int, retry_backoff: float
) -> Exception | None:
    """Insert the rows of ``requests`` in one transaction, retrying database errors that
    may pass; None when they were written, else the error that stopped them."""
    sqlite = store.dialect == "sqlite"
    rows_of = _sqlite_rows if sqlite else _postgresql_rows
    try:
        rows: list[Any] = [row for request in requests for row in rows_of(request)]
    except Exception as exc:  # not a ServedRequest, or inputs and outputs that do not line up
        return exc
    attempt = 0
    while True:
        try:
            with store.write() as connection:
                if sqlite:
                    _insert_sqlite(connection, rows)
                else:
                    connection.execute(_INSERT_POSTGRESQL, rows)
            return None
        except Exception as exc:
            if attempt < retries and _retryable(exc):
                time.sleep(retry_backoff * (2**attempt))
                attempt += 1
                continue
            return exc


def _retryable(exc: Exception) -> bool:
    # Connection trouble, locks, a busy or restarting server may pass; bad data will not.
    if isinstance(exc, sa_exc.IntegrityError | sa_exc.DataError):
        return False
    return isinstance(exc, sa_exc.DBAPIError)


_COLUMNS = (
    "request_id",
    "row",
    "timestamp",
    "model",
    "environment",
    "version",
    "role",
    "status",
    "latency_ms",
    "inputs",
    "outputs",
)
_ROWS_PER_STATEMENT = 1000  # 11,000 parameters: well under SQLite's 32,766


def _rows(request: ServedRequest, timestamp: Any) -> list[tuple[Any, ...]]:
    """``request``'s rows in ``_COLUMNS`` order, ``timestamp`` as the database takes it
    (built directly: this runs once per stored row)."""
    request_id = request.request_id
    tail = (
        request.model,
        request.environment,
        request.version,
        request.role,
        request.status,
        float(request.latency_ms),
    )
    if request.labels is None:
        return [(request_id, 0, timestamp, *tail, "{}", "{}")]
    proba = _plain(request.proba)
    rows = zip(_input_texts(request.inputs), _plain(request.labels), strict=True)
    return [
        (
            request_id,
            row,
            timestamp,
            *tail,
            inputs,
            _json_text({"prediction": label, **({} if proba is None else {"proba": proba[row]})}),
        )
        for row, (inputs, label) in enumerate(rows)
    ]


_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def _input_texts(inputs: Any) -> list[str]:
    """Each input row's JSON text: a record as it is, a matrix row as ``{"features": [...]}``."""
    if isinstance(inputs, InputTexts):
        return inputs
    if isinstance(inputs, np.ndarray) and inputs.ndim == 2 and inputs.dtype in _FLOATS:
        return _matrix_texts(inputs)
    return [
        _json_text(values if isinstance(values, dict) else {"features": values})
        for values in _plain(inputs)
    ]


def _matrix_texts(matrix: np.ndarray[Any, Any]) -> list[str]:
    """A float matrix's rows as ``{"features": [...]}`` texts, as ``_json_text`` writes
    them, from one orjson call split at the rows' edges (a number's text holds no
    bracket): formatting row by row cost more than the rest of a row."""
    if len(matrix) == 0:
        return []
    text = orjson.dumps(np.ascontiguousarray(matrix), option=_JSON_OPTIONS).decode()
    return ['{"features":[' + values + "]}" for values in text[2:-2].split("],[")]


def _sqlite_rows(request: ServedRequest) -> list[tuple[Any, ...]]:
    return _rows(request, _sqlite_timestamp(request.timestamp))


def _sqlite_timestamp(timestamp: float) -> str:
    """``timestamp`` (seconds since the epoch) as UTCDateTime stores it in SQLite.

    Made from a datetime each time, this text cost about 5 us, half of building a
    single-row request's row; the date and time of day change once a second.
    """
    second, fraction = divmod(timestamp, 1.0)
    microsecond = round(fraction * 1e6)
    if microsecond == 1_000_000:
        second, microsecond = second + 1, 0
    return f"{_second_text(int(second))}.{microsecond:06d}"


@functools.lru_cache(maxsize=16)
def _second_text(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _postgresql_rows(request: ServedRequest) -> list[dict[str, Any]]:
    when = datetime.fromtimestamp(request.timestamp, UTC)
    return [dict(zip(_COLUMNS, row, strict=True)) for row in _rows(request, when)]


def _insert_sqlite(connection: Connection, rows: list[tuple[Any, ...]]) -> None:
    """One multi-row INSERT per chunk: SQLite steps once per statement.

    An executemany steps once per row, and the sqlite3 driver releases the GIL at
    each step; under load the event loop then holds the writer back a switch
    interval per row. The SQL holds only fixed column names and ``?`` placeholders.
    """
    row_marks = "(" + ", ".join("?" * len(_COLUMNS)) + ")"
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        statement = f"INSERT INTO predictions ({', '.join(_COLUMNS)}) VALUES " + ", ".join(
            [row_marks] * len(chunk)
        )
        connection.exec_driver_sql(statement, tuple(itertools.chain.from_iterable(chunk)))


def _json_text(value: Any) -> str:
    """Strict JSON text: NaN and infinities become null (orjson's rule; PostgreSQL's json
    type refuses NaN), numpy values become plain numbers, anything else its string."""
    return orjson.dumps(value, default=_json_fallback, option=_JSON_OPTIONS).decode()


# -- the writer process's batch frames ---------------------------------------------------

_FRAME_HEADER = struct.Struct("<I")
_MATRIX = "float64_matrix"  # a request's inputs in a frame's JSON: [rows, columns]


class InputTexts(list[str]):
    """A request's input rows already written as the log stores them (one text each)."""


def encode_batch(requests: Sequence[ServedRequest]) -> list[bytes | memoryview]:
    """``requests`` as the parts of one frame for the writer process: the JSON's length,
    the JSON, then the raw bytes of their float64 input matrices.

    The JSON is ``{"requests": [...], "blocks": [[rows, columns], ...]}``. A request
    whose inputs are a float64 matrix has ``{"float64_matrix": [rows, columns]}`` in
    their place, and its rows are the next ones of the block with that many columns:
    the matrices are stacked, one block per width, in the order the widths first
    appear. Formatting numbers under the server's interpreter lock and parsing them
    back in the writer cost more than the rest of a row; one block is also formatted
    by one call in the writer. The JSON is padded so that the blocks start 8-byte aligned.
    """
    stacks: dict[int, list[np.ndarray[Any, Any]]] = {}
    fields: list[tuple[Any, ...]] = []
    for request in requests:
        inputs = request.inputs
        if (
            request.labels is not None
            and isinstance(inputs, np.ndarray)
            and inputs.ndim == 2
            and inputs.dtype == np.float64
        ):
            stacks.setdefault(inputs.shape[1], []).append(inputs)
            fields.append((*request[:8], {_MATRIX: inputs.shape}, *request[9:]))
        else:
            fields.append(request.plain())
    blocks = [np.concatenate(stack) for stack in stacks.values()]
    document = {"requests": fields, "blocks": [block.shape for block in blocks]}
    header = orjson.dumps(document, default=_json_fallback, option=_JSON_OPTIONS)
    header += b" " * (-(_FRAME_HEADER.size + len(header)) % 8)
    return [_FRAME_HEADER.pack(len(header)), header, *(block.data for block in blocks)]


def decode_batch(payload: bytes) -> list[ServedRequest]:
    """The requests of a frame made by :func:`encode_batch`, the rows of their float64
    matrices already written as :class:`InputTexts`. Raises ValueError for a frame that
    is not one."""
    (length,) = _FRAME_HEADER.unpack_from(payload)
    offset = _FRAME_HEADER.size + length
    document = orjson.loads(payload[_FRAME_HEADER.size : offset])
    texts: dict[int, Iterator[str]] = {}
    for rows, columns in document["blocks"]:
        block = np.frombuffer(payload, np.float64, rows * columns, offset)
        texts[columns] = iter(_matrix_texts(block.reshape(rows, columns)))
        offset += block.nbytes
    if offset != len(payload):
        raise ValueError(
            f"the frame holds {len(payload) - offset} bytes its JSON does not describe"
        )
    requests = []
    for fields in document["requests"]:
        request = ServedRequest(*fields)
        if isinstance(request.inputs, dict) and _MATRIX in request.inputs:
            rows, columns = request.inputs[_MATRIX]
            request = request._replace(inputs=InputTexts(itertools.islice(texts[columns], rows)))
        requests.append(request)
    return requests
