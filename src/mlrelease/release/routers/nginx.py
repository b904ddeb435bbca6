"""The NGINX router: a weighted upstream file, replaced atomically, then a reload.

The layout `mlrelease deploy nginx` writes (:class:`NginxSite`), all in one directory:

    nginx.conf      the server: listen address, retries, keepalive, logs, pid and
                    temporary paths in the directory (runs as a non-root user);
                    includes the upstream file. Written once.
    upstream.conf   ``upstream mlrelease_<model>_<env> { server STABLE weight=..;
                    server CANARY weight=..; keepalive ..; }``; the only file
                    :class:`NginxRouter` rewrites, at every release step.

Weights: the stable backend gets ``100 - canary_weight``, the canary ``canary_weight``.
NGINX weights must be >= 1, so a backend whose weight is 0 is left out of the upstream
(a comment says so): it then gets no request at all. ``backup`` was rejected because it
would still receive traffic whenever the other backend fails.

Apply: the upstream text is rendered; when it equals the file on disk nothing happens.
Otherwise the file is replaced (temporary file in the same directory, fsync,
``os.replace``: NGINX never reads half a file) and the reload command runs (an argv
list, no shell). If the reload fails, the previous file is put back, so the file
always says what NGINX runs and the next apply tries again.

Retries (nginx.conf): a backend that refuses, resets or times out, or answers 502/503,
is skipped for the next one (``proxy_next_upstream``; ``max_fails``/``fail_timeout``
keep a dead backend out for a while). NGINX does not resend a POST it has already
sent unless ``non_idempotent`` is set: on a keepalive connection to a backend that was
just killed, the request is "sent" and would fail. Predictions (``/predict``,
``/v2/models/*/infer``) are pure functions of the request, so their locations set
``non_idempotent``; everything else (``/feedback``, the ``/api`` control plane) does
not, so a state-changing POST is never sent twice.
"""

from __future__ import annotations

import http.client
import os
import re
import shlex
import subprocess
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from mlrelease.errors import ConfigError, ConflictError
from mlrelease.names import validate_name
from mlrelease.spec import NginxSpec
from mlrelease.traffic import TrafficState

__all__ = [
    "Address",
    "NginxRouter",
    "NginxSite",
    "render_upstream",
    "upstream_name",
    "write_atomically",
    "write_site",
]

MAX_FAILS = 2  # failed attempts within FAIL_TIMEOUT before a backend is skipped ...
FAIL_TIMEOUT = 10  # ... for this many seconds
KEEPALIVE = 16  # idle connections each NGINX worker keeps to the backends
RELOAD_TIMEOUT = 30.0  # seconds the reload command may take
PROBE_TIMEOUT = 2.0  # seconds for the canary's readiness probe

_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")
_WORKERS = re.compile(r"auto|[1-9][0-9]{0,3}")
_UNSAFE_PATH = re.compile(r'["\\$;{}\n\r]')


@dataclass(frozen=True)
class Address:
    """``host:port`` (IPv6 in brackets), checked before it goes into an NGINX file."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str, *, what: str) -> Address:
        host, colon, port = text.strip().rpartition(":")
        if colon and _HOST.fullmatch(host) and port.isdigit() and 1 <= int(port) <= 65535:
            return cls(host, int(port))
        raise ConfigError(
            f"{what}: {text!r} is not HOST:PORT; write it like 127.0.0.1:8001 "
            "(port 1-65535, IPv6 as [::1]:8001)"
        )


def upstream_name(model: str, environment: str) -> str:
    """The upstream block's name; nginx.conf and the upstream file must agree on it."""
    return "mlrelease_" + re.sub(r"[^A-Za-z0-9_]", "_", f"{model}_{environment}")


def render_upstream(state: TrafficState, stable: Address, canary: Address) -> str:
    """The upstream file for ``state``; a backend with weight 0 is left out."""
    weight = state.canary_weight if state.canary is not None else 0
    return "\n".join(
        [
            f"# Written by mlrelease for {state.model}@{state.environment}; "
            "rewritten at every release step: do not edit.",
            f"upstream {upstream_name(state.model, state.environment)} {{",
            _server("stable", state.stable, stable, 100 - weight),
            _server("canary", state.canary, canary, weight),
            f"    keepalive {KEEPALIVE};",
            "}",
            "",
        ]
    )


