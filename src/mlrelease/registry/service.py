"""The registry: models, their numbered immutable versions, and aliases.

Version numbers are handed out inside the registering transaction while the
model's row is locked (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
SQLite), so concurrent registrations queue and never share a number. An alias
moves in one transaction together with its audit event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from mlrelease.artifacts import ArtifactStore
from mlrelease.audit import EventKind, record_event
from mlrelease.errors import (
    AliasNotFoundError,
    ConflictError,
    ModelNotFoundError,
    VersionNotFoundError,
)
from mlrelease.names import ModelRef, validate_name
from mlrelease.registry.flavors import LoadedModel, get_flavor
from mlrelease.registry.records import ModelInfo, NewVersion, VersionInfo, VersionStatus
from mlrelease.store import Store, tables

__all__ = ["Registry"]

_V = tables.versions.c
_M = tables.models.c
_A = tables.aliases.c


class Registry:
    """Reads and writes models, versions and aliases in one metadata store."""

    def __init__(
        self, store: Store, artifacts: ArtifactStore, *, trusted_types: Sequence[str] = ()
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.trusted_types = tuple(trusted_types)

    # -- writing ------------------------------------------------------------------

    def register(
        self, model: str, task: str, new: NewVersion, *, actor: str, alias: str | None = None
    ) -> VersionInfo:
        """Add the next version of ``model`` (creating the model on first use).

        With ``alias``, the environment's alias moves to the new version in the same
        transaction: either both happen or neither does.
        """
        validate_name(model, what="model name")
        if alias is not None:
            validate_name(alias, what="environment name")
        self._create_model_if_missing(model, task, actor=actor)
        with self.store.write() as connection:
            model_id, model_task = self._lock_model(connection, model)
            if model_task != task:
                raise ConflictError(
                    f"model '{model}' is a {model_task} model; cannot register a {task} version "
                    "under it (use another model name)"
                )
            number = self._next_number(connection, model_id)
            now = datetime.now(UTC)
            version_id = connection.execute(
                insert(tables.versions)
                .values(
                    model_id=model_id,
                    version=number,
                    status=VersionStatus.READY,
                    created_at=now,
                    created_by=actor,
                    **_version_values(new),
                )
                .returning(_V.id)
            ).scalar_one()
            record_event(
                connection,
                kind=EventKind.VERSION_REGISTERED,
                model=model,
                actor=actor,
                to_version=number,
                payload={"run_id": new.run_id, "metrics": new.metrics},
            )
            if alias is not None:
                self._move_alias(connection, model, model_id, alias, version_id, number, actor, "")
            row = connection.execute(_version_select().where(_V.id == version_id)).one()
        return _version_info(row)

    def set_alias(
        self, model: str, environment: str, version: int, *, actor: str, reason: str = ""
    ) -> int | None:
        """Point ``environment``'s alias at ``version``; returns the version it pointed at."""
        validate_name(environment, what="environment name")
        with self.store.write() as connection:
            model_id, _ = self._lock_model(connection, model)
            target = connection.execute(
                select(_V.id, _V.status).where(_V.model_id == model_id, _V.version == version)
            ).one_or_none()
            if target is None:
                raise VersionNotFoundError(
                    f"model '{model}' has no version {version}; see 'mlrelease versions {model}'"
                )
            if target.status == VersionStatus.ARCHIVED:
                raise ConflictError(f"{model} version {version} is archived and cannot go live")
            return self._move_alias(
                connection, model, model_id, environment, target.id, version, actor, reason
            )

    def _create_model_if_missing(self, name: str, task: str, *, actor: str) -> None:
        with self.store.write() as connection:
            dialect = postgresql if self.store.dialect == "postgresql" else sqlite
            created = connection.execute(
                dialect.insert(tables.models)
                .values(name=name, task=task, description="", created_at=datetime.now(UTC))
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(_M.id)
            ).first()
            if created is not None:
                record_event(connection, kind=EventKind.MODEL_CREATED, model=name, actor=actor)

    def _lock_model(self, connection: Connection, name: str) -> tuple[int, str]:
        row = connection.execute(
            select(_M.id, _M.task).where(_M.name == name).with_for_update()
        ).one_or_none()
        if row is None:
            raise ModelNotFoundError(_no_model_message(name))
        return int(row.id), str(row.task)

    @staticmethod
    def _next_number(connection: Connection, model_id: int) -> int:
        latest = connection.execute(
            select(func.max(_V.version)).where(_V.model_id == model_id)
        ).scalar_one()
        return 1 if latest is None else int(latest) + 1

    @staticmethod
    def _move_alias(
        connection: Connection,
        model: str,
        model_id: int,
        environment: str,
        version_id: int,
        version: int,
        actor: str,
        reason: str,
    ) -> int | None:
        previous = connection.execute(
            select(_V.version)
            .select_from(tables.aliases.join(tables.versions, _A.version_id == _V.id))
            .where(_A.model_id == model_id, _A.environment == environment)
        ).scalar_one_or_none()
        values = {"version_id": version_id, "updated_at": datetime.now(UTC), "updated_by": actor}
        if previous is None:
            connection.execute(
                insert(tables.aliases).values(model_id=model_id, environment=environment, **values)
            )
        else:
            connection.execute(
                update(tables.aliases)
                .where(_A.model_id == model_id, _A.environment == environment)
                .values(**values)
            )
        record_event(
            connection,
            kind=EventKind.ALIAS_MOVED,
            model=model,
            actor=actor,
            environment=environment,
            from_version=previous,
            to_version=version,
            reason=reason,
        )
        return previous

    # -- reading ------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        with self.store.read() as connection:
            latest: dict[int, int] = dict(
                connection.execute(
                    select(_V.model_id, func.max(_V.version)).group_by(_V.model_id)
                ).all()
            )
            aliases: dict[int, dict[str, int]] = {}
            for model_id, env, version in connection.execute(
                select(_A.model_id, _A.environment, _V.version).join(
                    tables.versions, _A.version_id == _V.id
                )
            ):
                aliases.setdefault(model_id, {})[env] = version
            rows = connection.execute(select(tables.models).order_by(_M.name)).all()
        return [
            ModelInfo(
                name=row.name,
                task=row.task,
                description=row.description,
                created_at=row.created_at,
                latest_version=latest.get(row.id),
                aliases=aliases.get(row.id, {}),
            )
            for row in rows
        ]

    def model(self, name: str) -> ModelInfo:
        for info in self.models():
            if info.name == name:
                return info
        raise ModelNotFoundError(_no_model_message(name))

    def versions(self, model: str) -> list[VersionInfo]:
        with self.store.read() as connection:
            self._require_model(connection, model)
            rows = connection.execute(
                _version_select().where(_M.name == model).order_by(_V.version)
            ).all()
        return [_version_info(row) for row in rows]

    def version(self, model: str, version: int) -> VersionInfo:
        with self.store.read() as connection:
            row = connection.execute(
                _version_select().where(_M.name == model, _V.version == version)
            ).one_or_none()
            if row is None:
                self._require_model(connection, model)
                raise VersionNotFoundError(
                    f"model '{model}' has no version {version}; see 'mlrelease versions {model}'"
                )
        return _version_info(row)

    def alias_version(self, model: str, environment: str) -> int | None:
        """The version live in ``environment``, or None. The hot path: one indexed query."""
        with self.store.engine.connect() as connection:
            return connection.execute(
                _ALIAS_LOOKUP, {"model": model, "environment": environment}
            ).scalar_one_or_none()

    def resolve(self, ref: ModelRef) -> VersionInfo:
        if ref.version is not None:
            return self.version(ref.model, ref.version)
        assert ref.env is not None
        number = self.alias_version(ref.model, ref.env)
        if number is None:
            self.model(ref.model)
            raise AliasNotFoundError(
                f"no version of '{ref.model}' is in {ref.env} yet; register one with "
                f"'mlrelease run' or point the alias with a promotion"
            )
        return self.version(ref.model, number)

    def load_model(self, version: VersionInfo) -> LoadedModel:
        """Fetch the artifact, verify its sha256, and load it with its flavor.

        Trusted: the project's ``trusted_types`` plus those recorded when the artifact
        was saved -- safe because the bytes are verified to be the ones saved.
        """
        path = self.artifacts.fetch(version.artifact_uri, version.artifact_sha256)
        trusted = (*self.trusted_types, *version.trusted_types)
        return get_flavor(version.flavor).load(path, trusted_types=trusted)

    @staticmethod
    def _require_model(connection: Connection, name: str) -> None:
        if connection.execute(select(_M.id).where(_M.name == name)).first() is None:
            raise ModelNotFoundError(_no_model_message(name))


def _no_model_message(name: str) -> str:
    return f"no model named '{name}'; see 'mlrelease models' for the registered ones"


def _version_values(new: NewVersion) -> dict[str, Any]:
    return {
        "flavor": new.flavor,
        "artifact_uri": new.artifact_uri,
        "artifact_sha256": new.artifact_sha256,
        "params": new.params,
        "metrics": new.metrics,
        "signature": new.signature,
        "profile": new.profile,
        "lineage": new.lineage,
        "gate_results": new.gate_results,
        "evaluation": new.evaluation,
        "trusted_types": list(new.trusted_types),
        "run_id": new.run_id,
    }


def _version_select() -> Any:
    return select(_M.name.label("model"), tables.versions).join(tables.models, _V.model_id == _M.id)


def _version_info(row: Row[Any]) -> VersionInfo:
    data = row._asdict()
    data.pop("id")
    data.pop("model_id")
    return VersionInfo(**data)


_ALIAS_LOOKUP = (
    select(_V.version)
    .select_from(
        tables.aliases.join(tables.models, _A.model_id == _M.id).join(
            tables.versions, _A.version_id == _V.id
        )
    )
    .where(_M.name == bindparam("model"), _A.environment == bindparam("environment"))
)
