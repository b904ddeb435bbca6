"""Stream rows reach the store exactly once, even when a crash comes between store and commit."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select

from mlrelease.client import Client
from mlrelease.data.streams import FolderSource
from mlrelease.monitoring.ingest import ingest
from mlrelease.store import Store, tables

from ._loop import breast_cancer, go_live, make_project


def _drop(folder: Path, name: str, frame: pd.DataFrame) -> None:
    """Write, then rename into the folder (the contract), aged past the settling second."""
    partial = folder / f"{name}.part"
    frame.to_csv(partial, index=False)
    final = folder / name
    partial.rename(final)
    past = time.time() - 5
    os.utime(final, (past, past))


def _stored(store: Store) -> int:
    with store.read() as connection:
        return int(
            connection.execute(select(func.count()).select_from(tables.labelled_rows)).scalar_one()
        )


def test_a_crash_between_storing_and_committing_stores_nothing_twice(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    _drop(folder, "a.csv", pd.DataFrame({"x": range(30), "target": [0, 1] * 15}))

    crashed = FolderSource(folder)
    messages = crashed.poll(max_messages=20)
    with store.write() as connection:  # stored, but the process dies before the commit
        connection.execute(
            tables.labelled_rows.insert(),
            [
                {
                    "model": "m",
                    "source": crashed.name,
                    "key": m.key,
                    "record": m.record,
                    "received_at": pd.Timestamp.now(tz="UTC").to_pydatetime(),
                }
                for m in messages
            ],
        )
    crashed.close()

    again = FolderSource(folder)
    assert ingest(store, "m", again, max_messages=100) == 10  # 20 redelivered, ignored
    assert ingest(store, "m", again) == 0
    assert _stored(store) == 30


def test_the_controller_takes_stream_rows_and_retrains_on_them(isolated_env: Path) -> None:
    project = make_project(isolated_env, extra="  sources: [{folder: incoming}]\n")
    text = project.read_text().replace("on: [drift, accuracy]", "on: [{new_labels: 100}]")
    project.write_text(text)
    (isolated_env / "incoming").mkdir()
    with Client.from_project(project) as client:
        go_live(client)
        watcher = client.watcher()
        assert watcher.tick().fired == []
        _drop(
            isolated_env / "incoming",
            "labels.csv",
            breast_cancer(drifted=True, flip_labels=True, rows=120),
        )
        result = watcher.tick()
        watcher.close()
    assert result.ingested == 120
    assert result.fired == ["new_labels"]
    assert result.retrained is not None and result.retrained.rows_added == 120
    assert result.retrained.version == 2
