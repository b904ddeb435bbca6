"""`mlrelease deploy kubernetes`: manifests checked against real schemas, goldens, PromQL.

* Core objects: kubernetes-validate in strict mode (unknown keys fail), for
  ``K8S_VERSION``; a Rollout's pod template too (as a PodTemplate).
* Rollout, AnalysisTemplate, ServiceMonitor: the validators of the npm packages
  ``@kubernetes-models/argo-rollouts@2`` and ``@kubernetes-models/prometheus-operator@6``
  (generated from the projects' Go API types, as their CRDs are), run with node, plus an
  unknown-key check from the packages' type declarations (their validators allow extra
  keys). Installed once, outside the tests (``NPM_MODELS``; see ``NPM_INSTALL``); without
  them the tests skip, except under CI, where they fail.
* The AnalysisTemplate's queries run in promtool's PromQL engine on series shaped like
  mlrelease's metrics, so the values Argo would compare are pinned.

Regenerate the golden files with ``UPDATE_GOLDEN=1 pytest tests/deploy/test_kubernetes.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer
import yaml
from typer.testing import CliRunner

from mlrelease.cli import _ErrorTranslatingGroup
from mlrelease.cli import app as mlrelease_app
from mlrelease.cli.deploy_kubernetes import register
from mlrelease.deploy.kubernetes import (
    KubernetesOptions,
    deployment_notes,
    render_manifests,
    unjudged_checks,
)
from mlrelease.errors import ConfigError
from mlrelease.scaffold import render_project_file
from mlrelease.spec import ProjectSpec, parse_spec

GOLDEN = Path(__file__).parent / "golden" / "kubernetes"
K8S_VERSION = "1.33.0"
NPM_MODELS = Path(
    os.environ.get("MLRELEASE_TEST_NPM", Path.home() / ".cache" / "mlrelease-test" / "npm")
)
NPM_INSTALL = (
    f'npm install --prefix "{NPM_MODELS}" --no-audit --no-fund --no-save '
    "@kubernetes-models/argo-rollouts@2.0.0 @kubernetes-models/prometheus-operator@6.0.0"
)
IMAGE = "ghcr.io/acme/mlrelease:0.1.0"
SECRET_DB = "postgresql://mlr:s3cret-pw@db.internal:5432/mlrelease"
SECRET_HOOK = "https://hooks.slack.example/T000/B000/very-secret"
ENV = {"SLACK_WEBHOOK_URL": SECRET_HOOK, "MLRELEASE_DB": SECRET_DB}

QUICKSTART = render_project_file("classification")
CANARY = QUICKSTART.replace(
    "production: {after: staging, approvals: 1}",
    "production: {after: staging, approvals: 1, release: canary}",
) + (
    """
release:
  canary:
    steps:
      - weight: 20
      - analysis: {interval: 30s, count: 5}
      - weight: 50
      - pause: 10m
      - analysis:
          interval: 1m
          count: 3
          checks: ["latency_p99 <= (stable.latency_p99 + 0.01) * 1.2", "divergence <= 0.05"]
      - pause: {}
    checks:
      - latency_p95 <= 0.5
      - error_rate <= stable.error_rate + 0.005
      - accuracy >= stable.accuracy - 0.02
    failure_limit: 1
    metrics: {prometheus: "http://prometheus-operated.monitoring.svc:9090"}
monitoring:
  drift: {method: psi, threshold: 0.2}
  accuracy: {min: 0.85, window: 500}
retrain:
  on: [drift, accuracy, {schedule: "0 3 */2 * *"}]
notify:
  - slack: ${SLACK_WEBHOOK_URL}
