"""A Docker Compose stack for one host: model servers behind NGINX, the controller, Prometheus.

What :func:`render_compose` returns (paths relative to the output folder):

    compose.yaml              the stack (Compose Specification; no ``version:`` key)
    nginx/nginx.conf          from :class:`~mlrelease.release.routers.nginx.NginxSite`
    nginx/upstream.conf       from :func:`~mlrelease.release.routers.nginx.render_upstream`
    nginx/entrypoint.sh       starts NGINX with the read-only config above
    prometheus/prometheus.yml scrapes every server replica

The services:

    server       N replicas of ``mlrelease serve --model M --env E``: each serves the
                 environment's alias and splits canary/shadow traffic *in process*, from
                 the traffic table in the shared store (``router: local``), so a
                 release's weights hold exactly whatever the number of replicas, and
                 each replica follows a promotion, abort or rollback within a second.
    nginx        the one published port; spreads requests over the replicas with the
                 retry rules of ``deploy nginx`` (a prediction a dying replica swallowed
                 is sent to another, a POST to ``/feedback`` or ``/api`` never twice).
    controller   ``mlrelease controller``: walks releases, monitors, retrains.
    prometheus   scrapes ``/metrics`` of every replica (found through Docker's DNS).
    postgres     with ``--postgres``: the metadata store (``MLRELEASE_DB``); the
                 password comes from ``POSTGRES_PASSWORD`` in the environment, never
                 from the file.

Why no canary service pinned with ``--version`` behind NGINX weights (the
``deploy nginx`` layout): a server that follows the alias also splits in process,
so NGINX's share would come on top of it; NGINX gives each address a name resolves
to its own weight, so two stable replicas would halve the canary's share; a pinned
server labels its requests ``role="stable"``, which the release analysis does not
count as canary evidence; and the controller cannot reload NGINX in another
container. On one host with one shared store, the servers' own split is exact.

The project's folder is bind-mounted at ``/project`` (project file, code, data, and
the ``.mlrelease/`` store: SQLite in WAL mode works across the containers of one
host). Containers run as ``${MLRELEASE_UID:-10001}``, who must be able to write there.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from mlrelease.deploy._files import file_outcome, replace_all
from mlrelease.deploy.container import HEALTHCHECK, PORT, UID
from mlrelease.errors import ConfigError, ConflictError
from mlrelease.names import validate_name
from mlrelease.release.routers.nginx import Address, NginxSite, render_upstream
from mlrelease.traffic import TrafficState

__all__ = [
    "NGINX_IMAGE",
    "POSTGRES_IMAGE",
    "PROMETHEUS_IMAGE",
    "ComposeOptions",
    "render_compose",
    "write_files",
]

NGINX_IMAGE = "nginxinc/nginx-unprivileged:1.27-alpine"  # runs as uid 101, listens on 8080
PROMETHEUS_IMAGE = "prom/prometheus:v3.1.0"
POSTGRES_IMAGE = "postgres:16"

NGINX_PORT = 8080  # inside the container
PROMETHEUS_PORT = 9090
_NGINX_CONFIG = PurePosixPath("/etc/mlrelease/nginx")  # the rendered files, read-only
_NGINX_RUN = PurePosixPath("/run/mlrelease-nginx")  # pid, temporary files, log links
_PROJECT = PurePosixPath("/project")
_SERVER = "server"  # the replicas' service name, which Docker's DNS resolves to all of them
_PASSWORD = (
    "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD to a URL-safe password, e.g. openssl rand -hex 24}"
)
_DATABASE_URL = f"postgresql://mlrelease:{_PASSWORD}@postgres:5432/mlrelease"

# name[:tag][@digest], registry and path segments lowercase (Docker's reference grammar, simplified)
_IMAGE = re.compile(
    r"(?P<name>[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


@dataclass(frozen=True)
class ComposeOptions:
    model: str
    environment: str
    image: str  # the mlrelease image (see `mlrelease deploy dockerfile`)
    project_dir: str  # the project's folder, relative to the compose file's folder or absolute
    project_file: str = "mlrelease.yaml"  # its name in that folder
    replicas: int = 2
    port: int = 8080  # the host port NGINX is published on
    postgres: bool = False

    def __post_init__(self) -> None:
        validate_name(self.model, what="--model")
        validate_name(self.environment, what="--env")
        _check_image(self.image)
        if not 1 <= self.replicas <= 64:
            raise ConfigError(f"--replicas: {self.replicas} is not between 1 and 64")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"--port: {self.port} is not a port (1-65535)")
        for text, what in ((self.project_dir, "project folder"), (self.project_file, "--file")):
            if not text or any(char in text for char in "\n\r\0"):
                raise ConfigError(f"{what}: {text!r} cannot be written into a compose file")
        if "/" in self.project_file:
            raise ConfigError(f"--file: give the project file's name, not {self.project_file!r}")


def _check_image(image: str) -> None:
    match = _IMAGE.fullmatch(image)
    if match is None:
        raise ConfigError(
            f"--image: {image!r} is not an image reference; write it like "
            "registry.example.com/team/mlrelease:0.1.0"
        )
    if match["digest"] is None and match["tag"] in (None, "latest"):
        raise ConfigError(
            f"--image: {image!r} names no fixed version ('latest' moves); give a tag or a "
            "digest, e.g. mlrelease:0.1.0, so every replica runs the same build"
        )


def render_compose(options: ComposeOptions) -> dict[str, str]:
    """Every file of the stack by its path under the output folder; same options, same bytes."""
    site = _nginx_site(options)
    return {
        "compose.yaml": _header(options) + _dump(_compose(options)),
        "nginx/nginx.conf": _nginx_conf(options, site),
        "nginx/upstream.conf": _upstream(options),
        "nginx/entrypoint.sh": _entrypoint(site),
        "prometheus/prometheus.yml": _prometheus(options),
    }


# --- compose.yaml ---------------------------------------------------------------------


def _compose(options: ComposeOptions) -> dict[str, Any]:
    services: dict[str, Any] = {
        _SERVER: _server(options),
        "controller": _controller(options),
        "nginx": _nginx(options),
        "prometheus": _prometheus_service(),
    }
    volumes: dict[str, Any] = {"prometheus-data": {}}
    if options.postgres:
        services["postgres"] = _postgres()
        volumes["postgres-data"] = {}
    return {"name": _project_name(options), "services": services, "volumes": volumes}


def _project_name(options: ComposeOptions) -> str:
    """Compose's project name: lowercase letters, digits, '-' and '_'."""
    raw = f"mlrelease-{options.model}-{options.environment}".lower()
    return re.sub(r"[^a-z0-9_-]+", "-", raw)


