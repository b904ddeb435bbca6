"""The Prometheus provider: its templates, and PromQL against a real Prometheus.

REAL PROCESSES: the ``stack`` fixture starts `mlrelease serve` (a small model, v1
stable and v2 as a 50% canary, in a temporary project) and the real Prometheus
binary scraping it every second, both on 127.0.0.1 and free ports, each stopped by
its PID when the test ends (``tests/serving/test_process.py``,
``_prometheus.py``). It sends a bounded number of requests, each with a timeout,
and every wait for Prometheus is bounded. Without the prometheus binary these
tests skip, except under CI (``CI=true``), where they fail.

The truth is the prediction log the same server wrote: every request's latency as
the server measured it, the very value it also put in its histogram.
"""

from __future__ import annotations

import bisect
import math
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from mlrelease.client import Client
from mlrelease.errors import ConfigError
from mlrelease.release.analysis import Verdict, measure
from mlrelease.release.checks import parse_check
from mlrelease.release.metrics import Reading, Subject, make_provider
from mlrelease.release.metrics.builtin import BuiltinProvider
from mlrelease.release.metrics.prometheus import (
    DEFAULT_QUERIES,
    PrometheusProvider,
    _bucket_quantile,
    promql_string,
)
from mlrelease.serving.feedback import labelled_predictions
from mlrelease.serving.metrics import _LATENCY_BUCKETS
from mlrelease.spec import PrometheusSpec
from mlrelease.store import Store
from mlrelease.traffic import set_traffic

from ..serving.test_process import free_port, running_server
from ._prometheus import SCRAPE_INTERVAL, Prometheus, running_prometheus

MODEL = "tumours"
SUBJECT = Subject(model=MODEL, environment="production", stable=1, candidate=2, role="canary")
MEASURED = 200  # requests in the measured window
WAIT = 60.0  # seconds, at most, for Prometheus to have scraped what a test needs


# --- templates, without a server ----------------------------------------------------


class _Nothing:
    def collect(self, *_: object, **__: object) -> dict[Reading, object]:
        return {}


