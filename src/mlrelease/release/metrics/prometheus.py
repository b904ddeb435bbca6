"""The Prometheus metrics provider: PromQL over Prometheus' HTTP API (``/api/v1/query``).

Each metric is a PromQL template (``DEFAULT_QUERIES``; a strategy's ``queries``
add or replace them) with the placeholders ``$model``, ``$env``, ``$version``,
``$role`` -- filled as PromQL string contents, escaped, so use them inside
``"..."`` -- and ``$window``, the window's length (``30000ms``). A query is
evaluated at the window's end, so ``[$window]`` covers the window. It must return
one number: a scalar, or a vector of one series.

The sample size behind every figure is the ``requests`` query of the same version
and role (``increase()`` of a counter: Prometheus extrapolates it to the window's
edges, so it is approximate). The spread of the default figures is known: the
error rate is a proportion of those requests, and latency replicates come from
resampling the histogram's bucket counts (multinomially), read as
``histogram_quantile`` reads them. A custom query has no known spread.

Metrics without a query (accuracy, macro_f1, rmse, mae, divergence) come from the
fallback provider (builtin). Prometheus unreachable, or a query it refuses, makes
the affected figures missing with the reason as a note: the checks on them are
inconclusive, the analysis does not crash.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from string import Template
from typing import Final, TypeAlias

import numpy as np

from mlrelease.errors import ConfigError
from mlrelease.release.metrics import (
    Draw,
    Evidence,
    FloatArray,
    MetricsProvider,
    Reading,
    Side,
    Subject,
    check_window,
    count,
    missing,
    proportion,
)

__all__ = ["DEFAULT_QUERIES", "PrometheusProvider", "promql_string"]

_LABELS: Final = 'model="$model",env="$env",version="$version",role="$role"'
_REQUESTS: Final = f"mlrelease_requests_total{{{_LABELS}}}"
_DURATION: Final = "mlrelease_request_duration_seconds"
_QUANTILES: Final = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}
_RATE_BUCKETS: Final = f"sum by (le) (rate({_DURATION}_bucket{{{_LABELS}}}[$window]))"
DEFAULT_QUERIES: Final[dict[str, str]] = {
    "requests": f"sum(increase({_REQUESTS}[$window]))",
    "error_rate": (
        f'(sum(increase(mlrelease_requests_total{{{_LABELS},status=~"5.."}}[$window]))'
        f" or vector(0)) / sum(increase({_REQUESTS}[$window]))"
    ),
    "latency_mean": (
        f"sum(rate({_DURATION}_sum{{{_LABELS}}}[$window]))"
        f" / sum(rate({_DURATION}_count{{{_LABELS}}}[$window]))"
    ),
    **{name: f"histogram_quantile({q}, {_RATE_BUCKETS})" for name, q in _QUANTILES.items()},
}
_BUCKETS: Final = f"sum by (le) (increase({_DURATION}_bucket{{{_LABELS}}}[$window]))"
_PLACEHOLDERS: Final = ("model", "env", "version", "role", "window")
_METRIC_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MAX_ERROR: Final = 300

Series: TypeAlias = list[tuple[dict[str, str], float]]


class PrometheusError(Exception):
    """Prometheus could not answer a query; never leaves this provider."""


def promql_string(value: str) -> str:
    """``value`` escaped for the inside of a double-quoted PromQL string."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")


def _templates(queries: Mapping[str, str]) -> dict[str, Template]:
    templates = {name: Template(text) for name, text in {**DEFAULT_QUERIES, **queries}.items()}
    dummy = dict.fromkeys(_PLACEHOLDERS, "x")
    for name, template in templates.items():
        if not _METRIC_NAME.fullmatch(name):
            raise ConfigError(f"metrics.queries: {name!r} is not a metric name (letters, _)")
        try:
            template.substitute(dummy)
        except KeyError as exc:
            raise ConfigError(
                f"metrics.queries.{name}: unknown placeholder ${exc.args[0]}; "
                f"use {', '.join('$' + p for p in _PLACEHOLDERS)} (write $$ for a dollar)"
            ) from None
        except ValueError:
            raise ConfigError(
                f"metrics.queries.{name}: a '$' not followed by a placeholder name; "
                "write $$ for a literal dollar"
            ) from None
    return templates


