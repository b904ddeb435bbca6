"""A model's pages: versions with metrics and charts, one version's lineage, two compared."""

from __future__ import annotations

import re

import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression, Ridge

from mlrelease.client import Client
from mlrelease.registry.records import VersionInfo
from mlrelease.ui.pages._versions import (
    Residuals,
    compare_metrics,
    differing_params,
    flatten,
    gate_threshold,
    residual_plot,
    shared_ranges,
)
from mlrelease.ui.rendering import fmt_number

from ._scene import IRIS, MODEL, Scene
from .conftest import Ui, csrf

XSS = "<script>alert(1)</script>"
DIABETES = "diabetes"


def _section(html: str, marker: str) -> str:
    """The HTML from ``marker`` to the end of the element section it opens."""
    start = html.index(marker)
    return html[start : html.index("</section>", start)]


def _row(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start : html.index("</tr>", start)]


# -- the versions page -----------------------------------------------------------------


def test_the_model_page_lists_versions_newest_first_with_metrics(ui: Ui) -> None:
    html = ui.browser("viewer").get(f"/ui/models/{MODEL}").text
    versions = ui.client.versions(MODEL)
    assert [int(n) for n in re.findall(r'<tr data-version="(\d+)"', html)] == [3, 2, 1]
    for version in versions:
        row = _row(html, f'<tr data-version="{version.version}"')
        for name in ("accuracy", "macro_f1", "roc_auc"):
            assert f'<td class="num">{fmt_number(version.metrics[name])}</td>' in row
        assert "1/1 passed" in row
        assert f'href="/ui/runs/{version.run_id}"' in row
        assert version.created_by in row
    assert "production" in _row(html, '<tr data-version="1"')
    assert "dev" in _row(html, '<tr data-version="3"') and "staging" in _row(
        html, '<tr data-version="3"'
    )


def test_the_model_page_shows_where_it_is_live_and_the_canary(ui: Ui) -> None:
    html = ui.browser("viewer").get(f"/ui/models/{MODEL}").text
    production = _section(html, 'data-env="production"')  # the last environment's cell
    assert 'href="/ui/models/breast-cancer/versions/1">v1</a>' in production
    assert f'href="/ui/releases/{ui.scene.release_id}">canary v2</a> · 20%' in production
    assert 'aria-current="page">Versions</a>' in html


def test_the_model_page_charts_each_metric_across_versions(ui: Ui) -> None:
    html = ui.browser("viewer").get(f"/ui/models/{MODEL}").text
    charts = html[html.index("Metrics across versions") :]
    charts = charts[: charts.index("Compare two versions")]
    assert charts.count('<svg class="chart"') == 3
    for name in ("accuracy", "macro_f1", "roc_auc"):
        assert f'aria-label="{name}"' in charts
    for label in ("v1", "v2", "v3"):
        assert f">{label}</text>" in charts
    assert "gate 0.8" in charts  # the accuracy gate's threshold, drawn on its chart


def test_the_model_page_offers_a_comparison_of_the_two_newest(ui: Ui) -> None:
    html = ui.browser("viewer").get(f"/ui/models/{MODEL}").text
    form = _section(html, "<h2>Compare two versions</h2>")
    assert 'method="get" action="/ui/models/breast-cancer/compare"' in form
    a = form[form.index('name="a"') : form.index('name="b"')]
    b = form[form.index('name="b"') :]
    assert '<option value="2" selected>' in a and '<option value="3" selected>' in b


def test_the_model_page_lists_recent_runs(ui: Ui) -> None:
    html = ui.browser("viewer").get(f"/ui/models/{MODEL}").text
    runs = _section(html, "<h2>Recent runs</h2>")
    for run in ui.client.runs(MODEL):
        assert f'href="/ui/runs/{run.id}"' in runs
    assert runs.count("succeeded") == 3


