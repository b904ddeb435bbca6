"""`mlrelease deploy compose`: the stack, checked against the Compose Specification schema.

There is no `docker compose` here to run `docker compose config`, so the rendered
compose.yaml is validated with jsonschema against the Compose Specification's
schema as the PyPI package check-jsonschema ships it (read from the installed
package, nothing downloaded). Without that package the schema tests skip, except
under CI (CI=true), where they fail. The NGINX part runs for real: the rendered
entrypoint.sh starts the local nginx with the rendered config (paths moved into a
temporary folder), in front of a small HTTP server standing in for the replicas.
"""

from __future__ import annotations

import copy
import http.server
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from mlrelease.cli import app
from mlrelease.cli import deploy as deploy_cli
from mlrelease.cli.deploy_compose import register
from mlrelease.deploy.compose import ComposeOptions, render_compose
from mlrelease.errors import ConfigError
from mlrelease.release.routers.nginx import upstream_name

if not any(command.name == "compose" for command in deploy_cli.app.registered_commands):
    register(deploy_cli.app)  # until cli/deploy.py registers the commands itself

runner = CliRunner()
GOLDEN = Path(__file__).parent / "golden" / "compose"
MODEL = "breast-cancer"
CASES = {
    "default": ComposeOptions(
        model=MODEL, environment="production", image="mlrelease:0.1.0", project_dir=".."
    ),
    "postgres": ComposeOptions(
        model=MODEL,
        environment="staging",
        image="registry.example.com/ml/mlrelease:1.2.3",
        project_dir="../models/bc",
        project_file="project.yaml",
        replicas=3,
        port=9000,
        postgres=True,
    ),
}


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def compose_of(files: dict[str, str]) -> dict[str, Any]:
    loaded = yaml.safe_load(files["compose.yaml"])
    assert isinstance(loaded, dict)
    return loaded


def check_golden(directory: Path, files: dict[str, str]) -> None:
    """Compare with the files under ``directory``; UPDATE_GOLDEN=1 rewrites them."""
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(directory, ignore_errors=True)
        for name, text in files.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text(text, encoding="utf-8")
    stored = {
        path.relative_to(directory).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }
    assert sorted(stored) == sorted(files), "files differ; UPDATE_GOLDEN=1 pytest ... rewrites"
    for name, text in files.items():
        assert text == stored[name], f"{name} differs from {directory / name}"


