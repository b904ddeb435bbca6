"""The registry: models, their numbered immutable versions, and aliases.

Version numbers are handed out inside the registering transaction while the
model's row is locked (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
SQLite), so concurrent registrations queue and never share a number. An alias
moves in one transaction together with its audit event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from mlrelease.artifacts import ArtifactStore
from mlrelease.audit import EventInfo, EventKind, record_event
from mlrelease.errors import (
    AliasNotFoundError,
    ConflictError,
    ModelNotFoundError,
    VersionNotFoundError,
)
from mlrelease.names import ModelRef, validate_name
from mlrelease.registry.flavors import LoadedModel, get_flavor
from mlrelease.registry.flavors.linear import FILENAME as LINEAR_FILENAME
from mlrelease.registry.flavors.linear import FORMAT as LINEAR_FORMAT
from mlrelease.registry.flavors.linear import LinearForm, LinearModel
from mlrelease.registry.packaging import SavedModel, linear_form
from mlrelease.registry.records import ModelInfo, NewVersion, VersionInfo, VersionStatus
from mlrelease.store import Store, tables

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Registry", "lock_model", "move_alias", "version_row"]

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
        now = datetime.now(UTC)
        with self.store.write() as connection:
            locked = connection.execute(_LOCK_MODEL, {"name": model}).one_or_none()
            if locked is None:
                self._create_model(connection, model, task, actor=actor, now=now)
                locked = connection.execute(_LOCK_MODEL, {"name": model}).one()
            if locked.task != task:
                raise ConflictError(
                    f"model '{model}' is a {locked.task} model; cannot register a {task} "
                    "version under it (use another model name)"
                )
            model_id = locked.id
            number = connection.execute(_NEXT_NUMBER, {"model_id": model_id}).scalar_one()
            values = {
                "model_id": model_id,
                "version": number,
                "status": VersionStatus.READY,
                "created_at": now,
                "created_by": actor,
                **_version_values(new),
            }
            version_id = connection.execute(_INSERT_VERSION, values).scalar_one()
            record_event(
                connection,
                kind=EventKind.VERSION_REGISTERED,
                model=model,
                actor=actor,
                to_version=number,
                payload={"run_id": new.run_id, "metrics": new.metrics},
            )
            if alias is not None:
                move_alias(connection, model, model_id, alias, version_id, number, actor=actor)
        values.pop("model_id")
        return VersionInfo(model=model, **values)

    def set_alias(
        self, model: str, environment: str, version: int, *, actor: str, reason: str = ""
    ) -> int | None:
        """Point ``environment``'s alias at ``version``; returns the version it pointed at."""
        validate_name(environment, what="environment name")
        with self.store.write() as connection:
            model_id, _ = lock_model(connection, model)
            version_id, status = version_row(connection, model_id, version)
            if status == VersionStatus.ARCHIVED:
                raise ConflictError(f"{model} version {version} is archived and cannot go live")
            event = move_alias(
                connection,
                model,
                model_id,
                environment,
                version_id,
                version,
                actor=actor,
                reason=reason,
            )
            return event.from_version

    def _create_model(
        self, connection: Connection, name: str, task: str, *, actor: str, now: datetime
    ) -> None:
        # Another writer may create it first: then nothing is inserted and no event logged.
        statement = _INSERT_MODEL_IF_MISSING[self.store.dialect]
        values = {"name": name, "task": task, "description": "", "created_at": now}
        if connection.execute(statement, values).first() is not None:
            record_event(connection, kind=EventKind.MODEL_CREATED, model=name, actor=actor)

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

    def load_for_serving(self, version: VersionInfo) -> LoadedModel:
        """What a server predicts with: the version's linear form where it has one
        (numpy only: milliseconds to load, no scikit-learn import), else its artifact
        through its flavor. The artifact is sha256-verified either way, so a version
        whose artifact was changed is refused whatever it is served from."""
        form = version.serving_form
        if form.get("format") == LINEAR_FORMAT:
            self.artifacts.fetch(version.artifact_uri, version.artifact_sha256)
            data = self.artifacts.read_bytes(form["uri"], form["sha256"])
            return LinearModel(LinearForm.from_bytes(data, where=form["uri"]))
        return self.load_model(version)

    def store_serving_form(self, saved: SavedModel, sample: pd.DataFrame) -> dict[str, Any]:
        """Store the linear form of a model about to be registered, if it has one; the
        reference to record as its ``serving_form`` (``{}`` when it has none)."""
        form = linear_form(saved, sample)
        if form is None:
            return {}
        stored = self.artifacts.put_bytes(form.to_bytes(), LINEAR_FILENAME)
        return {"format": LINEAR_FORMAT, "uri": stored.uri, "sha256": stored.sha256}

    @staticmethod
    def _require_model(connection: Connection, name: str) -> None:
        if connection.execute(select(_M.id).where(_M.name == name)).first() is None:
            raise ModelNotFoundError(_no_model_message(name))


