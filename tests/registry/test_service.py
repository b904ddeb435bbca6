"""The registry: numbered immutable versions, atomic aliases, audit events, clear errors."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from mlrelease.artifacts import open_artifact_store
from mlrelease.audit import list_events
from mlrelease.errors import (
    AliasNotFoundError,
    ConfigError,
    ConflictError,
    ModelNotFoundError,
    VersionNotFoundError,
)
from mlrelease.names import ModelRef
from mlrelease.registry.records import NewVersion
from mlrelease.registry.service import Registry
from mlrelease.store import Store


def _new(metric: float = 0.9) -> NewVersion:
    return NewVersion(
        flavor="function",
        artifact_uri="file:///nowhere",
        artifact_sha256="0" * 64,
        signature={"inputs": [{"name": "x", "kind": "float"}], "task": "regression"},
        metrics={"r2": metric},
    )


def test_versions_are_numbered_from_one_per_model(registry: Registry) -> None:
    numbers = [registry.register("a", "regression", _new(), actor="t").version for _ in range(3)]
    other = registry.register("b", "regression", _new(), actor="t")
    assert numbers == [1, 2, 3]
    assert other.version == 1
    assert [v.version for v in registry.versions("a")] == [1, 2, 3]
    assert registry.model("a").latest_version == 3


def test_registering_with_an_alias_moves_it_in_the_same_transaction(registry: Registry) -> None:
    registry.register("m", "regression", _new(), actor="alice", alias="dev")
    assert registry.alias_version("m", "dev") == 1
    registry.register("m", "regression", _new(), actor="alice", alias="dev")
    assert registry.alias_version("m", "dev") == 2
    assert registry.model("m").aliases == {"dev": 2}


def test_alias_moves_are_recorded_with_actor_and_previous_version(registry: Registry) -> None:
    registry.register("m", "regression", _new(), actor="alice")
    registry.register("m", "regression", _new(), actor="alice")
    assert registry.set_alias("m", "production", 2, actor="bob", reason="ship") is None
    assert registry.set_alias("m", "production", 1, actor="carol", reason="rollback") == 2
    with registry.store.read() as connection:
        moves = [e for e in list_events(connection, model="m") if e.kind == "alias.moved"]
    assert [(e.actor, e.from_version, e.to_version, e.reason) for e in moves] == [
        ("bob", None, 2, "ship"),
        ("carol", 2, 1, "rollback"),
    ]


def test_resolving_references(registry: Registry) -> None:
    registry.register("m", "regression", _new(0.5), actor="t", alias="staging")
    registry.register("m", "regression", _new(0.7), actor="t")
    assert registry.resolve(ModelRef.parse("models:/m@staging")).version == 1
    assert registry.resolve(ModelRef.parse("m/2")).metrics == {"r2": 0.7}


def test_lookups_of_what_does_not_exist_say_what_to_do(registry: Registry) -> None:
    registry.register("m", "regression", _new(), actor="t")
    with pytest.raises(ModelNotFoundError, match="mlrelease models"):
        registry.versions("nope")
    with pytest.raises(VersionNotFoundError, match="mlrelease versions m"):
        registry.version("m", 9)
    with pytest.raises(AliasNotFoundError, match="production"):
        registry.resolve(ModelRef("m", env="production"))
    with pytest.raises(VersionNotFoundError):
        registry.set_alias("m", "dev", 5, actor="t")
    assert registry.alias_version("m", "production") is None


def test_a_model_keeps_its_task(registry: Registry) -> None:
    registry.register("m", "regression", _new(), actor="t")
    with pytest.raises(ConflictError, match="regression model"):
        registry.register("m", "classification", _new(), actor="t")
    assert [v.version for v in registry.versions("m")] == [1]


@pytest.mark.parametrize("name", ["../evil", "a/b", "", "x" * 200, "%2e%2e", "bad name"])
def test_unsafe_names_are_refused_before_anything_is_written(registry: Registry, name: str) -> None:
    with pytest.raises(ConfigError, match="not allowed"):
        registry.register(name, "regression", _new(), actor="t")
    assert registry.models() == []


def _register_many(db_url: str, artifacts: str, count: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = Store.open(db_url)
    registry = Registry(store, open_artifact_store(artifacts))
    try:
        queue.put(
            [
                registry.register("race", "regression", _new(), actor="p").version
                for _ in range(count)
            ]
        )
    finally:
        store.close()


def test_eight_processes_registering_at_once_get_distinct_numbers(
    db_url: str, tmp_path: Path
) -> None:
    Store.open(db_url).close()  # create the schema once, as `mlrelease db upgrade` would
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [
        context.Process(target=_register_many, args=(db_url, str(tmp_path / "a"), 5, queue))
        for _ in range(8)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    numbers = sorted(n for batch in results for n in batch)
    assert numbers == list(range(1, 41))
