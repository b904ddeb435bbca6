"""The same project, grown by configuration only: PostgreSQL metadata and S3 artifacts.

Real servers: the PostgreSQL on this machine and moto's S3 server on a random port.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlrelease.cli import app
from mlrelease.client import Client

pytestmark = [pytest.mark.postgres, pytest.mark.s3]


def test_quickstart_runs_unchanged_on_postgresql_and_s3(
    isolated_env: Path,
    postgres_url: str,
    s3_server: Any,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLRELEASE_DB", postgres_url)
    monkeypatch.setenv("MLRELEASE_ARTIFACTS", f"s3://{bucket}/models")
    monkeypatch.setenv("MLRELEASE_S3_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(isolated_env / "cache"))
    runner = CliRunner()

    result = runner.invoke(app, ["quickstart"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "registered breast-cancer version 1 -> dev" in result.output
    result = runner.invoke(app, ["gate", "breast-cancer", "1", "--env", "dev"])
    assert result.exit_code == 0, result.output

    assert not (isolated_env / ".mlrelease").exists()  # nothing fell back to local files
    with Client.from_project(isolated_env) as client:
        version = client.version("breast-cancer", 1)
        assert version.artifact_uri.startswith(f"s3://{bucket}/models/sha256/")
        assert client.store.dialect == "postgresql"
        model = client.load_model("models:/breast-cancer@dev")
        assert model.classes == [0, 1]