def _mlrelease(options: ComposeOptions, command: list[str]) -> dict[str, Any]:
    """What the server and the controller share: image, user, project mount, store."""
    environment = {"MLRELEASE_FILE": str(_PROJECT / options.project_file)}
    if options.postgres:
        environment["MLRELEASE_DB"] = _DATABASE_URL
    service: dict[str, Any] = {
        "image": options.image,
        "command": command,
        "user": f"${{MLRELEASE_UID:-{UID}}}:${{MLRELEASE_GID:-{UID}}}",
        "working_dir": str(_PROJECT),
        "environment": environment,
        "volumes": [
            {
                "type": "bind",
                "source": options.project_dir.replace("$", "$$"),
                "target": str(_PROJECT),
            }
        ],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "restart": "unless-stopped",
        "stop_grace_period": "30s",  # SIGTERM: finish in-flight requests, flush the log
    }
    if options.postgres:
        service["depends_on"] = {"postgres": {"condition": "service_healthy"}}
    return service


def _server(options: ComposeOptions) -> dict[str, Any]:
    command = ["serve", "--model", options.model, "--env", options.environment]
    service = _mlrelease(options, [*command, "--host", "0.0.0.0", "--port", str(PORT)])
    service.update(
        {
            "expose": [str(PORT)],
            "read_only": True,
            "tmpfs": ["/tmp"],
            "healthcheck": {
                "test": ["CMD", *HEALTHCHECK],
                "interval": "10s",
                "timeout": "5s",
                "retries": 3,
                "start_period": "60s",
            },
            "deploy": {"replicas": options.replicas},
        }
    )
    return service


def _controller(options: ComposeOptions) -> dict[str, Any]:
    return _mlrelease(options, ["controller"])


def _nginx(options: ComposeOptions) -> dict[str, Any]:
    return {
        "image": NGINX_IMAGE,
        "entrypoint": ["/bin/sh", str(_NGINX_CONFIG / "entrypoint.sh")],
        "ports": [{"target": NGINX_PORT, "published": str(options.port), "protocol": "tcp"}],
        "volumes": [
            {
                "type": "bind",
                "source": "./nginx",
                "target": str(_NGINX_CONFIG),
                "read_only": True,
            },
            {"type": "tmpfs", "target": str(_NGINX_RUN), "tmpfs": {"size": 64 * 1024 * 1024}},
        ],
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "depends_on": {_SERVER: {"condition": "service_healthy"}},
        "healthcheck": {
            "test": ["CMD", "wget", "-q", "-O", "/dev/null", _url(NGINX_PORT, "/v2/health/live")],
            "interval": "10s",
            "timeout": "5s",
            "retries": 3,
        },
        "restart": "unless-stopped",
    }