store:
  metadata: ${MLRELEASE_DB:-sqlite:///.mlrelease/mlrelease.db}
"""
)
CASES: dict[str, tuple[str, KubernetesOptions]] = {
    "quickstart": (QUICKSTART, KubernetesOptions(namespace="ml", image=IMAGE)),
    "canary": (
        CANARY,
        KubernetesOptions(
            namespace="ml", image=IMAGE, version=3, hpa_rps=50, service_monitor=True, workers=2
        ),
    ),
}


def _spec(text: str) -> ProjectSpec:
    return parse_spec(text, env=ENV)


def _render(case: str) -> dict[str, str]:
    text, options = CASES[case]
    return render_manifests(_spec(text), options, project_text=text)


def _documents(files: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, text in files.items():
        yield name, yaml.safe_load(text)


# --- golden files and determinism ------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_manifests_match_the_golden_files(case: str) -> None:
    files = _render(case)
    folder = GOLDEN / case
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    assert sorted(path.name for path in folder.iterdir()) == sorted(files), (
        "regenerate: UPDATE_GOLDEN=1 pytest tests/deploy/test_kubernetes.py"
    )
    for name, text in files.items():
        assert (folder / name).read_text(encoding="utf-8") == text, f"{case}/{name} changed"


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_input_renders_the_same_bytes(case: str) -> None:
    first, second = _render(case), _render(case)
    assert list(first) == list(second)
    assert all(first[name].encode() == second[name].encode() for name in first)
    assert not any(re.search(r"20\d\d-\d\d-\d\dT", text) for text in first.values())


def test_secrets_are_referenced_never_inlined() -> None:
    files = _render("canary")
    everything = "\n".join(files.values())
    assert SECRET_DB not in everything and SECRET_HOOK not in everything
    rollout = yaml.safe_load(files["rollout.yaml"])
    env = {item["name"]: item for item in _container(rollout)["env"]}
    assert env["MLRELEASE_DB"]["valueFrom"] == {
        "secretKeyRef": {"name": "mlrelease-store", "key": "MLRELEASE_DB"}
    }
    assert env["MLRELEASE_ARTIFACTS"]["valueFrom"] == {
        "configMapKeyRef": {"name": "mlrelease-config", "key": "MLRELEASE_ARTIFACTS"}
    }
    # A variable the project file reads without a default is required from the Secret.
    assert env["SLACK_WEBHOOK_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "mlrelease-store",
        "key": "SLACK_WEBHOOK_URL",
    }
    assert not any("value" in env[name] for name in ("MLRELEASE_DB", "SLACK_WEBHOOK_URL"))
    # The project file goes in as written: ${VARS} unexpanded.
    project = yaml.safe_load(files["configmap-project.yaml"])["data"]["mlrelease.yaml"]
    assert "${SLACK_WEBHOOK_URL}" in project and project == CANARY


def _container(manifest: dict[str, Any]) -> dict[str, Any]:
    spec = manifest["spec"]
    template = (
        spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec["template"]
    )
    (container,) = template["spec"]["containers"]
    return dict(container)


# --- what is rendered -------------------------------------------------------------------


def test_a_direct_environment_gets_a_deployment_that_follows_its_alias() -> None:
    files = _render("quickstart")
    assert "rollout.yaml" not in files and "analysistemplate.yaml" not in files
    deployment = yaml.safe_load(files["deployment.yaml"])
    container = _container(deployment)
    assert container["command"] == [
        "mlrelease", "serve", "--model", "breast-cancer", "--env", "production",
        "--host", "0.0.0.0", "--port", "8000",
    ]  # fmt: skip
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    pod = deployment["spec"]["template"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert "replicas" not in deployment["spec"]  # the autoscaler's
    hpa = yaml.safe_load(files["hpa.yaml"])
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert "job-train.yaml" not in kustomization["resources"]
    assert set(kustomization["resources"]) == set(files) - {"kustomization.yaml", "job-train.yaml"}
    assert "cronjob-retrain.yaml" not in files  # no schedule in the quickstart


def test_every_object_is_labelled_and_namespaced() -> None:
    for case in CASES:
        for name, doc in _documents(_render(case)):
            if doc["kind"] == "Kustomization":
                continue
            assert doc["metadata"]["namespace"] == "ml", name
            labels = doc["metadata"]["labels"]
            assert labels["app.kubernetes.io/managed-by"] == "mlrelease", name
            assert labels["app.kubernetes.io/part-of"] == "breast-cancer", name
            assert {"app.kubernetes.io/name", "app.kubernetes.io/instance"} <= set(labels), name
            assert "app.kubernetes.io/component" in labels, name


def test_a_canary_environment_gets_a_rollout_with_translated_steps() -> None:
    files = _render("canary")
    assert "deployment.yaml" not in files
    rollout = yaml.safe_load(files["rollout.yaml"])
    canary = rollout["spec"]["strategy"]["canary"]
    assert canary["canaryService"] == "breast-cancer-production-canary"
    assert canary["stableService"] == "breast-cancer-production-stable"
    version_arg = [{"name": "version", "value": "3"}]
    assert canary["steps"] == [
        {"setWeight": 20},
        {
            "analysis": {
                "templates": [{"templateName": "breast-cancer-production-1"}],
                "args": version_arg,
            }
        },
        {"setWeight": 50},
        {"pause": {"duration": "10m"}},
        {
            "analysis": {
                "templates": [{"templateName": "breast-cancer-production-2"}],
                "args": version_arg,
            }
        },
        {"pause": {}},
    ]
    assert "--version" in _container(rollout)["command"]
    assert "--workers" in _container(rollout)["command"]
    for service in ("service-stable.yaml", "service-canary.yaml"):
        assert yaml.safe_load(files[service])["kind"] == "Service"
    assert yaml.safe_load(files["hpa.yaml"])["spec"]["scaleTargetRef"]["kind"] == "Rollout"
    cronjob = yaml.safe_load(files["cronjob-retrain.yaml"])
    assert cronjob["spec"]["schedule"] == "0 3 */2 * *"
    assert cronjob["spec"]["timeZone"] == "Etc/UTC"
    assert _container(cronjob)["command"] == ["mlrelease", "retrain", "--reason", "schedule"]
    monitor = yaml.safe_load(files["servicemonitor.yaml"])
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    pod = rollout["spec"]["template"]["metadata"]["annotations"]
    assert "prometheus.io/scrape" not in pod  # the ServiceMonitor scrapes


def test_checks_become_prometheus_metrics_and_the_rest_is_named() -> None:
    files = _render("canary")
    first = yaml.safe_load(files["analysistemplate-1.yaml"])
    metrics = {metric["name"]: metric for metric in first["spec"]["metrics"]}
    assert set(metrics) == {"latency-p95", "error-rate"}
    p95 = metrics["latency-p95"]
    assert p95["successCondition"] == "len(result) > 0 && result[0] <= 0.5"
    assert p95["failureCondition"] == "len(result) > 0 && result[0] > 0.5"
    assert (p95["interval"], p95["count"], p95["failureLimit"]) == ("30s", 5, 1)
    query = p95["provider"]["prometheus"]["query"]
    assert 'version="{{args.version}}"' in query and "[30000ms]" in query
    assert "role=" not in query  # pinned servers label everything role="stable"
    assert p95["provider"]["prometheus"]["address"] == (
        "http://prometheus-operated.monitoring.svc:9090"
    )
    relative = metrics["error-rate"]["provider"]["prometheus"]["query"]
    assert 'version!="{{args.version}}"' in relative  # stable, in the same expression
    assert metrics["error-rate"]["successCondition"].endswith("<= 0")
    assert first["metadata"]["annotations"]["mlrelease.dev/unjudged-checks"] == (
        "accuracy >= stable.accuracy - 0.02"
    )
    assert "accuracy" in files["analysistemplate-1.yaml"].split("apiVersion")[0]  # the comment
    second = yaml.safe_load(files["analysistemplate-2.yaml"])
    assert [metric["name"] for metric in second["spec"]["metrics"]] == ["latency-p99"]
    assert second["spec"]["metrics"][0]["interval"] == "1m"


def test_unjudged_checks_are_warned_about_with_the_way_out() -> None:
    text, options = CASES["canary"]
    spec = _spec(text)
    assert [item.text for item in unjudged_checks(spec, options)] == [
        "accuracy >= stable.accuracy - 0.02",
        "divergence <= 0.05",
    ]
    messages = [note.message for note in deployment_notes(spec, options)]
    warning = next(message for message in messages if "cannot judge" in message)
    assert "accuracy >= stable.accuracy - 0.02" in warning and "divergence <= 0.05" in warning
    assert "mlrelease controller" in warning and "builtin provider" in warning
    assert "--no-argo" in warning
    assert any("CronJob" in message and "suspended" in message for message in messages)
    # --no-argo: a Deployment whose servers split; mlrelease judges every check.
    no_argo = KubernetesOptions(namespace="ml", image=IMAGE, argo=False)
    files = render_manifests(spec, no_argo, project_text=text)
    assert "deployment.yaml" in files and "rollout.yaml" not in files
    assert unjudged_checks(spec, no_argo) == []


def test_an_analysis_step_argo_cannot_judge_at_all_pauses_for_a_person() -> None:
    text = CANARY.replace(
        'checks: ["latency_p99 <= (stable.latency_p99 + 0.01) * 1.2", "divergence <= 0.05"]',
        'checks: ["divergence <= 0.05"]',
    )
    files = render_manifests(_spec(text), CASES["canary"][1], project_text=text)
    steps = yaml.safe_load(files["rollout.yaml"])["spec"]["strategy"]["canary"]["steps"]
    assert steps[4] == {"pause": {}}
    assert "analysistemplate.yaml" in files and "analysistemplate-2.yaml" not in files


# --- real schemas -----------------------------------------------------------------------


def _validate_core(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_core_objects_pass_strict_kubernetes_schemas(case: str) -> None:
    checked = 0
    for name, doc in _documents(_render(case)):
        if doc["kind"] in ("Rollout", "AnalysisTemplate", "ServiceMonitor", "Kustomization"):
            if doc["kind"] == "Rollout":  # its pod template is a core object
                template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}}
                _validate_core({**template, "template": doc["spec"]["template"]})
            continue
        try:
            _validate_core(doc)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{case}/{name}: {exc.message} at {list(exc.path)}")
        checked += 1
    assert checked >= 6


def test_the_strict_schemas_do_catch_a_wrong_key() -> None:
    deployment = yaml.safe_load(_render("quickstart")["deployment.yaml"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate_core(deployment)


_NODE_VALIDATE = """
import { pathToFileURL } from "node:url";
import { readFileSync } from "node:fs";
const root = process.env.NPM_MODELS;
const where = {
  "argoproj.io/v1alpha1": "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};
const results = [];
for (const doc of JSON.parse(readFileSync(0, "utf8"))) {
  const file = `${root}/node_modules/${where[doc.apiVersion]}/${doc.kind}.js`;
  const Model = (await import(pathToFileURL(file).href))[doc.kind];
  try { new Model(doc).validate(); results.push(null); }
  catch (error) { results.push(String(error && error.message || error)); }
}
console.log(JSON.stringify(results));
"""
_PACKAGES = {
    "argoproj.io/v1alpha1": ("argo-rollouts", "argoproj.io/v1alpha1"),
    "monitoring.coreos.com/v1": ("prometheus-operator", "monitoring.coreos.com/v1"),
}


def _npm_models() -> Path:
    node = shutil.which("node")
    ready = (NPM_MODELS / "node_modules" / "@kubernetes-models" / "argo-rollouts").is_dir()
    ready = (
        ready
        and (NPM_MODELS / "node_modules" / "@kubernetes-models" / "prometheus-operator").is_dir()
    )
    if node and ready:
        return NPM_MODELS
    reason = f"node or the CRD models are missing; install them with: {NPM_INSTALL}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


_PROPERTY = re.compile(r'^    "([^"]+)"\??: (.*?);?$')


@cache
def _declared_types(folder: Path) -> dict[str, dict[str, str]]:
    """Type alias -> {property: type}, from the package's .d.ts interfaces."""
    types: dict[str, dict[str, str]] = {}
    for path in folder.glob("*.d.ts"):
        text = path.read_text()
        body = re.search(
            r"^export interface I\w+(?: extends [\w, ]+)? \{\n(.*?)^\}", text, re.M | re.S
        )
        alias = re.search(r"export type \{ I\w+ as (\w+),", text)
        if body is None or alias is None:
            continue
        props = {}
        for line in body.group(1).splitlines():
            match = _PROPERTY.match(line)
            if match:
                props[match.group(1)] = match.group(2)
        types[alias.group(1)] = props
        types[f"I{path.name.removesuffix('.d.ts')}"] = props  # the top-level kinds
    return types


def _unknown_keys(
    value: Any, type_name: str, types: dict[str, dict[str, str]], at: str
) -> list[str]:
    array = re.fullmatch(r"Array<(\w+)>", type_name)
    if array and isinstance(value, list):
        return [
            e
            for i, item in enumerate(value)
            for e in _unknown_keys(item, array.group(1), types, f"{at}[{i}]")
        ]
    if type_name not in types or not isinstance(value, dict):
        return []  # a scalar, a map, or a core type (checked by kubernetes-validate)
    props = types[type_name]
    problems = [
        f"{at}.{key}: not a field of {type_name.split('V1')[-1]}"
        for key in value
        if key not in props
    ]
    for key, item in value.items():
        if key in props:
            problems += _unknown_keys(item, props[key], types, f"{at}.{key}")
    return problems


def _crd_problems(docs: list[dict[str, Any]]) -> list[str | None]:
    root = _npm_models()
    done = subprocess.run(
        ["node", "--input-type=module", "-e", _NODE_VALIDATE],
        input=json.dumps(docs),
        env={**os.environ, "NPM_MODELS": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[str | None] = json.loads(done.stdout)
    for index, doc in enumerate(docs):
        package, folder = _PACKAGES[doc["apiVersion"]]
        types = _declared_types(root / "node_modules" / "@kubernetes-models" / package / folder)
        unknown = _unknown_keys(doc, f"I{doc['kind']}", types, doc["kind"])
        if unknown:
            results[index] = "; ".join(filter(None, [results[index], *unknown]))
    return results


@pytest.mark.parametrize("case", sorted(CASES))
def test_argo_and_prometheus_operator_objects_pass_their_schemas(case: str) -> None:
    docs = [doc for _, doc in _documents(_render(case)) if doc["apiVersion"] in _PACKAGES]
    assert docs or case == "quickstart"
    if case == "canary":
        assert {doc["kind"] for doc in docs} == {"Rollout", "AnalysisTemplate", "ServiceMonitor"}
    problems = _crd_problems(docs)
    assert problems == [None] * len(docs), problems


def test_the_crd_check_catches_a_misnamed_key_and_a_wrong_type() -> None:
    rollout = yaml.safe_load(_render("canary")["rollout.yaml"])
    rollout["spec"]["strategy"]["canary"]["canaryServce"] = "x"
    template = yaml.safe_load(_render("canary")["analysistemplate-1.yaml"])
    template["spec"]["metrics"][0]["provider"]["prometheus"]["querry"] = "up"
    wrong_type = yaml.safe_load(_render("canary")["rollout.yaml"])
    wrong_type["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = "20"
    problems = _crd_problems([rollout, template, wrong_type])
    assert problems[0] is not None and "canaryServce" in problems[0]
    assert problems[1] is not None and "querry" in problems[1]
    assert problems[2] is not None and "setWeight" in problems[2]


# --- the queries, evaluated by Prometheus' own engine ------------------------------------


def _promtool() -> str:
    found = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
    )
    if found:
        return found
    reason = "promtool is not installed (apt-get install prometheus)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _series(
    version: int, per_step: int, errors: int, buckets: dict[str, int]
) -> list[dict[str, str]]:
    """Counters growing ``per_step`` every 15 s, labelled as a pinned server labels them."""
    labels = f'model="breast-cancer",env="production",version="{version}",role="stable"'
    series = [
        {
            "series": f'mlrelease_requests_total{{{labels},status="200"}}',
            "values": f"0+{per_step - errors}x40",
        },
        {
            "series": f'mlrelease_requests_total{{{labels},status="500"}}',
            "values": f"0+{errors}x40",
        },
    ]
    for le, count in buckets.items():
        series.append(
            {
                "series": f'mlrelease_request_duration_seconds_bucket{{{labels},le="{le}"}}',
                "values": f"0+{count}x40",
            }
        )
    return series


def _queries() -> dict[str, str]:
    files = _render("canary")
    found = {}
    for name in ("analysistemplate-1.yaml", "analysistemplate-2.yaml"):
        for metric in yaml.safe_load(files[name])["spec"]["metrics"]:
            query = metric["provider"]["prometheus"]["query"]
            found[metric["name"]] = query.replace("{{args.version}}", "3")  # as Argo fills it
    return found


def test_the_analysis_queries_give_the_values_argo_compares(tmp_path: Path) -> None:
    queries = _queries()

    def near(name: str, value: float) -> dict[str, Any]:
        expr = f"abs(({queries[name]}) - {value}) < bool 1e-9"
        return {"expr": expr, "eval_time": "5m", "exp_samples": [{"labels": "{}", "value": 1}]}

    # Canary v3: 100 requests per 15 s, 5 of them 5xx; p95 0.875 s, p99 0.975 s.
    # Stable v2: 100 per 15 s, no errors; p99 0.48 s.
    canary = _series(3, 100, 5, {"0.1": 40, "0.5": 80, "1": 100, "+Inf": 100})
    stable = _series(2, 100, 0, {"0.1": 80, "0.5": 100, "1": 100, "+Inf": 100})
    quiet = _series(3, 4, 1, {"0.1": 1, "0.5": 3, "1": 4, "+Inf": 4}) + stable
    tests = {
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": canary + stable,
                "promql_expr_test": [
                    near("latency-p95", 0.875),  # canary's p95, compared with 0.5
                    near("error-rate", 0.05 - (0.0 + 0.005)),  # canary - (stable + 0.005)
                    near("latency-p99", 0.975 - (0.48 + 0.01) * 1.2),
                ],
            },
            {
                # 8 canary requests per 30 s window: too few for any verdict -> no result
                "interval": "15s",
                "input_series": quiet,
                "promql_expr_test": [
                    {"expr": query, "eval_time": "5m", "exp_samples": []}
                    for query in queries.values()
                ],
            },
        ],
    }
    path = tmp_path / "queries_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    done = subprocess.run(
        [_promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"environment": "prod"}, "--env: no environment named 'prod'"),
        ({"replicas": 0}, "--replicas: must be at least 1"),
        ({"cpu": "500x"}, "--cpu: '500x' is not a Kubernetes quantity"),
        ({"memory": "0"}, "--memory: '0' is not a Kubernetes quantity"),
        ({"image": "Acme/ML Release:1"}, "--image: 'Acme/ML Release:1' is not an image reference"),
        ({"namespace": "ML_prod"}, "--namespace: 'ML_prod' is not a Kubernetes name"),
        ({"min_replicas": 4, "max_replicas": 3}, "--max-replicas: 3 is below the minimum of 4"),
        ({"hpa_rps": -1.0}, "--hpa-rps: must be more than 0"),
        ({"prometheus_url": "prometheus:9090"}, "--prometheus-url: 'prometheus:9090'"),
    ],
)
def test_bad_options_are_one_clear_error(change: dict[str, Any], expected: str) -> None:
    options = KubernetesOptions(**{"namespace": "ml", **change})
    with pytest.raises(ConfigError) as caught:
        render_manifests(_spec(QUICKSTART), options, project_text=QUICKSTART)
    assert caught.value.message.startswith(expected)
    assert caught.value.exit_code == 2


