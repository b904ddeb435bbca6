"""The project file (`mlrelease.yaml`): its schema, loading and validation.

The pydantic models here are the truth about what the file may contain. Unknown
keys are rejected; every problem is reported as one line that starts with the
key's path (``gates[1]: unknown metric 'f1_macro'; known: ...``) and, where the
YAML parser can tell, the line number in the file.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mlrelease.audit import NOTIFY_TOPICS
from mlrelease.errors import ConfigError, GateExpressionError, MissingVariableError, SpecError
from mlrelease.evaluation.metrics import known_metrics
from mlrelease.gates import Gate, parse_gate
from mlrelease.names import validate_name

__all__ = [
    "DEFAULT_FILENAME",
    "ChecksSpec",
    "DataSpec",
    "EmailSpec",
    "EnvironmentSpec",
    "GateSpec",
    "NotifySpec",
    "ProjectSpec",
    "SearchSpec",
    "SplitSpec",
    "StoreSpec",
    "TrainSpec",
    "WebhookSpec",
    "default_environments",
    "gate_from_item",
    "load_spec",
    "order_environments",
    "parse_spec",
]

DEFAULT_FILENAME = "mlrelease.yaml"
Task = Literal["classification", "regression"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitSpec(_Strict):
    test_size: Annotated[float, Field(gt=0, lt=1)] = 0.2
    seed: int = 42
    # None means: stratify classification targets, not regression ones.
    stratify: bool | None = None


class ChecksSpec(_Strict):
    min_rows: Annotated[int, Field(ge=1)] = 1
    max_missing_fraction: Annotated[float, Field(ge=0, le=1)] | None = None
    schema_: Literal["strict", "warn", "off"] = Field("strict", alias="schema")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DataSpec(_Strict):
    source: str
    target: str
    split: SplitSpec = SplitSpec()
    checks: ChecksSpec = ChecksSpec()


class SearchSpec(_Strict):
    grid: dict[str, list[Any]]
    cv: Annotated[int, Field(ge=2)] = 5
    scoring: str | None = None

    @field_validator("grid")
    @classmethod
    def _grid_not_empty(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [name for name, values in grid.items() if not values]
        if not grid or empty:
            raise ValueError(
                f"every grid parameter needs at least one value (empty: {empty or 'grid'})"
            )
        return grid


class TrainSpec(_Strict):
    estimator: str | None = None
    entrypoint: str | None = None
    params: dict[str, Any] = {}
    search: SearchSpec | None = None
    preprocess: Literal["auto", "none"] = "auto"

    @model_validator(mode="after")
    def _one_trainer(self) -> TrainSpec:
        if (self.estimator is None) == (self.entrypoint is None):
            raise ValueError(
                "give exactly one of 'estimator' (an import path such as "
                "sklearn.linear_model.LogisticRegression) or 'entrypoint' (module:function)"
            )
        if self.search is not None and self.entrypoint is not None:
            raise ValueError("'search' works with 'estimator' only; tune inside your entrypoint")
        return self


class GateSpec(_Strict):
    gate: str
    env: str = "production"
    confidence: float | None = None


GateItem = str | GateSpec


class GitopsSpec(_Strict):
    """Kubernetes manifests kept in a config repository that Argo CD or Flux syncs."""

    repo: str  # a git checkout; relative to the project file
    dir: str | None = None  # folder in it; default MODEL/ENV
    kubernetes: dict[str, Any] = {}  # options of `mlrelease deploy kubernetes` (namespace, ...)


class EnvironmentSpec(_Strict):
    after: str | None = None
    approvals: Annotated[int, Field(ge=0)] = 0
    # May the person who asked for a promotion approve it? Unset: no in the last
    # environment (production by default), yes before it.
    self_approval: bool | None = None
    release: Literal["direct", "canary", "shadow"] = "direct"
    gates: list[GateItem] = []
    gitops: GitopsSpec | None = None  # commit manifests each time the alias moves


class WebhookSpec(_Strict):
    url: str
    secret: str | None = None  # signs the body: X-Mlrelease-Signature: sha256=<hex HMAC>


class EmailSpec(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    smtp: str  # smtp://host:port (STARTTLS with starttls: true) or smtps://host:port
    to: Annotated[list[str], Field(min_length=1)]
    sender: str = Field("mlrelease@localhost", alias="from")
    starttls: bool = False
    username: str | None = None
    password: str | None = None


class NotifySpec(_Strict):
    """One notification channel: exactly one of slack, webhook or email."""

    name: str | None = None
    slack: str | None = None  # an incoming-webhook URL
    webhook: WebhookSpec | None = None
    email: EmailSpec | None = None
    on: list[str] = []  # topics (see NOTIFY_TOPICS); empty means every topic
    # URLs resolving to link-local or cloud-metadata addresses are refused unless set.
    allow_link_local: bool = False

    @model_validator(mode="after")
    def _one_channel(self) -> NotifySpec:
        given = [kind for kind in ("slack", "webhook", "email") if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(
                "each notify entry needs exactly one of 'slack', 'webhook' or 'email' "
                f"(got {', '.join(given) or 'none'})"
            )
        unknown = [topic for topic in self.on if topic not in NOTIFY_TOPICS]
        if unknown:
            raise ValueError(
                f"unknown topic '{unknown[0]}' in 'on'; known: {', '.join(NOTIFY_TOPICS)}"
            )
        return self

    @property
    def kind(self) -> Literal["slack", "webhook", "email"]:
        if self.slack is not None:
            return "slack"
        return "webhook" if self.webhook is not None else "email"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object) -> float:
    """Seconds from ``30s``, ``10m``, ``1h``, ``500ms`` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}; write it like 30s, 10m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(f"not a duration: {value!r}; write it like 30s, 10m or 1h")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class AnalysisSpec(_Strict):
    interval: Duration = 30.0  # seconds between measurements, and the window each looks at
    count: Annotated[int, Field(ge=1)] = 5  # measurements in this step
    checks: list[str] = []  # replaces the strategy's checks for this step when given