def _prometheus_service() -> dict[str, Any]:
    return {
        "image": PROMETHEUS_IMAGE,
        "command": [
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            "--storage.tsdb.retention.time=15d",
        ],
        "ports": [
            {
                "target": PROMETHEUS_PORT,
                "published": str(PROMETHEUS_PORT),
                "host_ip": "127.0.0.1",  # not for the world: no authentication
                "protocol": "tcp",
            }
        ],
        "volumes": [
            {
                "type": "bind",
                "source": "./prometheus",
                "target": "/etc/prometheus",
                "read_only": True,
            },
            {"type": "volume", "source": "prometheus-data", "target": "/prometheus"},
        ],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "healthcheck": {
            "test": ["CMD", "wget", "-q", "-O", "/dev/null", _url(PROMETHEUS_PORT, "/-/ready")],
            "interval": "10s",
            "timeout": "5s",
            "retries": 3,
        },
        "restart": "unless-stopped",
    }


def _postgres() -> dict[str, Any]:
    return {
        "image": POSTGRES_IMAGE,
        "environment": {
            "POSTGRES_USER": "mlrelease",
            "POSTGRES_DB": "mlrelease",
            "POSTGRES_PASSWORD": _PASSWORD,
        },
        "volumes": [
            {"type": "volume", "source": "postgres-data", "target": "/var/lib/postgresql/data"}
        ],
        "healthcheck": {
            "test": ["CMD", "pg_isready", "-U", "mlrelease", "-d", "mlrelease"],
            "interval": "5s",
            "timeout": "5s",
            "retries": 10,
        },
        "restart": "unless-stopped",
    }


def _url(port: int, path: str) -> str:
    return f"http://127.0.0.1:{port}{path}"


def _header(options: ComposeOptions) -> str:
    where = f"{options.model}@{options.environment}"
    lines = [
        f"Written by `mlrelease deploy compose` for {where}; regenerate it rather than edit it.",
        "",
        "Build the image from the project's folder first:",
        f"  mlrelease deploy dockerfile && docker build -t {options.image} .",
        "Start (from this folder), then send requests to the published port:",
        "  docker compose up -d",
        f"  curl -s -X POST http://127.0.0.1:{options.port}/predict "
        "-H 'content-type: application/json' -d '{\"features\": [...]}'",
        "",
        f"'{_SERVER}' runs {options.replicas} replica(s); each serves the environment's alias and",
        "splits canary and shadow traffic itself, so keep `router: local` (the default) in",
        f"the project file. Scale with `docker compose up -d --scale {_SERVER}=N`, then",
        "`docker compose restart nginx` (NGINX resolves the replicas when it starts).",
        "",
        f"The containers run as ${{MLRELEASE_UID:-{UID}}}:${{MLRELEASE_GID:-{UID}}}, who must be "
        "able to write",
        f"the project folder ({options.project_dir}): e.g. MLRELEASE_UID=$(id -u) "
        "MLRELEASE_GID=$(id -g).",
    ]
    if options.postgres:
        lines += [
            "Metadata: PostgreSQL; export POSTGRES_PASSWORD (or put it in .env here) before",
            "`docker compose up`. The image needs the postgres extra "
            "(deploy dockerfile --extras postgres).",
        ]
    else:
        lines += [
            "Metadata: the project's SQLite store, shared by the containers of this host",
            "(on Docker Desktop's shared folders prefer --postgres).",
        ]
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)


# --- NGINX ----------------------------------------------------------------------------


def _nginx_site(options: ComposeOptions) -> NginxSite:
    """The `deploy nginx` site, with the paths NGINX sees inside its container."""
    return NginxSite(
        model=options.model,
        environment=options.environment,
        stable=Address(_SERVER, PORT),
        canary=Address("canary", PORT),  # unused: the servers split in process
        listen=Address("0.0.0.0", NGINX_PORT),
        directory=Path(str(_NGINX_RUN)),
        upstream_file=Path(str(_NGINX_CONFIG / "upstream.conf")),
        workers="auto",
        nginx="nginx",
    )


