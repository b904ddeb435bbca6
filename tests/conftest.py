"""Shared fixtures: metadata stores on SQLite and on a real PostgreSQL server.

PostgreSQL tests use ``MLRELEASE_TEST_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``) to create a throw-away
database per test. Where the server cannot be reached they are skipped with
the reason -- except under CI (``CI=true``), where they must run, so there an
unreachable server fails them.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mlrelease.artifacts import open_artifact_store
from mlrelease.registry.service import Registry
from mlrelease.store import Store

PG_ADMIN_URL = os.environ.get("MLRELEASE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required in CI: {exc}")
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} not reachable ({exc}); set MLRELEASE_TEST_PG")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    name = f"mlrelease_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'meta' / 'mlrelease.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs on both backends."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = Store.open(db_url)
    yield opened
    opened.close()


@pytest.fixture
def registry(store: Store, tmp_path: Path) -> Registry:
    return Registry(store, open_artifact_store(str(tmp_path / "artifacts")))


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run in an empty folder with no store settings leaking in from the environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("MLRELEASE_DB", "MLRELEASE_ARTIFACTS", "MLRELEASE_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLRELEASE_ACTOR", "tester")
    return tmp_path


# --- a real S3-compatible server (moto) on a random 127.0.0.1 port -----------------


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
