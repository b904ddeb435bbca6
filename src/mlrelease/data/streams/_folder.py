"""A folder of CSV / Parquet files as a stream: files renamed in, read once, offsets on disk."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import stat
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from mlrelease.data._files import FILE_SUFFIXES
from mlrelease.data.streams._common import Message, check_poll
from mlrelease.errors import ConfigError, DataError

_OFFSETS_FILE: Final = ".mlrelease-offsets.json"
_SETTLE_SECONDS: Final = 1.0  # a file changed more recently than this may still be written
_PARTIAL_SUFFIXES: Final = (".tmp", ".part")
_RESCAN_SECONDS: Final = 0.2


@dataclass
class _FileState:
    """A file as read: its content hash, its stat when hashed, and rows done."""

    sha256: str
    size: int
    mtime_ns: int
    total: int  # rows in the file
    rows: int  # rows committed (in the offsets file) or returned (in one instance)


class FolderSource:
    """New ``.csv`` / ``.parquet`` (``.pq``) files dropped into a folder, oldest first.

    Writers must write a file elsewhere (or under a name starting with ``.`` or
    ending with ``.tmp`` / ``.part``, which are ignored) and then *rename* it into
    the folder. A file modified less than a second ago is left for a later poll,
    which covers writers that rename at once but nothing that rewrites a file in
    place. Once dropped, a file is immutable: changing a file that was read is a
    DataError naming it; new rows go in a new file. An unreadable file stops the
    stream at that file until it is moved out of the folder.

    Files are taken by modification time, then name, and matched against
    ``pattern`` (on the name). Progress is kept in ``.mlrelease-offsets.json``
    inside the folder: per file name its sha256 and the rows committed, replaced
    atomically on every commit. One consumer per folder.
    """

    def __init__(self, path: Path | str, *, pattern: str = "*", name: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise ConfigError(f"stream folder {self.path} does not exist or is not a folder")
        self.pattern = pattern
        self.name = name or f"folder:{self.path.resolve().name}"
        self._committed = self._read_offsets()
        self._seen: dict[str, _FileState] = {}  # files this instance has read
        self._records: dict[str, list[dict[str, Any]]] = {}  # files not returned to the end

    def poll(self, max_messages: int = 500, timeout: float = 1.0) -> list[Message]:
        check_poll(max_messages, timeout)
        deadline = time.monotonic() + timeout
        while True:
            messages = self._collect(max_messages)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            time.sleep(min(_RESCAN_SECONDS, remaining))

    def commit(self, messages: Sequence[Message]) -> None:
        done: dict[str, int] = {}
        for message in messages:
            file_name, row = self._split_key(message.key)
            done[file_name] = max(done.get(file_name, 0), row + 1)
        for file_name, rows in done.items():
            seen = self._seen.get(file_name)
            if seen is None or rows > seen.total:
                raise DataError(
                    f"{self.name}: cannot commit rows of {file_name!r} up to {rows}: "
                    "commit only messages this source instance returned"
                )
            seen.rows = max(seen.rows, rows)
            if seen.rows >= seen.total:
                self._records.pop(file_name, None)
            committed = self._committed.get(file_name)
            if committed is None or rows > committed.rows:
                self._committed[file_name] = _FileState(**{**asdict(seen), "rows": rows})
        if done:
            self._write_offsets()

    def close(self) -> None:
        self._records.clear()

    def _collect(self, limit: int) -> list[Message]:
        messages: list[Message] = []
        for path, status in self._ready_files():
            if len(messages) >= limit:
                break
            file_name = path.name
            known = self._seen.get(file_name) or self._committed.get(file_name)
            if known is not None:
                self._check_unchanged(path, status, known)
                if known.rows >= known.total:
                    continue
            records = self._load(path, known)
            state = self._seen[file_name]
            start = state.rows
            batch = records[start : start + limit - len(messages)]
            messages.extend(
                Message(f"{file_name}:{start + offset}", record)
                for offset, record in enumerate(batch)
            )
            state.rows += len(batch)
            if state.rows >= state.total:
                del self._records[file_name]
        return messages

    def _ready_files(self) -> list[tuple[Path, os.stat_result]]:
        now = time.time()
        ready = []
        for path in self.path.iterdir():
            file_name = path.name
            if (
                file_name.startswith(".")
                or file_name.lower().endswith(_PARTIAL_SUFFIXES)
                or path.suffix.lower() not in FILE_SUFFIXES
                or not fnmatch(file_name, self.pattern)
            ):
                continue
            try:
                status = path.stat()
            except FileNotFoundError:  # renamed away since the listing
                continue
            if stat.S_ISREG(status.st_mode) and now - status.st_mtime >= _SETTLE_SECONDS:
                ready.append((path, status))
        ready.sort(key=lambda item: (item[1].st_mtime_ns, item[0].name))
        return ready

    def _check_unchanged(self, path: Path, status: os.stat_result, known: _FileState) -> None:
        if (status.st_size, status.st_mtime_ns) == (known.size, known.mtime_ns):
            return
        if _sha256(path) != known.sha256:
            raise DataError(self._changed(path))
        known.size, known.mtime_ns = status.st_size, status.st_mtime_ns  # touched only

    def _load(self, path: Path, known: _FileState | None) -> list[dict[str, Any]]:
        file_name = path.name
        if file_name in self._records:
            return self._records[file_name]
        try:
            status = path.stat()
            content = path.read_bytes()
        except OSError as exc:
            raise DataError(f"{self.name}: cannot read {path}: {exc}") from exc
        sha256 = hashlib.sha256(content).hexdigest()
        if known is not None and sha256 != known.sha256:
            raise DataError(self._changed(path))
        records = [_json_record(row) for row in _parse(path, content).to_dict(orient="records")]
        done = known.rows if known is not None else 0
        self._seen[file_name] = _FileState(
            sha256, status.st_size, status.st_mtime_ns, len(records), done
        )
        self._records[file_name] = records
        return records

    def _changed(self, path: Path) -> str:
        return (
            f"{self.name}: {path} changed after it was read; files are immutable once "
            "dropped into the folder: restore its content, and put new rows in a new file"
        )

    def _split_key(self, key: str) -> tuple[str, int]:
        file_name, _, row = key.rpartition(":")
        if not file_name or not row.isdigit():
            raise DataError(f"{self.name}: {key!r} is not a key of this source ('file:row')")
        return file_name, int(row)

    def _read_offsets(self) -> dict[str, _FileState]:
        path = self.path / _OFFSETS_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return {str(name): _FileState(**entry) for name, entry in raw["files"].items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise DataError(
                f"{self.name}: cannot read {path} ({exc}); deleting it makes every file "
                "be read again from the start (stored keys ignore the repeats)"
            ) from exc

    def _write_offsets(self) -> None:
        target = self.path / _OFFSETS_FILE
        temporary = target.with_name(f"{_OFFSETS_FILE}.{os.getpid()}.tmp")
        state = {"version": 1, "files": {n: asdict(s) for n, s in self._committed.items()}}
        try:
            with temporary.open("w", encoding="utf-8") as out:
                json.dump(state, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise ConfigError(
                f"{self.name}: cannot write {target} ({exc}); the folder must be writable"
            ) from exc
        _fsync_folder(self.path)


def _parse(path: Path, content: bytes) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(io.BytesIO(content))
        try:
            import pyarrow  # noqa: F401 - an optional extra; say so before pandas does
        except ImportError:
            raise ConfigError(
                f"cannot read {path}: Parquet needs pyarrow: pip install 'mlrelease[parquet]'"
            ) from None
        return pd.read_parquet(io.BytesIO(content))
    except (OSError, ValueError) as exc:  # parser errors are ValueErrors in pandas and pyarrow
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(
            f"cannot read {path}: {reason}; move it out of the folder to go on"
        ) from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as content:
        for chunk in iter(lambda: content.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the platform allows (not on Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _json_record(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(column): _json_value(value) for column, value in row.items()}


def _json_value(value: Any) -> Any:
    """A value from a DataFrame as JSON: NaN and missing -> None, numpy -> Python."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.ndarray):
        return [_json_value(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        return _json_value(value.item())
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return _json_record(value)
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return _json_value(float(value))
    return str(value)
