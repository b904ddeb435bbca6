"""`mlrelease deploy monitoring`: the dashboard, the alerting rules and the Prometheus config.

REAL COMPONENTS: the rules and config are checked by the real `promtool`; every
metric they and the dashboard read is looked up on the /metrics of a real
`mlrelease serve` process (a quickstart project, v1 in dev, a few requests, one
feedback, a stored monitor report); and a real Prometheus started with the
generated prometheus.yml scrapes that server, evaluates every rule without an
error and answers every dashboard query. Processes run on free 127.0.0.1 ports
and are stopped by their PID; every wait is bounded. Without the prometheus
package these tests skip, except under CI (CI=true), where they fail.

Golden files: tests/deploy/golden/monitoring/CASE/; rewrite them with UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_breast_cancer
from sqlalchemy import func, select
from typer.testing import CliRunner

from mlrelease.cli import _ErrorTranslatingGroup
from mlrelease.cli.deploy_monitoring import register
from mlrelease.client import Client
from mlrelease.deploy.monitoring import (
    ALERTS_FILE,
    DASHBOARD_FILE,
    FILES,
    PROMETHEUS_FILE,
    MonitoringOptions,
    render_monitoring,
    write_monitoring,
)
from mlrelease.errors import ConfigError, ConflictError
from mlrelease.spec import ProjectSpec, load_spec, parse_spec
from mlrelease.store import tables

from ..processes import free_port, start_cli, stop, wait_ready
from ..release._prometheus import Prometheus, prometheus_binary, prometheus_with

GOLDEN = Path(__file__).parent / "golden" / "monitoring"
MODEL = "breast-cancer"
_CLI = [sys.executable, "-c", "from mlrelease.cli import main; main()"]

PROJECT = """
model: breast-cancer
task: classification
data: {source: "sklearn:load_breast_cancer", target: target}
train: {estimator: sklearn.linear_model.LogisticRegression}
environments:
  dev: {}
  staging: {after: dev}
  production: {after: staging, approvals: 1, release: canary}
release:
  canary:
    steps: [{weight: 20}, {analysis: {interval: 30s, count: 5}}]
    checks:
      - latency_p95 <= 0.3
      - error_rate <= stable.error_rate + 0.005
      - accuracy >= stable.accuracy - 0.02
monitoring:
  drift: {share: 0.3, for: 30m}
  accuracy: {min: 0.85, min_labels: 50}
  macro_f1: {min: 0.8, for: 1h}
