"""A project in the middle of its life, for the UI to show: every page has something on it.

breast-cancer v1 is live in production, v2 is being released there as a canary at
20%, v3 is in staging; production's traffic has been monitored twice (once like
the training data, once drifted) with labels. A second model, iris, waits for an
approval to production, asked for by "ci".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlrelease.auth import Role, Tokens
from mlrelease.client import Client
from mlrelease.promotion import PromotionInfo

from ..monitoring._loop import breast_cancer, log_served

MODEL = "breast-cancer"
IRIS = "iris"
PROJECT = """
model: breast-cancer
task: classification
data: {source: "sklearn:load_breast_cancer", target: target}
train:
  estimator: sklearn.linear_model.LogisticRegression
  params: {solver: liblinear, C: %(C)s}
metrics: [accuracy, macro_f1, roc_auc]
gates:
  - accuracy >= 0.8
environments:
  dev: {}
  staging: {after: dev}
  production: {after: staging, approvals: 1, release: canary}
release:
  canary:
    steps: [{weight: 20}, {analysis: {interval: 1m, count: 2}}, {weight: 50}]
    checks: [latency_p95 <= 0.5, error_rate <= 0.01]
monitoring:
  window: 300
  min_rows: 50
  drift: {method: psi, share: 0.15}
  accuracy: {min: 0.8, min_labels: 20}
"""
# name -> role; "lead" and "alice" approve, "ci" operates.
TOKENS = {
    "viewer": Role.viewer,
    "ci": Role.operator,
    "alice": Role.approver,
    "lead": Role.approver,
    "root": Role.admin,
}


@dataclass(frozen=True)
class Scene:
    folder: Path
    project_file: Path
    secrets: dict[str, str]  # token name -> secret
    release_id: int
    waiting_request: int  # iris v1 -> production, requested by "ci"


def write_project(folder: Path, C: float) -> Path:
    path = folder / "mlrelease.yaml"
    path.write_text(PROJECT % {"C": C})
    return path


def build_scene(folder: Path) -> Scene:
    project = write_project(folder, C=1.0)
    secrets: dict[str, str] = {}
    with Client.from_project(project, env={}) as client:
        client.run()  # v1
        client.promote(MODEL, 1, "staging", actor="ci")
        first = client.promote(MODEL, 1, "production", actor="ci", reason="first release")
        client.approve(first.id, actor="lead", reason="looks good")
        tokens = Tokens(client.store)
        secrets = {
            name: tokens.create(name, role, actor="setup")[1] for name, role in TOKENS.items()
        }
    for C, runs in ((0.5, 2), (0.1, 3)):
        write_project(folder, C)
        with Client.from_project(project, env={}) as client:
            client.run()
            client.promote(MODEL, runs, "staging", actor="ci")
    with Client.from_project(project, env={}) as client:
        second = client.promote(MODEL, 2, "production", actor="ci", reason="better recall")
        client.approve(second.id, actor="lead", reason="canary it")
        client.controller().tick()  # the canary takes its first step: 20%
        release = client.releases.list(model=MODEL)[0]
        waiting = _iris_waiting(client)
        log_served(client, breast_cancer(drifted=False, flip_labels=False, rows=120))
        client.monitor(MODEL, environment="production")
        log_served(client, breast_cancer(drifted=True, flip_labels=True, rows=300, seed=1))
        client.monitor(MODEL, environment="production")
    return Scene(folder, project, secrets, release.id, waiting.id)


def _iris_waiting(client: Client) -> PromotionInfo:
    X, y = load_iris(return_X_y=True, as_frame=True)
    fitted = LogisticRegression(max_iter=500).fit(X, y)
    client.register_model(
        IRIS, fitted, task="classification", sample_input=X[:5], eval_data=(X[100:], y[100:])
    )
    client.promote(IRIS, 1, "dev", actor="ci")
    client.promote(IRIS, 1, "staging", actor="ci")
    return client.promote(IRIS, 1, "production", actor="ci", reason="first iris release")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)
