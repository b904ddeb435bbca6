"""A model's "try it" page: a form built from the live version's signature, and its prediction.

The form has one field per input, prefilled with a row of the version's evaluation
set (or, without one, the medians of its training profile). A submitted form is
checked by the model server's own request validation, so a bad value gets the
message ``POST /predict`` would give, then scored by the version the environment's
alias points to, loaded through the registry (sha256-verified) and kept in a small
cache. Predictions made here are not written to the prediction log.
"""

from __future__ import annotations

import json
import math
import random
import shlex
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal

import numpy as np
from starlette.responses import Response

from mlrelease.auth import Role
from mlrelease.client import Client
from mlrelease.errors import NotFoundError, RequestError
from mlrelease.pipeline.evaluate import load_evaluation_set
from mlrelease.registry.flavors import LoadedModel
from mlrelease.registry.records import ModelInfo, VersionInfo
from mlrelease.serving.validation import Batch, InputSchema, parse_predict
from mlrelease.ui.pages.overview import environment_order
from mlrelease.ui.routing import Pages, View

__all__ = ["pages"]

pages = Pages()

FIELD_PREFIX = "feature:"  # keeps input names apart from the form's own (csrf, next, ...)
NUMERIC_KINDS = frozenset({"float", "int"})
OTHER = "__other__"  # the profile's bin of categories it did not keep


@dataclass(frozen=True)
class Field:
    """One input of the form."""

    name: str
    kind: str
    value: str  # as the form shows it
    error: str | None = None

    @property
    def key(self) -> str:
        return FIELD_PREFIX + self.name

    @property
    def control(self) -> Literal["number", "bool", "text"]:
        if self.kind in NUMERIC_KINDS:
            return "number"
        return "bool" if self.kind == "bool" else "text"


@dataclass(frozen=True)
class Reference:
    """Where the prefilled values come from."""

    values: dict[str, str]
    row: int | None  # the evaluation set's row; None: the profile's medians
    rows: int  # rows in the evaluation set
    label: Any = None  # the row's true label


@dataclass(frozen=True)
class Answer:
    prediction: Any
    probabilities: list[tuple[str, float]]  # (class, probability), likeliest first
    curl: str


# -- pages ------------------------------------------------------------------------------


@pages.get("/models/{model}/try")
def try_form(view: View, model: str) -> Response:
    client = view.client
    info = client.registry.model(model)  # an unknown model is a 404
    environment = view.request.query_params.get("environment") or _default_environment(client, info)
    version = _live_version(client, info, environment)
    if version is None:
        return _render(view, info, environment, None, [])
    reference = _reference(client, version, _row_asked(view))
    fields = [Field(name, kind, reference.values.get(name, "")) for name, kind in _inputs(version)]
    return _render(view, info, environment, version, fields, reference=reference)


@pages.post("/models/{model}/try", role=Role.viewer)
def try_predict(view: View, model: str) -> Response:
    client = view.client
    info = client.registry.model(model)
    environment = view.form.get("environment", "")
    version = _live_version(client, info, environment)
    if version is None:
        raise NotFoundError(_nothing_live(info.name, environment))
    fields, record = _read_form(view.form, version)
    body = json.dumps({"records": [record]}, allow_nan=False)
    fields, batch, problem = _validate(fields, body, version)
    if batch is None:
        return _render(view, info, environment, version, fields, status=400, problem=problem)
    loaded = LOADED.get(client, version)
    labels, proba = loaded.predict_with_proba(batch.frame)
    answer = Answer(
        prediction=_plain(np.asarray(labels)[0]),
        probabilities=_probabilities(loaded, version, proba),
        curl=_curl(view, body),
    )
    return _render(view, info, environment, version, fields, answer=answer)


def _render(
    view: View,
    info: ModelInfo,
    environment: str,
    version: VersionInfo | None,
    fields: list[Field],
    *,
    status: int = 200,
    reference: Reference | None = None,
    answer: Answer | None = None,
    problem: str | None = None,
) -> Response:
    environments = environment_order(view.client, info.aliases)
    if environment not in environments:
        environments = [*environments, environment]
    return view.render(
        "try.html",
        status=status,
        model=info,
        environment=environment,
        environments=environments,
        version=version,
        fields=fields,
        errors=[field for field in fields if field.error],
        problem=problem,
        reference=reference,
        another_row=_another_row(reference),
        answer=answer,
    )


# -- which version, which values ------------------------------------------------------


def _default_environment(client: Client, info: ModelInfo) -> str:
    """Production when something is live there, else the last environment with a version."""
    if "production" in info.aliases:
        return "production"
    live = [env for env in environment_order(client, info.aliases) if env in info.aliases]
    return live[-1] if live else "production"


def _live_version(client: Client, info: ModelInfo, environment: str) -> VersionInfo | None:
    number = info.aliases.get(environment)
    return None if number is None else client.version(info.name, number)


def _nothing_live(model: str, environment: str) -> str:
    return (
        f"No version of {model} is live in {environment}, so there is nothing to try: "
        f"promote one with `mlrelease promote {model} VERSION --to {environment}`"
    )


def _inputs(version: VersionInfo) -> list[tuple[str, str]]:
    inputs = version.signature.get("inputs", [])
    return [(str(item["name"]), str(item["kind"])) for item in inputs]


def _row_asked(view: View) -> int:
    try:
        return max(int(view.request.query_params.get("row", "0")), 0)
    except ValueError:  # a hand-edited link: start from the first row
        return 0