def test_a_rollout_needs_a_version_and_a_split_refuses_one() -> None:
    spec = _spec(CANARY)
    with pytest.raises(ConfigError, match="--version: production releases by canary through Argo"):
        render_manifests(spec, KubernetesOptions(), project_text=CANARY)
    with pytest.raises(ConfigError, match="a pinned version would never move"):
        render_manifests(spec, KubernetesOptions(argo=False, version=2), project_text=CANARY)


def test_long_names_stay_valid_kubernetes_names() -> None:
    text = QUICKSTART.replace("model: breast-cancer", "model: " + "Very_Long.Model-" * 6 + "x")
    files = render_manifests(_spec(text), KubernetesOptions(namespace="ml"), project_text=text)
    for name, doc in _documents(files):
        if doc["kind"] == "Kustomization":
            continue
        object_name = doc["metadata"].get("name") or doc["metadata"]["generateName"]
        assert len(object_name) <= (52 if doc["kind"] == "CronJob" else 63), name
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?-?", object_name), object_name
        _validate_core(doc)


# --- the command line --------------------------------------------------------------------


runner = CliRunner()


def _deploy_app() -> typer.Typer:
    root = typer.Typer(cls=_ErrorTranslatingGroup)
    deploy = typer.Typer()
    register(deploy)
    root.add_typer(deploy, name="deploy")
    return root


