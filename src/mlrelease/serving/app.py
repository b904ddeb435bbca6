"""The ASGI app: routes of the data plane over a :class:`Runtime`.

Starlette rather than a framework that builds a pydantic model per request:
bodies are parsed with orjson and validated with numpy (see ``validation``).
Errors become HTTP answers in one place (``_error_response``), with the one JSON
error shape ``{"error": {"code", "message", "details"}}``; nothing a client
sends can produce a 500 or a stack trace.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlrelease import __version__
from mlrelease.errors import (
    MalformedRequest,
    MlreleaseError,
    NotFoundError,
    PayloadTooLarge,
    RequestError,
)
from mlrelease.monitoring.reports import cached_latest_report
from mlrelease.serving.batching import MicroBatcher, Prediction
from mlrelease.serving.feedback import parse_feedback, record_feedback
from mlrelease.serving.guard import Guard
from mlrelease.serving.metrics import CONTENT_TYPE_LATEST, ServingMetrics
from mlrelease.serving.oip import infer_response, model_metadata
from mlrelease.serving.openapi import openapi_document
from mlrelease.serving.predlog import PredictionLog, ServedRequest, new_request_id
from mlrelease.serving.router import SHADOW, route
from mlrelease.serving.runtime import Runtime, ServedVersion, Snapshot
from mlrelease.serving.validation import Batch, parse_infer, parse_predict

__all__ = ["ServeOptions", "create_app"]

log = logging.getLogger("mlrelease.serving")
_JSON = "application/json"
# Request ids are stored and joined on: bounded and plain, like the ids we make.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass(frozen=True)
class ServeOptions:
    max_rows: int = 10_000  # rows in one request
    max_body_bytes: int = 16 * 1024 * 1024
    batch_rows: int = 64  # rows per model call when batching concurrent requests
    batch_wait: float = 0.002  # seconds a request waits for batch-mates
    guard: Guard = field(default_factory=Guard)


class _Server:
    """Per-process state of the app; built once in ``create_app``."""

    def __init__(
        self, runtime: Runtime, options: ServeOptions, predlog: PredictionLog | None
    ) -> None:
        self.runtime = runtime
        self.options = options
        self.predlog = predlog
        self.metrics = ServingMetrics(runtime.model, runtime.environment)
        self.rng = random.Random()
        self.batchers: dict[int, MicroBatcher] = {}
        self.shadow_tasks: set[asyncio.Task[None]] = set()
        runtime.on_swap(self._swapped)
        runtime.on_failure(lambda failure: self.metrics.load_failures.inc())
        if predlog is not None:
            self.metrics.add_collector(predlog.stats)
        self.metrics.add_monitoring(
            cached_latest_report(runtime.registry.store, runtime.model, runtime.environment)
        )

    def _swapped(self, snapshot: Snapshot) -> None:
        state = snapshot.state
        roles = {state.stable: "stable"} if state.stable is not None else {}
        if state.canary is not None:
            roles[state.canary] = "canary"
        if state.shadow is not None:
            roles[state.shadow] = SHADOW
        self.metrics.set_loaded(roles)
        self.metrics.swaps.inc()
        # Models and libraries live as long as the process: move them out of the
        # collector's sight, so full collections stop pausing requests (p99).
        gc.collect()
        gc.freeze()
        # Drop batchers of versions no longer served; their pending calls still finish.
        self.batchers = {v: b for v, b in self.batchers.items() if v in snapshot.versions}

    def batcher(self, served: ServedVersion) -> MicroBatcher:
        batcher = self.batchers.get(served.version)
        if batcher is None or batcher.served is not served:
            batcher = MicroBatcher(
                served,
                max_rows=self.options.batch_rows,
                max_wait=self.options.batch_wait,
                on_batch=self.metrics.batch_size.observe,
            )
            self.batchers[served.version] = batcher
        return batcher


def create_app(
    runtime: Runtime, options: ServeOptions | None = None, *, predlog: PredictionLog | None = None
) -> Starlette:
    server = _Server(runtime, options or ServeOptions(), predlog)
    routes = [
        Route("/predict", _endpoint(server, _predict), methods=["POST"]),
        Route("/feedback", _endpoint(server, _feedback), methods=["POST"]),
        Route("/metrics", _endpoint(server, _metrics), methods=["GET"]),
        Route("/openapi.json", _endpoint(server, _openapi), methods=["GET"]),
        Route("/v2", _endpoint(server, _server_metadata), methods=["GET"]),
        Route("/v2/health/live", _endpoint(server, _live), methods=["GET"]),
        Route("/v2/health/ready", _endpoint(server, _ready), methods=["GET"]),
        Route("/v2/models/{name}", _endpoint(server, _model_metadata), methods=["GET"]),
        Route("/v2/models/{name}/ready", _endpoint(server, _model_ready), methods=["GET"]),
        Route("/v2/models/{name}/infer", _endpoint(server, _infer), methods=["POST"]),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(_first_load, runtime)
        runtime.start_watching()
        if predlog is not None:
            predlog.start()
        try:
            yield
        finally:
            runtime.stop()
            if server.shadow_tasks:
                await asyncio.wait(server.shadow_tasks, timeout=5)
            if predlog is not None:
                await run_in_threadpool(predlog.close)

    return Starlette(routes=routes, lifespan=lifespan)


def _first_load(runtime: Runtime) -> None:
    try:
        runtime.refresh()
    except MlreleaseError as exc:  # keep starting: /v2/health/ready says why
        log.error("%s", exc.message)


# -- plumbing shared by every route ----------------------------------------------------


def _endpoint(server: _Server, handler: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        sent = request.headers.get("x-request-id")
        request_id = sent if sent and _REQUEST_ID.fullmatch(sent) else new_request_id()
        try:
            if sent and request_id != sent:
                raise MalformedRequest(
                    "X-Request-ID must be 1-128 characters: letters, digits and . _ : -",
                    details={"field": "X-Request-ID"},
                )
            response: Response = await handler(server, request, request_id)
        except MlreleaseError as exc:
            response = _error_response(exc)
        except Exception:  # a bug must not leak a stack trace to the client
            log.exception("unexpected error serving %s", request.url.path)
            response = _json(
                {"error": {"code": "internal", "message": "internal error", "details": {}}}, 500
            )
        response.headers["x-request-id"] = request_id
        return response

    return endpoint


def _json(content: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), status, media_type=_JSON
    )


def _error_response(exc: MlreleaseError) -> Response:
    response = _json(exc.to_dict(), exc.http_status)
    retry_after = exc.details.get("retry_after")
    if retry_after is not None:
        response.headers["retry-after"] = str(retry_after)
    return response


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes is over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_guard(server: _Server, request: Request) -> None:
    guard = server.options.guard
    if guard.active:
        client = request.client.host if request.client else "unknown"
        guard.check(request.headers.get("authorization"), client)


def _check_model_name(server: _Server, name: str) -> None:
    if name != server.runtime.model:
        raise NotFoundError(
            f"this server serves model '{server.runtime.model}', not '{name}'",
            details={"model": name},
        )


# -- predictions ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Served:
    served: ServedVersion
    role: str
    batch: Batch
    prediction: Prediction


async def _serve(server: _Server, request: Request, request_id: str, parse: Any) -> _Served:
    started = time.perf_counter()
    _check_guard(server, request)
    body = await _read_body(request, server.options.max_body_bytes)
    snapshot = server.runtime.require_snapshot()
    chosen = route(snapshot.state, request.headers.get("x-routing-key"), server.rng)
    served = snapshot.get(chosen.version)
    try:
        batch = parse(body, served.schema, max_rows=server.options.max_rows)
        prediction = await server.batcher(served).predict(batch)
    except Exception as exc:
        # Counted by status; a failure of the server or the model (5xx) is logged too,
        # so a release's error_rate sees a canary that crashes where stable answers.
        status = exc.http_status if isinstance(exc, RequestError) else 500
        elapsed = time.perf_counter() - started
        server.metrics.observe(served.version, chosen.role, status, elapsed)
        if status >= 500:
            _log_failure(server, request_id, served, chosen.role, status, elapsed)
        raise
    elapsed = time.perf_counter() - started
    server.metrics.observe(served.version, chosen.role, 200, elapsed)
    _log(server, request_id, served, chosen.role, batch, prediction, elapsed)
    if chosen.shadow is not None:
        _mirror(server, snapshot, chosen.shadow, body, parse, request_id)
    return _Served(served, chosen.role, batch, prediction)


async def _predict(server: _Server, request: Request, request_id: str) -> Response:
    result = await _serve(server, request, request_id, parse_predict)
    prediction, served = result.prediction, result.served
    content: dict[str, Any] = {
        "request_id": request_id,
        "model": server.runtime.model,
        "version": served.version,
        "role": result.role,
        "predictions": prediction.labels.tolist(),
    }
    if prediction.proba is not None:
        content["probabilities"] = prediction.proba.tolist()
        content["classes"] = served.classes
    response = _json(content)
    response.headers["x-model-version"] = str(served.version)
    return response


async def _infer(server: _Server, request: Request, request_id: str) -> Response:
    _check_model_name(server, request.path_params["name"])
    parse = parse_infer
    header_length = request.headers.get("inference-header-content-length")
    if header_length is not None:  # the binary tensor data extension
        if not header_length.isdigit():
            raise MalformedRequest(
                f"Inference-Header-Content-Length must be a number of bytes, "
                f"got {header_length[:40]!r}",
                details={"field": "Inference-Header-Content-Length"},
            )
        parse = partial(parse_infer, header_length=int(header_length))
    result = await _serve(server, request, request_id, parse)
    answer_id = result.batch.request_id or request_id
    content, binary = infer_response(
        server.runtime.model,
        result.served.version,
        answer_id,
        result.prediction.labels,
        result.prediction.proba,
        binary=result.batch.binary_outputs,
    )
    if binary:  # the binary tensor data extension: the JSON part, then the outputs' bytes
        header = orjson.dumps(content)
        response = Response(header + binary, media_type="application/octet-stream")
        response.headers["inference-header-content-length"] = str(len(header))
    else:
        response = _json(content)
    response.headers["x-model-version"] = str(result.served.version)
    return response


def _mirror(
    server: _Server, snapshot: Snapshot, version: int, body: bytes, parse: Any, request_id: str
) -> None:
    """Score the request on the shadow too, after the response; its answer is only logged."""

    async def shadow() -> None:
        started = time.perf_counter()
        served = snapshot.get(version)
        try:
            batch = parse(body, served.schema, max_rows=server.options.max_rows)
            prediction = await server.batcher(served).predict(batch)
        except MlreleaseError as exc:
            server.metrics.observe(version, SHADOW, exc.http_status, time.perf_counter() - started)
            return
        elapsed = time.perf_counter() - started
        server.metrics.observe(version, SHADOW, 200, elapsed)
        _log(server, request_id, served, SHADOW, batch, prediction, elapsed)

    task = asyncio.get_running_loop().create_task(shadow())
    server.shadow_tasks.add(task)
    task.add_done_callback(server.shadow_tasks.discard)


def _log(
    server: _Server,
    request_id: str,
    served: ServedVersion,
    role: str,
    batch: Batch,
    prediction: Prediction,
    seconds: float,
) -> None:
    # The float64 matrix, or the frame: the log's writer turns it into records.
    inputs, labels, proba = batch.data, prediction.labels, prediction.proba
    _append(server, request_id, served, role, 200, seconds, inputs, labels, proba)


def _log_failure(
    server: _Server, request_id: str, served: ServedVersion, role: str, status: int, seconds: float
) -> None:
    _append(server, request_id, served, role, status, seconds)


def _append(
    server: _Server,
    request_id: str,
    served: ServedVersion,
    role: str,
    status: int,
    seconds: float,
    inputs: Any = None,
    labels: Any = None,
    proba: Any = None,
) -> None:
    if server.predlog is None:
        return
    model, environment = server.runtime.model, server.runtime.environment
    server.predlog.append(
        ServedRequest(
            request_id,
            time.time(),
            model,
            environment,
            served.version,
            role,
            status,
            seconds * 1000.0,
            inputs,
            labels,
            proba,
        )
    )


# -- everything else ------------------------------------------------------------------------


async def _feedback(server: _Server, request: Request, request_id: str) -> Response:
    _check_guard(server, request)
    body = await _read_body(request, server.options.max_body_bytes)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"body is not JSON: {exc}") from None
    labels = parse_feedback(payload)
    store = server.runtime.registry.store
    if server.predlog is not None:
        # Labels may follow their prediction within milliseconds: write pending rows first.
        await run_in_threadpool(server.predlog.flush)
    sample_rate = server.predlog.sample_rate if server.predlog is not None else 1.0
    count = await run_in_threadpool(
        lambda: record_feedback(store, labels, actor="api", sample_rate=sample_rate)
    )
    return _json({"labelled": count})


async def _metrics(server: _Server, request: Request, request_id: str) -> Response:
    return Response(server.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def _openapi(server: _Server, request: Request, request_id: str) -> Response:
    return _json(openapi_document(server.runtime.model))


async def _server_metadata(server: _Server, request: Request, request_id: str) -> Response:
    return _json(
        {"name": "mlrelease", "version": __version__, "extensions": ["binary_tensor_data"]}
    )


async def _live(server: _Server, request: Request, request_id: str) -> Response:
    return _json({"live": True})


async def _ready(server: _Server, request: Request, request_id: str) -> Response:
    ready = server.runtime.ready
    content: dict[str, Any] = {"ready": ready}
    failure = server.runtime.counters.last_failure
    if not ready and failure is not None:
        content["reason"] = failure.reason
    return _json(content, 200 if ready else 503)


async def _model_ready(server: _Server, request: Request, request_id: str) -> Response:
    _check_model_name(server, request.path_params["name"])
    return await _ready(server, request, request_id)


async def _model_metadata(server: _Server, request: Request, request_id: str) -> Response:
    _check_model_name(server, request.path_params["name"])
    snapshot = server.runtime.require_snapshot()
    assert snapshot.state.stable is not None
    served = snapshot.get(snapshot.state.stable)
    return _json(
        model_metadata(server.runtime.model, served.version, served.schema, classes=served.classes)
    )
