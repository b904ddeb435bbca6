"""Benchmark: server CPU per request of ``mlrelease serve``'s app, with and without the log.

``benchmarks/serving.py`` measures what a client sees; on a small shared machine its
req/s move by 10-30% from one load to the next. This script measures the server's own
work instead, which moves far less: it builds the serving app in this process for each
variant, drives it through ASGI (no sockets, no uvicorn, no wrk) with 32 concurrent
callers posting one single-row ``/predict`` each, and reads this process's CPU time
(every thread: the event loop, the log's writer thread) per request. Variants take
turns, ``--rounds`` times, so drifts of the machine's speed hit all of them alike.

* d     -- version 2 only, no prediction log (``serving.py``'s target (d))
* split -- stable v2 + canary v1 at 20%, no log
* e     -- stable v2 + canary v1 at 20% + the prediction log (target (e)); its writer
           process's CPU is reported apart, per logged row

The project is the one ``serving.py`` makes (``mlrelease quickstart``, ``run --force``
with ``C: 0.5``, ``traffic set --canary 1 --weight 20``), in a temporary directory.

Run from the repository root::

    python benchmarks/serving_cpu.py                  # ~1 minute
    python benchmarks/serving_cpu.py --rounds 20 --requests 12800
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from serving import CANARY_VERSION, ENV, MODEL, make_project, mlrelease_command, write_bodies

VARIANTS = {"d": "version 2, no log", "split": "canary 80/20, no log", "e": "canary 80/20 + log"}
CALLERS = 32

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def build(variant: str, project: Path) -> App:
    from mlrelease.serving.factory import ServeConfig, build_app
    from mlrelease.settings import DEFAULT_ARTIFACTS, DEFAULT_DB, Settings

    settings = Settings(db_url=DEFAULT_DB, artifacts_url=DEFAULT_ARTIFACTS, base_dir=project)
    config = ServeConfig.from_settings(
        settings,
        model=MODEL,
        environment=ENV,
        version=2 if variant == "d" else None,
        log_predictions=variant == "e",
        control_plane=False,
    )
    return build_app(config)


class Lifespan:
    """The app's startup and shutdown, as uvicorn runs them."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    async def start(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        answer = await self.outbox.get()
        if answer["type"] != "lifespan.startup.complete":
            raise SystemExit(f"the app did not start: {answer}")

    async def stop(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        await self.task


def post_scope(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def drive(app: App, body: bytes, requests: int) -> float:
    """CPU seconds of this process per request, for ``requests`` answered by 32 callers."""
    scope = post_scope(body)
    message = {"type": "http.request", "body": body, "more_body": False}
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return message

    async def send(event: dict[str, Any]) -> None:
        if event["type"] == "http.response.start":
            statuses.append(event["status"])

    async def caller() -> None:
        for _ in range(requests // CALLERS):
            await app(dict(scope), receive, send)

    started = time.process_time()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    seconds = time.process_time() - started
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected statuses: {sorted(set(statuses))}")
    return seconds / len(statuses)


def children_cpu() -> float:
    """CPU seconds spent so far by this process's running children (the log's writer
    process), read from /proc: counted from after the warm-up, not from their start,
    whose imports would otherwise count as the cost of the first few thousand rows."""
    ticks = 0
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if fields[1] == me:  # ppid; then utime and stime are fields 14 and 15 of stat
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def measure(project: Path, body: bytes, rounds: int, requests: int) -> dict[str, Any]:
    os.chdir(project)  # the project's relative store paths
    apps = {variant: build(variant, project) for variant in VARIANTS}
    lifespans = {variant: Lifespan(app) for variant, app in apps.items()}
    for lifespan in lifespans.values():
        await lifespan.start()
    for app in apps.values():
        await drive(app, body, CALLERS * 20)  # warm-up; (e)'s writer process starts
    await asyncio.sleep(1.0)  # the warm-up's rows are written
    writer_before = children_cpu()
    samples: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for _ in range(rounds):
        for variant, app in apps.items():
            samples[variant].append(await drive(app, body, requests))
    await asyncio.sleep(1.0)  # the last rows are written
    writer_cpu = children_cpu() - writer_before
    for lifespan in lifespans.values():
        await lifespan.stop()
    logged_rows = rounds * (requests // CALLERS) * CALLERS
    return {
        "samples_us": {v: [s * 1e6 for s in values] for v, values in samples.items()},
        "writer_us_per_row": writer_cpu / logged_rows * 1e6,
    }


def report(result: dict[str, Any]) -> None:
    samples = result["samples_us"]
    base = samples["d"]
    print(f"server CPU per single-row request, median of {len(base)} interleaved rounds")
    print(f"{'variant':<28} | {'us/request':>10} | {'d / variant':>11}")
    print(f"{'-' * 28}-|-{'-' * 10}-|-{'-' * 11}")
    for variant, label in VARIANTS.items():
        ratios = [b / x for b, x in zip(base, samples[variant], strict=True)]
        print(
            f"{variant + ' (' + label + ')':<28} | {statistics.median(samples[variant]):>10.1f} "
            f"| {statistics.median(ratios):>11.3f}"
        )
    print(f"(e)'s writer process, apart: {result['writer_us_per_row']:.1f} us CPU per logged row")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="turns of every variant")
    parser.add_argument("--requests", type=int, default=6400, help="requests per turn")
    args = parser.parse_args()
    if args.rounds < 1 or args.requests < CALLERS:
        parser.error(f"--rounds must be >= 1 and --requests >= {CALLERS}")
    with tempfile.TemporaryDirectory(prefix="mlrelease-bench-cpu-") as scratch:
        project = Path(scratch) / "project"
        make_project(project, mlrelease_command(), timeout=600)
        body = write_bodies(Path(scratch)).instances_one.read_bytes()
        print(f"canary: v{CANARY_VERSION}; {args.rounds} rounds of {args.requests} requests each")
        report(asyncio.run(measure(project, body, args.rounds, args.requests)))


if __name__ == "__main__":
    sys.exit(main())
