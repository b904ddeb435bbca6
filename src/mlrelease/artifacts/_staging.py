"""Writing a local file so that it appears complete, or not at all.

Bytes go to a temporary file next to the target, are hashed on the way, and only
an explicit :meth:`StagedFile.commit` (after fsync) renames them into place. Any
other way out of the ``with`` block removes the temporary file, so a crash or a
refused digest never leaves a partial file at the final path.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["StagedFile", "staged_file"]

# Stored blobs and cached copies are never modified in place, only replaced whole,
# so they are created read-only to catch anything that tries.
READ_ONLY = 0o444


class StagedFile:
    """A temporary file being filled for ``target``; see :func:`staged_file`."""

    def __init__(self, target: Path, temporary: Path, stream: BinaryIO) -> None:
        self.target = target
        self.temporary = temporary
        self.size = 0
        self.committed = False
        self._stream = stream
        self._digest = hashlib.sha256()

    @property
    def sha256(self) -> str:
        """Hex digest of everything written so far."""
        return self._digest.hexdigest()

    def write(self, chunk: bytes) -> None:
        self._stream.write(chunk)
        self._digest.update(chunk)
        self.size += len(chunk)

    def commit(self) -> None:
        """Make the written bytes durable and move them to ``target`` in one step."""
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()
        os.replace(self.temporary, self.target)
        self.committed = True
        _fsync_directory(self.target.parent)


@contextmanager
def staged_file(target: Path) -> Iterator[StagedFile]:
    """Stage a new file for ``target`` in the same directory (created if missing)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # A short random name rather than one derived from the target: the target's own
    # name may already be at the file-system length limit.
    temporary = target.parent / f".partial-{secrets.token_hex(16)}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, READ_ONLY)
    with os.fdopen(descriptor, "wb") as stream:
        staged = StagedFile(target, temporary, stream)
        try:
            yield staged
        finally:
            if not staged.committed:
                stream.close()
                temporary.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    # Without this the rename itself may be lost on power failure.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
