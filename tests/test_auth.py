"""Roles, API tokens and the role check, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from mlrelease.audit import EventKind, list_events
from mlrelease.auth import Actor, Role, Tokens, require
from mlrelease.errors import ConfigError, ConflictError, Forbidden, NotFoundError, Unauthorized
from mlrelease.store import Store, tables


@pytest.fixture
def tokens(store: Store) -> Tokens:
    return Tokens(store)


def test_roles_are_ordered_and_parsed_from_text() -> None:
    assert Role.viewer < Role.operator < Role.approver < Role.admin
    assert Role.parse(" Approver ") is Role.approver
    with pytest.raises(ConfigError, match="viewer, operator, approver, admin"):
        Role.parse("root")


def test_require_refuses_a_role_below_the_one_needed() -> None:
    require(Actor("boss", Role.admin), Role.approver)  # a higher role is enough
    with pytest.raises(Forbidden, match="token 'ci' has role operator; this needs approver"):
        require(Actor("ci", Role.operator), Role.approver)


def test_a_created_secret_authenticates_as_its_name_and_role(tokens: Tokens) -> None:
    info, secret = tokens.create("ci", Role.operator, actor="admin")
    assert secret.startswith("mlr_") and len(secret) > 40
    assert secret.startswith(info.prefix) and len(info.prefix) < 12
    assert tokens.authenticate(secret) == Actor("ci", Role.operator)


def test_only_the_hash_of_the_secret_is_stored(tokens: Tokens, store: Store) -> None:
    _, secret = tokens.create("ci", "viewer", actor="admin")
    with store.read() as connection:
        row = connection.execute(select(tables.tokens)).mappings().one()
    assert row["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(dict(row), default=str)


@pytest.mark.parametrize("secret", [None, "", "mlr_not-a-token"])
def test_missing_or_unknown_secrets_are_unauthorized(tokens: Tokens, secret: str | None) -> None:
    with pytest.raises(Unauthorized, match="mlrelease token create") as caught:
        tokens.authenticate(secret)
    assert "mlr_not-a-token" not in caught.value.message  # never echoed


def test_a_revoked_token_no_longer_authenticates(tokens: Tokens) -> None:
    _, secret = tokens.create("ci", Role.operator, actor="admin")
    revoked = tokens.revoke("ci", actor="admin")
    assert revoked.revoked_at is not None and not revoked.active
    with pytest.raises(Unauthorized, match="revoked"):
        tokens.authenticate(secret)
    with pytest.raises(NotFoundError, match="no active token named 'ci'"):
        tokens.revoke("ci", actor="admin")


def test_an_active_name_is_unique_but_a_revoked_one_can_be_reused(tokens: Tokens) -> None:
    _, old = tokens.create("ci", Role.operator, actor="admin")
    with pytest.raises(ConflictError, match="already exists"):
        tokens.create("ci", Role.viewer, actor="admin")
    tokens.revoke("ci", actor="admin")
    info, new = tokens.create("ci", Role.viewer, actor="admin")
    assert info.active and tokens.authenticate(new) == Actor("ci", Role.viewer)
    with pytest.raises(Unauthorized):
        tokens.authenticate(old)
    assert [(t.name, t.role, t.active) for t in tokens.list()] == [("ci", Role.viewer, True)]


def test_token_names_are_validated(tokens: Tokens) -> None:
    with pytest.raises(ConfigError, match="token name"):
        tokens.create("../ci", Role.viewer, actor="admin")


def test_creating_and_revoking_are_audited_without_the_secret(tokens: Tokens, store: Store) -> None:
    _, secret = tokens.create("ci", Role.approver, actor="alice")
    tokens.revoke("ci", actor="bob")
    with store.read() as connection:
        events = list_events(connection)
    assert [(e.kind, e.actor, e.payload) for e in events] == [
        (EventKind.TOKEN_CREATED, "alice", {"name": "ci", "role": "approver"}),
        (EventKind.TOKEN_REVOKED, "bob", {"name": "ci", "role": "approver"}),
    ]
    digest = hashlib.sha256(secret.encode()).hexdigest()
    logged = json.dumps([e.__dict__ for e in events], default=str)
    assert secret not in logged and digest not in logged and secret[4:12] not in logged


def test_listing_shows_every_token_by_name_without_secrets(tokens: Tokens) -> None:
    _, secret = tokens.create("zeta", Role.admin, actor="admin")
    tokens.create("alpha", Role.viewer, actor="admin")
    listed = tokens.list()
    assert [t.name for t in listed] == ["alpha", "zeta"]
    assert secret not in json.dumps([t.to_dict() for t in listed])
