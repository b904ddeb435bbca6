"""The container image: a Dockerfile (and its .dockerignore) that serves a model.

What :func:`render_dockerfile` writes, and why:

- Two stages on ``python:X.Y-slim``. The first builds wheels of mlrelease (the
  requirement in the build argument ``MLRELEASE_REQUIREMENT``, by default this
  version with the chosen extras) and of the project's ``requirements.txt`` when the
  build context has one; the second installs them from a bind mount, so neither
  the wheels nor pip's cache end up in a layer.
- The build context is the project's folder. Its files (minus what
  ``.dockerignore`` leaves out: the local store, virtualenvs, secrets) are copied
  to ``/project``, owned by root and read-only for the server, which writes only
  to ``/project/.mlrelease`` (the default store; mount a volume there, or point
  ``MLRELEASE_DB`` / ``MLRELEASE_ARTIFACTS`` at shared stores).
- It runs as the non-root user 10001 (numeric, so Kubernetes' ``runAsNonRoot``
  can check it), with ``PYTHONDONTWRITEBYTECODE`` and ``PYTHONUNBUFFERED``.
- ``HEALTHCHECK`` asks ``/v2/health/ready`` with Python's urllib (slim images have
  no curl): ready means the model is loaded. :data:`HEALTHCHECK` is the same test
  ``deploy compose`` gives its servers.
- ``ENTRYPOINT ["mlrelease"]`` and ``CMD ["serve", ...]``: ``docker run IMAGE``
  serves the model; ``docker run IMAGE controller`` runs the release controller
  from the same image.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from mlrelease import __version__
from mlrelease.errors import ConfigError
from mlrelease.names import validate_name

__all__ = [
    "EXTRAS",
    "HEALTHCHECK",
    "PORT",
    "READY_URL",
    "UID",
    "DockerfileOptions",
    "default_image",
    "parse_extras",
    "render_dockerfile",
    "render_dockerignore",
    "requirement",
]

UID = 10001  # the image's user and group id
PORT = 8000  # the port `mlrelease serve` listens on in the image
EXTRAS = ("postgres", "s3", "parquet", "redis", "kafka", "report")  # pyproject's, less test
DEFAULT_EXTRAS = ("postgres", "s3")
OLDEST_PYTHON = (3, 11)  # pyproject's requires-python

READY_URL = f"http://127.0.0.1:{PORT}/v2/health/ready"
# Exits non-zero unless the server answers 2xx: urlopen raises on 4xx/5xx and on no answer.
HEALTHCHECK = [
    "python",
    "-c",
    f"import urllib.request; urllib.request.urlopen('{READY_URL}', timeout=3)",
]

_PYTHON = re.compile(r"3\.(\d{1,2})")


@dataclass(frozen=True)
class DockerfileOptions:
    model: str
    environment: str = "production"
    python: str = "3.11"
    extras: tuple[str, ...] = DEFAULT_EXTRAS
    project_file: str = "mlrelease.yaml"  # its name in the build context

    def __post_init__(self) -> None:
        validate_name(self.model, what="--model")
        validate_name(self.environment, what="--env")
        match = _PYTHON.fullmatch(self.python)
        if match is None or (3, int(match.group(1))) < OLDEST_PYTHON:
            raise ConfigError(
                f"--python: {self.python!r} is not a Python version mlrelease runs on; "
                "give MAJOR.MINOR, 3.11 or newer (e.g. --python 3.12)"
            )
        parse_extras(",".join(self.extras))
        if "/" in self.project_file or self.project_file.startswith("."):
            raise ConfigError(
                f"{self.project_file!r}: the project file must sit at the top of the build "
                "context (its folder); give its file name"
            )


def parse_extras(text: str) -> tuple[str, ...]:
    """``postgres,s3`` -> ("postgres", "s3"), checked, in a stable order, no duplicates."""
    given = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in given if name not in EXTRAS]
    if unknown:
        raise ConfigError(
            f"--extras: unknown extra '{unknown[0]}'; choose among {', '.join(EXTRAS)} "
            "(comma-separated, or an empty string for none)"
        )
    return tuple(name for name in EXTRAS if name in given)


def requirement(extras: tuple[str, ...]) -> str:
    """The pip requirement for this version of mlrelease with ``extras``."""
    suffix = f"[{','.join(extras)}]" if extras else ""
    return f"mlrelease{suffix}=={__version__}"


def default_image() -> str:
    """The image name `deploy compose` uses unless told: never ``latest``."""
    return f"mlrelease:{__version__}"


def render_dockerfile(options: DockerfileOptions) -> str:
    base = f"python:{options.python}-slim"
    serve = [
        "serve",
        "--model",
        options.model,
        "--env",
        options.environment,
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
    ]
    values = {
        "@BASE@": base,
        "@MODEL@": f"{options.model}@{options.environment}",
        "@REQUIREMENT@": requirement(options.extras),
        "@UID@": str(UID),
        "@PORT@": str(PORT),
        "@FILE@": options.project_file,
        "@HEALTHCHECK@": _json_list(HEALTHCHECK),
        "@CMD@": _json_list(serve),
    }
    text = _DOCKERFILE
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def render_dockerignore() -> str:
    return _DOCKERIGNORE


def _json_list(items: list[str]) -> str:
    """The exec form of an instruction: a JSON array of strings."""
    return json.dumps(items)


_DOCKERFILE = """\
# syntax=docker/dockerfile:1
# Written by `mlrelease deploy dockerfile` for @MODEL@.
# Build from the project's folder (the build context; see .dockerignore):
#   docker build -t mlrelease:TAG .
# Run (the store must be reachable from the container: a volume on /project/.mlrelease,
# or MLRELEASE_DB / MLRELEASE_ARTIFACTS pointing at PostgreSQL and S3):
#   docker run -p @PORT@:@PORT@ -e MLRELEASE_DB -e MLRELEASE_ARTIFACTS mlrelease:TAG
# Another mlrelease (a wheel in the context, a private index) with
#   --build-arg MLRELEASE_REQUIREMENT=./dist/mlrelease-X.Y.Z-py3-none-any.whl