def _server(role: str, version: int | None, address: Address, weight: int) -> str:
    label = role if version is None else f"{role} v{version}"
    if weight == 0:
        return f"    # {label} {address}: weight 0, left out (gets no traffic)"
    return (
        f"    server {address} weight={weight} max_fails={MAX_FAILS} "
        f"fail_timeout={FAIL_TIMEOUT}s;  # {label}"
    )


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so readers see the old file or the new, never a part."""
    if not path.parent.is_dir():
        raise ConfigError(
            f"{path.parent}: directory does not exist; write the first NGINX config with "
            "'mlrelease deploy nginx --out DIR'"
        )
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o644)  # NGINX may run as another user
            os.replace(temporary, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write it ({exc.strerror or exc})") from None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


class NginxRouter:
    """Drives NGINX through the upstream file ``spec.config`` and ``spec.reload``."""

    def __init__(self, spec: NginxSpec) -> None:
        self._stable = Address.parse(spec.stable, what="router.nginx.stable")
        self._canary = Address.parse(spec.canary, what="router.nginx.canary")
        if self._stable == self._canary:
            raise ConfigError("router.nginx: stable and canary must be different backends")
        if not spec.reload:
            raise ConfigError("router.nginx.reload: give the command, e.g. [nginx, -s, reload]")
        self._path = Path(spec.config)
        self._reload = list(spec.reload)

    def apply(self, state: TrafficState) -> None:
        if state.shadow is not None and state.shadow_share > 0:
            raise ConfigError(
                "the nginx router does not mirror traffic to a shadow; "
                "use router: local for shadow releases"
            )
        text = render_upstream(state, self._stable, self._canary)
        previous = _read(self._path)
        if text == previous:
            return
        write_atomically(self._path, text)
        try:
            _run_reload(self._reload)
        except ConfigError:
            self._restore(previous)
            raise

    def problem(self) -> str | None:
        """Why the release should stop: the canary backend is down or not ready."""
        return probe_ready(self._canary, "canary")

    def _restore(self, previous: str | None) -> None:
        if previous is None:
            with suppress(FileNotFoundError):
                self._path.unlink()
        else:
            write_atomically(self._path, previous)


def _run_reload(command: list[str]) -> None:
    shown = shlex.join(command)
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RELOAD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"NGINX reload '{shown}' did not finish within {RELOAD_TIMEOUT:.0f} s"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"NGINX reload '{shown}' cannot run ({exc.strerror or exc}); install NGINX "
            "or set router.nginx.reload to a command that reloads it"
        ) from None
    if result.returncode != 0:
        said = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise ConfigError(
            f"NGINX reload '{shown}' exited with {result.returncode}: {said}; "
            "the previous upstream file was put back"
        )


def probe_ready(address: Address, role: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None if ``GET /v2/health/ready`` on ``address`` answers 200, else one line why not."""
    connection = http.client.HTTPConnection(address.host.strip("[]"), address.port, timeout=timeout)
    try:
        connection.request("GET", "/v2/health/ready")
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return f"{role} backend {address} is not answering ({exc or type(exc).__name__})"
    finally:
        connection.close()
    if status != 200:
        return f"{role} backend {address} is not ready (GET /v2/health/ready answered {status})"
    return None


# ---------------------------------------------------------------------------
# The first config: `mlrelease deploy nginx`