def test_a_model_registered_from_python_says_where_runs_come_from(ui: Ui) -> None:
    html = ui.browser("viewer").get(f"/ui/models/{IRIS}").text
    assert "No pipeline runs recorded for iris" in html and "registered from Python" in html
    assert "Only one version so far" in html


def test_an_unknown_model_is_a_404_that_says_so(ui: Ui) -> None:
    http = ui.browser("viewer")
    for path in (
        "/ui/models/nope",
        "/ui/models/nope/versions/1",
        "/ui/models/nope/compare?a=1&b=2",
    ):
        answer = http.get(path)
        assert answer.status_code == 404, path
        assert "no model named &#39;nope&#39;" in answer.text


# -- one version -------------------------------------------------------------------------


def test_the_version_page_shows_lineage_params_metrics_and_gates(ui: Ui) -> None:
    version = ui.client.version(MODEL, 2)
    html = ui.browser("viewer").get(f"/ui/models/{MODEL}/versions/2").text
    lineage = _section(html, "<h2>Lineage</h2>")
    assert f'href="/ui/runs/{version.run_id}"' in lineage
    assert version.lineage["data_fingerprint"] in lineage
    assert "sklearn:load_breast_cancer" in lineage
    assert "unknown (not a git repository)" in lineage  # the scene is no git repository
    for name, number in version.lineage["packages"].items():
        assert f'<span class="package">{name} <code>{number}</code></span>' in lineage
    params = _section(html, "<h2>Params</h2>")
    assert '<th>C</th><td><code class="wrap">0.5</code>' in params
    metrics = _section(html, "<h2>Metrics</h2>")
    for name, value in version.metrics.items():
        assert f'<tr><th>{name}</th><td class="num">{fmt_number(value)}</td></tr>' in metrics
    gates = _section(html, "<h2>Gates at registration</h2>")
    assert "<code>accuracy &gt;= 0.8</code>" in gates and "passed" in gates


def test_the_version_page_shows_signature_artifact_and_confusion_matrix(ui: Ui) -> None:
    version = ui.client.version(MODEL, 2)
    html = ui.browser("viewer").get(f"/ui/models/{MODEL}/versions/2").text
    assert version.artifact_sha256 in html and version.artifact_uri in html
    assert version.serving_form, "the scene's LogisticRegression has a linear form"
    assert "its linear form <code" in html and version.serving_form["uri"] in html
    signature = _section(html, "<h2>Signature</h2>")
    assert "30 input features" in signature
    features = re.findall(
        r'<li><span class="feature">([^<]*)</span> <code>float</code></li>', signature
    )
    assert features == version.feature_names
    _assert_confusion(_section(html, "<h2>Confusion matrix</h2>"), version)


def test_the_version_page_says_where_it_is_live_and_how_to_promote_it(ui: Ui) -> None:
    http = ui.browser("viewer")
    canary = http.get(f"/ui/models/{MODEL}/versions/2").text
    assert "Not live in any environment" in canary
    assert f'href="/ui/releases/{ui.scene.release_id}">canary release' in canary
    assert "mlrelease promote breast-cancer 2 --to production" in canary
    assert "needs 1 approval" in canary
    assert 'href="/ui/models/breast-cancer/compare?a=1&amp;b=2"' in canary
    assert 'href="/ui/models/breast-cancer/try"' in canary
    staged = http.get(f"/ui/models/{MODEL}/versions/3").text
    assert '<span class="badge ok">dev</span>' in staged
    assert "mlrelease promote breast-cancer 3 --to production" in staged
    live = http.get(f"/ui/models/{MODEL}/versions/1").text
    assert "It has reached production, the last environment." in live
    assert "mlrelease promote breast-cancer 1" not in live
    assert "compare?a=1&amp;b=1" not in live  # no comparison with itself


def test_an_unknown_version_is_a_404(ui: Ui) -> None:
    answer = ui.browser("viewer").get(f"/ui/models/{MODEL}/versions/99")
    assert answer.status_code == 404
    assert "has no version 99" in answer.text


