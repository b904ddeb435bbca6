"""Who may do what: roles, API tokens, and the check that an actor's role is enough.

A token is a random secret shown once, when it is created; the store keeps only
its sha256 and a short prefix that tells tokens apart in listings. Roles are
ordered, each allowing everything below it::

    viewer < operator < approver < admin

Creating and revoking a token are audited, in the same transaction, without the
secret or its hash.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from mlrelease.audit import EventKind, record_event
from mlrelease.errors import ConfigError, ConflictError, Forbidden, NotFoundError, Unauthorized
from mlrelease.names import validate_name
from mlrelease.store import Store, tables

__all__ = [
    "Actor",
    "Role",
    "TokenInfo",
    "Tokens",
    "require",
    "token_hash",
]

# Token events concern no model; "" can never be a model's name (names start with a
# letter or digit), so these events never mix into a model's history.
_NO_MODEL = ""
_SECRET_MARK = "mlr_"
_PREFIX_LENGTH = len(_SECRET_MARK) + 4  # enough to tell tokens apart, too little to matter
_HOW_TO_GET_ONE = (
    "an admin creates one with 'mlrelease token create --name NAME --role ROLE'; "
    "send it as 'Authorization: Bearer TOKEN' (or export MLRELEASE_TOKEN=TOKEN for the CLI)"
)

_T = tables.tokens.c


class Role(IntEnum):
    """What a token may do; each role allows everything the roles below it allow."""

    viewer = 1  # reads models, versions, promotions and events
    operator = 2  # promotes and rolls back
    approver = 3  # approves or rejects promotion requests
    admin = 4  # archives versions and manages tokens

    @classmethod
    def parse(cls, text: str | Role) -> Role:
        if isinstance(text, Role):
            return text
        try:
            return cls[text.strip().lower()]
        except KeyError:
            raise ConfigError(
                f"unknown role {text!r}; roles, lowest first: {', '.join(cls.names())}"
            ) from None

    @classmethod
    def names(cls) -> list[str]:
        return [role.name for role in cls]


@dataclass(frozen=True)
class Actor:
    """Who is acting through the API: the token's name and its role."""

    name: str
    role: Role


@dataclass(frozen=True)
class TokenInfo:
    """A token as listings show it: never the secret, never its hash."""

    name: str
    role: Role
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role.name,
            "prefix": self.prefix,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def require(actor: Actor, role: Role) -> None:
    """Raise Forbidden unless ``actor``'s role is at least ``role``."""
    if actor.role < role:
        raise Forbidden(
            f"token '{actor.name}' has role {actor.role.name}; this needs {role.name}",
            details={"role": actor.role.name, "required": role.name},
        )


class Tokens:
    """API tokens in the metadata store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, name: str, role: Role | str, *, actor: str) -> tuple[TokenInfo, str]:
        """A new token and its secret; the secret cannot be read back later."""
        validate_name(name, what="token name")
        role = Role.parse(role)
        secret = _SECRET_MARK + secrets.token_urlsafe(32)
        values = {
            "name": name,
            "role": role.name,
            "token_hash": token_hash(secret),
            "prefix": secret[:_PREFIX_LENGTH],
            "created_at": datetime.now(UTC),
            "created_by": actor,
            "revoked_at": None,
        }
        try:
            with self.store.write() as connection:
                _insert_or_reuse(connection, values)
                _audit(connection, EventKind.TOKEN_CREATED, name, role, actor)
        except IntegrityError:  # a concurrent create of the same name won
            raise _duplicate(name) from None
        return _info(values), secret

    def list(self) -> builtins.list[TokenInfo]:
        """Every token, active or revoked, by name."""
        with self.store.read() as connection:
            rows = connection.execute(select(tables.tokens).order_by(_T.name)).mappings()
            return [_info(row) for row in rows]

    def revoke(self, name: str, *, actor: str) -> TokenInfo:
        """Revoke an active token at once; requests that carry it get 401 from now on."""
        with self.store.write() as connection:
            row = (
                connection.execute(
                    select(tables.tokens).where(_T.name == name, _T.revoked_at.is_(None))
                )
                .mappings()
                .one_or_none()
            )
            if row is None:
                raise NotFoundError(
                    f"no active token named '{name}'; see 'mlrelease token list'",
                    details={"token": name},
                )
            revoked_at = datetime.now(UTC)
            connection.execute(
                update(tables.tokens).where(_T.id == row["id"]), {"revoked_at": revoked_at}
            )
            _audit(connection, EventKind.TOKEN_REVOKED, name, Role.parse(row["role"]), actor)
        return _info({**row, "revoked_at": revoked_at})

    def authenticate(self, secret: str | None) -> Actor:
        """The actor a secret belongs to; Unauthorized if it is missing, unknown or revoked."""
        if not secret:
            raise Unauthorized(f"an API token is required: {_HOW_TO_GET_ONE}")
        return self.authenticate_hash(token_hash(secret))

    def authenticate_hash(self, hashed: str) -> Actor:
        """The actor whose token has this sha256 (a browser session keeps only the hash)."""
        # Looked up by hash: the secret itself is never compared, stored or logged.
        with self.store.read() as connection:
            row = connection.execute(
                select(_T.name, _T.role, _T.revoked_at).where(_T.token_hash == hashed)
            ).one_or_none()
        if row is None or row.revoked_at is not None:
            raise Unauthorized(f"the API token is unknown or revoked: {_HOW_TO_GET_ONE}")
        return Actor(name=row.name, role=Role.parse(row.role))


def token_hash(secret: str) -> str:
    """The sha256 under which a token's secret is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _insert_or_reuse(connection: Connection, values: dict[str, Any]) -> None:
    """Insert the token, or replace a revoked one of the same name (names are unique)."""
    existing = connection.execute(
        select(_T.id, _T.revoked_at).where(_T.name == values["name"])
    ).one_or_none()
    if existing is None:
        connection.execute(insert(tables.tokens), values)
    elif existing.revoked_at is not None:
        # The revoked token's history stays in the audit log.
        connection.execute(update(tables.tokens).where(_T.id == existing.id), values)
    else:
        raise _duplicate(values["name"])


def _duplicate(name: str) -> ConflictError:
    return ConflictError(
        f"a token named '{name}' already exists; revoke it first "
        f"(mlrelease token revoke {name}) or choose another name",
        details={"token": name},
    )


def _audit(connection: Connection, kind: str, name: str, role: Role, actor: str) -> None:
    record_event(
        connection,
        kind=kind,
        model=_NO_MODEL,
        actor=actor,
        payload={"name": name, "role": role.name},
    )


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        name=row["name"],
        role=Role.parse(row["role"]),
        prefix=row["prefix"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
    )
