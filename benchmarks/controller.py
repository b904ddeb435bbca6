"""How long one release-controller tick takes over many active releases.

The issue's target: one tick over 100 active releases under 100 ms. Releases are
spread over the states a controller meets most: waiting in a timed pause, waiting
for the next measurement, and paused for a person (not looked at). Nothing is due,
so the figure is the controller's own overhead per tick: reading the releases,
deciding nothing is due, and telling the (local) router the current split.

    python benchmarks/controller.py                 # 100 releases, SQLite, 20 ticks
    python benchmarks/controller.py --releases 500 --ticks 50
    python benchmarks/controller.py --db postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from mlrelease.artifacts import open_artifact_store
from mlrelease.promotion import Policies, Promotions
from mlrelease.registry.records import NewVersion
from mlrelease.registry.service import Registry
from mlrelease.release.controller import Controller
from mlrelease.spec import EnvironmentSpec, ReleaseSpec, StrategySpec
from mlrelease.store import Store

STRATEGY = {
    "steps": [
        {"weight": 10},
        {"pause": "1h"},
        {"analysis": {"interval": "1h", "count": 3}},
        {"weight": 50},
    ]
}


def _version() -> NewVersion:
    return NewVersion(
        flavor="function",
        artifact_uri="file:///nowhere",
        artifact_sha256="0" * 64,
        signature={"inputs": [{"name": "x", "kind": "float"}]},
    )


def prepare(store: Store, artifacts: str, releases: int) -> Controller:
    registry = Registry(store, open_artifact_store(artifacts))
    policies = Policies(
        {"production": EnvironmentSpec(release="canary")},
        ReleaseSpec(canary=StrategySpec.model_validate(STRATEGY)),
    )
    promotions = Promotions(store, policies, check_gates=lambda model, version, env: [])
    for index in range(releases):
        name = f"model-{index}"
        registry.register(name, "regression", _version(), actor="bench")
        registry.register(name, "regression", _version(), actor="bench")
        promotions.promote(name, 1, "production", actor="bench")  # first: live at once
        promotions.promote(name, 2, "production", actor="bench")  # second: a release
    controller = Controller(store)
    controller.tick()  # every release takes its first weight and settles into its pause
    return controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=100)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--db", help="metadata store URL (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = Store.open(url)
        started = time.perf_counter()
        controller = prepare(store, str(Path(tmp) / "artifacts"), args.releases)
        print(f"prepared {args.releases} active releases in {time.perf_counter() - started:.1f} s")
        timings = []
        for _ in range(args.ticks):
            began = time.perf_counter()
            controller.tick()
            timings.append((time.perf_counter() - began) * 1000)
        store.close()
    median, worst = statistics.median(timings), max(timings)
    print(
        f"tick over {args.releases} releases: median {median:.1f} ms, worst {worst:.1f} ms "
        f"({args.ticks} ticks, {datetime.now(UTC):%Y-%m-%d})"
    )
    print(f"target: under 100 ms per tick over 100 releases -> median/target = {median / 100:.2f}")


if __name__ == "__main__":
    main()
