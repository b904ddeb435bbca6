"""What a server holds in memory, and how it changes while serving (hot swap).

A :class:`Snapshot` is immutable: the traffic state and every version it names,
loaded and sha256-verified. Requests read ``runtime.snapshot`` once and use that
object throughout, so a swap never changes the version under a request. The
watcher polls the store; when the alias or traffic state changes it loads the
new versions first (off the event loop) and only then swaps the reference. A
version that fails to load is never switched to: the old snapshot stays, and
the failure is counted and reported.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlrelease.errors import MlreleaseError, ModelUnavailable
from mlrelease.registry.flavors import LoadedModel
from mlrelease.registry.service import Registry
from mlrelease.serving.validation import InputSchema
from mlrelease.traffic import TrafficState, get_traffic

__all__ = ["Runtime", "ServedVersion", "Snapshot"]

log = logging.getLogger("mlrelease.serving")


@dataclass(frozen=True)
class ServedVersion:
    version: int
    model: LoadedModel
    schema: InputSchema
    task: str
    classes: list[Any] | None
    takes_matrix: bool = False  # numeric rows go to the model as a float64 matrix


@dataclass(frozen=True)
class Snapshot:
    state: TrafficState
    versions: dict[int, ServedVersion]

    def get(self, version: int) -> ServedVersion:
        return self.versions[version]


@dataclass
class LoadFailure:
    version: int
    reason: str


@dataclass
class _Counters:
    swaps: int = 0
    load_failures: int = 0
    last_failure: LoadFailure | None = None
    swap_listeners: list[Callable[[Snapshot], None]] = field(default_factory=list)
    failure_listeners: list[Callable[[LoadFailure], None]] = field(default_factory=list)


class Runtime:
    """The versions one server needs, kept current with the store."""

    def __init__(
        self,
        registry: Registry,
        model: str,
        environment: str,
        *,
        pinned_version: int | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        self.registry = registry
        self.model = model
        self.environment = environment
        self.pinned_version = pinned_version
        self.poll_interval = poll_interval
        self.snapshot: Snapshot | None = None
        self._failed_state: TrafficState | None = None
        self.counters = _Counters()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return self.snapshot is not None

    def require_snapshot(self) -> Snapshot:
        snapshot = self.snapshot
        if snapshot is None:
            reason = self.counters.last_failure.reason if self.counters.last_failure else "loading"
            raise ModelUnavailable(f"model '{self.model}' is not ready yet: {reason}")
        return snapshot

    def on_swap(self, listener: Callable[[Snapshot], None]) -> None:
        self.counters.swap_listeners.append(listener)

    def on_failure(self, listener: Callable[[LoadFailure], None]) -> None:
        self.counters.failure_listeners.append(listener)

    def wanted_state(self) -> TrafficState:
        if self.pinned_version is not None:
            return TrafficState(self.model, self.environment, stable=self.pinned_version)
        with self.registry.store.read() as connection:
            return get_traffic(connection, self.model, self.environment)

    def refresh(self) -> bool:
        """Load and switch to what the store says now; returns whether anything changed."""
        state = self.wanted_state()
        current = self.snapshot
        if (current is not None and current.state == state) or state == self._failed_state:
            return False  # nothing new, or the same state that failed a moment ago
        if state.stable is None:
            if current is None:
                self._fail(state, 0, f"no version of '{self.model}' is in {self.environment}")
            return False
        loaded = dict(current.versions) if current else {}
        for number in sorted(state.versions - set(loaded)):
            served = self._load(state, number)
            if served is None:
                return False  # keep serving what we had; the failure is recorded
            loaded[number] = served
        snapshot = Snapshot(state=state, versions={v: loaded[v] for v in state.versions})
        self.snapshot = snapshot
        self.counters.swaps += 1
        log.info("serving %s", _describe(state))
        for listener in self.counters.swap_listeners:
            listener(snapshot)
        return True

    def _load(self, state: TrafficState, number: int) -> ServedVersion | None:
        try:
            info = self.registry.version(self.model, number)
            model = self.registry.load_for_serving(info)
            schema = InputSchema.from_signature(info.signature)
        except MlreleaseError as exc:
            self._fail(state, number, exc.message)
            return None
        except Exception as exc:  # a broken artifact must never take the server down
            self._fail(state, number, f"{type(exc).__name__}: {exc}")
            return None
        takes_matrix = schema.numeric and model.accept_matrices(schema.names)
        if not takes_matrix:
            # Requests reach this model as DataFrames: import pandas now, while loading,
            # rather than in the first request's time (a matrix-only server never does).
            importlib.import_module("pandas")
        return ServedVersion(
            version=number,
            model=model,
            schema=schema,
            task=str(info.signature.get("task", "classification")),
            classes=model.classes,
            takes_matrix=takes_matrix,
        )

    def _fail(self, state: TrafficState, number: int, reason: str) -> None:
        self._failed_state = state
        failure = LoadFailure(number, reason)
        self.counters.load_failures += 1
        self.counters.last_failure = failure
        log.error("not switching to %s v%s: %s", self.model, number, reason)
        for listener in self.counters.failure_listeners:
            listener(failure)

    # -- the watcher -------------------------------------------------------------------

    def start_watching(self) -> None:
        if self.pinned_version is not None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._watch, name="mlrelease-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.refresh()
            except Exception as exc:  # the store may be briefly unreachable: keep serving
                log.warning("could not refresh the traffic state: %s", exc)


def _describe(state: TrafficState) -> str:
    text = f"{state.model}@{state.environment}: stable v{state.stable}"
    if state.canary is not None:
        text += f", canary v{state.canary} at {state.canary_weight}%"
    if state.shadow is not None:
        text += f", shadow v{state.shadow} mirroring {state.shadow_share}%"
    return text