# -- the schema ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    """The Compose Specification's JSON schema, as check-jsonschema vendors it."""
    found = importlib.util.find_spec("check_jsonschema")
    if found is None or not found.submodule_search_locations:
        reason = (
            "check-jsonschema is not installed (pip install 'check-jsonschema>=0.37.4'); "
            "it ships the Compose Specification schema"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; it is required in CI")
        pytest.skip(reason)
    root = Path(list(found.submodule_search_locations)[0])
    schema = json.loads((root / "builtin_schemas/vendor/compose-spec.json").read_text())
    assert isinstance(schema, dict)
    return schema


def schema_errors(schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    # The schema says draft-07, spelled https://json-schema.org/draft-07/schema (no '#').
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_stack_is_valid_compose_and_matches_its_golden_files(
    case: str, compose_schema: dict[str, Any]
) -> None:
    files = render_compose(CASES[case])
    assert schema_errors(compose_schema, compose_of(files)) == []
    check_golden(GOLDEN / case, files)


def test_the_schema_check_catches_a_wrong_stack(compose_schema: dict[str, Any]) -> None:
    document = compose_of(render_compose(CASES["default"]))
    broken = copy.deepcopy(document)
    broken["services"]["server"]["replica"] = 2  # no such key
    broken["services"]["nginx"]["read_only"] = ["yes"]  # not a boolean
    errors = schema_errors(compose_schema, broken)
    assert len(errors) == 2, errors


# -- what the stack says ---------------------------------------------------------------


def test_the_servers_serve_the_alias_with_replicas_and_a_readiness_healthcheck() -> None:
    services = compose_of(render_compose(CASES["postgres"]))["services"]
    server = services["server"]
    assert server["command"] == (
        f"serve --model {MODEL} --env staging --host 0.0.0.0 --port 8000".split()
    )
    assert "--version" not in server["command"]  # follows the alias; splits in process
    assert server["deploy"]["replicas"] == 3
    assert any("/v2/health/ready" in part for part in server["healthcheck"]["test"])
    assert server["environment"]["MLRELEASE_FILE"] == "/project/project.yaml"
    assert server["volumes"] == [{"type": "bind", "source": "../models/bc", "target": "/project"}]
    assert services["controller"]["command"] == ["controller"]
    assert services["controller"]["volumes"] == server["volumes"]  # one store, shared


def test_no_version_key_and_every_image_has_a_fixed_tag() -> None:
    for options in CASES.values():
        document = compose_of(render_compose(options))
        assert "version" not in document
        for name, service in document["services"].items():
            image = service["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), name


def test_the_postgres_password_comes_from_the_environment_only() -> None:
    text = render_compose(CASES["postgres"])["compose.yaml"]
    services = compose_of(render_compose(CASES["postgres"]))["services"]
    required = "${POSTGRES_PASSWORD:?"
    assert services["postgres"]["image"] == "postgres:16"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(required)
    for name in ("server", "controller"):
        url = services[name]["environment"]["MLRELEASE_DB"]
        assert url.startswith(f"postgresql://mlrelease:{required}") and url.endswith(
            "@postgres:5432/mlrelease"
        )
        assert services[name]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # Every place a password could be is the variable.
    assert text.count("POSTGRES_PASSWORD:?") == 3
    assert "postgres" not in compose_of(render_compose(CASES["default"]))["services"]
    assert (
        "MLRELEASE_DB" not in render_compose(CASES["default"])["compose.yaml"].split("services:")[1]
    )


def test_nginx_reuses_the_deploy_nginx_config_read_only() -> None:
    files = render_compose(CASES["default"])
    nginx = compose_of(files)["services"]["nginx"]
    config_mount = nginx["volumes"][0]
    assert config_mount == {
        "type": "bind",
        "source": "./nginx",
        "target": "/etc/mlrelease/nginx",
        "read_only": True,
    }
    assert nginx["read_only"] is True
    assert nginx["ports"] == [{"target": 8080, "published": "8080", "protocol": "tcp"}]
    name = upstream_name(MODEL, "production")
    assert f"upstream {name} {{" in files["nginx/upstream.conf"]
    assert "server server:8000 weight=100" in files["nginx/upstream.conf"]
    assert f"proxy_pass http://{name};" in files["nginx/nginx.conf"]
    assert 'include "/etc/mlrelease/nginx/upstream.conf";' in files["nginx/nginx.conf"]
    assert "rewrites" not in files["nginx/nginx.conf"]  # nothing rewrites it here


def test_prometheus_scrapes_every_replica() -> None:
    files = render_compose(CASES["default"])
    config = yaml.safe_load(files["prometheus/prometheus.yml"])
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["dns_sd_configs"] == [
        {"names": ["server"], "type": "A", "port": 8000, "refresh_interval": "15s"}
    ]
    mounts = compose_of(files)["services"]["prometheus"]["volumes"]
    config_mount = {
        "type": "bind",
        "source": "./prometheus",
        "target": "/etc/prometheus",
        "read_only": True,
    }
    assert config_mount in mounts


def test_the_same_options_give_the_same_bytes() -> None:
    for options in CASES.values():
        assert render_compose(options) == render_compose(copy.deepcopy(options))


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"image": "mlrelease"}, "no fixed version"),
        ({"image": "mlrelease:latest"}, "no fixed version"),
        ({"image": "Not An Image"}, "not an image reference"),
        ({"replicas": 0}, "--replicas"),
        ({"port": 70000}, "--port"),
        ({"model": "no/such"}, "--model"),
        ({"project_file": "a/b.yaml"}, "--file"),
    ],
)
def test_bad_options_are_config_errors(changes: dict[str, Any], complaint: str) -> None:
    values = {**CASES["default"].__dict__, **changes}
    with pytest.raises(ConfigError, match=complaint):
        ComposeOptions(**values)


def test_a_digest_is_a_fixed_version() -> None:
    digest = "sha256:" + "a" * 64
    ComposeOptions(model=MODEL, environment="dev", image=f"mlrelease@{digest}", project_dir=".")


# -- NGINX, for real --------------------------------------------------------------------