def _reference(client: Client, version: VersionInfo, row: int) -> Reference:
    """A row of the version's evaluation set, else the medians of its training profile."""
    names = version.feature_names
    medians = _profile_medians(version.profile, names)
    if not version.evaluation.get("uri"):
        return Reference(medians, None, 0)
    data = load_evaluation_set(client.registry.artifacts, version.evaluation)
    if data.X.empty:
        return Reference(medians, None, 0)
    index = row % len(data.X)
    values = {
        name: _text(data.X[name].iloc[index]) if name in data.X else medians.get(name, "")
        for name in names
    }
    return Reference(values, index, len(data.X), label=_plain(data.y.iloc[index]))


def _another_row(reference: Reference | None) -> int | None:
    if reference is None or reference.row is None or reference.rows < 2:
        return None
    other = random.randrange(reference.rows - 1)  # noqa: S311 - a demo row, not a secret
    return other if other < reference.row else other + 1


def _profile_medians(profile: Mapping[str, Any], names: Sequence[str]) -> dict[str, str]:
    """A typical value per input: the median of a number, the commonest category."""
    columns = profile.get("features") or {}
    return {name: _typical(columns.get(name) or {}) for name in names}


def _typical(column: Mapping[str, Any]) -> str:
    distribution = column.get("distribution")
    if distribution == "quantile_bins":
        sketch = column.get("sketch") or []
        if not sketch:
            return ""
        middle = (sketch[(len(sketch) - 1) // 2] + sketch[len(sketch) // 2]) / 2
        return _text(round(middle) if column.get("kind") == "int" else middle)
    if distribution == "categories":
        shares = {k: v for k, v in (column.get("frequencies") or {}).items() if k != OTHER}
        return max(shares, key=shares.__getitem__) if shares else ""
    return str(column.get("min") or "")


# -- the submitted form ------------------------------------------------------------------


def _read_form(form: Mapping[str, str], version: VersionInfo) -> tuple[list[Field], dict[str, Any]]:
    """The fields as submitted, each with its error, and the record of typed values."""
    fields: list[Field] = []
    record: dict[str, Any] = {}
    for name, kind in _inputs(version):
        text = form.get(FIELD_PREFIX + name)
        if text is None:
            fields.append(Field(name, kind, "", f"{name}: no value was sent"))
            continue
        value, error = _typed(name, kind, text)
        fields.append(Field(name, kind, text, error))
        record[name] = value
    return fields, record


def _validate(
    fields: list[Field], body: str, version: VersionInfo
) -> tuple[list[Field], Batch | None, str | None]:
    """The request the endpoint would get, checked as the endpoint checks it.

    Returns the fields with the endpoint's message beside the value it refused, the
    rows ready for the model (None when something was refused), and a message for
    a refusal no single field explains.
    """
    if any(field.error for field in fields):
        return fields, None, None
    schema = InputSchema.from_signature(version.signature)
    try:
        return fields, parse_predict(body.encode(), schema, max_rows=1), None
    except RequestError as exc:
        column = exc.details.get("column")
        marked = [replace(f, error=exc.message) if f.name == column else f for f in fields]
        return marked, None, None if column in schema.name_set else exc.message


def _typed(name: str, kind: str, text: str) -> tuple[Any, str | None]:
    """The JSON value the endpoint would be sent for ``text``, or why there is none."""
    if kind in NUMERIC_KINDS:
        if not text.strip():
            return None, f"{name}: a number is needed (models are served without missing values)"
        try:
            number = float(text)
        except ValueError:
            return None, f"{name}: {text!r} is not a number"
        if not math.isfinite(number):
            return None, f"{name}: {text!r} is not a finite number"
        # A whole number goes as an int; 3.5 for an int input goes as it is, for the
        # endpoint's validation to refuse in its own words.
        return (int(number) if kind == "int" and number.is_integer() else number), None
    if kind == "bool":
        if text not in ("true", "false"):
            return None, f"{name}: choose true or false"
        return text == "true", None
    return text, None


# -- the answer --------------------------------------------------------------------------


def _probabilities(
    loaded: LoadedModel, version: VersionInfo, proba: Any
) -> list[tuple[str, float]]:
    if proba is None:
        return []
    classes = loaded.classes or version.signature.get("classes") or []
    row = np.asarray(proba)[0]
    pairs = [(str(_plain(label)), float(p)) for label, p in zip(classes, row, strict=False)]
    return sorted(pairs, key=lambda pair: -pair[1])


def _curl(view: View, body: str) -> str:
    """The same request to the live endpoint, for a shell."""
    request = view.request
    host = request.headers.get("host") or "localhost:8000"
    url = f"{request.url.scheme}://{host}/predict"
    return (
        f"curl -X POST {shlex.quote(url)} \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body)}"
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _text(value: Any) -> str:
    """A value as a form field shows it: numbers exactly, no ``nan``."""
    value = _plain(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# -- loaded versions ---------------------------------------------------------------------


class LoadedVersions:
    """The last few versions loaded for this page: a model load takes a while.

    Keyed by model, version and artifact digest, so a moved alias loads the version
    it now points to, and two stores with the same names never share an entry.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._loaded: OrderedDict[tuple[str, int, str], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, client: Client, version: VersionInfo) -> LoadedModel:
        key = (version.model, version.version, version.artifact_sha256)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        loaded = client.registry.load_model(version)  # sha256-verified; outside the lock
        with self._lock:
            self._loaded[key] = loaded
            while len(self._loaded) > self.size:
                self._loaded.popitem(last=False)
        return loaded

    def __len__(self) -> int:
        return len(self._loaded)


LOADED = LoadedVersions()