# -- two versions --------------------------------------------------------------------------


def test_comparing_shows_metrics_side_by_side_with_the_difference(ui: Ui) -> None:
    a, b = ui.client.version(MODEL, 1), ui.client.version(MODEL, 2)
    html = ui.browser("viewer").get(f"/ui/models/{MODEL}/compare?a=1&b=2").text
    assert "<h1>breast-cancer: v1 vs v2</h1>" in html
    for name in ("accuracy", "macro_f1", "roc_auc"):
        row = _row(html, f'<tr data-metric="{name}"')
        diff = b.metrics[name] - a.metrics[name]
        assert fmt_number(a.metrics[name]) in row and fmt_number(b.metrics[name]) in row
        assert ("+" if diff > 0 else "") + fmt_number(diff) in row
        assert ("better" if diff > 0 else "worse") in row  # higher is better for all three
    params = _section(html, "<h2>Params that differ</h2>")
    assert "<th>C</th><td><code>1.0</code></td><td><code>0.5</code></td>" in params
    assert "solver" not in params and "2 other params the same" in params


def test_comparing_shows_both_confusion_matrices(ui: Ui) -> None:
    html = ui.browser("viewer").get(f"/ui/models/{MODEL}/compare?a=1&b=2").text
    matrices = html[html.index("<h2>Confusion matrices</h2>") :]
    for number in (1, 2):
        section = _section(matrices, f'data-version="{number}"')
        _assert_confusion(section, ui.client.version(MODEL, number))
    assert "Residuals" not in html


def test_comparing_a_version_with_itself_is_allowed_and_said(ui: Ui) -> None:
    answer = ui.browser("viewer").get(f"/ui/models/{MODEL}/compare?a=2&b=2")
    assert answer.status_code == 200
    assert "Both sides are v2" in answer.text
    assert "same" in _row(answer.text, '<tr data-metric="accuracy"')


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 400, "parameter &#39;a&#39; is missing"),
        ("?a=1", 400, "parameter &#39;b&#39; is missing"),
        ("?a=one&b=2", 400, "parameter &#39;a&#39; must be a version number"),
        ("?a=1&b=-2", 400, "parameter &#39;b&#39; must be a version number"),
        (
            "?a=1&b=99",
            404,
            "parameter &#39;b&#39;: model &#39;breast-cancer&#39; has no version 99",
        ),
    ],
)
def test_bad_comparison_parameters_say_which_one(
    ui: Ui, query: str, status: int, message: str
) -> None:
    answer = ui.browser("viewer").get(f"/ui/models/{MODEL}/compare{query}")
    assert answer.status_code == status
    assert message in answer.text


def test_a_regression_model_gets_residual_plots_and_user_text_is_escaped(
    fresh_scene: Scene,
) -> None:
    with Client.from_project(fresh_scene.project_file, env={}) as client:
        _register_diabetes(client)
        http = Ui(client, fresh_scene).browser("viewer")
        html = http.get(f"/ui/models/{DIABETES}/compare?a=1&b=2").text
        residuals = html[html.index("<h2>Residuals</h2>") :]
        for number in (1, 2):
            panel = _section(residuals, f'data-version="{number}"')
            assert f'aria-label="v{number}: residual vs predicted"' in panel
            assert panel.count("<circle") == 89  # every row of v2's evaluation set
            assert "On 89 evaluation rows of v2" in panel
        assert "Confusion matrices" not in html
        rmse = _row(html, '<tr data-metric="rmse"')
        assert "better" in rmse or "worse" in rmse or "same" in rmse
        # A param value chosen by a user is text, never markup, on every page showing it.
        for path in (f"/ui/models/{DIABETES}/compare?a=1&b=2", f"/ui/models/{DIABETES}/versions/2"):
            page = http.get(path).text
            assert XSS not in page
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        # A version trained on other features cannot score v2's rows: it uses its own.
        fallback = http.get(f"/ui/models/{DIABETES}/compare?a=3&b=2").text
        panel = _section(fallback[fallback.index("<h2>Residuals</h2>") :], 'data-version="3"')
        assert "cannot read v2&#39;s rows (another signature)" in panel
        assert "<circle" in panel


