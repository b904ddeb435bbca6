"""The artifact store on a local (or mounted) file system.

Blobs are read-only files at ``<root>/sha256/<ab>/<digest>/<name>``. This module
owns turning keys into paths that provably stay under the root, symlinks included.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from mlrelease.artifacts._content import (
    StoredArtifact,
    iter_chunks,
    require_digest,
    sha256_of,
)
from mlrelease.artifacts._paths import ArtifactKey, key_from_uri, safe_artifact_name
from mlrelease.artifacts._staging import staged_file
from mlrelease.errors import ArtifactError, UnsafePathError

__all__ = ["LocalArtifactStore"]


class LocalArtifactStore:
    """Content-addressed blobs under a directory; ``url`` is its ``file://`` URI."""

    def __init__(self, root: Path) -> None:
        # Resolved once so every containment check compares against the real root,
        # even when the configured path is itself a symlink.
        self.root = root.resolve()
        self.url = self.root.as_uri()

    def put_file(self, path: Path, name: str) -> StoredArtifact:
        safe_name = safe_artifact_name(name)
        with _artifact_errors(f"Cannot store {path}"), path.open("rb") as source:
            sha256, size = sha256_of(iter_chunks(source))
            source.seek(0)
            return self._put(ArtifactKey(sha256, safe_name), size, iter_chunks(source))

    def put_bytes(self, data: bytes, name: str) -> StoredArtifact:
        safe_name = safe_artifact_name(name)
        sha256, size = sha256_of([data])
        with _artifact_errors(f"Cannot store {safe_name!r}"):
            return self._put(ArtifactKey(sha256, safe_name), size, [data])

    def fetch(self, uri: str, sha256: str) -> Path:
        path = self._existing_blob(uri)
        with _artifact_errors(f"Cannot read artifact {uri}"), path.open("rb") as stream:
            actual, _ = sha256_of(iter_chunks(stream))
        require_digest(actual=actual, expected=sha256, where=uri)
        return path

    def read_bytes(self, uri: str, sha256: str) -> bytes:
        path = self._existing_blob(uri)
        with _artifact_errors(f"Cannot read artifact {uri}"):
            data = path.read_bytes()
        require_digest(actual=sha256_of([data])[0], expected=sha256, where=uri)
        return data

    def exists(self, uri: str) -> bool:
        return self._path_inside_root(key_from_uri(uri, self.url), uri).is_file()

    def delete(self, uri: str) -> None:
        path = self._path_inside_root(key_from_uri(uri, self.url), uri)
        with _artifact_errors(f"Cannot delete artifact {uri}"):
            path.unlink(missing_ok=True)

    def _put(self, key: ArtifactKey, size: int, chunks: Iterable[bytes]) -> StoredArtifact:
        uri = f"{self.url}/{quote(key.path)}"
        target = self._path_inside_root(key, uri)
        stored = StoredArtifact(uri=uri, sha256=key.sha256, size=size)
        # Same key means same bytes, so a complete blob already there is this one;
        # a blob of the wrong size is a leftover of corruption and is replaced.
        if target.is_file() and target.stat().st_size == size:
            return stored
        with staged_file(target) as staged:
            for chunk in chunks:
                staged.write(chunk)
            if staged.sha256 != key.sha256:
                raise ArtifactError(
                    f"The file for {key.name!r} changed while it was being stored, so "
                    "nothing was stored. Store it again once nothing is writing to it.",
                    details={"name": key.name},
                )
            staged.commit()
        return stored

    def _existing_blob(self, uri: str) -> Path:
        path = self._path_inside_root(key_from_uri(uri, self.url), uri)
        if not path.is_file():
            raise ArtifactError(
                f"Artifact {uri} does not exist in the store at {self.url}.",
                details={"uri": uri},
            )
        return path

    def _path_inside_root(self, key: ArtifactKey, uri: str) -> Path:
        path = self.root.joinpath(*key.parts)
        # The key's parts are already safe names; this catches symlinks planted in
        # the store that would lead a read or a write somewhere else.
        if not path.resolve().is_relative_to(self.root):
            raise UnsafePathError(
                f"Artifact URI {uri} is refused: a symbolic link takes it outside the "
                f"store root {self.root}.",
                details={"uri": uri},
            )
        return path


@contextmanager
def _artifact_errors(doing: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise ArtifactError(f"{doing}: {exc.strerror or exc}.") from exc