def lock_model(connection: Connection, name: str) -> tuple[int, str]:
    """Lock ``name``'s row for the rest of the transaction; returns (id, task).

    Every change to a model's versions or aliases takes this lock first, so such
    changes to one model happen one after another on PostgreSQL too.
    """
    row = connection.execute(_LOCK_MODEL, {"name": name}).one_or_none()
    if row is None:
        raise ModelNotFoundError(_no_model_message(name))
    return int(row.id), str(row.task)


def version_row(connection: Connection, model_id: int, version: int) -> tuple[int, str]:
    """The (id, status) of one version; raises VersionNotFoundError naming the command to list."""
    row = connection.execute(_VERSION_ID, {"model_id": model_id, "version": version}).one_or_none()
    if row is None:
        raise VersionNotFoundError(_no_version_message(connection, model_id, version))
    return int(row.id), str(row.status)


def _no_version_message(connection: Connection, model_id: int, version: int) -> str:
    name = connection.execute(select(_M.name).where(_M.id == model_id)).scalar_one()
    return f"model '{name}' has no version {version}; see 'mlrelease versions {name}'"


def move_alias(
    connection: Connection,
    model: str,
    model_id: int,
    environment: str,
    version_id: int,
    version: int,
    *,
    actor: str,
    reason: str = "",
    kind: str = EventKind.ALIAS_MOVED,
    payload: dict[str, Any] | None = None,
) -> EventInfo:
    """Point the alias at ``version`` and record ``kind``; the caller holds the model lock."""
    key = {"model_id": model_id, "environment": environment}
    previous = connection.execute(_ALIAS_OF_MODEL, key).scalar_one_or_none()
    values = {"version_id": version_id, "updated_at": datetime.now(UTC), "updated_by": actor}
    if previous is None:
        connection.execute(_INSERT_ALIAS, {**key, **values})
    else:
        connection.execute(_UPDATE_ALIAS, {"b_model_id": model_id, "b_env": environment, **values})
    return record_event(
        connection,
        kind=kind,
        model=model,
        actor=actor,
        environment=environment,
        from_version=previous,
        to_version=version,
        reason=reason,
        payload=payload,
    )


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
        "serving_form": new.serving_form,
    }


def _version_select() -> Any:
    return select(_M.name.label("model"), tables.versions).join(tables.models, _V.model_id == _M.id)


def _version_info(row: Row[Any]) -> VersionInfo:
    data = row._asdict()
    data.pop("id")
    data.pop("model_id")
    return VersionInfo(**data)


# Statements are built once: compiling is cached, and parameters travel separately,
# which keeps the per-call cost to the database round trip.
# The model row is the lock that serialises version numbering on PostgreSQL. The next
# number is read by a separate statement *after* the lock is held: a subquery in the
# locking statement would see the snapshot from before it waited.
_LOCK_MODEL = select(_M.id, _M.task).where(_M.name == bindparam("name")).with_for_update()
_NEXT_NUMBER = select(func.coalesce(func.max(_V.version), 0) + 1).where(
    _V.model_id == bindparam("model_id")
)
_INSERT_MODEL_IF_MISSING = {
    "sqlite": sqlite.insert(tables.models)
    .on_conflict_do_nothing(index_elements=["name"])
    .returning(_M.id),
    "postgresql": postgresql.insert(tables.models)
    .on_conflict_do_nothing(index_elements=["name"])
    .returning(_M.id),
}
_INSERT_VERSION = insert(tables.versions).returning(_V.id)
_VERSION_ID = select(_V.id, _V.status).where(
    _V.model_id == bindparam("model_id"), _V.version == bindparam("version")
)
_ALIAS_OF_MODEL = (
    select(_V.version)
    .select_from(tables.aliases.join(tables.versions, _A.version_id == _V.id))
    .where(_A.model_id == bindparam("model_id"), _A.environment == bindparam("environment"))
)
_INSERT_ALIAS = insert(tables.aliases)
_UPDATE_ALIAS = (
    update(tables.aliases)
    .where(_A.model_id == bindparam("b_model_id"), _A.environment == bindparam("b_env"))
    .values(
        version_id=bindparam("version_id"),
        updated_at=bindparam("updated_at"),
        updated_by=bindparam("updated_by"),
    )
)
_ALIAS_LOOKUP = (
    select(_V.version)
    .select_from(
        tables.aliases.join(tables.models, _A.model_id == _M.id).join(
            tables.versions, _A.version_id == _V.id
        )
    )
    .where(_M.name == bindparam("model"), _A.environment == bindparam("environment"))
)