@dataclass(frozen=True)
class NginxSite:
    """Everything `mlrelease deploy nginx` writes, and the commands that run it."""

    model: str
    environment: str
    stable: Address
    canary: Address
    listen: Address
    directory: Path  # absolute
    upstream_file: Path  # absolute
    workers: str = "auto"
    nginx: str = "nginx"  # the NGINX binary, for the printed commands and the reload

    def __post_init__(self) -> None:
        validate_name(self.model, what="model name")
        validate_name(self.environment, what="environment name")
        if self.stable == self.canary:
            raise ConfigError("--stable and --canary must be different backends")
        if not _WORKERS.fullmatch(self.workers):
            raise ConfigError(f"--workers: {self.workers!r} is not a number or 'auto'")
        for path in (self.directory, self.upstream_file):
            if _UNSAFE_PATH.search(str(path)):
                raise ConfigError(f'{path}: NGINX paths cannot contain " \\ $ ; {{ }}')

    @property
    def conf_path(self) -> Path:
        return self.directory / "nginx.conf"

    def start_command(self) -> list[str]:
        directory = str(self.directory)
        error_log = str(self.directory / "error.log")
        return [self.nginx, "-p", directory, "-c", str(self.conf_path), "-e", error_log]

    def reload_command(self) -> list[str]:
        return [*self.start_command(), "-s", "reload"]

    def router_spec(self) -> NginxSpec:
        return NginxSpec(
            config=str(self.upstream_file),
            stable=str(self.stable),
            canary=str(self.canary),
            reload=self.reload_command(),
        )

    def render(self) -> str:
        values = {
            "@MODEL@": f"{self.model}@{self.environment}",
            "@START@": shlex.join(self.start_command()),
            "@WORKERS@": self.workers,
            "@DIR@": str(self.directory),
            "@UPSTREAM_FILE@": str(self.upstream_file),
            "@UPSTREAM@": upstream_name(self.model, self.environment),
            "@LISTEN@": str(self.listen),
        }
        text = _NGINX_CONF
        for key, value in values.items():
            text = text.replace(key, value)
        return text


def write_site(site: NginxSite, *, overwrite: bool = False) -> list[Path]:
    """Write nginx.conf and a first upstream file (all traffic to stable); the paths."""
    written = [site.conf_path, site.upstream_file]
    existing = [path for path in written if path.exists()]
    if existing and not overwrite:
        raise ConflictError(
            f"{existing[0]} already exists; pass --force to overwrite it "
            "(a release in progress would lose its current split)"
        )
    try:
        for folder in ("temp", "logs"):
            (site.directory / folder).mkdir(parents=True, exist_ok=True)
        site.upstream_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{site.directory}: cannot create it ({exc.strerror or exc})") from None
    first = TrafficState(site.model, site.environment, stable=None)
    write_atomically(site.upstream_file, render_upstream(first, site.stable, site.canary))
    write_atomically(site.conf_path, site.render())
    return written


_NGINX_CONF = """\
# Written by `mlrelease deploy nginx` for @MODEL@.
# Start (add -g 'daemon off;' to stay in the foreground):
#   @START@
# mlrelease rewrites @UPSTREAM_FILE@ at every release step, then reloads.
# Everything NGINX writes stays in @DIR@, so it runs as a non-root user.

worker_processes @WORKERS@;
pid "@DIR@/nginx.pid";
error_log "@DIR@/error.log" notice;

events {
    worker_connections 1024;
}

http {
    log_format mlrelease '$remote_addr [$time_local] "$request" $status $request_time '
                         'upstream=$upstream_addr upstream_status=$upstream_status '
                         'version=$upstream_http_x_model_version';
    access_log "@DIR@/logs/access.log" mlrelease;
    client_body_temp_path "@DIR@/temp/client_body";
    proxy_temp_path "@DIR@/temp/proxy";
    fastcgi_temp_path "@DIR@/temp/fastcgi";
    uwsgi_temp_path "@DIR@/temp/uwsgi";
    scgi_temp_path "@DIR@/temp/scgi";
    client_max_body_size 16m;  # mlrelease serve's default --max-body-mb

    include "@UPSTREAM_FILE@";

    server {
        listen @LISTEN@;

        # HTTP/1.1 with keepalive to the backends (see `keepalive` in the upstream).
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_connect_timeout 2s;
        proxy_next_upstream_tries 3;
        proxy_next_upstream_timeout 10s;

        # Predictions have no side effect: one a dying backend swallowed is sent again.
        location = /predict {
            proxy_pass http://@UPSTREAM@;
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        }
        location ~ ^/v2/models/[^/]+(/versions/[^/]+)?/infer$ {
            proxy_pass http://@UPSTREAM@;
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        }
        # Everything else (/feedback, /api, health, metrics): a POST is resent only
        # if it never reached a backend.
        location / {
            proxy_pass http://@UPSTREAM@;
            proxy_next_upstream error timeout http_502 http_503;
        }
    }
}
"""
