"""What the API and remote-client tests share: a registered model and a token per role.

A plain module, not a conftest: tests/test_remote.py imports it too.
"""

from __future__ import annotations

from typing import Any

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from mlrelease.auth import Role, Tokens
from mlrelease.client import Client
from mlrelease.store import Store

MODEL = "breast-cancer"
# name -> role of the tokens every setup has; "bob" is a second approver.
TOKENS = {
    "viewer": Role.viewer,
    "ci": Role.operator,
    "alice": Role.approver,
    "bob": Role.approver,
    "root": Role.admin,
}
# The token a test uses to act with a role.
BY_ROLE = {Role.viewer: "viewer", Role.operator: "ci", Role.approver: "alice", Role.admin: "root"}


def register_versions(client: Client) -> None:
    """v1 (the better one, no gates) and v2 (worse, gated on beating the champion)."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    for C, gates in ((1.0, []), (0.001, ["accuracy > champion.accuracy"])):
        fitted = LogisticRegression(C=C, solver="liblinear").fit(X, y)
        client.register_model(
            MODEL,
            fitted,
            task="classification",
            sample_input=X[:5],
            eval_data=(X[400:], y[400:]),
            gates=gates,
        )


def create_tokens(store: Store) -> dict[str, str]:
    """The secret of each token in TOKENS, by name."""
    tokens = Tokens(store)
    return {name: tokens.create(name, role, actor="setup")[1] for name, role in TOKENS.items()}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_error_shape(body: Any, code: str | None = None) -> None:
    """The one JSON error shape; ``code`` too when given."""
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    if code is not None:
        assert body["error"]["code"] == code, body
