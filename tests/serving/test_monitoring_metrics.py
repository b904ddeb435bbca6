"""/metrics carries the newest monitor report: drift per feature and live metrics."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from mlrelease.monitoring.monitor import Monitor
from mlrelease.spec import LiveMetricSpec, MonitoringSpec

from .conftest import MODEL, AppFactory, Served


def test_metrics_expose_drift_and_live_metrics_of_the_newest_report(
    served: Served, make_app: AppFactory
) -> None:
    app = make_app()
    assert "mlrelease_feature_drift" not in app.get("/metrics").text  # nothing checked yet

    rows = served.X.to_numpy().tolist()
    answers = [app.post("/predict", json={"features": row}) for row in rows[:150]]
    for index, answer in enumerate(answers):
        label = {"request_id": answer.headers["x-request-id"], "label": int(served.y[index])}
        assert app.post("/feedback", json=label).status_code == 200
    app.predlog.flush()  # type: ignore[attr-defined]
    settings = MonitoringSpec(accuracy=LiveMetricSpec(min=0.5))
    report = Monitor(served.client.registry, MODEL, "classification", settings).check("production")
    assert report.judged

    fresh = make_app()  # a new server: the old one's cached read predates the report
    samples = {
        (sample.name, sample.labels.get("feature") or sample.labels.get("metric")): sample
        for family in text_string_to_metric_families(fresh.get("/metrics").text)
        for sample in family.samples
    }
    drift = samples["mlrelease_feature_drift", "mean radius"]
    assert drift.labels == {
        "model": MODEL,
        "env": "production",
        "version": "1",
        "feature": "mean radius",
        "method": "psi",
    }
    assert drift.value == next(r.score for r in report.features if r.feature == "mean radius")
    assert samples["mlrelease_feature_drifted", "mean radius"].value in (0.0, 1.0)
    assert samples["mlrelease_online_metric", "accuracy"].value == report.metrics[0].value
    assert samples["mlrelease_online_metric_labels", "accuracy"].value == 150