@pytest.mark.parametrize(
    ("queries", "message"),
    [
        ({"latency_p95": 'x{model="$modle"}'}, "metrics.queries.latency_p95: unknown placeholder"),
        ({"requests": "sum(x) $ 1"}, "a '$' not followed by a placeholder name"),
        ({"bad-name": "up"}, "'bad-name' is not a metric name"),
    ],
)
def test_a_bad_template_is_refused_when_the_provider_is_made(
    queries: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        PrometheusProvider("http://127.0.0.1:9090", queries, fallback=_Nothing())


@pytest.mark.parametrize("url", ["127.0.0.1:9090", "ftp://host", "http://", "file:///etc/passwd"])
def test_a_url_that_is_not_http_is_refused(url: str, store: Store) -> None:
    with pytest.raises(ConfigError, match="not an http"):
        make_provider(PrometheusSpec(prometheus=url), store)


def test_label_values_are_escaped_for_promql_strings() -> None:
    assert promql_string('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    for template in DEFAULT_QUERIES.values():
        assert '"$model"' in template and '"$role"' in template


def test_bucket_quantiles_are_read_as_histogram_quantile_reads_them() -> None:
    bounds = np.array([0.1, 0.5, 1.0, math.inf])
    counts = np.array([[50.0, 30.0, 20.0, 0.0], [0.0, 0.0, 90.0, 10.0]])
    # Rank 50 of 100 ends the first bucket; rank 95 is 3/4 into (0.5, 1]; rank 95 of
    # the second row is in +Inf, which answers the highest finite bound.
    assert _bucket_quantile(0.5)(bounds, counts)[0] == pytest.approx(0.1)
    assert _bucket_quantile(0.95)(bounds, counts).tolist() == pytest.approx([0.875, 1.0])


def test_an_unreachable_prometheus_makes_its_checks_inconclusive(store: Store) -> None:
    spec = PrometheusSpec(prometheus=f"http://127.0.0.1:{free_port()}")
    checks = [parse_check("latency_p95 <= 0.5"), parse_check("error_rate <= 0.01")]
    started = time.monotonic()
    result = measure(checks, make_provider(spec, store), SUBJECT, start=_ago(60), end=_now())
    assert time.monotonic() - started < 30
    assert result.verdict is Verdict.INCONCLUSIVE
    for check in result.checks:
        assert check.verdict is Verdict.INCONCLUSIVE
        assert "unreachable" in check.note and "Connection refused" in check.note


# --- against a real Prometheus --------------------------------------------------------


@dataclass
class Stack:
    prometheus: Prometheus
    store: Store
    start: datetime
    end: datetime
    served: Counter[str]  # requests answered in the window, by role

    def provider(self, queries: dict[str, str] | None = None) -> PrometheusProvider:
        builtin = BuiltinProvider(self.store)
        return PrometheusProvider(self.prometheus.url, queries or {}, fallback=builtin)

    def latencies(self, role: str) -> np.ndarray:
        """Seconds per request of ``role`` in the window, from the prediction log."""
        rows = labelled_predictions(self.store, MODEL, "production", limit=10_000)
        return np.array(
            [
                row["latency_ms"] / 1000.0
                for row in rows
                if row["role"] == role
                and row["row"] == 0
                and self.start <= row["timestamp"] < self.end
            ]
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _ago(seconds: float) -> datetime:
    return datetime.fromtimestamp(time.time() - seconds, UTC)


def _register(project: Path) -> Client:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    client = Client.open(base_dir=project, env={})
    for C, alias in ((1.0, "production"), (0.01, None)):
        fitted = LogisticRegression(C=C, solver="liblinear").fit(X, y)
        client.register_model(
            MODEL, fitted, task="classification", sample_input=X[:5], alias=alias, gates=[]
        )
    set_traffic(client.store, MODEL, "production", canary=2, canary_weight=50, actor="tester")
    return client


def _send(http: httpx.Client, rows: list[list[float]]) -> Counter[str]:
    roles: Counter[str] = Counter()
    deadline = time.monotonic() + 60
    for row in rows:
        assert time.monotonic() < deadline, "sending took over 60 s"
        response = http.post("/predict", json={"features": row})
        assert response.status_code == 200, response.text
        roles[response.json()["role"]] += 1
    return roles


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    project = tmp_path / "project"
    project.mkdir()
    client = _register(project)
    X = load_breast_cancer(as_frame=True).data
    rows = [[float(v) for v in X.iloc[i % len(X)]] for i in range(MEASURED + 100)]
    with (
        running_server(
            project, project / "logs", "--model", MODEL, "--env", "production"
        ) as server,
        running_prometheus(project / "prometheus", free_port(), f"127.0.0.1:{server.port}") as prom,
        httpx.Client(base_url=server.url, timeout=30.0) as http,
    ):
        server.wait_ready()
        # Warm up until Prometheus has both roles' counters, so the window sees them rise.
        warm = _send(http, rows[:100])
        assert warm["canary"] and warm["stable"], warm
        total = f'sum(mlrelease_requests_total{{model="{MODEL}"}})'
        prom.wait_until(total, lambda value: value >= 100, WAIT, "warm-up scraped")
        start = _now()
        time.sleep(2.5 * SCRAPE_INTERVAL)  # a scrape inside the window before the requests
        served = _send(http, rows[100:])
        time.sleep(2.5 * SCRAPE_INTERVAL)  # and one after them
        end = _now()
        scraped = 'max(timestamp(up{job="mlrelease"}))'
        prom.wait_until(scraped, lambda at: at > end.timestamp(), WAIT, "scraped past the end")
        stack = Stack(prom, client.store, start, end, served)
        _wait_for_the_log(stack)
        yield stack
    client.close()


def _wait_for_the_log(stack: Stack) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        logged = {role: len(stack.latencies(role)) for role in ("canary", "stable")}
        if logged == dict(stack.served):
            return
        time.sleep(0.2)
    pytest.fail(f"the prediction log has {logged}, the server answered {stack.served}")


def _bucket_edges(value: float) -> tuple[float, float]:
    index = bisect.bisect_left(_LATENCY_BUCKETS, value)
    lower = _LATENCY_BUCKETS[index - 1] if index else 0.0
    return lower, _LATENCY_BUCKETS[index] if index < len(_LATENCY_BUCKETS) else math.inf


def _figures_agree_with_what_the_server_measured(stack: Stack) -> None:
    names = ("requests", "error_rate", "latency_mean", "latency_p95")
    readings = [Reading(name, side) for name in names for side in ("candidate", "stable")]
    found = stack.provider().collect(readings, SUBJECT, start=stack.start, end=stack.end)
    window = (stack.end - stack.start).total_seconds()
    # increase() extrapolates to the window's edges, by at most 1.1 scrape intervals each.
    most = window / (window - 2.2 * SCRAPE_INTERVAL)
    for side, role in (("candidate", "canary"), ("stable", "stable")):
        truth = stack.latencies(role)
        requests = found[Reading("requests", side)]
        assert truth.size <= requests.value <= truth.size * most + 1, (side, requests, truth.size)
        error_rate = found[Reading("error_rate", side)]
        assert error_rate.value == 0.0 and error_rate.samples == requests.samples
        mean = found[Reading("latency_mean", side)]
        assert mean.value == pytest.approx(truth.mean(), rel=1e-6)
        assert mean.draw is not None and mean.samples == requests.samples
        # histogram_quantile interpolates inside the bucket that holds rank 0.95 * n.
        p95 = found[Reading("latency_p95", side)]
        ranked = np.sort(truth)[math.ceil(0.95 * truth.size) - 1]
        lower, upper = _bucket_edges(float(ranked))
        assert lower - 1e-9 <= p95.value <= upper + 1e-9, (side, p95.value, ranked)
        replicates = p95.replicates(np.random.default_rng(0), 200)
        assert np.isfinite(replicates).all() and replicates.std() > 0


def _a_measurement_falls_back_to_the_log_for_model_metrics(stack: Stack) -> None:
    checks = [
        parse_check("latency_p95 <= 5"),
        parse_check("error_rate <= stable.error_rate + 0.01"),
        parse_check("latency_mean <= stable.latency_mean * 10 + 0.05"),
        parse_check("divergence <= 1"),  # Prometheus cannot know it: builtin answers
        parse_check("accuracy >= 0.5"),  # no labels came: inconclusive
    ]
    provider = make_provider(PrometheusSpec(prometheus=stack.prometheus.url), stack.store)
    result = measure(checks, provider, SUBJECT, start=stack.start, end=stack.end)
    verdicts = [check.verdict for check in result.checks]
    assert verdicts == [Verdict.SUCCESSFUL] * 4 + [Verdict.INCONCLUSIVE], result
    assert result.checks[3].samples == {"candidate": min(stack.served.values())}
    assert result.checks[1].samples["stable"] >= stack.served["stable"]
    assert "no labelled rows" in result.checks[4].note


def _queries_prometheus_refuses_or_cannot_aggregate_are_notes(stack: Stack) -> None:
    provider = stack.provider(
        {
            "latency_p95": "sum(rate(mlrelease_request_duration_seconds_bucket[$window]",
            "latency_mean": 'mlrelease_requests_total{model="$model"}',
            "rpm": 'sum(increase(mlrelease_requests_total{model="$model",role="$role"}[$window]))',
        }
    )
    names = ("latency_p95", "latency_mean", "rpm")
    readings = [Reading(name, "candidate") for name in names]
    found = provider.collect(readings, SUBJECT, start=stack.start, end=stack.end)
    assert "Prometheus answered 400" in found[readings[0]].note
    assert "series; aggregate it to one" in found[readings[1]].note
    custom = found[readings[2]]
    assert custom.value >= stack.served["canary"] and custom.draw is None
    check = parse_check("rpm >= 1", extra_metrics={"rpm"})
    result = measure([check], provider, SUBJECT, start=stack.start, end=stack.end)
    assert result.verdict is Verdict.SUCCESSFUL


def _label_values_cannot_change_the_query(stack: Stack) -> None:
    sneaky = Subject(
        model=f'{MODEL}",model=~".+',
        environment="production",
        stable=1,
        candidate=2,
        role="canary",
    )
    reading = Reading("requests", "candidate")
    found = stack.provider().collect([reading], sneaky, start=stack.start, end=stack.end)
    assert found[reading].samples == 0


def test_against_a_real_prometheus_scraping_a_real_server(stack: Stack) -> None:
    # One test over one stack: under xdist, separate tests could each start their own.
    _figures_agree_with_what_the_server_measured(stack)
    _a_measurement_falls_back_to_the_log_for_model_metrics(stack)
    _queries_prometheus_refuses_or_cannot_aggregate_are_notes(stack)
    _label_values_cannot_change_the_query(stack)
