"""Run records on both metadata backends: progress, logs, metric series, look-ups."""

from __future__ import annotations

import pytest

from mlrelease.errors import RunNotFoundError
from mlrelease.pipeline.runs import (
    RunRecorder,
    RunStatus,
    get_run,
    last_successful_run,
    list_runs,
    metric_history,
)
from mlrelease.store import Store


def test_a_run_is_visible_as_it_progresses_and_when_it_ends(store: Store) -> None:
    recorder = RunRecorder.start(store, model_name="m", project_path="/p/mlrelease.yaml")
    recorder.step_done("load", "ok", 0.5, "10 rows")
    recorder.log("hello", "warning")
    running, _ = get_run(store, recorder.id)
    assert running.status == RunStatus.RUNNING and running.finished_at is None
    assert running.steps == [{"name": "load", "status": "ok", "seconds": 0.5, "detail": "10 rows"}]

    recorder.finish(RunStatus.SUCCEEDED, cache_key="k1", model_version=3, metrics={"r2": 0.5})
    done, logs = get_run(store, recorder.id[:8])
    assert done.status == RunStatus.SUCCEEDED and done.model_version == 3
    assert done.duration_seconds is not None and done.duration_seconds >= 0
    assert [(log.level, log.message) for log in logs] == [("warning", "hello")]


def test_metric_series_keep_their_steps_in_order(store: Store) -> None:
    recorder = RunRecorder.start(store, model_name="m")
    for step, value in enumerate([0.9, 0.5, 0.3]):
        recorder.log_metric("loss", value, step=step)
    assert metric_history(store, recorder.id, "loss") == [(0, 0.9), (1, 0.5), (2, 0.3)]


def test_the_last_successful_run_can_be_looked_up_by_cache_key(store: Store) -> None:
    first = RunRecorder.start(store, model_name="m")
    first.finish(RunStatus.SUCCEEDED, cache_key="a")
    failed = RunRecorder.start(store, model_name="m")
    failed.finish(RunStatus.GATE_FAILED, cache_key="b")
    assert last_successful_run(store, "m", cache_key="a").id == first.id  # type: ignore[union-attr]
    assert last_successful_run(store, "m", cache_key="b") is None
    assert last_successful_run(store, "other") is None
    assert [run.id for run in list_runs(store, model="m")] == [failed.id, first.id]


@pytest.mark.parametrize(("prefix", "message"), [("abc", "too short"), ("ffffffff", "no run")])
def test_unknown_or_short_run_ids_say_what_to_do(store: Store, prefix: str, message: str) -> None:
    with pytest.raises(RunNotFoundError, match=message):
        get_run(store, prefix)