class _Client:
    """``GET /api/v1/query`` with the stdlib; every failure is a PrometheusError."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"metrics.prometheus: {url!r} is not an http(s) URL; "
                "write it like http://127.0.0.1:9090"
            )
        self._endpoint = url.rstrip("/") + "/api/v1/query"
        self._timeout = timeout

    def query(self, promql: str, at: datetime) -> Series:
        params = urllib.parse.urlencode({"query": promql, "time": f"{at.timestamp():.3f}"})
        request = urllib.request.Request(f"{self._endpoint}?{params}", method="GET")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                raise PrometheusError(_refusal(exc.code, exc.read())) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusError(f"Prometheus at {self._endpoint} unreachable: {reason}") from None
        return _series(body)


def _refusal(status: int, body: bytes) -> str:
    try:
        error = str(json.loads(body).get("error", ""))
    except (ValueError, AttributeError):
        error = body[:_MAX_ERROR].decode("utf-8", "replace")
    return f"Prometheus answered {status}: {error[:_MAX_ERROR]}"


def _series(body: bytes) -> Series:
    try:
        data = json.loads(body)["data"]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(dict(item["metric"]), float(item["value"][1])) for item in data["result"]]
    except (ValueError, KeyError, TypeError, IndexError):
        raise PrometheusError("the answer is not a Prometheus query result") from None


class PrometheusProvider:
    """See the module docstring; ``fallback`` answers what no query covers."""

    def __init__(
        self,
        url: str,
        queries: Mapping[str, str],
        *,
        fallback: MetricsProvider,
        timeout: float = 5.0,
    ) -> None:
        self._client = _Client(url, timeout)
        self._templates = _templates(queries)
        self._defaults = {name for name in DEFAULT_QUERIES if name not in queries}
        self._fallback = fallback

    @property
    def metrics(self) -> frozenset[str]:
        """The metrics answered by a query (the others go to the fallback)."""
        return frozenset(self._templates)

    def collect(
        self,
        readings: Collection[Reading],
        subject: Subject,
        *,
        start: datetime,
        end: datetime,
    ) -> dict[Reading, Evidence]:
        check_window(start, end)
        ours = [reading for reading in readings if reading.metric in self._templates]
        rest = [reading for reading in readings if reading.metric not in self._templates]
        answers = dict(self._fallback.collect(rest, subject, start=start, end=end)) if rest else {}
        for side in {reading.side for reading in ours}:
            names = [reading.metric for reading in ours if reading.side == side]
            fill = _filler(subject, side, start, end)
            try:
                found = self._side(names, fill, end)
            except PrometheusError as exc:
                found = {name: missing(str(exc)) for name in names}
            answers.update({Reading(name, side): found[name] for name in names})
        return answers

    def _side(
        self, names: list[str], fill: Callable[[str], str], at: datetime
    ) -> dict[str, Evidence]:
        requests = self._value("requests", fill, at)  # its failure fails the whole side
        n = 0 if requests is None or math.isnan(requests) else max(0, round(requests))
        found: dict[str, Evidence] = {}
        buckets: tuple[FloatArray, FloatArray] | None = None
        if any(name in self._defaults and name.startswith("latency_") for name in names):
            with contextlib.suppress(PrometheusError):  # then the spread is unknown
                buckets = _buckets(self._client.query(fill(_BUCKETS), at))
        for name in names:
            try:
                value = requests if name == "requests" else self._value(name, fill, at)
            except PrometheusError as exc:
                found[name] = missing(str(exc), n)
                continue
            if value is None:
                found[name] = missing(f"Prometheus has no data for {name} in the window", n)
            elif name == "requests":
                found[name] = count(n)
            else:
                found[name] = self._evidence(name, value, n, buckets)
        return found

    def _value(self, name: str, fill: Callable[[str], str], at: datetime) -> float | None:
        series = self._client.query(fill(self._templates[name].template), at)
        if len(series) > 1:
            raise PrometheusError(
                f"the {name} query returned {len(series)} series; aggregate it to one, "
                "e.g. with sum(...)"
            )
        return series[0][1] if series else None

    def _evidence(
        self, name: str, value: float, n: int, buckets: tuple[FloatArray, FloatArray] | None
    ) -> Evidence:
        if name not in self._defaults:
            return Evidence(value, n, None, "custom query: no spread known")
        if name == "error_rate" and n and 0.0 <= value <= 1.0:
            # A share of n requests: binomial replicates and test, as for any proportion.
            return dataclasses.replace(proportion(round(value * n), n), value=value)
        spread = None if buckets is None else _histogram_draw(name, value, *buckets)
        return Evidence(value, n, spread)


def _filler(subject: Subject, side: Side, start: datetime, end: datetime) -> Callable[[str], str]:
    milliseconds = max(1, round((end - start).total_seconds() * 1000))
    values = {
        "model": promql_string(subject.model),
        "env": promql_string(subject.environment),
        "version": str(subject.version(side)),
        "role": promql_string(subject.role_of(side)),
        "window": f"{milliseconds}ms",
    }
    return lambda text: Template(text).substitute(values)


# --- spread from histogram buckets -----------------------------------------------


def _buckets(series: Series) -> tuple[FloatArray, FloatArray] | None:
    """Upper bounds and counts per bucket (not cumulative), from ``sum by (le)``."""
    pairs = sorted((float(labels["le"]), value) for labels, value in series if "le" in labels)
    if len(pairs) < 2 or not math.isinf(pairs[-1][0]):
        return None
    bounds = np.array([bound for bound, _ in pairs])
    cumulative = np.maximum.accumulate(np.round([value for _, value in pairs]))
    return bounds, np.diff(cumulative, prepend=0.0)


def _histogram_draw(name: str, value: float, bounds: FloatArray, counts: FloatArray) -> Draw | None:
    total = int(counts.sum())
    if total == 0 or math.isnan(value):
        return None
    statistic = _bucket_mean if name == "latency_mean" else _bucket_quantile(_QUANTILES[name])
    observed = float(statistic(bounds, counts[np.newaxis, :])[0])
    shares = counts / counts.sum()

    def draw(rng: np.random.Generator, k: int) -> FloatArray:
        resampled = rng.multinomial(total, shares, size=k).astype(np.float64)
        # Centred on Prometheus' own figure; the buckets give the spread around it.
        return statistic(bounds, resampled) - observed + value

    return draw


def _bucket_mean(bounds: FloatArray, counts: FloatArray) -> FloatArray:
    lower = np.concatenate([[0.0], bounds[:-1]])
    middle = np.where(np.isinf(bounds), lower, (lower + bounds) / 2)
    means: FloatArray = (counts @ middle) / counts.sum(axis=1)
    return means


def _bucket_quantile(q: float) -> Callable[[FloatArray, FloatArray], FloatArray]:
    def statistic(bounds: FloatArray, counts: FloatArray) -> FloatArray:
        """``histogram_quantile``'s linear interpolation, one row of counts at a time."""
        cumulative = np.cumsum(counts, axis=1)
        rank = q * cumulative[:, -1]
        index = np.argmax(cumulative >= rank[:, np.newaxis], axis=1)
        rows = np.arange(len(counts))
        below = np.where(index > 0, cumulative[rows, index - 1], 0.0)
        lower = np.where(index > 0, bounds[index - 1], 0.0)
        upper = bounds[index]
        inside = np.maximum(counts[rows, index], 1.0)
        with np.errstate(invalid="ignore"):
            result = lower + (upper - lower) * (rank - below) / inside
        answer: FloatArray = np.where(np.isinf(upper), bounds[-2], result)
        return answer

    return statistic