FROM @BASE@ AS wheels
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PIP_NO_CACHE_DIR=1
ARG MLRELEASE_REQUIREMENT="@REQUIREMENT@"
WORKDIR /context
COPY . .
RUN pip wheel --no-cache-dir --wheel-dir /wheels "${MLRELEASE_REQUIREMENT}" \\
    && if [ -f requirements.txt ]; then \\
        pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt; \\
    fi

FROM @BASE@
ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PIP_NO_CACHE_DIR=1 \\
    MLRELEASE_FILE=/project/@FILE@
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \\
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl \\
    && groupadd --system --gid @UID@ mlrelease \\
    && useradd --system --uid @UID@ --gid @UID@ --no-create-home \\
        --home-dir /nonexistent --shell /usr/sbin/nologin mlrelease
WORKDIR /project
COPY . .
RUN mkdir -p /project/.mlrelease && chown @UID@:@UID@ /project/.mlrelease
USER @UID@:@UID@
EXPOSE @PORT@
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \\
    CMD @HEALTHCHECK@
ENTRYPOINT ["mlrelease"]
CMD @CMD@
"""

_DOCKERIGNORE = """\
# Written by `mlrelease deploy dockerfile`: what the image build never sees.
# The local store (metadata database, artifacts, prediction log): mount it or
# point MLRELEASE_DB / MLRELEASE_ARTIFACTS at shared stores instead.
.mlrelease/
# Secrets
.env
.env.*
*.pem
*.key
# Version control, CI and editors
.git/
.github/
.gitignore
.idea/
.vscode/
# Python leftovers
**/__pycache__/
**/*.py[cod]
.venv/
venv/
.mypy_cache/
.pytest_cache/
.ruff_cache/
*.egg-info/
build/
# The image recipe itself
Dockerfile
.dockerignore
"""