def _register_diabetes(client: Client) -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    train, test = slice(0, 353), slice(353, None)
    for model, params in (
        (LinearRegression(), {"estimator": "LinearRegression"}),
        (Ridge(alpha=0.5), {"estimator": "Ridge", "note": XSS}),
    ):
        client.register_model(
            DIABETES,
            model.fit(X[train], y[train]),
            task="regression",
            sample_input=X[:5],
            eval_data=(X[test], y[test]),
            params=params,
            gates=["rmse <= 80"],
        )
    narrow = ["age", "bmi", "bp"]
    client.register_model(
        DIABETES,
        LinearRegression().fit(X[narrow][train], y[train]),
        task="regression",
        sample_input=X[narrow][:5],
        eval_data=(X[narrow][test], y[test]),
        gates=[],
    )


def _assert_confusion(html: str, version: VersionInfo) -> None:
    matrix = version.evaluation["confusion_matrix"]
    for label, row in zip(matrix["labels"], matrix["matrix"], strict=True):
        cells = "".join(
            f'<td class="num"><strong>{count}</strong></td>'
            if index == matrix["labels"].index(label)
            else f'<td class="num">{count}</td>'
            for index, count in enumerate(row)
        )
        assert f"<tr><th>{label}</th>{cells}</tr>" in html


# -- the pure helpers ----------------------------------------------------------------------


def test_metric_directions_come_from_the_catalogue() -> None:
    rows = {
        row.name: row
        for row in compare_metrics(
            {"rmse": 2.0, "r2": 0.5, "custom": 1.0, "mae": 1.0},
            {"rmse": 1.0, "r2": 0.4, "custom": 2.0, "mae": 1.0},
            "regression",
        )
    }
    assert rows["rmse"].verdict == "better" and rows["rmse"].diff == -1.0
    assert rows["r2"].verdict == "worse"
    assert rows["custom"].verdict == "" and rows["custom"].diff == 1.0  # direction unknown
    assert rows["mae"].verdict == "same"


def test_params_that_differ_include_those_only_one_version_has() -> None:
    diffs = differing_params({"C": 1.0, "solver": "lbfgs"}, {"C": 1.0, "penalty": None})
    assert [(d.name, d.a, d.b) for d in diffs] == [
        ("penalty", None, None),
        ("solver", "lbfgs", None),
    ]


def test_only_a_fixed_gate_draws_a_threshold() -> None:
    results = [
        {"gate": "accuracy >= champion.accuracy - 0.01", "threshold": 0.9},
        {"gate": "macro_f1 >= 0.7", "threshold": 0.7},
    ]
    assert gate_threshold("accuracy", results) is None
    assert gate_threshold("macro_f1", results) == 0.7
    assert gate_threshold("f1", results) is None


def test_the_residual_plot_escapes_its_title() -> None:
    plot = Residuals([1.0, 2.0, 3.0], [0.5, -0.5, 0.0])
    x_range, y_range = shared_ranges([plot])
    svg = residual_plot(plot, title=XSS, x_range=x_range, y_range=y_range)
    assert XSS not in svg and "&lt;script&gt;" in svg
    assert svg.count("<circle") == 3
    assert y_range[0] == -y_range[1]  # zero in the middle


def test_retrain_evidence_is_flattened_to_rows() -> None:
    evidence = {"drift": {"share": 0.3, "features": ["a"]}, "labels": {}, "rows": 5}
    assert flatten(evidence) == [
        ("drift.share", 0.3),
        ("drift.features", ["a"]),
        ("labels", {}),
        ("rows", 5),
    ]


