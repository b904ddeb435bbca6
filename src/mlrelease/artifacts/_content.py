"""What a stored artifact is, and how its bytes are checked against its digest.

Every read goes through :func:`require_digest`, so there is one place that decides
an artifact's bytes are the ones that were registered and one wording for refusing
them when they are not.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from mlrelease.errors import IntegrityError

__all__ = [
    "CHUNK_SIZE",
    "StoredArtifact",
    "is_sha256_hex",
    "iter_chunks",
    "require_digest",
    "require_recorded_digest",
    "sha256_of",
]

CHUNK_SIZE = 1024 * 1024

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class StoredArtifact:
    """A blob in an artifact store: where it is and what its bytes hash to."""

    uri: str
    sha256: str
    size: int


def is_sha256_hex(value: str) -> bool:
    """Whether ``value`` is a lowercase hex SHA-256 digest."""
    return _SHA256_HEX.fullmatch(value) is not None


def iter_chunks(stream: BinaryIO) -> Iterator[bytes]:
    """Read ``stream`` to its end in :data:`CHUNK_SIZE` pieces."""
    while chunk := stream.read(CHUNK_SIZE):
        yield chunk


def sha256_of(chunks: Iterable[bytes]) -> tuple[str, int]:
    """The hex SHA-256 digest and total size of ``chunks``."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def require_recorded_digest(expected: str, *, where: str) -> None:
    """Refuse the artifact at ``where`` unless ``expected`` is a well-formed digest.

    Raises:
        IntegrityError: ``expected`` is not a lowercase hex SHA-256 digest.
    """
    if not is_sha256_hex(expected):
        raise IntegrityError(
            f"Artifact {where} was refused and not loaded: the sha256 recorded for it, "
            f"{expected!r}, is not a 64-character lowercase hex digest.",
            details={"uri": where, "expected_sha256": expected},
        )


def require_digest(*, actual: str, expected: str, where: str) -> None:
    """Refuse the artifact at ``where`` unless its bytes hash to ``expected``.

    Raises:
        IntegrityError: the digests differ, or ``expected`` is not a digest at all;
            either way the artifact must not be loaded.
    """
    require_recorded_digest(expected, where=where)
    if actual != expected:
        raise IntegrityError(
            f"Artifact {where} was refused and not loaded: its sha256 is {actual} but "
            f"{expected} was recorded for it. The file was changed or corrupted after "
            "it was registered.",
            details={"uri": where, "expected_sha256": expected, "actual_sha256": actual},
        )
