"""Artifact stores to test against: a local directory and a real S3 server (moto).

``backend`` yields the same store contract over both, plus a way to change stored
bytes behind the store's back, so behaviour tests are written once.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
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


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    # Imported here so runs that deselect the S3 tests never load moto.
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(endpoint_url=f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, and nothing from the developer's own AWS setup."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for variable in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "MLRELEASE_S3_ENDPOINT_URL",
    ):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def s3_client(s3_server: S3Server, aws_env: None) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=s3_server.endpoint_url)


@pytest.fixture
def bucket(s3_client: Any) -> str:
    """A fresh versioned bucket, so a test can count how often an object was written."""
    name = f"mlrelease-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    s3_client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def s3_store(
    s3_server: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
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
