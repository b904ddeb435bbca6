"""The artifact store on any fsspec file system: S3 and S3-compatible servers first.

Blobs are objects at ``<root>/sha256/<ab>/<digest>/<name>``. Reads are verified
against the recorded digest and :meth:`RemoteArtifactStore.fetch` keeps a verified
local copy per digest, re-checked on every use. This module also owns the connection
settings: which fsspec options a URL gets and where endpoints come from.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fsspec
from fsspec.core import url_to_fs

from mlrelease.artifacts._content import (
    StoredArtifact,
    iter_chunks,
    require_digest,
    require_recorded_digest,
    sha256_of,
)
from mlrelease.artifacts._paths import ArtifactKey, key_from_uri, safe_artifact_name
from mlrelease.artifacts._staging import staged_file
from mlrelease.errors import ArtifactError, ConfigError

__all__ = ["RemoteArtifactStore", "default_cache_dir", "open_remote_store"]

S3_ENDPOINT_VARIABLE = "MLRELEASE_S3_ENDPOINT_URL"
_S3_PROTOCOLS = frozenset({"s3", "s3a"})

# Writes one blob to the given object path.
_Upload = Callable[[str], None]


class RemoteArtifactStore:
    """Content-addressed blobs under an fsspec URL such as ``s3://bucket/prefix``."""

    def __init__(self, fs: fsspec.AbstractFileSystem, root_path: str, cache_dir: Path) -> None:
        self._fs = fs
        self._root_path = root_path.rstrip("/")
        self._cache_dir = cache_dir
        self.url: str = fs.unstrip_protocol(self._root_path)

    def put_file(self, path: Path, name: str) -> StoredArtifact:
        safe_name = safe_artifact_name(name)
        try:
            with path.open("rb") as source:
                sha256, size = sha256_of(iter_chunks(source))
        except OSError as exc:
            raise ArtifactError(f"Cannot store {path}: {exc.strerror or exc}.") from exc
        # The backend's single-object write is atomic (true of S3 and its kin), so
        # the object appears complete or not at all; ``path`` must not change meanwhile.
        key = ArtifactKey(sha256, safe_name)
        return self._put(key, size, lambda object_path: self._fs.put_file(str(path), object_path))

    def put_bytes(self, data: bytes, name: str) -> StoredArtifact:
        sha256, size = sha256_of([data])
        key = ArtifactKey(sha256, safe_artifact_name(name))
        return self._put(key, size, lambda object_path: self._fs.pipe_file(object_path, data))

    def fetch(self, uri: str, sha256: str) -> Path:
        key = key_from_uri(uri, self.url)
        # Checked before it becomes part of a local path.
        require_recorded_digest(sha256, where=uri)
        cached = self._cache_dir.joinpath("sha256", sha256[:2], sha256, key.name)
        if self._cached_copy_is_intact(cached, sha256):
            return cached
        with (
            self._read_errors(uri),
            self._fs.open(self._object_path(key), "rb") as source,
            staged_file(cached) as staged,
        ):
            for chunk in iter_chunks(source):
                staged.write(chunk)
            require_digest(actual=staged.sha256, expected=sha256, where=uri)
            staged.commit()
        return cached

    def read_bytes(self, uri: str, sha256: str) -> bytes:
        key = key_from_uri(uri, self.url)
        with self._read_errors(uri), self._fs.open(self._object_path(key), "rb") as source:
            data = b"".join(iter_chunks(source))
        require_digest(actual=sha256_of([data])[0], expected=sha256, where=uri)
        return data

    def exists(self, uri: str) -> bool:
        key = key_from_uri(uri, self.url)
        return self._object_size(self._object_path(key), uri) is not None

    def delete(self, uri: str) -> None:
        key = key_from_uri(uri, self.url)
        try:
            self._fs.rm_file(self._object_path(key))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ArtifactError(f"Cannot delete artifact {uri}: {exc}.") from exc

    def _put(self, key: ArtifactKey, size: int, upload: _Upload) -> StoredArtifact:
        uri = f"{self.url}/{key.path}"
        object_path = self._object_path(key)
        stored = StoredArtifact(uri=uri, sha256=key.sha256, size=size)
        # Same key means same bytes: a complete object already there is this one.
        if self._object_size(object_path, uri) == size:
            return stored
        try:
            upload(object_path)
        except OSError as exc:
            raise ArtifactError(f"Cannot upload {uri}: {exc}.", details={"uri": uri}) from exc
        stored_size = self._object_size(object_path, uri)
        if stored_size != size:
            self.delete(uri)
            raise ArtifactError(
                f"Uploading {uri} did not store it: {size} bytes were sent but the store "
                f"holds {stored_size}. Nothing was kept; try again.",
                details={"uri": uri},
            )
        return stored

    def _object_size(self, object_path: str, uri: str) -> int | None:
        """The stored blob's size, or None when there is no blob at ``object_path``."""
        try:
            info = self._fs.info(object_path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ArtifactError(f"Cannot reach artifact {uri}: {exc}.") from exc
        # Object stores report "directories" for bare prefixes; those are not blobs.
        return int(info["size"]) if info.get("type") == "file" else None

    def _object_path(self, key: ArtifactKey) -> str:
        return f"{self._root_path}/{key.path}"

    @staticmethod
    def _cached_copy_is_intact(cached: Path, sha256: str) -> bool:
        try:
            with cached.open("rb") as stream:
                actual, _ = sha256_of(iter_chunks(stream))
        except FileNotFoundError:
            return False
        if actual == sha256:
            return True
        # A damaged cache entry is only a cache miss: drop it and download again.
        cached.unlink(missing_ok=True)
        return False

    @contextmanager
    def _read_errors(self, uri: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError as exc:
            raise ArtifactError(
                f"Artifact {uri} does not exist in the store at {self.url}.",
                details={"uri": uri},
            ) from exc
        except OSError as exc:
            raise ArtifactError(f"Cannot read artifact {uri}: {exc}.") from exc


def open_remote_store(url: str, *, cache_dir: Path | None = None) -> RemoteArtifactStore:
    """Open the store rooted at fsspec ``url``, caching fetched copies in ``cache_dir``.

    Raises:
        ConfigError: the URL's protocol is unknown or its fsspec backend is not installed.
    """
    protocol = url.split("://", 1)[0].lower()
    if protocol in _S3_PROTOCOLS and importlib.util.find_spec("s3fs") is None:
        raise ConfigError(
            f"Artifact store {url} needs the S3 backend: pip install 'mlrelease[s3]'."
        )
    try:
        fs, root_path = url_to_fs(url, **_storage_options(protocol))
    except ImportError as exc:
        raise ConfigError(f"Artifact store {url} needs a package that is missing: {exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"Artifact store URL {url} cannot be used: {exc}.") from exc
    return RemoteArtifactStore(fs, root_path, cache_dir or default_cache_dir())


def default_cache_dir() -> Path:
    """Where fetched copies go when no cache directory is given (XDG-style)."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "mlrelease" / "artifacts"


def _storage_options(protocol: str) -> dict[str, Any]:
    # A fresh instance per store: fsspec's instance cache is keyed on these options
    # only, so it would hand back a client built for an earlier endpoint taken from
    # the environment.
    options: dict[str, Any] = {"skip_instance_cache": True}
    if protocol in _S3_PROTOCOLS:
        # Other processes write the same bucket; a cached listing would go stale.
        options["use_listings_cache"] = False
        # Credentials and AWS_ENDPOINT_URL(_S3) are read by botocore itself.
        endpoint = os.environ.get(S3_ENDPOINT_VARIABLE)
        if endpoint:
            options["client_kwargs"] = {"endpoint_url": endpoint}
    return options