def _deploy(*args: str) -> tuple[int, str]:
    result = runner.invoke(_deploy_app(), ["deploy", "kubernetes", *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def quickstarted(isolated_env: Path) -> Path:
    result = runner.invoke(mlrelease_app, ["quickstart"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return isolated_env


def test_the_command_writes_a_folder_of_manifests(
    quickstarted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLRELEASE_DB", f"sqlite:///{quickstarted / '.mlrelease' / 'mlrelease.db'}")
    code, output = _deploy("--namespace", "ml", "--image", IMAGE, "--hpa-rps", "50")
    assert code == 0, output
    folder = quickstarted / "deploy"
    written = sorted(path.name for path in folder.iterdir())
    assert "deployment.yaml" in written and "kustomization.yaml" in written
    assert "kubectl -n ml create secret generic mlrelease-store" in output
    assert "kubectl apply -k deploy" in output
    assert str(quickstarted) not in "".join(p.read_text() for p in folder.iterdir())
    assert "sqlite:///" + str(quickstarted) not in "".join(p.read_text() for p in folder.iterdir())
    code, output = _deploy("--namespace", "ml", "--image", IMAGE, "--hpa-rps", "50")
    assert code == 0 and "(0 changed)" in output
    assert not [path for path in quickstarted.iterdir() if path.name.startswith(".deploy")]


def test_the_command_pins_a_rollout_to_the_live_version_and_cleans_up(
    quickstarted: Path,
) -> None:
    spec = quickstarted / "mlrelease.yaml"
    spec.write_text(spec.read_text().replace("dev: {}", "dev: {release: canary}"))
    code, output = _deploy("--env", "dev", "--image", IMAGE)
    assert code == 0, output
    assert "pinned to v1, the version live in dev" in output
    assert "cannot judge" not in output  # latency and errors only: Argo judges both
    rollout = yaml.safe_load((quickstarted / "deploy" / "rollout.yaml").read_text())
    assert _container(rollout)["command"][-2:] == ["--version", "1"]
    # Back to a Deployment: the Rollout's files go, the folder says only what is rendered.
    code, output = _deploy("--env", "dev", "--image", IMAGE, "--no-argo")
    assert code == 0, output
    assert "removed" in output and "rollout.yaml" in output
    left = {path.name for path in (quickstarted / "deploy").iterdir()}
    assert "rollout.yaml" not in left and "analysistemplate.yaml" not in left
    assert "deployment.yaml" in left


def test_the_command_refuses_bad_input_and_writes_nothing(quickstarted: Path) -> None:
    (quickstarted / "taken").write_text("a file")
    for args, expected in [
        (["--env", "prod"], "no environment named 'prod'"),
        (["--replicas", "0"], "--replicas: must be at least 1"),
        (["--cpu", "500x"], "is not a Kubernetes quantity"),
        (["--image", "not an image"], "is not an image reference"),
        (["--out", "taken"], "--out: taken is a file"),
        (["--model", "other"], "describes 'breast-cancer', not 'other'"),
        (["--gitops-dir", "../up", "--gitops", "."], "--gitops-dir"),
    ]:
        code, output = _deploy(*args)
        assert code == 2, (args, output)
        assert expected in output, (args, output)
        assert "error:" in output
    assert not (quickstarted / "deploy").exists()
    assert (quickstarted / "taken").read_text() == "a file"
    assert not [
        path
        for path in quickstarted.iterdir()
        if path.name.startswith(".") and path.name not in (".mlrelease",)
    ]


def test_every_option_has_help() -> None:
    result = runner.invoke(_deploy_app(), ["deploy", "kubernetes", "--help"])
    assert result.exit_code == 0
    options = (
        "--namespace --replicas --image --cpu --memory --secret --configmap --hpa-cpu --hpa-rps "
        "--min-replicas --max-replicas --service-monitor --gitops --gitops-dir --version --no-argo"
    )
    for option in options.split():
        assert option in result.output, option