class StepSpec(_Strict):
    """One release step: exactly one of weight, pause or analysis."""

    weight: Annotated[int, Field(ge=0, le=100)] | None = None  # percent to the new version
    # Seconds to wait; an empty mapping ({}) waits for a person: `mlrelease release resume`.
    pause: Duration | dict[str, Any] | None = None
    analysis: AnalysisSpec | None = None

    @model_validator(mode="after")
    def _one_action(self) -> StepSpec:
        given = [
            name for name in ("weight", "pause", "analysis") if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "each step needs exactly one of 'weight', 'pause' or 'analysis' "
                f"(got {', '.join(given) or 'none'})"
            )
        if isinstance(self.pause, dict) and self.pause:
            raise ValueError("'pause' takes a duration (10m) or {} to wait for a person")
        return self


class PrometheusSpec(_Strict):
    prometheus: str  # base URL of the Prometheus HTTP API, e.g. http://127.0.0.1:9090
    queries: dict[str, str] = {}  # metric name -> PromQL template, to add or override


class NginxSpec(_Strict):
    config: str  # the upstream file mlrelease writes; include it from nginx.conf
    stable: str  # host:port of the process serving the stable version
    canary: str  # host:port of the process serving the new version
    reload: list[str] = ["nginx", "-s", "reload"]  # run after each write


class NginxRouterSpec(_Strict):
    nginx: NginxSpec


class StrategySpec(_Strict):
    steps: Annotated[list[StepSpec], Field(min_length=1)]
    checks: list[str] = []
    failure_limit: Annotated[int, Field(ge=0)] = 1  # failed measurements tolerated
    metrics: Literal["builtin"] | PrometheusSpec = "builtin"
    router: Literal["local"] | NginxRouterSpec = "local"


def _default_canary() -> StrategySpec:
    return StrategySpec(
        steps=[
            StepSpec(weight=20),
            StepSpec(analysis=AnalysisSpec(interval=30.0, count=5)),
            StepSpec(weight=50),
            StepSpec(analysis=AnalysisSpec(interval=30.0, count=5)),
        ],
        checks=["latency_p95 <= 0.5", "error_rate <= 0.01"],
    )


class ReleaseSpec(_Strict):
    canary: StrategySpec = Field(default_factory=_default_canary)
    shadow: StrategySpec | None = None  # steps' weight is the share of requests mirrored


DRIFT_METHODS = ("psi", "ks", "wasserstein", "jensenshannon", "chisquare")
LIVE_METRICS = ("accuracy", "macro_f1", "rmse", "mae")  # measurable from ground-truth feedback
DriftMethod = Literal["psi", "ks", "wasserstein", "jensenshannon", "chisquare"]


