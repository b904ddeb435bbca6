"""The control-plane API in-process (FastAPI's TestClient) over a real store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlrelease.api import create_api
from mlrelease.auth import Role
from mlrelease.client import Client

from ._setup import BY_ROLE, bearer, create_tokens, register_versions


@dataclass
class Api:
    http: TestClient
    client: Client
    secrets: dict[str, str]  # token name -> secret

    def as_(self, name: str) -> dict[str, str]:
        """Headers that authenticate as the token ``name``."""
        return bearer(self.secrets[name])

    def as_role(self, role: Role) -> dict[str, str]:
        return self.as_(BY_ROLE[role])


def _open(db: str, tmp_path: Path) -> Client:
    return Client.open(db=db, artifacts=str(tmp_path / "artifacts"), base_dir=tmp_path, env={})


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    """Two registered versions of breast-cancer, a token per role; SQLite and PostgreSQL."""
    with _open(db_url, tmp_path) as client:
        register_versions(client)
        secrets = create_tokens(client.store)
        with TestClient(create_api(client)) as http:
            yield Api(http, client, secrets)


@pytest.fixture
def bare_api(sqlite_url: str, tmp_path: Path) -> Iterator[Api]:
    """Tokens but no model: enough for what does not reach the core."""
    with _open(sqlite_url, tmp_path) as client:
        secrets = create_tokens(client.store)
        with TestClient(create_api(client)) as http:
            yield Api(http, client, secrets)