def _nginx_conf(options: ComposeOptions, site: NginxSite) -> str:
    """`deploy nginx`'s config, its opening comment replaced: here nothing rewrites the upstream."""
    lines = site.render().splitlines()
    first = next(index for index, line in enumerate(lines) if not line.startswith("#"))
    header = [
        f"# Written by `mlrelease deploy compose` for {options.model}@{options.environment},",
        "# from the config of `mlrelease deploy nginx`; entrypoint.sh starts it. Everything",
        f"# NGINX writes stays in {site.directory}, so it runs as a non-root user.",
    ]
    return "\n".join([*header, *lines[first:], ""])


def _upstream(options: ComposeOptions) -> str:
    """The upstream of `deploy nginx` with every request to the replicas; nothing rewrites it."""
    site = _nginx_site(options)
    everything_to_stable = TrafficState(options.model, options.environment, stable=None)
    rendered = render_upstream(everything_to_stable, site.stable, site.canary)
    body = [line for line in rendered.splitlines() if not line.lstrip().startswith("#")]
    header = [
        f"# Written by `mlrelease deploy compose` for {options.model}@{options.environment}.",
        f"# '{_SERVER}' resolves to every replica when NGINX starts; each replica splits",
        "# canary and shadow traffic itself (router: local), so nothing rewrites this file.",
    ]
    return "\n".join([*header, *body, ""])


def _entrypoint(site: NginxSite) -> str:
    run = str(site.directory)
    config = str(_NGINX_CONFIG / "nginx.conf")
    start = [*site.start_command(), "-g", "daemon off;"]
    lines = [
        "#!/bin/sh",
        "# Written by `mlrelease deploy compose`: starts NGINX as its non-root user with the",
        f"# read-only config of {_NGINX_CONFIG}; pid and temporary files go to the tmpfs",
        f"# {run}, the logs to the container's output (docker compose logs nginx).",
        "set -eu",
        f"mkdir -p {shlex.quote(run + '/temp')} {shlex.quote(run + '/logs')}",
        f"cp {shlex.quote(config)} {shlex.quote(str(site.conf_path))}",
        f"ln -sf /dev/stdout {shlex.quote(run + '/logs/access.log')}",
        f"ln -sf /dev/stderr {shlex.quote(run + '/error.log')}",
        f"exec {shlex.join(start)}",
        "",
    ]
    return "\n".join(lines)


# --- Prometheus -----------------------------------------------------------------------


def _prometheus(options: ComposeOptions) -> str:
    config = {
        "global": {"scrape_interval": "5s", "evaluation_interval": "15s"},
        "scrape_configs": [
            {
                "job_name": "mlrelease",
                "metrics_path": "/metrics",
                # Every replica: the service name resolves to all of them.
                "dns_sd_configs": [
                    {"names": [_SERVER], "type": "A", "port": PORT, "refresh_interval": "15s"}
                ],
            }
        ],
    }
    header = (
        f"# Written by `mlrelease deploy compose` for {options.model}@{options.environment}.\n"
        "# Scrapes /metrics of every server replica every 5 s (release analyses look at\n"
        "# 30 s windows); point release metrics at it with metrics: {prometheus: "
        f"http://prometheus:{PROMETHEUS_PORT}}}.\n"
    )
    return header + _dump(config)


# --- writing --------------------------------------------------------------------------


def write_files(
    directory: Path, files: Mapping[str, str], *, overwrite: bool = False
) -> dict[Path, str]:
    """Write ``files`` (relative paths) under ``directory``: all of them, or none.

    Returns what happened to each path: ``wrote``, ``replaced`` or ``unchanged``. A
    file that exists with other content is replaced only with ``overwrite``;
    otherwise nothing is written (ConflictError). Each text goes to a temporary file
    beside its target first; only when all are complete do they replace the
    targets, so a failure leaves the old files whole.
    """
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} is a file; give a folder (created if missing)")
    targets = {directory / name: text for name, text in files.items()}
    outcome = {path: file_outcome(path, text) for path, text in targets.items()}
    changed = [path for path, what in outcome.items() if what == "replaced"]
    if changed and not overwrite:
        raise ConflictError(
            f"{changed[0]} exists and differs from what would be written; pass --force to "
            "replace it (changes made by hand are lost), or choose another --out"
        )
    pending = {path: text for path, text in targets.items() if outcome[path] != "unchanged"}
    try:
        for path in pending:
            path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {exc.filename} ({exc.strerror or exc})") from None
    replace_all(pending)
    return outcome