"""


def _project(text: str = PROJECT) -> ProjectSpec:
    return parse_spec(text, env={})


CASES: dict[str, tuple[MonitoringOptions, str | None]] = {
    "defaults": (MonitoringOptions(), None),
    "project": (MonitoringOptions(), PROJECT),
    "scoped": (
        MonitoringOptions(
            model="fraud",
            environment="staging",
            datasource="Mimir",
            job="ml-serving",
            targets=("10.0.0.5:8001", "[::1]:8002"),
            scrape_interval=30.0,
            max_error_rate=0.05,
            max_latency_p95=0.25,
        ),
        None,
    ),
}


def _render(case: str) -> dict[str, str]:
    options, project = CASES[case]
    return render_monitoring(options, _project(project) if project else None)


# --- PromQL: the metric names an expression reads --------------------------------

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "group_left"}
_KEYWORDS |= {"group_right", "by", "without", "on", "ignoring"}
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.$:])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions or keywords."""
    text = re.sub(r'"(?:\\.|[^"\\])*"' + r"|'(?:\\.|[^'\\])*'", '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery windows
    text = _GROUPING.sub("", text)  # by (...), on (...), group_left (...)
    return {
        match.group(1)
        for match in _IDENTIFIER.finditer(text)
        if match.group(2) is None and match.group(1).lower() not in _KEYWORDS
    }


def test_metric_names_reads_metrics_not_functions_labels_or_numbers() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, role) (rate(a_bucket{model="$model",x=~"b|c"}'
        "[$__rate_interval]))) / ignoring(status) group_left sum(b_total) > 1e-05 "
        "and on (model) c unless absent(d{e='f'}) or vector(0)"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c", "d"}


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def dashboard_expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the panels and annotations ("expr")."""
    return [value for key, value in _walk(dashboard) if key == "expr"]


def variable_metrics(dashboard: dict[str, Any]) -> set[str]:
    """Metrics the templated variables read: label_values(METRIC{...}, label)."""
    found = set()
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = re.match(r"label_values\(\s*([A-Za-z_:][\w:]*)", variable["query"])
            assert match, variable["query"]
            found.add(match.group(1))
    return found


def rule_expressions(alerts: str) -> list[str]:
    return [rule["expr"] for group in yaml.safe_load(alerts)["groups"] for rule in group["rules"]]


def read_metrics(files: dict[str, str]) -> set[str]:
    dashboard = json.loads(files[DASHBOARD_FILE])
    expressions = dashboard_expressions(dashboard) + rule_expressions(files[ALERTS_FILE])
    return set().union(*map(metric_names, expressions)) | variable_metrics(dashboard)


def grafana_to_promql(expr: str) -> str:
    """A dashboard expression with Grafana's variables filled in, as Grafana sends it."""
    for variable, value in {
        "$__rate_interval": "1m",
        "$__range": "5m",
        "$model": MODEL,
        "$env": "dev",
    }.items():
        expr = expr.replace(variable, value)
    return expr


# --- golden files, determinism, the shape of each file ---------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_files_match_the_golden_files(case: str) -> None:
    files = _render(case)
    assert list(files) == list(FILES)
    folder = GOLDEN / case
    if os.environ.get("UPDATE_GOLDEN") == "1":
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    for name, text in files.items():
        assert (folder / name).read_text(encoding="utf-8") == text, (
            f"{case}/{name} differs from its golden file; if the change is meant, "
            "rerun with UPDATE_GOLDEN=1 and review the diff"
        )


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_inputs_give_the_same_bytes_and_no_timestamps(case: str) -> None:
    first, second = _render(case), _render(case)
    assert first == second
    for text in first.values():
        assert not re.search(r"20\d\d-\d\d-\d\d", text)


@pytest.mark.parametrize("case", sorted(CASES))
def test_dashboard_panels_have_stable_ids_and_do_not_overlap(case: str) -> None:
    dashboard = json.loads(_render(case)[DASHBOARD_FILE])
    panels = dashboard["panels"]
    assert [panel["id"] for panel in panels] == list(range(1, len(panels) + 1))
    assert dashboard["schemaVersion"] >= 39 and dashboard["id"] is None
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"panel {panel['title']!r} overlaps another"
        cells |= area
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"] and panel["description"]
            assert [t["refId"] for t in panel["targets"]] == list("ABCD"[: len(panel["targets"])])


def test_dashboard_variables_pick_the_data_source_model_and_environment() -> None:
    dashboard = json.loads(_render("scoped")[DASHBOARD_FILE])
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert list(variables) == ["datasource", "model", "env"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["datasource"]["current"]["value"] == "Mimir"
    assert variables["model"]["query"] == "label_values(mlrelease_model_info, model)"
    assert variables["model"]["current"]["value"] == "fraud"
    assert variables["env"]["current"]["value"] == "staging"
    assert dashboard["title"] == "mlrelease: fraud (staging)"
    assert dashboard["uid"] != json.loads(_render("defaults")[DASHBOARD_FILE])["uid"]
    assert len(dashboard["uid"]) <= 40
    titles = {panel["title"] for panel in dashboard["panels"]}
    for wanted in (
        "Request rate by version and role",
        "Error rate (5xx and 4xx share)",
        "Latency p50 / p95 / p99",
        "Request share by role",
        "Latency p95 by role",
        "Batch size (rows per model call)",
        "Loaded versions",
        "Model swaps and load failures",
        "Prediction log rows by outcome",
        "Feature drift score",
        "Drifted features",
        "Live metrics (from feedback)",
        "Labels behind live metrics",
    ):
        assert wanted in titles


def test_release_phase_is_not_read_because_the_server_does_not_export_it() -> None:
    source = Path(__file__).parents[2] / "src" / "mlrelease"
    exported = any("mlrelease_release_phase" in path.read_text() for path in source.rglob("*.py"))
    for case in CASES:
        assert ("mlrelease_release_phase" in "".join(_render(case).values())) == exported


# --- what the rules say --------------------------------------------------------


def _rules(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(files[ALERTS_FILE])["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def test_every_rule_has_a_for_a_severity_and_says_what_to_run() -> None:
    for case in CASES:
        for name, rule in _rules(_render(case)).items():
            assert re.fullmatch(r"\d+(ms|s|m|h)", rule["for"]), name
            assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
            assert rule["annotations"]["summary"], name
            assert "`mlrelease " in rule["annotations"]["description"], name


def test_the_project_files_floors_drift_share_and_canary_checks_become_rules() -> None:
    rules = _rules(_render("project"))
    accuracy = rules["MlreleaseLiveAccuracyBelowFloor"]
    assert (
        'min by (model, env, version, metric) (mlrelease_online_metric{job="mlrelease",'
        'model="breast-cancer",env="production",metric="accuracy"}) < 0.85'
    ) in accuracy["expr"]
    assert "mlrelease_online_metric_labels" in accuracy["expr"] and ">= 50" in accuracy["expr"]
    assert accuracy["for"] == "15m"  # the project sets no `for`: the default
    assert rules["MlreleaseLiveMacroF1BelowFloor"]["for"] == "1h"
    assert rules["MlreleaseFeatureDrift"]["expr"].endswith(">= 0.3")
    assert rules["MlreleaseFeatureDrift"]["for"] == "30m"
    assert rules["MlreleaseHighLatencyP95"]["expr"].endswith("> 0.3")  # latency_p95 <= 0.3
    assert rules["MlreleaseHighErrorRate"]["expr"].endswith("> 0.01")  # relative check: default
    # serving rules cover the project's model in every environment
    assert 'model="breast-cancer"' in rules["MlreleaseHighErrorRate"]["expr"]
    assert "env=" not in rules["MlreleaseHighErrorRate"]["expr"]


def test_a_ceiling_is_an_above_rule_and_options_beat_the_project() -> None:
    regression = PROJECT.replace("task: classification", "task: regression").replace(
        "  accuracy: {min: 0.85, min_labels: 50}\n  macro_f1: {min: 0.8, for: 1h}\n",
        "  rmse: {max: 4.0}\n",
    )
    options = MonitoringOptions(environment="staging", max_latency_p95=2.0, max_error_rate=0.2)
    rules = _rules(render_monitoring(options, _project(regression)))
    assert 'metric="rmse"}) > 4.0' in rules["MlreleaseLiveRmseAboveCeiling"]["expr"]
    assert 'env="staging"' in rules["MlreleaseLiveRmseAboveCeiling"]["expr"]
    assert rules["MlreleaseHighLatencyP95"]["expr"].endswith("> 2.0")
    assert rules["MlreleaseHighErrorRate"]["expr"].endswith("> 0.2")


def test_another_model_than_the_projects_gets_no_floors_from_it() -> None:
    files = render_monitoring(MonitoringOptions(model="fraud"), _project())
    assert not [name for name in _rules(files) if name.startswith("MlreleaseLive")]
    assert "every environment" in files[ALERTS_FILE]  # the quality rules are not scoped
    assert "no floor is known" in files[ALERTS_FILE]


# --- bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (MonitoringOptions(targets=("localhost",)), "--targets: 'localhost' is not HOST:PORT"),
        (MonitoringOptions(targets=("h:99999",)), "--targets: 'h:99999' is not HOST:PORT"),
        (MonitoringOptions(targets=()), "--targets: give at least one HOST:PORT"),
        (MonitoringOptions(job='a"b'), "--job: 'a\"b' is not a job name"),
        (MonitoringOptions(model="../x"), "--model '../x' is not allowed"),
        (MonitoringOptions(datasource=" "), "--datasource: ' ' is not a Grafana data source"),
        (MonitoringOptions(scrape_interval=0), "--scrape-interval: 0 must be greater than 0"),
        (MonitoringOptions(max_error_rate=5.0), "--max-error-rate: 5.0 is a share of requests"),
        (MonitoringOptions(max_latency_p95=-1.0), "--max-latency-p95: -1.0 must be greater"),
    ],
)
def test_bad_options_are_a_config_error_saying_how_to_fix_them(
    options: MonitoringOptions, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        render_monitoring(options)
    assert caught.value.exit_code == 2


def test_out_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a directory; give a directory"):
        write_monitoring(tmp_path / "file", _render("defaults"))


def test_writing_creates_replaces_only_when_told_and_leaves_equal_files(tmp_path: Path) -> None:
    out = tmp_path / "a" / "monitoring"
    files = _render("defaults")
    assert set(write_monitoring(out, files).values()) == {"wrote"}
    assert set(write_monitoring(out, files).values()) == {"unchanged"}
    (out / ALERTS_FILE).write_text("# edited by hand\n")
    with pytest.raises(ConflictError, match="pass --force to replace it"):
        write_monitoring(out, _render("scoped"))
    assert (out / ALERTS_FILE).read_text() == "# edited by hand\n"  # nothing written
    assert (out / PROMETHEUS_FILE).read_text() == files[PROMETHEUS_FILE]
    outcome = write_monitoring(out, files, overwrite=True)
    assert outcome[out / ALERTS_FILE] == "replaced" and outcome[out / DASHBOARD_FILE] == "unchanged"
    assert {path.name for path in out.iterdir()} == set(FILES)  # no temporary files left


# --- promtool ----------------------------------------------------------------------


def _promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    reason = "promtool is not installed (apt-get install prometheus)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run the promtool checks")
    pytest.skip(reason)


def _run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


@pytest.mark.parametrize("case", sorted(CASES))
def test_promtool_accepts_the_rules_and_the_config(case: str, tmp_path: Path) -> None:
    promtool = _promtool()
    write_monitoring(tmp_path, _render(case))
    rules = len(_rules(_render(case)))
    assert f"SUCCESS: {rules} rules found" in _run(
        promtool, "check", "rules", str(tmp_path / ALERTS_FILE)
    )
    output = _run(promtool, "check", "config", str(tmp_path / PROMETHEUS_FILE))
    assert "1 rule files found" in output and "is valid prometheus config" in output


def test_promtool_parses_every_dashboard_expression(tmp_path: Path) -> None:
    promtool = _promtool()
    expressions = dashboard_expressions(json.loads(_render("project")[DASHBOARD_FILE]))
    rules = [
        {"record": f"dashboard_expression_{index}", "expr": grafana_to_promql(expr)}
        for index, expr in enumerate(expressions)
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in _run(promtool, "check", "rules", str(path))


# --- against a real server ----------------------------------------------------------

MONITORING = """
monitoring:
  environment: dev
  window: 500
  min_rows: 20
  accuracy: {min: 0.85, min_labels: 5}
"""
ROWS = 40  # one /predict with this many rows, labelled by one /feedback


@dataclass(frozen=True)
class Served:
    project: Path
    address: str  # host:port

    @property
    def url(self) -> str:
        return f"http://{self.address}"


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLRELEASE_")}
    return {**env, "MLRELEASE_ACTOR": "ops"}


def _send_traffic(url: str) -> int:
    """One labelled batch request and a few single rows; the rows served."""
    X, y = load_breast_cancer(return_X_y=True)
    with httpx.Client(base_url=url, timeout=10) as http:
        batch = http.post("/predict", json={"instances": X[:ROWS].tolist()})
        assert batch.status_code == 200, batch.text
        labels = {"request_id": batch.headers["x-request-id"], "labels": y[:ROWS].tolist()}
        assert http.post("/feedback", json=labels).status_code == 200
        for row in X[ROWS : ROWS + 3].tolist():
            assert http.post("/predict", json={"features": row}).status_code == 200
    return ROWS + 3


def _wait_logged(client: Client, rows: int) -> None:
    deadline = time.monotonic() + 30
    logged = 0
    while time.monotonic() < deadline:
        with client.store.read() as connection:
            count = select(func.count()).select_from(tables.predictions)
            logged = connection.execute(count).scalar_one()
        if logged >= rows:
            return
        time.sleep(0.1)
    pytest.fail(f"the prediction log holds {logged} rows, not {rows}, after 30 s")


def _wait_for_report(url: str) -> None:
    """/metrics re-reads the newest report at most every 10 s (the server caches it)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if "mlrelease_online_metric{" in httpx.get(f"{url}/metrics", timeout=10).text:
            return
        time.sleep(0.5)
    pytest.fail("the stored monitor report did not reach /metrics within 20 s")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`mlrelease serve` of a quickstart project's v1 in dev, with traffic and a monitor report."""
    folder = tmp_path_factory.mktemp("served")
    quickstart = subprocess.run(
        [*_CLI, "quickstart", str(folder)],
        cwd=folder,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert quickstart.returncode == 0, quickstart.stdout + quickstart.stderr
    project = folder / "mlrelease.yaml"
    with project.open("a", encoding="utf-8") as handle:
        handle.write(MONITORING)
    port, log = free_port(), folder / "serve.log"
    server = start_cli(
        ["serve", "--model", MODEL, "--env", "dev", "--port", str(port)], cwd=folder, log=log
    )
    try:
        address = f"127.0.0.1:{port}"
        wait_ready(f"http://{address}", server, log)
        rows = _send_traffic(f"http://{address}")
        with pytest.MonkeyPatch.context() as patch:
            for name in ("MLRELEASE_DB", "MLRELEASE_ARTIFACTS", "MLRELEASE_FILE"):
                patch.delenv(name, raising=False)
            with Client.from_project(project) as client:
                _wait_logged(client, rows)
                report = client.monitor(environment="dev")
        assert report.judged and report.metrics[0].value is not None
        _wait_for_report(f"http://{address}")
        yield Served(project, address)
    finally:
        stop(server)


def _exported(served: Served) -> set[str]:
    """Series names on /metrics: counters' _total, histograms' _bucket, _sum and _count."""
    text = httpx.get(f"{served.url}/metrics", timeout=10).text
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


def test_every_metric_read_is_one_the_server_exports_and_every_export_is_shown(
    served: Served,
) -> None:
    exported = _exported(served)
    # the fixture made the server export its whole set, drift and live metrics included
    assert {"mlrelease_feature_drift", "mlrelease_online_metric_labels"} <= exported
    project = load_spec(served.project).spec
    for options, spec in [(MonitoringOptions(), None), (MonitoringOptions(), project)]:
        files = render_monitoring(options, spec)
        read = read_metrics(files)
        assert read - exported == {"up"}, f"not exported by `mlrelease serve`: {read - exported}"
        shown = set().union(
            *map(metric_names, dashboard_expressions(json.loads(files[DASHBOARD_FILE])))
        )
        families = {re.sub(r"_(sum|count)$", "_bucket", name) for name in exported}
        missing = {name for name in families if name not in shown and not name.endswith("_sum")}
        assert not missing, f"exported but on no dashboard panel: {missing}"


def _get_json(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            document: dict[str, Any] = json.load(response)
            return document
    except urllib.error.HTTPError as exc:
        with exc:
            return {"status": "error", "error": exc.read().decode(errors="replace")}


def _evaluated_rules(prometheus: Prometheus, count: int) -> list[dict[str, Any]]:
    """The rules once each has been evaluated at least once (bounded wait)."""
    deadline = time.monotonic() + 30
    rules: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        groups = _get_json(f"{prometheus.url}/api/v1/rules").get("data", {}).get("groups", [])
        rules = [rule for group in groups for rule in group["rules"]]
        if len(rules) == count and all(
            not rule["lastEvaluation"].startswith("0001") for rule in rules
        ):
            return rules
        time.sleep(0.25)
    pytest.fail(f"the rules were not all evaluated within 30 s: {rules}\n{prometheus.output()}")


def test_prometheus_runs_the_config_as_is_and_evaluates_every_rule_and_panel(
    served: Served, tmp_path: Path
) -> None:
    prometheus_binary()  # skips (or fails under CI) without Prometheus, before rendering
    options = MonitoringOptions(targets=(served.address,), scrape_interval=1.0)
    files = render_monitoring(options, load_spec(served.project).spec)
    out = tmp_path / "monitoring"
    write_monitoring(out, files)
    with prometheus_with(out / PROMETHEUS_FILE, tmp_path, free_port()) as prometheus:
        prometheus.wait_until('up{job="mlrelease"}', lambda v: v == 1, 30, "target scraped")
        rules = _evaluated_rules(prometheus, len(_rules(files)))
        assert {rule["name"]: rule["health"] for rule in rules} == dict.fromkeys(
            _rules(files), "ok"
        ), rules
        for expr in dashboard_expressions(json.loads(files[DASHBOARD_FILE])):
            query = urllib.parse.urlencode({"query": grafana_to_promql(expr)})
            answer = _get_json(f"{prometheus.url}/api/v1/query?{query}")
            assert answer["status"] == "success", (expr, answer)
        loaded = prometheus.query(f'mlrelease_model_info{{model="{MODEL}",env="dev"}}')
        assert [(s["metric"]["version"], s["metric"]["role"]) for s in loaded] == [("1", "stable")]


# --- the command ---------------------------------------------------------------------

runner = CliRunner()


def _app() -> typer.Typer:
    """A root app with the error translation of `mlrelease`, and `deploy monitoring` on it."""
    root = typer.Typer(cls=_ErrorTranslatingGroup, add_completion=False)
    deploy = typer.Typer(no_args_is_help=True)
    register(deploy)
    root.add_typer(deploy, name="deploy")
    return root


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(_app(), ["deploy", "monitoring", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_the_command_writes_the_files_and_says_how_to_use_them(isolated_env: Path) -> None:
    (isolated_env / "mlrelease.yaml").write_text(PROJECT)
    code, output = _invoke("--out", "mon", "--targets", "127.0.0.1:8001,127.0.0.1:8002")
    assert code == 0, output
    assert "wrote mon/grafana-dashboard.json, mon/alerts.yml, mon/prometheus.yml" in output
    assert "promtool check config mon/prometheus.yml" in output
    assert "prometheus --config.file=mon/prometheus.yml" in output
    assert "/api/dashboards/db" in output and "MlreleaseLiveAccuracyBelowFloor" in output
    expected = render_monitoring(
        MonitoringOptions(targets=("127.0.0.1:8001", "127.0.0.1:8002")), _project()
    )
    assert {name: (isolated_env / "mon" / name).read_text() for name in FILES} == expected

    targets = ["--targets", "127.0.0.1:8001", "--targets", "127.0.0.1:8002"]
    code, output = _invoke("--out", "mon", *targets)
    assert code == 0 and "unchanged mon/grafana-dashboard.json, mon/alerts.yml" in output
    code, output = _invoke("--out", "mon", *targets, "--max-error-rate", "0.1")
    assert code == 5 and "pass --force" in output
    code, output = _invoke("--out", "mon", *targets, "--max-error-rate", "0.1", "--force")
    assert code == 0, output
    assert "replaced mon/grafana-dashboard.json, mon/alerts.yml\n" in output  # thresholds
    assert "unchanged mon/prometheus.yml" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--targets", "127.0.0.1"], "--targets: '127.0.0.1' is not HOST:PORT"),
        (["--out", "taken"], "--out: taken is a file, not a directory"),
        (["--scrape-interval", "soon"], "--scrape-interval: not a duration: 'soon'"),
        (["--env", "prod"], "--env: no environment named 'prod'"),
    ],
)
def test_bad_input_exits_2_with_the_fix(isolated_env: Path, args: list[str], message: str) -> None:
    (isolated_env / "mlrelease.yaml").write_text(PROJECT)
    (isolated_env / "taken").write_text("x")
    code, output = _invoke(*args)
    assert code == 2 and message in output, output
    assert not (isolated_env / "monitoring").exists()


def test_the_command_has_help() -> None:
    result = runner.invoke(_app(), ["deploy", "monitoring", "--help"])
    assert result.exit_code == 0 and "Grafana dashboard" in result.output
