"""Traffic state: how an environment's requests are split among versions.

The stable version is the environment's alias; on top of it an environment may
send ``canary_weight`` percent of requests to a canary version and mirror
``shadow_share`` percent to a shadow version (whose answers are never returned).
This is the single thing routers obey; each change is one transaction with its
audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, insert, select, update

from mlrelease.audit import EventKind, record_event
from mlrelease.errors import ConfigError, ConflictError, ModelNotFoundError, VersionNotFoundError
from mlrelease.names import validate_name
from mlrelease.registry.records import VersionStatus
from mlrelease.store import Store, tables

__all__ = ["TrafficState", "get_traffic", "set_traffic", "write_traffic"]

_T = tables.traffic.c
_M = tables.models.c
_V = tables.versions.c
_A = tables.aliases.c


@dataclass(frozen=True)
class TrafficState:
    model: str
    environment: str
    stable: int | None  # the alias; None while nothing is live
    canary: int | None = None
    canary_weight: int = 0  # percent of requests, 0-100
    shadow: int | None = None
    shadow_share: int = 0  # percent of requests mirrored, 0-100

    @property
    def versions(self) -> set[int]:
        """Every version a server of this environment must hold in memory."""
        return {v for v in (self.stable, self.canary, self.shadow) if v is not None}


_STATE = (
    select(_M.id.label("model_id"), _V.version.label("stable"), tables.traffic)
    .select_from(
        tables.models.outerjoin(
            tables.aliases, (_A.model_id == _M.id) & (_A.environment == bindparam("environment"))
        )
        .outerjoin(tables.versions, _V.id == _A.version_id)
        .outerjoin(
            tables.traffic, (_T.model_id == _M.id) & (_T.environment == bindparam("environment"))
        )
    )
    .where(_M.name == bindparam("model"))
)


def get_traffic(connection: Connection, model: str, environment: str) -> TrafficState:
    """The current split of ``environment``; one indexed query, cheap enough to poll."""
    row = connection.execute(_STATE, {"model": model, "environment": environment}).first()
    if row is None:
        raise ModelNotFoundError(f"no model named '{model}'; see 'mlrelease models'")
    return TrafficState(
        model=model,
        environment=environment,
        stable=row.stable,
        canary=row.canary_version,
        canary_weight=row.canary_weight or 0,
        shadow=row.shadow_version,
        shadow_share=row.shadow_share or 0,
    )


def set_traffic(
    store: Store,
    model: str,
    environment: str,
    *,
    canary: int | None,
    canary_weight: int,
    shadow: int | None = None,
    shadow_share: int = 0,
    actor: str,
    reason: str = "",
) -> TrafficState:
    """Replace the canary and shadow settings of ``environment`` in one transaction."""
    with store.write() as connection:
        return write_traffic(
            connection,
            model,
            environment,
            canary=canary,
            canary_weight=canary_weight,
            shadow=shadow,
            shadow_share=shadow_share,
            actor=actor,
            reason=reason,
        )


def write_traffic(
    connection: Connection,
    model: str,
    environment: str,
    *,
    canary: int | None,
    canary_weight: int,
    shadow: int | None = None,
    shadow_share: int = 0,
    actor: str,
    reason: str = "",
) -> TrafficState:
    """``set_traffic`` inside the caller's transaction (a release step, with its own state)."""
    validate_name(environment, what="environment name")
    _check_percent("canary weight", canary_weight, canary)
    _check_percent("shadow share", shadow_share, shadow)
    before = get_traffic(connection, model, environment)
    if before.stable is None and (canary is not None or shadow is not None):
        raise ConflictError(
            f"nothing is live in {environment} for '{model}' yet; a canary or shadow needs a "
            "stable version to compare with: promote one first"
        )
    for role, number in (("canary", canary), ("shadow", shadow)):
        if number is not None:
            _require_servable(connection, model, number, role, before.stable)
    model_id = connection.execute(select(_M.id).where(_M.name == model)).scalar_one()
    _write(connection, model_id, environment, canary, canary_weight, shadow, shadow_share, actor)
    after = TrafficState(
        model, environment, before.stable, canary, canary_weight, shadow, shadow_share
    )
    record_event(
        connection,
        kind=EventKind.TRAFFIC_CHANGED,
        model=model,
        actor=actor,
        environment=environment,
        from_version=before.stable,
        to_version=canary,
        reason=reason,
        payload={"before": _describe(before), "after": _describe(after)},
    )
    return after


def _check_percent(what: str, value: int, version: int | None) -> None:
    if not 0 <= value <= 100:
        raise ConfigError(f"{what} must be between 0 and 100 (got {value})")
    if version is None and value:
        raise ConfigError(f"a {what} of {value} needs a version to send it to")


def _require_servable(
    connection: Connection, model: str, number: int, role: str, stable: int | None
) -> None:
    status = connection.execute(
        select(_V.status)
        .join(tables.models, _V.model_id == _M.id)
        .where(_M.name == model, _V.version == number)
    ).scalar_one_or_none()
    if status is None:
        raise VersionNotFoundError(
            f"{role}: model '{model}' has no version {number}; see 'mlrelease versions {model}'"
        )
    if status == VersionStatus.ARCHIVED:
        raise ConflictError(f"{role}: {model} version {number} is archived and cannot serve")
    if number == stable:
        raise ConflictError(f"{role}: version {number} is already the stable version")


def _write(
    connection: Connection,
    model_id: int,
    environment: str,
    canary: int | None,
    canary_weight: int,
    shadow: int | None,
    shadow_share: int,
    actor: str,
) -> None:
    values = {
        "canary_version": canary,
        "canary_weight": canary_weight,
        "shadow_version": shadow,
        "shadow_share": shadow_share,
        "updated_at": datetime.now(UTC),
        "updated_by": actor,
    }
    key = (_T.model_id == model_id) & (_T.environment == environment)
    if connection.execute(select(_T.model_id).where(key)).first() is None:
        connection.execute(
            insert(tables.traffic).values(model_id=model_id, environment=environment, **values)
        )
    else:
        connection.execute(update(tables.traffic).where(key).values(**values))


def _describe(state: TrafficState) -> dict[str, int | None]:
    return {
        "stable": state.stable,
        "canary": state.canary,
        "canary_weight": state.canary_weight,
        "shadow": state.shadow,
        "shadow_share": state.shadow_share,
    }