class FeatureDriftSpec(_Strict):
    method: DriftMethod | None = None
    threshold: Annotated[float, Field(ge=0)] | None = None


class DriftSpec(_Strict):
    """How the monitor judges drift of the inputs (and of the predictions) against the profile."""

    method: DriftMethod = "psi"  # for numeric features; psi, ks, wasserstein or jensenshannon
    categorical: DriftMethod | None = None  # default: method where it applies, else chisquare
    threshold: Annotated[float, Field(ge=0)] | None = None  # default: Evidently's for the method
    share: Annotated[float, Field(gt=0, le=1)] = 0.5  # drifted share of features that is drift
    features: dict[str, FeatureDriftSpec] = {}  # per-feature method/threshold
    predictions: bool = True  # judge the prediction distribution too
    for_: Duration = Field(0.0, alias="for")  # drift must hold this long before it counts


class LiveMetricSpec(_Strict):
    """A floor (or ceiling) for a metric measured from ground-truth labels of served rows."""

    min: float | None = None
    max: float | None = None
    window: Annotated[int, Field(ge=1)] = 500  # newest labelled rows
    min_labels: Annotated[int, Field(ge=1)] = 30  # fewer: not judged
    for_: Duration = Field(0.0, alias="for")

    @model_validator(mode="after")
    def _bounded(self) -> LiveMetricSpec:
        if self.min is None and self.max is None:
            raise ValueError("give 'min' (accuracy: {min: 0.85}) or 'max' (rmse: {max: 4.0})")
        return self


class MonitoringSpec(_Strict):
    environment: str | None = None  # default: the last environment
    interval: Duration = 300.0  # seconds between checks by `mlrelease controller`
    window: Annotated[int, Field(ge=1)] = 1000  # newest rows of the prediction log
    min_rows: Annotated[int, Field(ge=1)] = 100  # fewer rows in the window: drift not judged
    drift: DriftSpec = DriftSpec()
    accuracy: LiveMetricSpec | None = None
    macro_f1: LiveMetricSpec | None = None
    rmse: LiveMetricSpec | None = None
    mae: LiveMetricSpec | None = None

    def live_metrics(self) -> dict[str, LiveMetricSpec]:
        """The live metrics with a floor or ceiling, by name."""
        return {name: spec for name in LIVE_METRICS if (spec := getattr(self, name)) is not None}


class ScheduleTrigger(_Strict):
    schedule: str  # cron, five fields: minute hour day-of-month month day-of-week (UTC)


class NewLabelsTrigger(_Strict):
    new_labels: Annotated[int, Field(ge=1)]  # labelled rows gathered since the last retrain


TriggerItem = str | ScheduleTrigger | NewLabelsTrigger


class FolderStreamSpec(_Strict):
    path: str
    pattern: str = "*"


class RedisStreamSpec(_Strict):
    url: str = "redis://127.0.0.1:6379/0"
    stream: str
    group: str = "mlrelease"


class KafkaStreamSpec(_Strict):
    bootstrap_servers: str
    topic: str
    group: str = "mlrelease"
    options: dict[str, Any] = {}  # passed to the consumer (security.protocol, sasl.*, ...)


