"""Kubernetes manifests for one environment of a project, as a platform team writes them.

:func:`render_manifests` is a pure function of the project file and
:class:`KubernetesOptions`: file name -> YAML text, one object per file plus a
``kustomization.yaml`` listing them; the same input gives the same bytes (no
timestamps, a fixed key order). Writing them is the caller's job
(:func:`mlrelease.deploy.gitops.write_files`, or a commit with
:func:`mlrelease.deploy.gitops.commit_manifests`).

What is rendered, for ``<model>-<env>`` in the namespace:

* the model server running ``mlrelease serve --model M --env E``: a ``Deployment``, or,
  for an environment with ``release: canary`` (unless ``argo=False``), an Argo
  Rollouts ``Rollout`` with stable and canary Services, its steps from
  ``release.canary.steps`` and ``AnalysisTemplate`` s from its checks (see
  :mod:`._argo` for the translation and what Argo cannot judge). A Deployment follows
  the environment's alias (a promotion hot-swaps the model, or, for a canary/shadow
  release run by ``mlrelease controller``, the servers split traffic). A Rollout pins
  the version (``--version``): Argo canaries a new pod template, so the version must
  be in it;
* a ``Service`` (port 80 -> 8000), a ``HorizontalPodAutoscaler`` (CPU, and/or the Pods
  metric ``mlrelease_requests_per_second`` from prometheus-adapter; then the server
  leaves ``replicas`` to it), a ``PodDisruptionBudget`` when there are two or more
  pods, and Prometheus scraping: ``prometheus.io/*`` pod annotations or a
  ``ServiceMonitor``;
* the rest of the loop, once per project (``controller=False`` leaves it out of a
  second environment): the ``mlrelease controller`` Deployment, a ``CronJob`` per
  retrain schedule (suspended: the controller fires schedules itself) and
  ``job-train.yaml``, a Job with ``generateName`` for ``mlrelease run``
  (``kubectl create -f``; not in the kustomization);
* a ConfigMap with the project file's text, mounted at ``/app/mlrelease.yaml``.

Every pod runs as a non-root user with a read-only root filesystem (``/tmp`` is an
emptyDir), no privilege escalation and no capabilities; ``MLRELEASE_DB`` comes from a
Secret key and ``MLRELEASE_ARTIFACTS`` from a ConfigMap key (never a value in the
manifests), and each ``${VAR}`` the project file reads from the same Secret, key
``VAR`` (optional where the file gives a default).
"""

from __future__ import annotations

from mlrelease.deploy.kubernetes._argo import UnjudgedCheck
from mlrelease.deploy.kubernetes._options import DEFAULT_IMAGE, KubernetesOptions
from mlrelease.deploy.kubernetes._render import (
    KUSTOMIZATION,
    TRAIN_JOB,
    NotRendered,
    deployment_notes,
    previous_files,
    render_manifests,
    unjudged_checks,
)

__all__ = [
    "DEFAULT_IMAGE",
    "KUSTOMIZATION",
    "TRAIN_JOB",
    "KubernetesOptions",
    "NotRendered",
    "UnjudgedCheck",
    "deployment_notes",
    "previous_files",
    "render_manifests",
    "unjudged_checks",
]
