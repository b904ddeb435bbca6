"""Reliability of the data plane: load while the alias moves, the canary split, the shadow.

* REAL PROCESS: 32 concurrent clients for 10 s against `mlrelease serve` while the
  test moves the production alias v1 -> v2 -> v1; no request may fail, and every
  answer must come from a version live at some moment between its request and its
  response (the server follows the store by polling, so "live" runs from the
  alias move until a probe sees the new version).
* In-process (httpx over ASGI, no sockets): 10,000 requests per canary weight; the
  canary's share is 0 at weight 0 and binomially close to 20% at weight 20.
* In-process: mirroring every request to a shadow never changes an answer.
* The request id a server answers with must be one its prediction log and its
  /feedback endpoint accept (and one client's id must not cost others their
  logged rows, on PostgreSQL where the column's length is enforced).

No test asserts how long anything takes; every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mlrelease.client import Client
from mlrelease.serving.app import ServeOptions, create_app
from mlrelease.serving.feedback import labelled_predictions
from mlrelease.serving.predlog import PredictionLog
from mlrelease.serving.runtime import Runtime
from mlrelease.traffic import set_traffic

from .conftest import MODEL, AppFactory, Served
from .test_process import running_server

CLIENTS = 32
LOAD_SECONDS = 10.0
FOLLOW_TIMEOUT = 30.0  # seconds for the server to serve a version the alias moved to
SPLIT_REQUESTS = 10_000


def _row(served: Served, index: int) -> list[float]:
    return [float(value) for value in served.X.iloc[index % len(served.X)]]


# -- 32 clients against a real server while the alias moves --------------------------


@dataclass(frozen=True)
class Answer:
    client: int
    sent: float  # time.monotonic() before the request
    received: float  # ... and after its response (or error)
    status: int  # -1: no HTTP answer at all
    version: int | None
    header: str | None
    role: str | None
    error: str


@dataclass(frozen=True)
class Move:
    version: int
    started: float  # just before the alias was written
    seen: float  # a probe request got an answer from this version


def _answer(client: int, sent: float, response: httpx.Response | Exception) -> Answer:
    received = time.monotonic()
    if isinstance(response, Exception):
        return Answer(client, sent, received, -1, None, None, None, repr(response))
    body: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        body = response.json()
    return Answer(
        client,
        sent,
        received,
        response.status_code,
        body.get("version"),
        response.headers.get("x-model-version"),
        body.get("role"),
        response.text[:200] if response.status_code != 200 else "",
    )


async def _until_served(http: httpx.AsyncClient, version: int, features: list[float]) -> float:
    """Probe until an answer comes from ``version``; when it arrived."""
    deadline = time.monotonic() + FOLLOW_TIMEOUT
    while time.monotonic() < deadline:
        response = await http.post("/predict", json={"features": features})
        if response.status_code == 200 and response.json()["version"] == version:
            return time.monotonic()
        await asyncio.sleep(0.05)
    raise AssertionError(f"the server did not serve v{version} within {FOLLOW_TIMEOUT:.0f} s")


async def _load_while_moving(
    served: Served, url: str, move: Callable[[int], Awaitable[None]]
) -> tuple[list[Answer], list[Move]]:
    answers: list[Answer] = []
    moves: list[Move] = []
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=CLIENTS + 1, max_keepalive_connections=CLIENTS + 1)
    async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as http:

        async def client(index: int) -> None:
            n = index
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    response: httpx.Response | Exception = await http.post(
                        "/predict", json={"features": _row(served, n)}
                    )
                except httpx.HTTPError as exc:
                    response = exc
                answers.append(_answer(index, sent, response))
                n += CLIENTS

        async def mover() -> None:
            start = time.monotonic()
            for version in (2, 1):
                await asyncio.sleep(LOAD_SECONDS / 3)
                started = time.monotonic()
                await move(version)
                seen = await _until_served(http, version, _row(served, 0))
                moves.append(Move(version, started, seen))
            await asyncio.sleep(max(0.0, start + LOAD_SECONDS - time.monotonic()))

        clients = [asyncio.create_task(client(index)) for index in range(CLIENTS)]
        try:
            await mover()
        finally:
            stop.set()
            await asyncio.gather(*clients)
    return answers, moves


def _live_between(moves: list[Move], start: float, end: float) -> set[int]:
    """Versions that may answer a request in flight from ``start`` to ``end``.

    v1 is live from the beginning; each move makes both the old and the new version
    possible from ``started`` until ``seen``, and only the new one after that.
    """
    periods: list[tuple[float, float, set[int]]] = []
    begin, current = -math.inf, 1
    for move in moves:
        periods.append((begin, move.started, {current}))
        periods.append((move.started, move.seen, {current, move.version}))
        begin, current = move.seen, move.version
    periods.append((begin, math.inf, {current}))
    live: set[int] = set()
    for low, high, versions in periods:
        if start <= high and end >= low:
            live |= versions
    return live


def _compress(versions: list[int]) -> list[int]:
    return [v for i, v in enumerate(versions) if i == 0 or versions[i - 1] != v]


def _is_subsequence(part: list[int], whole: list[int]) -> bool:
    remaining = iter(whole)
    return all(any(item == other for other in remaining) for item in part)


def test_real_server_process_answers_32_clients_while_the_alias_moves_twice(
    served: Served, isolated_env: Path, tmp_path: Path
) -> None:
    registry = served.client.registry

    async def move(version: int) -> None:
        await asyncio.to_thread(registry.set_alias, MODEL, "production", version, actor="tester")

    with running_server(
        isolated_env, tmp_path / "logs", "--model", MODEL, "--env", "production"
    ) as server:
        server.wait_ready()
        answers, moves = asyncio.run(
            asyncio.wait_for(
                _load_while_moving(served, server.url, move),
                timeout=LOAD_SECONDS + 2 * FOLLOW_TIMEOUT + 60,
            )
        )
        assert server.process.poll() is None, server.output()  # it stayed up throughout

    failed = [answer for answer in answers if answer.status != 200]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed, e.g. {failed[:3]}"
    assert [move.version for move in moves] == [2, 1]
    assert all(answer.header == str(answer.version) for answer in answers)
    assert {answer.role for answer in answers} == {"stable"}
    wrong = [
        answer
        for answer in answers
        if answer.version not in _live_between(moves, answer.sent, answer.received)
    ]
    assert not wrong, f"{len(wrong)} answers from a version not live then, e.g. {wrong[:3]}"
    # Each client sends one request at a time, and a swap is one reference change:
    # what one client sees can only follow the alias, v1 -> v2 -> v1, never flap.
    for index in range(CLIENTS):
        seen = _compress([a.version for a in answers if a.client == index and a.version])
        assert _is_subsequence(seen, [1, 2, 1]), (index, seen)
    served_by = Counter(answer.version for answer in answers)
    assert served_by[1] > 0 and served_by[2] > 0, served_by
    assert len({answer.client for answer in answers}) == CLIENTS


# -- the canary split, 10,000 requests per weight ------------------------------------


def _asgi_app(served: Served, options: ServeOptions | None = None) -> tuple[Starlette, Runtime]:
    """An app without its lifespan (httpx.ASGITransport runs none): loaded by hand."""
    runtime = Runtime(served.client.registry, MODEL, "production", poll_interval=3600)
    app = create_app(runtime, options)
    assert runtime.refresh() is True
    return app, runtime


async def _send_all(
    app: Starlette,
    requests: list[tuple[str, dict[str, Any]]],
    *,
    concurrency: int = 64,
) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:

        async def send(path: str, body: dict[str, Any]) -> httpx.Response:
            async with semaphore:
                return await http.post(path, json=body)

        return await asyncio.gather(*(send(path, body) for path, body in requests))


def _split(served: Served, weight: int) -> Counter[tuple[str, int]]:
    set_traffic(
        served.client.store, MODEL, "production", canary=2, canary_weight=weight, actor="tester"
    )
    # Concurrent requests share model calls (the default 2 ms micro-batching), which
    # keeps 10,000 requests affordable; routing is decided per request before that.
    app, runtime = _asgi_app(served, ServeOptions(batch_rows=64))
    assert runtime.require_snapshot().state.canary_weight == weight
    body = {"features": _row(served, 0)}
    responses = asyncio.run(
        asyncio.wait_for(_send_all(app, [("/predict", body)] * SPLIT_REQUESTS), timeout=600)
    )
    assert {response.status_code for response in responses} == {200}
    answered: Counter[tuple[str, int]] = Counter()
    for response in responses:
        answer = response.json()
        assert response.headers["x-model-version"] == str(answer["version"])
        answered[answer["role"], answer["version"]] += 1
    assert sum(answered.values()) == SPLIT_REQUESTS
    return answered


def test_canary_at_weight_0_answers_none_of_10000_requests(served: Served) -> None:
    assert _split(served, 0) == Counter({("stable", 1): SPLIT_REQUESTS})


def test_canary_at_weight_20_answers_a_binomial_share_of_10000_requests(served: Served) -> None:
    answered = _split(served, 20)
    assert set(answered) == {("stable", 1), ("canary", 2)}
    n, p = SPLIT_REQUESTS, 0.20
    sigma = math.sqrt(n * p * (1 - p))  # 40 requests
    canary = answered["canary", 2]
    assert abs(canary - n * p) <= 4.5 * sigma, f"{canary} of {n} went to the canary"


# -- a shadow never changes the answer -----------------------------------------------


SHADOW_ROWS = 200  # single-row requests, plus batches, records and OIP requests


def _requests(served: Served) -> list[tuple[str, dict[str, Any]]]:
    rows = [_row(served, index) for index in range(SHADOW_ROWS)]
    width = len(rows[0])
    single = [("/predict", {"features": row}) for row in rows]
    batches = [("/predict", {"instances": rows[i : i + 7]}) for i in range(0, 70, 7)]
    records = [("/predict", {"records": served.X.iloc[:5].to_dict("records")})]
    infer = [
        (
            f"/v2/models/{MODEL}/infer",
            {
                "id": f"infer-{i}",
                "inputs": [
                    {"name": "x", "shape": [3, width], "datatype": "FP64", "data": rows[i : i + 3]}
                ],
            },
        )
        for i in range(0, 30, 3)
    ]
    return single + batches + records + infer


def _answer_parts(response: httpx.Response) -> tuple[tuple[Any, ...], list[float]]:
    """(everything but the request id and probabilities, the probabilities flattened)."""
    body = response.json()
    body.pop("request_id", None)
    if "outputs" in body:  # OIP
        proba = next(out["data"] for out in body["outputs"] if out["name"] == "predict_proba")
        rest = [out for out in body["outputs"] if out["name"] != "predict_proba"]
        body = {**body, "outputs": rest}
    else:
        proba = [p for pair in body.pop("probabilities") for p in pair]
    exact = (response.status_code, response.headers["x-model-version"], _canonical(body))
    return exact, proba


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _shadow_requests_total(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "mlrelease_requests_total"
        and sample.labels["role"] == "shadow"
        and sample.labels["status"] == "200"
    )


@pytest.mark.parametrize(
    ("options", "tolerance"),
    [(ServeOptions(batch_wait=0), 0.0), (ServeOptions(), 1e-12)],
    ids=["one-model-call-per-request", "micro-batched"],
)
def test_a_shadow_mirroring_every_request_never_changes_an_answer(
    served: Served, options: ServeOptions, tolerance: float
) -> None:
    """With a shadow at 100% every answer is the one given without a shadow.

    Micro-batched, a row's probabilities move in the last bits (~1e-15) with the rows
    it shares a model call with (BLAS), and mirroring changes who shares a call; so
    there they are compared to 1e-12, and bit for bit with one call per request.
    """
    requests = _requests(served)
    baseline_app, _ = _asgi_app(served, options)
    baseline = asyncio.run(asyncio.wait_for(_send_all(baseline_app, requests), timeout=300))
    assert {response.status_code for response in baseline} == {200}

    set_traffic(
        served.client.store,
        MODEL,
        "production",
        canary=None,
        canary_weight=0,
        shadow=2,
        shadow_share=100,
        actor="tester",
    )
    shadowed_app, runtime = _asgi_app(served, options)
    assert runtime.require_snapshot().state.shadow == 2

    async def shadowed() -> tuple[list[httpx.Response], float]:
        responses = await _send_all(shadowed_app, requests)
        # Shadows are scored after their response: wait (bounded) until all were.
        transport = httpx.ASGITransport(app=shadowed_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            deadline = time.monotonic() + 30
            while True:
                mirrored = _shadow_requests_total((await http.get("/metrics")).text)
                if mirrored >= len(requests) or time.monotonic() > deadline:
                    return responses, mirrored
                await asyncio.sleep(0.05)

    responses, mirrored = asyncio.run(asyncio.wait_for(shadowed(), timeout=300))
    assert mirrored == len(requests)  # every request was mirrored, and every mirror scored
    for request, before, after in zip(requests, baseline, responses, strict=True):
        exact_before, proba_before = _answer_parts(before)
        exact_after, proba_after = _answer_parts(after)
        assert exact_after == exact_before, request
        assert np.allclose(proba_after, proba_before, rtol=0, atol=tolerance), request
        assert json.loads(exact_after[2]).get("role", "stable") == "stable"

    # Not a vacuous equality: the shadow's own answers differ from the stable's.
    snapshot = runtime.require_snapshot()
    # The server calls these versions with matrices in signature order (takes_matrix).
    rows = served.X.iloc[:SHADOW_ROWS].to_numpy(dtype="float64")
    assert snapshot.get(1).takes_matrix and snapshot.get(2).takes_matrix
    stable_proba = snapshot.get(1).model.predict_proba(rows)  # type: ignore[arg-type]
    assert not np.allclose(stable_proba, snapshot.get(2).model.predict_proba(rows))  # type: ignore[arg-type]
    answered = [_answer_parts(response)[1] for response in responses[:SHADOW_ROWS]]
    assert np.allclose(answered, stable_proba, rtol=0, atol=1e-12)


# -- request ids the server hands out must be ones it can log and label -------------------

LONG_ID = "r" * 200  # the predictions.request_id column and /feedback take up to 128


def test_a_request_id_the_server_answers_with_can_be_labelled(
    served: Served, make_app: AppFactory
) -> None:
    app = make_app(options=ServeOptions(batch_wait=0))
    response = app.post(
        "/predict", json={"features": _row(served, 0)}, headers={"X-Request-ID": LONG_ID}
    )
    if response.status_code != 200:  # refusing the header is a fine answer too
        assert 400 <= response.status_code < 500, response.text
        assert set(response.json()["error"]) == {"code", "message", "details"}
        return
    request_id = response.json()["request_id"]
    feedback = app.post("/feedback", json={"request_id": request_id, "label": 1})
    assert feedback.status_code == 200, feedback.text


@pytest.mark.postgres
def test_one_long_request_id_does_not_lose_other_requests_log_rows(
    postgres_url: str, tmp_path: Path
) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    features = [float(value) for value in X.iloc[0]]
    artifacts = str(tmp_path / "artifacts")
    with Client.open(db=postgres_url, artifacts=artifacts, base_dir=tmp_path, env={}) as client:
        fitted = LogisticRegression(C=1.0, solver="liblinear").fit(X, y)
        client.register_model(
            MODEL,
            fitted,
            task="classification",
            sample_input=X[:5],
            alias="production",
            eval_data=(X[400:], y[400:]),
            gates=[],
        )
        runtime = Runtime(client.registry, MODEL, "production", poll_interval=3600)
        # A long flush interval: both requests' rows go to the store in one batch.
        predlog = PredictionLog(client.store, flush_interval=5.0)
        app = create_app(runtime, ServeOptions(batch_wait=0), predlog=predlog)
        with TestClient(app) as http:
            for request_id in ("ordinary-1", LONG_ID):
                response = http.post(
                    "/predict", json={"features": features}, headers={"X-Request-ID": request_id}
                )
                assert response.status_code < 500, response.text
            assert predlog.flush(timeout=30)
        rows = labelled_predictions(client.store, MODEL, "production")
        logged = {row["request_id"] for row in rows}
        assert "ordinary-1" in logged, predlog.stats()
        assert predlog.failed == 0, predlog.stats()
