"""One run's page: outcome, steps and timings, checks, params, metrics, gates, logs, plots."""

from __future__ import annotations

import pytest

from mlrelease.client import Client
from mlrelease.errors import GateFailed
from mlrelease.pipeline.runs import RunStatus
from mlrelease.ui.rendering import fmt_number

from ._scene import MODEL, PROJECT, Scene
from .conftest import Ui

XSS = "<script>alert(1)</script>"


def _section(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start : html.index("</section>", start)]


def test_a_run_shows_its_outcome_steps_metrics_and_version(ui: Ui) -> None:
    run = ui.client.runs(MODEL)[0]  # the newest: it registered v3
    html = ui.browser("viewer").get(f"/ui/runs/{run.id}").text
    assert html.count("<h1>") == 1
    assert f"<h1>Run <code>{run.id[:8]}</code>" in html and "succeeded" in html
    assert f'Registered <a href="/ui/models/{MODEL}/versions/3">' in html
    assert run.data_fingerprint in html and "unknown (not a git repository)" in html
    assert f"by <strong>{ui.client.version(MODEL, 3).created_by}</strong>" in html
    steps = _section(html, "<h2>Steps</h2>")
    # The page shows each step's recorded duration as stored; nothing here bounds a time.
    recorded = {step["name"]: step["seconds"] for step in run.steps}
    longest = max(recorded.values())
    for step in run.steps:
        row = steps[steps.index(f'<tr data-step="{step["name"]}"') :]
        row = row[: row.index("</tr>")]
        shown = fmt_number(recorded[step["name"]], 3)
        assert f'<td class="num">{shown}</td>' in row
        assert f'<meter min="0" max="{longest}" value="{recorded[step["name"]]}"' in row
        assert step["detail"].replace(">", "&gt;") in row
    metrics = _section(html, "<h2>Metrics</h2>")
    for name, value in run.metrics.items():
        assert f'<tr><th>{name}</th><td class="num">{fmt_number(value)}</td></tr>' in metrics
    assert "<th>C</th><td><code>0.1</code>" in _section(html, "<h2>Params</h2>")
    assert "<code>accuracy &gt;= 0.8</code>" in _section(html, "<h2>Gates</h2>")
    assert "No log lines" in html
    assert "Plots" not in html  # the pipeline logs no metric series
    assert "data-live" not in html


def test_a_run_is_found_by_a_prefix_of_its_id(ui: Ui) -> None:
    run = ui.client.runs(MODEL)[-1]
    answer = ui.browser("viewer").get(f"/ui/runs/{run.id[:8]}")
    assert answer.status_code == 200
    assert f'Registered <a href="/ui/models/{MODEL}/versions/1">' in answer.text


@pytest.mark.parametrize(
    ("run_id", "message"),
    [("0000aaaa", "no run with id &#39;0000aaaa&#39;"), ("ab", "too short")],
)
def test_an_unknown_run_is_a_404(ui: Ui, run_id: str, message: str) -> None:
    answer = ui.browser("viewer").get(f"/ui/runs/{run_id}")
    assert answer.status_code == 404
    assert message in answer.text


def test_a_run_a_gate_refused_says_why_and_who_ran_it(
    fresh_scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_scene.project_file.write_text(
        (PROJECT % {"C": 0.01}).replace("accuracy >= 0.8", "accuracy >= 0.999")
    )
    monkeypatch.setenv("MLRELEASE_ACTOR", "ci-bot")
    with Client.from_project(fresh_scene.project_file, env={}) as client:
        with pytest.raises(GateFailed):
            client.run()
        run = client.runs(MODEL)[0]
        assert run.status == RunStatus.GATE_FAILED
        html = Ui(client, fresh_scene).browser("viewer").get(f"/ui/runs/{run.id}").text
    assert "No version registered: a quality gate refused the model." in html
    assert "by <strong>ci-bot</strong>" in html
    assert run.error.replace("'", "&#39;").replace(">", "&gt;") in html
    gates = _section(html, "<h2>Gates</h2>")
    assert "<code>accuracy &gt;= 0.999</code>" in gates and "failed" in gates
    assert 'data-step="register"' not in html  # it stopped at the gate
    assert "Registered <a" not in html


def test_a_run_of_your_own_code_shows_its_logs_and_plots_escaped(fresh_scene: Scene) -> None:
    with Client.from_project(fresh_scene.project_file, env={}) as client:
        recorder = client.start_run(MODEL)
        recorder.update(params={"note": XSS})
        recorder.log(f"epoch 1 {XSS}", level="warning")
        for step, loss in enumerate((0.9, 0.5, 0.31)):
            recorder.log_metric("loss", loss, step=step)
        html = Ui(client, fresh_scene).browser("viewer").get(f"/ui/runs/{recorder.id}").text
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _section(html, "<h2>Params</h2>")
    log = html[html.index('<pre class="log">') : html.index("</pre>")]
    assert "warning" in log and "epoch 1 &lt;script&gt;alert(1)&lt;/script&gt;" in log
    plots = html[html.index("<h2>Plots</h2>") :]
    assert plots.count('<svg class="chart"') == 1 and 'aria-label="loss"' in plots
    assert plots.count("<circle") == 3
    # Never finished: the page says so and refreshes itself.
    assert "Still running" in html and 'data-live="5"' in html
