"""What a rendering may be asked for, checked before anything is built or written."""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from dataclasses import dataclass
from typing import Final

from mlrelease import __version__
from mlrelease.errors import ConfigError
from mlrelease.spec import ProjectSpec

__all__ = ["DEFAULT_IMAGE", "KubernetesOptions", "dns_name", "label_value"]

DEFAULT_IMAGE: Final = f"mlrelease:{__version__}"

# Kubernetes resource quantities: 500m, 2, 1.5, 512Mi, 1Gi, 1e3 (no sign: requests are positive).
_QUANTITY: Final = re.compile(
    r"(?P<number>\d+(?:\.\d*)?|\.\d+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?",
)
# Image references, after the grammar of github.com/distribution/reference.
_DOMAIN_PART: Final = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN: Final = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_PATH_PART: Final = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE: Final = re.compile(
    rf"(?:{_DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
_DNS_LABEL: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN: Final = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
_LABEL_VALUE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?")


@dataclass(frozen=True)
class KubernetesOptions:
    """How to render one environment of a project for Kubernetes (see the package docstring)."""

    environment: str = "production"
    namespace: str = "default"
    image: str = DEFAULT_IMAGE
    replicas: int = 2  # without autoscaling; with it, the default --min-replicas
    workers: int = 1  # `mlrelease serve --workers`
    cpu: str = "500m"  # request per server pod (and for the controller and training jobs)
    memory: str = "1Gi"  # request and limit
    cpu_limit: str | None = None  # none by default: a CPU limit throttles the latency tail
    secret: str = "mlrelease-store"  # holds MLRELEASE_DB and the project file's ${VARS}
    configmap: str = "mlrelease-config"  # holds MLRELEASE_ARTIFACTS
    hpa_cpu: int | None = 70  # target CPU utilisation, percent of the request; None: no CPU
    hpa_rps: float | None = None  # target requests per second per pod (prometheus-adapter)
    min_replicas: int | None = None  # default: replicas
    max_replicas: int | None = None  # default: max(10, min_replicas)
    service_monitor: bool = False  # a ServiceMonitor instead of prometheus.io/* annotations
    argo: bool = True  # a canary environment as an Argo Rollout (else mlrelease splits)
    version: int | None = None  # pin the served version in the pod template
    controller: bool = True  # also the controller, the retrain CronJob and the training Job
    prometheus_url: str | None = None  # for the AnalysisTemplate; default: the project's

    @property
    def autoscaling(self) -> bool:
        return self.hpa_cpu is not None or self.hpa_rps is not None

    @property
    def lowest(self) -> int:
        return self.min_replicas if self.min_replicas is not None else self.replicas

    @property
    def highest(self) -> int:
        return self.max_replicas if self.max_replicas is not None else max(10, self.lowest)

    def uses_rollout(self, spec: ProjectSpec) -> bool:
        return self.argo and spec.environments[self.environment].release == "canary"

    def check(self, spec: ProjectSpec) -> None:
        """Raise ConfigError naming the option, what is wrong and how to fix it."""
        if self.environment not in spec.environments:
            raise ConfigError(
                f"--env: no environment named '{self.environment}' in the project file; "
                f"defined: {', '.join(spec.environments)}"
            )
        _check_dns(self.namespace, "--namespace", _DNS_LABEL, "ml or ml-production")
        _check_dns(self.secret, "--secret", _DNS_SUBDOMAIN, "mlrelease-store")
        _check_dns(self.configmap, "--configmap", _DNS_SUBDOMAIN, "mlrelease-config")
        _check_image(self.image)
        for value, option, example in (
            (self.cpu, "--cpu", "500m or 2"),
            (self.memory, "--memory", "512Mi or 1Gi"),
            (self.cpu_limit, "--cpu-limit", "1 or 1500m"),
        ):
            if value is not None:
                _check_quantity(value, option, example)
        self._check_counts()
        self._check_release(spec)
        if self.prometheus_url is not None:
            _check_url(self.prometheus_url)

    def _check_counts(self) -> None:
        for value, option in (
            (self.replicas, "--replicas"),
            (self.workers, "--workers"),
            (self.min_replicas, "--min-replicas"),
            (self.version, "--version"),
        ):
            if value is not None and value < 1:
                raise ConfigError(f"{option}: must be at least 1 (got {value})")
        if self.max_replicas is not None and self.max_replicas < self.lowest:
            raise ConfigError(
                f"--max-replicas: {self.max_replicas} is below the minimum of {self.lowest}; "
                "raise it or lower --min-replicas"
            )
        if self.hpa_cpu is not None and not 1 <= self.hpa_cpu <= 1000:
            raise ConfigError(
                f"--hpa-cpu: a CPU utilisation target is a percent of the request, 1 to 1000 "
                f"(got {self.hpa_cpu}); leave it out to scale on requests per second only"
            )
        if self.hpa_rps is not None and not self.hpa_rps > 0:
            raise ConfigError(f"--hpa-rps: must be more than 0 (got {self.hpa_rps:g})")

    def _check_release(self, spec: ProjectSpec) -> None:
        release = spec.environments[self.environment].release
        if self.version is None or self.uses_rollout(spec) or release == "direct":
            return
        how = "in-process split" if release == "canary" else "shadow"
        raise ConfigError(
            f"--version: {self.environment} releases by {release} ({how} run by mlrelease "
            f"controller), which moves traffic between versions inside the servers; a pinned "
            "version would never move. Leave --version out"
            + (", or use Argo Rollouts (drop --no-argo)" if release == "canary" else "")
        )


def _check_dns(value: str, option: str, pattern: re.Pattern[str], example: str) -> None:
    if not pattern.fullmatch(value):
        raise ConfigError(
            f"{option}: {value!r} is not a Kubernetes name; use lowercase letters, digits and "
            f"'-', starting and ending with a letter or digit (e.g. {example})"
        )


def _check_image(image: str) -> None:
    if len(image) > 255 or not _IMAGE.fullmatch(image):
        raise ConfigError(
            f"--image: {image!r} is not an image reference; write [REGISTRY/]NAME[:TAG][@DIGEST] "
            "with a lowercase name, e.g. ghcr.io/acme/mlrelease:0.1.0"
        )


def _check_quantity(value: str, option: str, example: str) -> None:
    match = _QUANTITY.fullmatch(value)
    if match is None or float(match.group("number")) <= 0:
        raise ConfigError(
            f"{option}: {value!r} is not a Kubernetes quantity above zero; write e.g. {example}"
        )


def _check_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"--prometheus-url: {url!r} is not an http(s) URL; write it like "
            "http://prometheus-operated.monitoring.svc:9090"
        )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def dns_name(*parts: str, limit: int = 63) -> str:
    """A Kubernetes object name from ``parts``: lowercase, '-', starting with a letter.

    Too long a name is cut and ends with a hash of the whole, so it stays unique.
    """
    whole = "-".join(parts)
    text = re.sub(r"[^a-z0-9]+", "-", whole.lower()).strip("-")
    if not text[:1].isalpha():
        text = f"m-{text}"
    if len(text) > limit:
        text = f"{text[: limit - 9].rstrip('-')}-{_digest(whole)}"
    return text


def label_value(text: str) -> str:
    """``text`` as a label value (63 characters, alphanumeric at both ends)."""
    if _LABEL_VALUE.fullmatch(text):
        return text
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")[:54].rstrip("-_.")
    return f"{cleaned}-{_digest(text)}" if cleaned else _digest(text)
