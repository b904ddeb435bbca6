"""The objects themselves, as plain dicts in the order a person would write their keys."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import yaml

from mlrelease.deploy.kubernetes._options import KubernetesOptions, dns_name, label_value
from mlrelease.errors import ConfigError
from mlrelease.spec import ProjectSpec

__all__ = ["Context", "project_variables"]

PORT: Final = 8000
SERVICE_PORT: Final = 80
PROJECT_KEY: Final = "mlrelease.yaml"
APP_DIR: Final = "/app"
DRAIN_SECONDS: Final = 5  # preStop: endpoints are removed before the server stops accepting
GRACE_SECONDS: Final = 30  # drain + finishing in-flight requests + flushing the prediction log
RUN_AS: Final = 10001
DB_VARIABLE: Final = "MLRELEASE_DB"
ARTIFACTS_VARIABLE: Final = "MLRELEASE_ARTIFACTS"
_FIXED_VARIABLES: Final = frozenset({DB_VARIABLE, ARTIFACTS_VARIABLE, "MLRELEASE_ACTOR", "HOME"})
_VARIABLE: Final = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")
TRAFFIC_LABEL: Final = "mlrelease.dev/traffic"  # on the stable and canary Services only


def project_variables(text: str) -> dict[str, bool]:
    """``${VAR}`` the project file reads (in values, not comments) -> whether it has a default."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"the project file is not valid YAML: {exc}") from None
    found: dict[str, bool] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            for match in _VARIABLE.finditer(value):
                if match.group(1):
                    name = match.group(1)
                    found[name] = found.get(name, True) and match.group(2) is not None

    walk(data)
    return {name: found[name] for name in sorted(found) if name not in _FIXED_VARIABLES}


