"""`mlrelease token create|list|revoke`, on the embedded default store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlrelease.auth import Actor, Role, Tokens
from mlrelease.cli import app
from mlrelease.client import Client
from mlrelease.errors import Unauthorized

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _secret(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("mlr_"))


def _authenticate(project: Path, secret: str) -> Actor:
    with Client.open(base_dir=project, env={}) as client:
        return Tokens(client.store).authenticate(secret)


def test_create_prints_the_secret_once_with_how_to_use_it(isolated_env: Path) -> None:
    code, output = invoke("token", "create", "--name", "ci", "--role", "operator")
    assert code == 0, output
    secret = _secret(output)
    assert output.count(secret) == 1
    assert "will not be shown again" in output and "export MLRELEASE_TOKEN=" in output
    assert _authenticate(isolated_env, secret) == Actor("ci", Role.operator)


def test_create_as_json_for_scripts(isolated_env: Path) -> None:
    code, output = invoke("token", "create", "--name", "ci", "--role", "admin", "-o", "json")
    assert code == 0, output
    created = json.loads(output)
    assert created["role"] == "admin" and created["created_by"] == "tester"
    assert _authenticate(isolated_env, created["secret"]).role is Role.admin


def test_list_never_shows_a_secret(isolated_env: Path) -> None:
    secret = _secret(invoke("token", "create", "--name", "ci", "--role", "viewer")[1])
    code, table = invoke("token", "list")
    assert code == 0 and "ci" in table and "viewer" in table and secret not in table
    code, output = invoke("token", "list", "-o", "json")
    assert code == 0 and secret not in output
    [listed] = json.loads(output)
    assert listed["name"] == "ci" and listed["revoked_at"] is None
    assert secret.startswith(listed["prefix"])


def test_revoke_refuses_the_token_from_then_on(isolated_env: Path) -> None:
    secret = _secret(invoke("token", "create", "--name", "ci", "--role", "viewer")[1])
    code, output = invoke("token", "revoke", "ci")
    assert code == 0 and "revoked token 'ci'" in output
    with pytest.raises(Unauthorized, match="revoked"):
        _authenticate(isolated_env, secret)
    assert json.loads(invoke("token", "list", "-o", "json")[1])[0]["revoked_at"] is not None


def test_mistakes_exit_with_the_error_codes(isolated_env: Path) -> None:
    code, output = invoke("token", "create", "--name", "ci", "--role", "root")
    assert code == 2 and "viewer, operator, approver, admin" in output
    invoke("token", "create", "--name", "ci", "--role", "viewer")
    code, output = invoke("token", "create", "--name", "ci", "--role", "viewer")
    assert code == 5 and "already exists" in output
    code, output = invoke("token", "revoke", "nobody")
    assert code == 4 and "no active token named 'nobody'" in output
