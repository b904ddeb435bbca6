"""Content-addressed artifact storage: model files and data snapshots, by sha256.

Every blob lives at ``<root>/sha256/<ab>/<digest>/<name>``: the same bytes always get
the same URI and are written once. Writes are atomic, names and URIs are checked so
nothing escapes the store root, and every read is verified against the recorded
digest. This package owns the :class:`ArtifactStore` contract and
:func:`open_artifact_store`, which picks the local or the fsspec implementation
from a URL.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from mlrelease.artifacts._content import StoredArtifact
from mlrelease.artifacts._paths import safe_artifact_name
from mlrelease.artifacts.local import LocalArtifactStore
from mlrelease.artifacts.remote import RemoteArtifactStore, open_remote_store
from mlrelease.errors import ConfigError

__all__ = [
    "ArtifactStore",
    "LocalArtifactStore",
    "RemoteArtifactStore",
    "StoredArtifact",
    "open_artifact_store",
    "safe_artifact_name",
]

_URL_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")


class ArtifactStore(Protocol):
    """Where artifacts are kept. URIs passed in are untrusted and checked."""

    @property
    def url(self) -> str:
        """The root URL the store was opened with, normalised."""
        ...

    def put_file(self, path: Path, name: str) -> StoredArtifact:
        """Store the file at ``path`` as ``name``; nothing is written if already stored."""
        ...

    def put_bytes(self, data: bytes, name: str) -> StoredArtifact:
        """Store ``data`` as ``name``; nothing is written if already stored."""
        ...

    def fetch(self, uri: str, sha256: str) -> Path:
        """A local path to the artifact's bytes, verified against ``sha256``."""
        ...

    def read_bytes(self, uri: str, sha256: str) -> bytes:
        """The artifact's bytes, verified against ``sha256``."""
        ...

    def exists(self, uri: str) -> bool:
        """Whether the artifact at ``uri`` is stored."""
        ...

    def delete(self, uri: str) -> None:
        """Remove the artifact at ``uri``; nothing happens if it is already gone."""
        ...


def open_artifact_store(
    url: str, *, base_dir: Path | None = None, cache_dir: Path | None = None
) -> ArtifactStore:
    """Open the store at ``url``: a path, a ``file://`` URL or any fsspec URL.

    Relative paths are resolved against ``base_dir`` (default: the working
    directory). ``cache_dir`` holds verified local copies of remote artifacts.

    Raises:
        ConfigError: the URL cannot be used, or its backend is not installed.
    """
    if not url.strip():
        raise ConfigError("The artifact store URL is empty; give a directory or a URL.")
    match = _URL_SCHEME.match(url)
    if match is None:
        return LocalArtifactStore((base_dir or Path.cwd()) / Path(url).expanduser())
    if match["scheme"].lower() == "file":
        return LocalArtifactStore(_path_from_file_url(url))
    return open_remote_store(url, cache_dir=cache_dir)


def _path_from_file_url(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in {"", "localhost"} or parts.query or parts.fragment:
        raise ConfigError(
            f"Artifact store URL {url} is not a local file URL; use file:///absolute/path."
        )
    return Path(unquote(parts.path))