@dataclass(frozen=True)
class Context:
    """One rendering: the project, the options, and the names derived from them."""

    spec: ProjectSpec
    options: KubernetesOptions
    project_text: str

    @property
    def model(self) -> str:
        return self.spec.model

    @property
    def env(self) -> str:
        return self.options.environment

    @property
    def namespace(self) -> str:
        return self.options.namespace

    def name(self, *suffix: str, limit: int = 63) -> str:
        return dns_name(self.model, self.env, *suffix, limit=limit)

    def project_name(self, *suffix: str, limit: int = 63) -> str:
        """A name for what serves the whole project (controller, retraining)."""
        return dns_name(self.model, *suffix, limit=limit)

    @cached_property
    def project_digest(self) -> str:
        return hashlib.sha256(self.project_text.encode()).hexdigest()

    def selector(self, component: str) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": "mlrelease",
            "app.kubernetes.io/instance": label_value(f"{self.model}-{self.env}"),
            "app.kubernetes.io/component": component,
        }

    def labels(self, component: str) -> dict[str, str]:
        return {
            **self.selector(component),
            "app.kubernetes.io/part-of": label_value(self.model),
            "app.kubernetes.io/managed-by": "mlrelease",
        }

    def metadata(
        self,
        name: str,
        component: str,
        *,
        annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "name": name,
            "namespace": self.namespace,
            "labels": {**self.labels(component), **(labels or {})},
        }
        if annotations:
            meta["annotations"] = annotations
        return meta

    # --- pods ---------------------------------------------------------------------

    def env_vars(self, actor: str) -> list[dict[str, Any]]:
        secret, configmap = self.options.secret, self.options.configmap
        variables: list[dict[str, Any]] = [
            {"name": DB_VARIABLE, "valueFrom": _key_ref("secretKeyRef", secret, DB_VARIABLE)},
            {
                "name": ARTIFACTS_VARIABLE,
                "valueFrom": _key_ref("configMapKeyRef", configmap, ARTIFACTS_VARIABLE),
            },
            {"name": "MLRELEASE_ACTOR", "value": actor},
            {"name": "HOME", "value": "/tmp"},
        ]
        for name, has_default in project_variables(self.project_text).items():
            reference = _key_ref("secretKeyRef", secret, name, optional=has_default)
            variables.append({"name": name, "valueFrom": reference})
        return variables

    def container(
        self,
        name: str,
        command: list[str],
        actor: str,
        *,
        ports: list[dict[str, Any]] | None = None,
        serving: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A container running ``command``; ``serving`` adds probes and the drain on stop."""
        options = self.options
        limits = {"memory": options.memory}
        if options.cpu_limit is not None:
            limits["cpu"] = options.cpu_limit
        return {
            "name": name,
            "image": options.image,
            "imagePullPolicy": "IfNotPresent",
            "command": command,
            "workingDir": APP_DIR,
            **({"ports": ports} if ports else {}),
            "env": self.env_vars(actor),
            "resources": {
                "requests": {"cpu": options.cpu, "memory": options.memory},
                "limits": limits,
            },
            **(serving or {}),
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
            "volumeMounts": [
                {
                    "name": "project",
                    "mountPath": f"{APP_DIR}/{PROJECT_KEY}",
                    "subPath": PROJECT_KEY,
                    "readOnly": True,
                },
                {"name": "tmp", "mountPath": "/tmp"},
            ],
        }

    def pod_spec(self, container: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS,
                "runAsGroup": RUN_AS,
                "fsGroup": RUN_AS,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            **extra,
            "containers": [container],
            "volumes": [
                {
                    "name": "project",
                    "configMap": {
                        "name": self.name("project"),
                        "items": [{"key": PROJECT_KEY, "path": PROJECT_KEY}],
                    },
                },
                {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
            ],
        }

    def pod_template(
        self, component: str, container: dict[str, Any], annotations: dict[str, str], **extra: Any
    ) -> dict[str, Any]:
        return {
            "metadata": {
                "labels": self.labels(component),
                # A changed project file rolls the pods (the file is mounted by subPath).
                "annotations": {"mlrelease.dev/project-sha256": self.project_digest, **annotations},
            },
            "spec": self.pod_spec(container, **extra),
        }

    # --- the model server ---------------------------------------------------------

    def server_command(self) -> list[str]:
        options = self.options
        command = ["mlrelease", "serve", "--model", self.model, "--env", self.env]
        command += ["--host", "0.0.0.0", "--port", str(PORT)]
        if options.version is not None:
            command += ["--version", str(options.version)]
        if options.workers > 1:
            command += ["--workers", str(options.workers)]
        return command

    def server_template(self) -> dict[str, Any]:
        probe = {"periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3}
        container = self.container(
            "server",
            self.server_command(),
            f"kubernetes:{self.name()}",
            ports=[{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
            serving={
                "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"}, **probe},
                "readinessProbe": {
                    "httpGet": {"path": "/v2/health/ready", "port": "http"},
                    **probe,
                    "periodSeconds": 5,
                },
                "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(DRAIN_SECONDS)]}}},
            },
        )
        scrape = (
            {}
            if self.options.service_monitor
            else {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(PORT),
                "prometheus.io/path": "/metrics",
            }
        )
        return self.pod_template(
            "server", container, scrape, terminationGracePeriodSeconds=GRACE_SECONDS
        )

    def service(self, suffix: str | None = None) -> dict[str, Any]:
        name = self.name(suffix) if suffix else self.name()
        labels = {TRAFFIC_LABEL: suffix} if suffix else None
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.metadata(name, "server", labels=labels),
            "spec": {
                "type": "ClusterIP",
                "selector": self.selector("server"),
                "ports": [
                    {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
                ],
            },
        }

    def server_target(self, rollout: bool) -> dict[str, str]:
        if rollout:
            return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": self.name()}
        return {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.name()}

    def deployment(self) -> dict[str, Any]:
        spec: dict[str, Any] = (
            {} if self.options.autoscaling else {"replicas": self.options.replicas}
        )
        spec |= {
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": self.selector("server")},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "template": self.server_template(),
        }
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.metadata(self.name(), "server"),
            "spec": spec,
        }

    def rollout(self, steps: list[dict[str, Any]], annotations: dict[str, str]) -> dict[str, Any]:
        spec: dict[str, Any] = (
            {} if self.options.autoscaling else {"replicas": self.options.replicas}
        )
        spec |= {
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": self.selector("server")},
            "template": self.server_template(),
            "strategy": {
                "canary": {
                    "canaryService": self.name("canary"),
                    "stableService": self.name("stable"),
                    "maxSurge": "25%",
                    "maxUnavailable": 0,
                    "steps": steps,
                }
            },
        }
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": self.metadata(self.name(), "server", annotations=annotations),
            "spec": spec,
        }

    def autoscaler(self, rollout: bool) -> dict[str, Any]:
        options = self.options
        metrics: list[dict[str, Any]] = []
        if options.hpa_cpu is not None:
            metrics.append(
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": options.hpa_cpu},
                    },
                }
            )
        if options.hpa_rps is not None:
            metrics.append(
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "mlrelease_requests_per_second"},
                        "target": {"type": "AverageValue", "averageValue": _milli(options.hpa_rps)},
                    },
                }
            )
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": self.metadata(self.name(), "server"),
            "spec": {
                "scaleTargetRef": self.server_target(rollout),
                "minReplicas": options.lowest,
                "maxReplicas": options.highest,
                "metrics": metrics,
            },
        }

    def disruption_budget(self) -> dict[str, Any]:
        return {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": self.metadata(self.name(), "server"),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": self.selector("server")}},
        }

    def service_monitor(self) -> dict[str, Any]:
        return {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": self.metadata(self.name(), "server"),
            "spec": {
                # The main Service only: the stable and canary ones select the same pods.
                "selector": {
                    "matchLabels": self.selector("server"),
                    "matchExpressions": [{"key": TRAFFIC_LABEL, "operator": "DoesNotExist"}],
                },
                "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
            },
        }

    def project_configmap(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self.metadata(self.name("project"), "project"),
            "data": {PROJECT_KEY: self.project_text},
        }

    # --- the rest of the loop -----------------------------------------------------

    def controller(self) -> dict[str, Any]:
        name = self.project_name("controller")
        container = self.container("controller", ["mlrelease", "controller"], f"kubernetes:{name}")
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.metadata(name, "controller"),
            "spec": {
                "replicas": 1,
                "revisionHistoryLimit": 3,
                "selector": {"matchLabels": self.selector("controller")},
                # Never two at once: the old one stops before the new one starts.
                "strategy": {"type": "Recreate"},
                "template": self.pod_template(
                    "controller", container, {}, terminationGracePeriodSeconds=GRACE_SECONDS
                ),
            },
        }

    def job_spec(self, component: str, container: dict[str, Any]) -> dict[str, Any]:
        return {
            "backoffLimit": 0,  # a failed run says why in its events; rerun it on purpose
            "ttlSecondsAfterFinished": 7 * 24 * 3600,
            "template": self.pod_template(component, container, {}, restartPolicy="Never"),
        }

    def retrain_cronjob(self, name: str, schedule: str, *, suspend: bool) -> dict[str, Any]:
        command = ["mlrelease", "retrain", "--reason", "schedule"]
        container = self.container("retrain", command, f"kubernetes:{name}")
        return {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": self.metadata(name, "retrain"),
            "spec": {
                "schedule": schedule,
                "timeZone": "Etc/UTC",  # the project file's schedules are UTC
                "suspend": suspend,
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 3600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": {"labels": self.labels("retrain")},
                    "spec": self.job_spec("retrain", container),
                },
            },
        }

    def train_job(self) -> dict[str, Any]:
        prefix = self.project_name("train", limit=57) + "-"
        container = self.container("train", ["mlrelease", "run"], f"kubernetes:{prefix[:-1]}")
        metadata = self.metadata("", "train")
        del metadata["name"]
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"generateName": prefix, **metadata},
            "spec": self.job_spec("train", container),
        }


def _key_ref(kind: str, name: str, key: str, *, optional: bool = False) -> dict[str, Any]:
    reference: dict[str, Any] = {"name": name, "key": key}
    if optional:
        reference["optional"] = True
    return {kind: reference}


def _milli(value: float) -> str:
    """A quantity for ``value``: whole numbers as they are, fractions in thousandths."""
    return str(int(value)) if value == int(value) else f"{round(value * 1000)}m"