# -- acting from the model pages ---------------------------------------------------------


def test_an_operator_promotes_a_version_from_its_page(fresh_scene: Scene) -> None:
    with Client.from_project(fresh_scene.project_file, env={}) as client:
        http = Ui(client, fresh_scene).browser("ci")
        page = http.get(f"/ui/models/{MODEL}/versions/3")
        assert "Promote to production" in page.text  # v3 has been in staging already
        answer = http.post(
            f"/ui/models/{MODEL}/versions/2/promote",
            data={"csrf": csrf(http), "to": "staging", "reason": "back to v2"},
        )
        assert answer.status_code == 303
        assert client.registry.model(MODEL).aliases["staging"] == 2
        landed = http.get(answer.headers["location"])
        assert "breast-cancer v2 is now live in staging" in landed.text


def test_a_refused_promotion_comes_back_as_a_message_and_changes_nothing(
    fresh_scene: Scene,
) -> None:
    with Client.from_project(fresh_scene.project_file, env={}) as client:
        http = Ui(client, fresh_scene).browser("ci")
        answer = http.post(
            f"/ui/models/{MODEL}/versions/3/promote",
            data={"csrf": csrf(http), "to": "production", "next": f"/ui/models/{MODEL}"},
        )
        landed = http.get(answer.headers["location"])
        assert 'class="flash error"' in landed.text and "release #1" in landed.text
        assert client.registry.model(MODEL).aliases["production"] == 1


def test_a_viewer_sees_no_promote_or_rollback_controls(ui: Ui) -> None:
    http = ui.browser("viewer")
    assert "Promote to" not in http.get(f"/ui/models/{MODEL}/versions/3").text
    assert "Roll back" not in http.get(f"/ui/models/{MODEL}").text


def test_an_operator_rolls_an_environment_back_with_a_reason(fresh_scene: Scene) -> None:
    with Client.from_project(fresh_scene.project_file, env={}) as client:
        http = Ui(client, fresh_scene).browser("ci")
        assert "Roll back staging" in http.get(f"/ui/models/{MODEL}").text
        refused = http.post(
            f"/ui/models/{MODEL}/rollback", data={"csrf": csrf(http), "environment": "staging"}
        )
        assert "needs" not in refused.text  # a redirect with a message, not a role refusal
        assert client.registry.model(MODEL).aliases["staging"] == 3
        answer = http.post(
            f"/ui/models/{MODEL}/rollback",
            data={"csrf": csrf(http), "environment": "staging", "reason": "v3 misbehaves"},
        )
        assert client.registry.model(MODEL).aliases["staging"] == 2
        assert (
            "Rolled back: breast-cancer in staging is v2 again"
            in http.get(answer.headers["location"]).text
        )


def test_an_operator_runs_the_pipeline_and_lands_on_the_run(fresh_scene: Scene) -> None:
    with Client.from_project(fresh_scene.project_file, env={}) as client:
        http = Ui(client, fresh_scene).browser("ci")
        assert "Run the pipeline" in http.get(f"/ui/models/{MODEL}").text
        assert "Run the pipeline" not in http.get(f"/ui/models/{IRIS}").text  # not this project's
        unchanged = http.post(f"/ui/models/{MODEL}/run", data={"csrf": csrf(http)})
        assert unchanged.headers["location"].startswith("/ui/runs/")
        assert "Unchanged" in http.get(unchanged.headers["location"]).text
        trained = http.post(f"/ui/models/{MODEL}/run", data={"csrf": csrf(http), "force": "on"})
        page = http.get(trained.headers["location"]).text
        assert "registered v4, now live in dev" in page
        assert client.runs(MODEL)[0].id in trained.headers["location"]
        refused = http.post(f"/ui/models/{IRIS}/run", data={"csrf": csrf(http)})
        assert "trains &#39;breast-cancer&#39;" in http.get(refused.headers["location"]).text
