"""The prediction log's writer process: rows go into the store outside the server's GIL.

A model server is bound by one interpreter lock. Turning served requests into rows
and SQL parameters (timestamps, JSON text) and binding them costs tens of
microseconds of that lock per row, on the same core that answers requests. With a
writer process the server's writer thread only encodes each batch of
:class:`~mlrelease.serving.predlog.ServedRequest` tuples once (JSON, with the input
matrices' bytes as they are: ``predlog.encode_batch``) and hands it over a pipe;
this process decodes it, builds the rows and inserts them, and answers each batch
with an empty frame (written) or the error's text (not written), so the server's
counters and ``flush()`` mean exactly what they mean with a writer thread.

Frames on both pipes are a 4-byte little-endian length and that many bytes. The
first frame to this process is its settings; an empty frame, or the end of its
input, stops it. It ignores SIGINT and SIGTERM: a Ctrl-C reaches the whole process
group, and the server must be able to flush the last rows through it first. Once
started it runs at a lower CPU priority than the server (nice 10).
Nothing here is unpickled: frames are JSON and raw float64 numbers.
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import signal
import struct
import subprocess
import sys
from collections.abc import Sequence
from typing import IO

import orjson

from mlrelease.errors import StoreError

__all__ = ["WriterProcess"]

_LENGTH = struct.Struct("<I")
# The process does no linear algebra: numpy's thread pools would only take CPU from
# the server beside it.
_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_REPLY_TIMEOUT = 120.0  # seconds for one batch, retries included, before giving up on it


class WriterProcess:
    """The parent's end: starts the process on first use, restarts it after a failure."""

    def __init__(self, url: str, *, retries: int, retry_backoff: float) -> None:
        self._settings = orjson.dumps(
            {"url": url, "retries": retries, "retry_backoff": retry_backoff}
        )
        self._process: subprocess.Popen[bytes] | None = None

    def write(self, frame: Sequence[bytes | memoryview]) -> Exception | None:
        """Insert the rows of a batch through the process, ``frame`` being its parts (see
        ``predlog.encode_batch``); None when they were written, else what went wrong
        (then none was)."""
        try:
            process = self._running()
            assert process.stdin is not None and process.stdout is not None
            _send(process.stdin, *frame)
            reply = _receive(process.stdout, timeout=_REPLY_TIMEOUT)
        except (OSError, EOFError, TimeoutError) as exc:
            self._stop(kill=True)
            return StoreError(f"the prediction log's writer process failed: {exc}")
        return None if not reply else StoreError(reply.decode(errors="replace"))

    def close(self, timeout: float = 10.0) -> None:
        """Stop the process once it has finished what it was given."""
        self._stop(kill=False, timeout=timeout)

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._stop(kill=True)
        process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # stderr is inherited: the process's warnings land in the server's log
            env={**os.environ, **_ONE_THREAD},
        )
        self._process = process
        assert process.stdin is not None
        _send(process.stdin, self._settings)
        return process

    def _stop(self, *, kill: bool, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if not kill:
            try:
                assert process.stdin is not None
                _send(process.stdin, b"")
                process.stdin.close()
                process.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                kill = True
        if kill and process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None and not stream.closed:
                stream.close()


def _send(stream: IO[bytes], *parts: bytes | memoryview) -> None:
    """One frame: the parts' total length, then the parts."""
    views = [memoryview(part) for part in parts]
    stream.write(_LENGTH.pack(sum(view.nbytes for view in views)))
    for view in views:
        stream.write(view)
    stream.flush()


def _receive(stream: IO[bytes], *, timeout: float | None = None) -> bytes:
    if timeout is not None:
        ready, _, _ = select.select([stream], [], [], timeout)
        if not ready:
            raise TimeoutError(f"no answer within {timeout:.0f} s")
    header = _read_exactly(stream, _LENGTH.size)
    return _read_exactly(stream, _LENGTH.unpack(header)[0])


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) < size:
        raise EOFError("the other end closed the pipe")
    return data


# -- the process ------------------------------------------------------------------------

# Against one busy thread of normal priority, a process at nice 10 gets about a tenth
# of the core they share: the server's requests come first, yet under sustained full
# load the log slows and its queue drops rows (counted) instead of stopping.
_NICENESS = 10


def _yield_to_requests() -> None:
    """Lower this process's CPU priority below the server's.

    The scheduler puts this process on whichever core is free at the moment, at times
    the one of the server's event loop; at normal priority it then takes half of that
    core for as long as a batch takes. Done after start-up, whose imports must not lag.
    """
    with contextlib.suppress(OSError):  # not allowed here: run at the priority it has
        os.nice(_NICENESS)


def main() -> None:
    """Read settings, then batches, from stdin; answer each batch on stdout."""
    from mlrelease.serving.predlog import decode_batch, insert_requests
    from mlrelease.store import Store

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    requests = sys.stdin.buffer
    # Answers go to the original stdout; anything printed by accident goes to stderr.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        settings = orjson.loads(_receive(requests))
    except EOFError:
        return
    store = Store.connect(settings["url"])
    # What is loaded now lives as long as the process: keep it out of every collection.
    gc.collect()
    gc.freeze()
    _yield_to_requests()
    try:
        while True:
            try:
                payload = _receive(requests)
            except EOFError:
                return
            if not payload:
                return
            try:
                batch = decode_batch(payload)
            except Exception as exc:  # a frame that is not a list of requests: refuse it
                error: Exception | None = exc
            else:
                error = insert_requests(
                    store,
                    batch,
                    retries=settings["retries"],
                    retry_backoff=settings["retry_backoff"],
                )
            _send(answers, b"" if error is None else f"{type(error).__name__}: {error}".encode())
    finally:
        store.close()


if __name__ == "__main__":
    main()