class _Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = b'{"ready": true}'
        self.send_response(200 if self.path == "/v2/health/ready" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


@pytest.fixture
def backend() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_entrypoint_starts_nginx_with_the_rendered_config(tmp_path: Path, backend: int) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if nginx is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("nginx is not installed (apt-get install nginx); required in CI")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    files = render_compose(CASES["default"])
    port = _free_port()
    config, run = tmp_path / "config", tmp_path / "run"
    moves = {
        "/etc/mlrelease/nginx": str(config),
        "/run/mlrelease-nginx": str(run),
        "0.0.0.0:8080": f"127.0.0.1:{port}",
        "server:8000": f"127.0.0.1:{backend}",
        "exec nginx ": f"exec {nginx} ",
    }
    for name in ("nginx.conf", "upstream.conf", "entrypoint.sh"):
        text = files[f"nginx/{name}"]
        for old, new in moves.items():
            text = text.replace(old, new)
        (config / name).parent.mkdir(exist_ok=True)
        (config / name).write_text(text)
    process = subprocess.Popen(
        ["/bin/sh", str(config / "entrypoint.sh")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        answer = _get_when_listening(port, "/v2/health/ready", process)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert answer.endswith(b'{"ready": true}')
        assert (run / "nginx.conf").read_text() == files["nginx/nginx.conf"].replace(
            "/etc/mlrelease/nginx", str(config)
        ).replace("/run/mlrelease-nginx", str(run)).replace("0.0.0.0:8080", f"127.0.0.1:{port}")
    finally:
        _stop(process)


def _get_when_listening(port: int, path: str, process: subprocess.Popen[bytes]) -> bytes:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read() if process.stderr else b""
            pytest.fail(
                f"nginx exited with {process.returncode}: {stderr.decode(errors='replace')}"
            )
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as connection:
            connection.settimeout(5)
            connection.sendall(
                f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
            )
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)
        time.sleep(0.05)
    pytest.fail("nginx did not listen within 15 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    if process.stderr:
        process.stderr.close()


def test_the_entrypoint_is_valid_sh() -> None:
    script = render_compose(CASES["default"])["nginx/entrypoint.sh"]
    checked = subprocess.run(
        ["/bin/sh", "-n"], input=script, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr


# -- the command -----------------------------------------------------------------------


def test_the_command_writes_the_stack_beside_the_project(isolated_env: Path) -> None:
    assert invoke("init")[0] == 0
    code, output = invoke("deploy", "compose", "--out", "deploy", "--postgres", "--replicas", "3")
    assert code == 0, output
    files = render_compose(
        ComposeOptions(
            model=MODEL,
            environment="production",
            image="mlrelease:0.1.0",
            project_dir="..",
            replicas=3,
            postgres=True,
        )
    )
    for name, text in files.items():
        assert (isolated_env / "deploy" / name).read_text() == text, name
    assert "docker compose -f deploy/compose.yaml up -d" in output
    assert "releases directly" in output  # production has no release: canary yet


def test_the_command_refuses_to_replace_changed_files_without_force(isolated_env: Path) -> None:
    assert invoke("init")[0] == 0
    assert invoke("deploy", "compose")[0] == 0
    assert "unchanged" in invoke("deploy", "compose")[1]  # the same bytes again
    code, output = invoke("deploy", "compose", "--replicas", "4")
    assert code == 5 and "--force" in output, output
    assert "replicas: 2" in (isolated_env / "deploy/compose.yaml").read_text()
    code, output = invoke("deploy", "compose", "--replicas", "4", "--force")
    assert code == 0, output
    assert "replicas: 4" in (isolated_env / "deploy/compose.yaml").read_text()


@pytest.mark.parametrize(
    "bad",
    [
        ["--env", "nowhere"],
        ["--image", "mlrelease:latest"],
        ["--replicas", "0"],
        ["--model", "bad/name"],
    ],
)
def test_bad_input_exits_2_and_writes_nothing(isolated_env: Path, bad: list[str]) -> None:
    assert invoke("init")[0] == 0
    code, output = invoke("deploy", "compose", *bad)
    assert code == 2, output
    assert not (isolated_env / "deploy").exists()


def test_no_project_file_is_a_config_error(isolated_env: Path) -> None:
    code, output = invoke("deploy", "compose")
    assert code == 2 and "mlrelease init" in output, output
    assert not (isolated_env / "deploy").exists()
