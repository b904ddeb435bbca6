"""Artifact stores to test against: a local directory and a real S3 server (moto).

``backend`` yields the same store contract over both, plus a way to change stored
bytes behind the store's back, so behaviour tests are written once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from mlrelease.artifacts import ArtifactStore, open_artifact_store


@dataclass(frozen=True)
class Backend:
    """A store under test and the means to inspect or damage what it holds."""

    store: ArtifactStore
    overwrite: Callable[[str, bytes], None]
    # Changes whenever the blob at a URI is written again, and only then.
    write_marker: Callable[[str], object]


@pytest.fixture
def s3_store(
    s3_server: Any, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> ArtifactStore:
    monkeypatch.setenv("MLRELEASE_S3_ENDPOINT_URL", s3_server.endpoint_url)
    return open_artifact_store(f"s3://{bucket}/prefix", cache_dir=tmp_path / "cache")


def s3_object_key(uri: str) -> tuple[str, str]:
    bucket_name, _, key = uri.removeprefix("s3://").partition("/")
    return bucket_name, key


def local_blob_path(uri: str) -> Path:
    return Path(unquote(urlsplit(uri).path))


def _local_backend(tmp_path: Path) -> Backend:
    def overwrite(uri: str, data: bytes) -> None:
        path = local_blob_path(uri)
        path.chmod(0o644)
        path.write_bytes(data)

    def write_marker(uri: str) -> object:
        status = local_blob_path(uri).stat()
        return (status.st_ino, status.st_mtime_ns)

    store = open_artifact_store(str(tmp_path / "store"))
    return Backend(store=store, overwrite=overwrite, write_marker=write_marker)


def _s3_backend(store: ArtifactStore, s3_client: Any) -> Backend:
    def overwrite(uri: str, data: bytes) -> None:
        bucket_name, key = s3_object_key(uri)
        s3_client.put_object(Bucket=bucket_name, Key=key, Body=data)

    def write_marker(uri: str) -> object:
        bucket_name, key = s3_object_key(uri)
        listing = s3_client.list_object_versions(Bucket=bucket_name, Prefix=key)
        return [version["VersionId"] for version in listing.get("Versions", [])]

    return Backend(store=store, overwrite=overwrite, write_marker=write_marker)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return _local_backend(tmp_path)
    store = request.getfixturevalue("s3_store")
    return _s3_backend(store, request.getfixturevalue("s3_client"))