class StreamSpec(_Strict):
    """A source of new labelled rows: exactly one of folder, redis or kafka."""

    name: str | None = None
    folder: FolderStreamSpec | str | None = None
    redis: RedisStreamSpec | None = None
    kafka: KafkaStreamSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> StreamSpec:
        given = [kind for kind in ("folder", "redis", "kafka") if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(
                "each source needs exactly one of 'folder', 'redis' or 'kafka' "
                f"(got {', '.join(given) or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        return "folder" if self.folder is not None else "redis" if self.redis else "kafka"


class RetrainSpec(_Strict):
    on: list[TriggerItem] = []  # drift, a live metric's name, {schedule: cron}, {new_labels: N}
    sources: list[StreamSpec] = []  # streams of new labelled rows
    feedback: bool = True  # also train on served rows that got a ground-truth label
    promote_to: str | None = None  # furthest environment to promote to; default: as policy allows


class StoreSpec(_Strict):
    metadata: str | None = None
    artifacts: str | None = None


class RegistrySpec(_Strict):
    trusted_types: list[str] = []


def default_environments() -> dict[str, EnvironmentSpec]:
    return {
        "dev": EnvironmentSpec(),
        "staging": EnvironmentSpec(after="dev"),
        "production": EnvironmentSpec(after="staging", approvals=1),
    }


class ProjectSpec(_Strict):
    model: str
    task: Task
    data: DataSpec
    train: TrainSpec
    metrics: list[str] = []
    gates: list[GateItem] = []
    environments: dict[str, EnvironmentSpec] = Field(default_factory=default_environments)
    store: StoreSpec = StoreSpec()
    registry: RegistrySpec = RegistrySpec()
    notify: list[NotifySpec] = []
    release: ReleaseSpec = Field(default_factory=ReleaseSpec)
    monitoring: MonitoringSpec | None = None
    retrain: RetrainSpec = RetrainSpec()

    @field_validator("model")
    @classmethod
    def _model_name(cls, name: str) -> str:
        try:
            return validate_name(name, what="model name")
        except ConfigError as exc:
            raise ValueError(exc.message) from None

    @property
    def metric_names(self) -> list[str]:
        """The metrics to compute: those listed, or every metric known for the task."""
        return self.metrics or known_metrics(self.task)

    @property
    def stratify(self) -> bool:
        configured = self.data.split.stratify
        return self.task == "classification" if configured is None else configured

    @property
    def environment_order(self) -> list[str]:
        """Environments from first to last, following each one's ``after``."""
        return order_environments(self.environments)

    @property
    def first_environment(self) -> str:
        return self.environment_order[0]

    @property
    def monitored_environment(self) -> str:
        """Where the monitor reads the prediction log: as configured, else the last environment."""
        configured = self.monitoring.environment if self.monitoring else None
        return configured or self.environment_order[-1]

    def parsed_gates(self) -> list[Gate]:
        return [gate_from_item(item, self.task) for item in self.gates]

    @property
    def channels(self) -> dict[str, NotifySpec]:
        """Notification channels by name: the given ``name``, else the kind (``slack-2``...)."""
        named: dict[str, NotifySpec] = {}
        seen: Counter[str] = Counter()
        for item in self.notify:
            seen[item.kind] += 1
            default = item.kind if seen[item.kind] == 1 else f"{item.kind}-{seen[item.kind]}"
            named[item.name or default] = item
        return named


def gate_from_item(item: GateItem, task: Task) -> Gate:
    """A gate as written in the project file (text, or a mapping with env/confidence), parsed."""
    if isinstance(item, str):
        return parse_gate(item, task)
    return parse_gate(item.gate, task, env=item.env, confidence=item.confidence)


def order_environments(envs: Mapping[str, EnvironmentSpec]) -> list[str]:
    ordered: list[str] = []
    remaining = dict(envs)
    while remaining:
        ready = [
            name for name, env in remaining.items() if env.after is None or env.after in ordered
        ]
        if not ready:
            raise SpecError(
                "environments: 'after' forms a cycle among "
                + ", ".join(sorted(remaining))
                + "; one environment must come first (no 'after')"
            )
        ordered.extend(ready)
        for name in ready:
            del remaining[name]
    return ordered


# ---------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class LoadedSpec:
    """A validated project file and where it lives."""

    spec: ProjectSpec
    path: Path

    @property
    def project_dir(self) -> Path:
        return self.path.parent


def load_spec(path: Path, env: Mapping[str, str] | None = None) -> LoadedSpec:
    """Read, interpolate and validate the project file at ``path``."""
    if path.is_dir():
        path = path / DEFAULT_FILENAME
    if not path.is_file():
        raise SpecError(
            f"{path}: project file not found; run 'mlrelease init' to write one, "
            "or pass --file PATH"
        )
    text = path.read_text(encoding="utf-8")
    spec = parse_spec(text, env=os.environ if env is None else env, filename=str(path))
    return LoadedSpec(spec=spec, path=path.resolve())


def parse_spec(
    text: str, *, env: Mapping[str, str], filename: str = DEFAULT_FILENAME
) -> ProjectSpec:
    try:
        raw = yaml.load(text, Loader=_Yaml12BoolLoader)
        root = yaml.compose(text, Loader=_Yaml12BoolLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark is not None else filename
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{where}: not valid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise SpecError(
            f"{filename}: the project file must be a mapping of keys (model, task, data, ...)"
        )
    locate = _Locator(root, filename)
    raw = _interpolate(raw, env, path=())
    try:
        spec = ProjectSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(
            "\n".join(_describe_error(err, locate) for err in exc.errors()),
            details={"errors": [_error_path(err["loc"]) for err in exc.errors()]},
        ) from None
    _check_semantics(spec, locate)
    return spec


class _Yaml12BoolLoader(yaml.SafeLoader):
    """Safe loading where only true/false are booleans (YAML 1.2).

    YAML 1.1 also reads on/off/yes/no as booleans, which turns the key ``on:`` of a
    notification channel into ``True``.
    """


_Yaml12BoolLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12BoolLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(value: Any, env: Mapping[str, str], path: tuple[str | int, ...]) -> Any:
    if isinstance(value, dict):
        return {key: _interpolate(item, env, (*path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, env, (*path, index)) for index, item in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise MissingVariableError(
            f"{_error_path(path)}: environment variable '{name}' is not set; "
            f"export it, or write ${{{name}:-default}} to give a default",
            details={"variable": name},
        )

    return _VARIABLE.sub(substitute, value)


def _error_path(loc: tuple[str | int, ...] | list[str | int]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _clean_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    # pydantic adds union-member names ("str", "GateSpec") to the location; they are noise here.
    return tuple(part for part in loc if part not in {"str", "GateSpec", "function-after"})


def _describe_error(err: Any, locate: _Locator) -> str:
    loc = _clean_loc(tuple(err["loc"]))
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = loc[:-1]
        allowed = _allowed_keys(parent)
        message = "unknown key" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
    elif kind == "missing":
        message = "required key is missing"
    else:
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if "input" in err and not isinstance(err["input"], dict | list):
            message += f" (got {err['input']!r})"
    return f"{locate(loc)}{_error_path(loc)}: {message}"


_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "": ProjectSpec,
    "data": DataSpec,
    "data.split": SplitSpec,
    "data.checks": ChecksSpec,
    "train": TrainSpec,
    "train.search": SearchSpec,
    "store": StoreSpec,
    "registry": RegistrySpec,
    "release": ReleaseSpec,
    "monitoring": MonitoringSpec,
    "monitoring.drift": DriftSpec,
    **{f"monitoring.{name}": LiveMetricSpec for name in LIVE_METRICS},
    "retrain": RetrainSpec,
}
_STREAM_PARTS: dict[str, type[BaseModel]] = {
    "folder": FolderStreamSpec,
    "redis": RedisStreamSpec,
    "kafka": KafkaStreamSpec,
}


def _release_section(rest: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model of a part of one strategy: steps[i], steps[i].analysis, metrics, router."""
    shapes: dict[tuple[str, ...], type[BaseModel]] = {
        ("steps", "#"): StepSpec,
        ("steps", "#", "analysis"): AnalysisSpec,
        ("metrics",): PrometheusSpec,
        ("router",): NginxRouterSpec,
        ("router", "nginx"): NginxSpec,
    }
    return shapes.get(tuple("#" if isinstance(part, int) else part for part in rest))


_NOTIFY_PARTS: dict[str, type[BaseModel]] = {"webhook": WebhookSpec, "email": EmailSpec}


def _allowed_keys(parent: tuple[str | int, ...]) -> list[str]:
    if len(parent) == 2 and parent[0] == "environments":
        model: type[BaseModel] | None = EnvironmentSpec
    elif parent and parent[0] == "release":
        model = _release_section(parent[2:]) if len(parent) > 2 else None
        model = ReleaseSpec if len(parent) == 1 else StrategySpec if len(parent) == 2 else model
    elif parent and parent[0] == "notify":
        model = {2: NotifySpec, 3: _NOTIFY_PARTS.get(str(parent[-1]))}.get(len(parent))
    elif parent[:2] == ("retrain", "sources"):
        model = {3: StreamSpec, 4: _STREAM_PARTS.get(str(parent[-1]))}.get(len(parent))
    elif parent[:2] == ("monitoring", "drift") and len(parent) == 4:
        model = FeatureDriftSpec
    elif parent and isinstance(parent[-1], int):
        model = GateSpec
    else:
        model = _SECTION_MODELS.get(".".join(str(p) for p in parent))
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _check_semantics(spec: ProjectSpec, locate: _Locator) -> None:
    known = known_metrics(spec.task)
    for index, name in enumerate(spec.metrics):
        if name not in known:
            raise locate.error(
                ("metrics", index),
                f"unknown metric '{name}' for {spec.task}; known: {', '.join(known)}",
            )
    scoring = spec.train.search.scoring if spec.train.search else None
    if scoring is not None and scoring not in known:
        raise locate.error(
            ("train", "search", "scoring"),
            f"unknown metric '{scoring}'; known: {', '.join(known)}",
        )
    for name, env in spec.environments.items():
        try:
            validate_name(name, what="environment name")
        except ConfigError as exc:
            raise locate.error(("environments",), exc.message) from None
        if env.release == "shadow" and spec.release.shadow is None:
            raise locate.error(
                ("environments", name, "release"),
                "releases by shadow, but there is no release: shadow: section; add one with "
                "its steps (each weight is the share of requests mirrored)",
            )
        if env.after is not None and env.after not in spec.environments:
            raise locate.error(
                ("environments", name, "after"),
                f"no environment named '{env.after}'; defined: {', '.join(spec.environments)}",
            )
    spec.environment_order  # noqa: B018 - raises SpecError on a cycle
    _check_gates(spec.gates, ("gates",), spec, locate)
    _check_channel_names(spec, locate)
    _check_release_checks(spec, locate)
    _check_monitoring(spec, locate)
    _check_retrain(spec, locate)
    for name, env in spec.environments.items():
        _check_gates(env.gates, ("environments", name, "gates"), spec, locate)
        if env.gitops is not None:
            _check_gitops(env.gitops, ("environments", name, "gitops"), locate)


def _check_release_checks(spec: ProjectSpec, locate: _Locator) -> None:
    from mlrelease.release.checks import parse_check  # the release package needs this module

    for name in ("canary", "shadow"):
        strategy = getattr(spec.release, name)
        if strategy is None:
            continue
        where: list[tuple[tuple[str | int, ...], str]] = [
            (("release", name, "checks", index), text) for index, text in enumerate(strategy.checks)
        ]
        for number, step in enumerate(strategy.steps):
            if step.analysis is not None:
                where += [
                    (("release", name, "steps", number, "analysis", "checks", index), text)
                    for index, text in enumerate(step.analysis.checks)
                ]
        custom = strategy.metrics.queries if isinstance(strategy.metrics, PrometheusSpec) else {}
        for path, text in where:
            try:
                parse_check(text, extra_metrics=custom)
            except ConfigError as exc:
                raise locate.error(path, exc.message.splitlines()[0]) from None


_NUMERIC_DRIFT = ("psi", "ks", "wasserstein", "jensenshannon")
_CATEGORICAL_DRIFT = ("psi", "chisquare", "jensenshannon")
_TASK_METRICS = {"classification": ("accuracy", "macro_f1"), "regression": ("rmse", "mae")}


def _check_monitoring(spec: ProjectSpec, locate: _Locator) -> None:
    monitoring = spec.monitoring
    if monitoring is None:
        return
    where = ("monitoring",)
    if monitoring.environment is not None and monitoring.environment not in spec.environments:
        raise locate.error(
            (*where, "environment"),
            f"no environment named '{monitoring.environment}'; "
            f"defined: {', '.join(spec.environments)}",
        )
    drift = monitoring.drift
    _check_drift_methods(drift.method, drift.categorical, (*where, "drift"), locate)
    for name in monitoring.live_metrics():
        if name not in _TASK_METRICS[spec.task]:
            raise locate.error(
                (*where, name),
                f"{name} is not measured for {spec.task}; "
                f"use one of {', '.join(_TASK_METRICS[spec.task])}",
            )


def _check_drift_methods(
    method: str, categorical: str | None, where: tuple[str | int, ...], locate: _Locator
) -> None:
    if method not in _NUMERIC_DRIFT:
        raise locate.error(
            (*where, "method"),
            f"{method} does not apply to numeric features; use one of {', '.join(_NUMERIC_DRIFT)} "
            "(and categorical: chisquare for categorical ones)",
        )
    if categorical is not None and categorical not in _CATEGORICAL_DRIFT:
        raise locate.error(
            (*where, "categorical"),
            f"{categorical} does not apply to categorical features; "
            f"use one of {', '.join(_CATEGORICAL_DRIFT)}",
        )


def _check_retrain(spec: ProjectSpec, locate: _Locator) -> None:
    from cronsim import CronSim, CronSimError

    retrain = spec.retrain
    live = spec.monitoring.live_metrics() if spec.monitoring else {}
    for index, item in enumerate(retrain.on):
        path = ("retrain", "on", index)
        if isinstance(item, ScheduleTrigger):
            try:
                CronSim(item.schedule, datetime.now(UTC))
            except CronSimError as exc:
                raise locate.error(
                    (*path, "schedule"),
                    f"not a cron schedule: {item.schedule!r} ({exc}); write five fields, "
                    "minute hour day-of-month month day-of-week, e.g. '0 3 */2 * *'",
                ) from None
        elif isinstance(item, str):
            _check_condition_name(item, live, spec, path, locate)
    if retrain.promote_to is not None and retrain.promote_to not in spec.environments:
        raise locate.error(
            ("retrain", "promote_to"),
            f"no environment named '{retrain.promote_to}'; defined: {', '.join(spec.environments)}",
        )
    names: set[str] = set()
    for index, source in enumerate(retrain.sources):
        name = source.name or source.kind
        if name in names:
            raise locate.error(
                ("retrain", "sources", index),
                f"two sources are named '{name}'; give each a distinct 'name'",
            )
        names.add(name)


def _check_condition_name(
    item: str,
    live: Mapping[str, LiveMetricSpec],
    spec: ProjectSpec,
    path: tuple[str | int, ...],
    locate: _Locator,
) -> None:
    if item == "drift":
        if spec.monitoring is None:
            raise locate.error(path, "retrains on drift, but there is no monitoring: section")
        return
    if item in live:
        return
    if item in LIVE_METRICS:
        bound = "max: 4.0" if item in ("rmse", "mae") else "min: 0.85"
        raise locate.error(
            path, f"retrains on {item}, but monitoring has no {item}: {{{bound}}} to compare with"
        )
    raise locate.error(
        path,
        f"unknown trigger {item!r}; use drift, a monitored metric "
        f"({', '.join(LIVE_METRICS)}), {{schedule: '0 3 * * *'}} or {{new_labels: 1000}}",
    )


_GITOPS_FIXED = ("environment", "version")  # set by the promotion, not the project file


def _check_gitops(gitops: GitopsSpec, where: tuple[str | int, ...], locate: _Locator) -> None:
    import dataclasses

    from mlrelease.deploy.kubernetes import KubernetesOptions

    known = [f.name for f in dataclasses.fields(KubernetesOptions) if f.name not in _GITOPS_FIXED]
    for key in gitops.kubernetes:
        if key not in known:
            raise locate.error(
                (*where, "kubernetes", key), f"unknown key; allowed here: {', '.join(known)}"
            )


def _check_channel_names(spec: ProjectSpec, locate: _Locator) -> None:
    seen: set[str] = set()
    for index, item in enumerate(spec.notify):
        if item.name is None:
            continue
        try:
            validate_name(item.name, what="channel name")
        except ConfigError as exc:
            raise locate.error(("notify", index, "name"), exc.message) from None
        if item.name in seen:
            raise locate.error(
                ("notify", index, "name"), f"channel name '{item.name}' is used twice"
            )
        seen.add(item.name)


def _check_gates(
    items: list[GateItem], where: tuple[str | int, ...], spec: ProjectSpec, locate: _Locator
) -> None:
    for index, item in enumerate(items):
        path = (*where, index)
        try:
            gate = gate_from_item(item, spec.task)
        except GateExpressionError as exc:
            # The parser's caret drawing is for a terminal; the project file gets one line.
            raise locate.error(path, exc.message.splitlines()[0]) from None
        if gate.refers_to_champion and gate.env not in spec.environments:
            raise locate.error(
                path,
                f"champion environment '{gate.env}' is not defined; "
                f"defined: {', '.join(spec.environments)}",
            )


class _Locator:
    """Maps a key path to ``file:line: `` using the YAML node tree."""

    def __init__(self, root: yaml.Node | None, filename: str) -> None:
        self._root = root
        self._filename = filename

    def __call__(self, loc: tuple[str | int, ...]) -> str:
        node: yaml.Node | None = self._root
        line: int | None = None
        for part in loc:
            child = _child(node, part)
            if child is None:
                break
            node, line = child
        return f"{self._filename}:{line}: " if line is not None else f"{self._filename}: "

    def error(self, loc: tuple[str | int, ...], message: str) -> SpecError:
        return SpecError(f"{self(loc)}{_error_path(loc)}: {message}")


def _child(node: yaml.Node | None, part: str | int) -> tuple[yaml.Node, int] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == part:
                return value, key.start_mark.line + 1
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item = node.value[part]
        return item, item.start_mark.line + 1
    return None
