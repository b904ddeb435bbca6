"""The monitor report as an HTML page: verdict, tables, one histogram per drifted feature."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlrelease.data.profile import OTHER, build_profile
from mlrelease.monitoring.drift import P_VALUE_METHODS, compare_frame
from mlrelease.monitoring.html import histogram_svg, render_html
from mlrelease.monitoring.monitor import MonitorReport

NUMERIC = {
    "labels": ["[0, 1)", "[1, 2)", "[2, 3)", "[3, 4]"],
    "edges": [0.0, 1.0, 2.0, 3.0, 4.0],
    "reference": [0.1, 0.4, 0.4, 0.1],
    "current": [0.05, 0.15, 0.3, 0.5],
}
CATEGORICAL = {
    "labels": ["benign", "malignant"],
    "edges": None,
    "reference": [0.6, 0.4],
    "current": [0.3, 0.7],
}


def drift(feature: str, **changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "feature": feature,
        "kind": "float",
        "method": "psi",
        "statistic": 0.02,
        "p_value": None,
        "threshold": 0.1,
        "drifted": False,
        "reference_count": 455,
        "current_count": 1000,
        "current_missing_fraction": 0.0,
        "histogram": NUMERIC,
        "note": "",
        "score": 0.02,
    }
    return {**entry, **changes}


def report(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": 12,
        "model": "breast-cancer",
        "environment": "production",
        "version": 3,
        "created_at": "2026-11-23T10:00:00+00:00",
        "rows": 1000,
        "min_rows": 100,
        "window_start": "2026-11-22T10:00:00+00:00",
        "window_end": "2026-11-23T09:59:00+00:00",
        "judged": True,
        "drift_share": 2 / 3,
        "share_threshold": 0.5,
        "drifted": True,
        "features": [
            drift("mean texture"),
            drift("mean radius", statistic=0.31, score=0.31, drifted=True),
            drift(
                "diagnosis hint",
                kind="category",
                method="chisquare",
                statistic=48.2,
                p_value=1e-6,
                score=1e-6,
                threshold=0.05,
                drifted=True,
                histogram=CATEGORICAL,
            ),
        ],
        "predictions": [],
        "metrics": [],
        "notes": [],
    }
    return {**document, **changes}


def page(document: dict[str, Any]) -> ET.Element:
    """The rendered page, parsed: it is well-formed XML as well as HTML."""
    return ET.fromstring(render_html(document))


def section(root: ET.Element, name: str) -> ET.Element:
    found = root.find(f".//section[@id='{name}']")
    assert found is not None, f"no section {name}"
    return found


def text(element: ET.Element) -> str:
    return " ".join(" ".join(element.itertext()).split())


def test_each_drifted_feature_gets_its_histogram_in_the_drifted_section() -> None:
    root = page(report())
    drifted = section(root, "drifted")
    titles = [text(svg.find("title")) for svg in drifted.iter("svg")]  # type: ignore[arg-type]
    assert titles == [
        "diagnosis hint · chisquare p-value 1.00e-06 < 0.05",  # the worse of the two first
        "mean radius · psi 0.31 ≥ 0.1",
    ]
    others = section(root, "all-features")
    assert [text(svg.find("title")) for svg in others.iter("svg")] == [  # type: ignore[arg-type]
        "mean texture · psi 0.02 < 0.1"
    ]
    assert others.find("details") is not None and "open" not in others.find("details").attrib  # type: ignore[union-attr]


def test_the_banner_states_the_verdict_against_the_share_threshold() -> None:
    banner = text(page(report()).find(".//p[@role='status']"))  # type: ignore[arg-type]
    assert banner == "Drift: 2 of 3 features (66.7%) — threshold 50%: dataset drift"
    calm = report(drift_share=0.2, drifted=False)
    banner = text(page(calm).find(".//p[@role='status']"))  # type: ignore[arg-type]
    assert banner.endswith("(20%) — threshold 50%: no dataset drift")


def test_features_are_listed_drifted_first_then_by_severity() -> None:
    features = [
        drift("calm", score=0.01),
        drift("slight", score=0.12, drifted=True),
        drift("p-valued", method="ks", p_value=0.001, score=0.001, threshold=0.05, drifted=True),
        drift("near", score=0.09),
        drift("strong", score=0.9, drifted=True),
    ]
    root = page(report(features=features))
    rows = section(root, "features").findall(".//tbody/tr")
    assert [text(row.find("td")) for row in rows] == [  # type: ignore[arg-type]
        "p-valued",  # 50 times past its threshold
        "strong",  # 9 times
        "slight",
        "near",
        "calm",
    ]
    assert [row.get("class") for row in rows] == ["drifted"] * 3 + ["steady"] * 2
    first = [text(cell) for cell in rows[0].findall("td")]
    assert first == ["p-valued", "float", "ks", "0.02", "0.001", "0.05", "drifted", "0%"]


def test_feature_rows_link_to_their_histograms() -> None:
    root = page(report())
    links = [a.get("href") for a in section(root, "features").iter("a")]
    ids = {figure.get("id") for figure in root.iter("figure")}
    assert links == ["#feature-1", "#feature-2", "#feature-3"]
    assert ids == {"feature-1", "feature-2", "feature-3"}


def test_text_from_the_report_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    document = report(
        model=evil,
        environment='"><img src=x onerror=alert(1)>',
        features=[
            drift(evil, drifted=True, note=evil, histogram={**NUMERIC, "labels": [evil] * 4})
        ],
        notes=[evil],
    )
    html = render_html(document)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    ET.fromstring(html)  # still well-formed
    assert "&lt;script&gt;" in histogram_svg(CATEGORICAL, title=evil)


def test_characters_xml_forbids_are_dropped() -> None:
    root = page(report(model="bad\x00model\x1b"))
    assert text(root.find(".//h1")) == "badmodel v3 in production"  # type: ignore[arg-type]


def test_a_report_not_judged_says_why_and_plots_nothing() -> None:
    reason = "the window holds 12 served rows, fewer than min_rows=100"
    document = report(
        rows=12,
        judged=False,
        drift_share=None,
        drifted=False,
        features=[],
        notes=[reason, "labels arrive late"],
    )
    root = page(document)
    assert text(root.find(".//p[@role='status']")) == f"Not judged: {reason}"  # type: ignore[arg-type]
    assert [text(li) for li in section(root, "notes").iter("li")] == ["labels arrive late"]
    assert not list(root.iter("svg"))
    assert (
        text(section(root, "drifted")) == "Drifted features Drift was not judged for this window."
    )


def test_not_judged_without_a_note_gives_the_row_counts() -> None:
    root = page(report(rows=7, judged=False, drift_share=None, features=[], notes=[]))
    assert text(root.find(".//p[@role='status']")) == (  # type: ignore[arg-type]
        "Not judged: the window holds 7 served rows, fewer than min_rows=100"
    )


def test_no_features_renders_empty_sections() -> None:
    root = page(report(features=[], drift_share=None, drifted=False))
    assert text(root.find(".//p[@role='status']")).startswith("Drift: 0 of 0 features —")  # type: ignore[arg-type]
    assert "No features were compared." in text(section(root, "features"))
    assert root.find(".//section[@id='all-features']") is None


def test_an_empty_document_still_renders() -> None:
    root = page({})
    assert text(root.find(".//h1")) == "model"  # type: ignore[arg-type]


def test_a_feature_without_histogram_gets_a_note_not_a_plot() -> None:
    entry = drift("mean area", drifted=True, score=0.4, histogram=None)
    drifted = section(page(report(features=[entry])), "drifted")
    assert not list(drifted.iter("svg"))
    assert "No histogram in the report for this feature." in text(drifted)
    assert "mean area · psi 0.4 ≥ 0.1" in text(drifted)


def test_drifted_predictions_get_a_card_and_a_line_in_the_banner() -> None:
    prediction = drift(
        "prediction",
        kind="category",
        method="jensenshannon",
        score=0.2,
        drifted=True,
        histogram=CATEGORICAL,
    )
    root = page(report(predictions=[prediction]))
    assert "The predictions drifted too: jensenshannon 0.2 ≥ 0.1" in text(
        root.find(".//p[@role='status']")  # type: ignore[arg-type]
    )
    assert section(root, "drifted").find(".//figure[@id='prediction-1']") is not None
    assert len(section(root, "predictions").findall(".//tbody/tr")) == 1


def test_metrics_show_value_bound_and_status() -> None:
    metrics = [
        {"name": "accuracy", "value": 0.91, "labels": 480, "min": 0.85, "max": None,
         "judged": True, "breached": False},
        {"name": "macro_f1", "value": 0.7, "labels": 480, "min": 0.8, "max": None,
         "judged": True, "breached": True},
        {"name": "rmse", "value": 3.5, "labels": 12, "min": None, "max": 4.0,
         "judged": False, "breached": False},
        {"name": "mae", "value": None, "labels": 0, "min": 1.0, "max": 2.0,
         "judged": False, "breached": False},
    ]  # fmt: skip
    rows = section(page(report(metrics=metrics)), "metrics").findall(".//tbody/tr")
    assert [[text(cell) for cell in row.findall("td")] for row in rows] == [
        ["accuracy", "0.9100", "480", ">= 0.85", "ok"],
        ["macro_f1", "0.7000", "480", ">= 0.8", "breached"],
        ["rmse", "3.5000", "12", "<= 4", "not judged only 12 labels, too few to judge"],
        ["mae", "—", "0", ">= 1 and <= 2", "not judged no labelled rows yet"],
    ]


def test_no_metrics_says_so() -> None:
    assert "No live metrics" in text(section(page(report()), "metrics"))


def bars(svg: ET.Element, series: str) -> list[ET.Element]:
    return [rect for rect in svg.iter("rect") if rect.get("class") == f"bar {series}"]


def test_the_svg_is_xml_and_bar_heights_are_proportional_to_shares() -> None:
    svg = ET.fromstring(histogram_svg(NUMERIC, title="mean radius · psi 0.31 ≥ 0.1"))
    assert svg.tag == "svg" and svg.get("viewBox") == "0 0 420 180"
    reference, current = bars(svg, "reference"), bars(svg, "current")
    assert len(reference) == len(current) == 4
    shares = NUMERIC["reference"] + NUMERIC["current"]
    heights = [float(rect.get("height", "")) for rect in reference + current]
    unit = heights[-1] / shares[-1]  # pixels per share, from the tallest bar
    assert heights == pytest.approx([share * unit for share in shares], abs=0.02)
    rects = reference + current
    bottoms = {round(float(r.get("y", "")) + float(r.get("height", "")), 1) for r in rects}
    assert len(bottoms) == 1  # all bars stand on the same baseline
    xs = [float(rect.get("x", "")) for rect in reference]
    assert xs == sorted(xs) and all(
        float(c.get("x", "")) > float(r.get("x", ""))
        for r, c in zip(reference, current, strict=True)
    )


def test_the_y_axis_is_in_round_percent_steps_above_the_tallest_bar() -> None:
    svg = ET.fromstring(histogram_svg(NUMERIC, title="t"))
    ticks = [text(label) for label in svg.find(".//g[@class='y-axis']").iter("text")]  # type: ignore[union-attr]
    assert ticks == ["0%", "20%", "40%", "60%"]


def test_numeric_bins_are_labelled_at_their_edges() -> None:
    svg = ET.fromstring(histogram_svg(NUMERIC, title="t"))
    labels = [text(label) for label in svg.find(".//g[@class='x-axis']").iter("text")]  # type: ignore[union-attr]
    assert labels == ["0", "1", "2", "3", "4"]
    assert [text(rect) for rect in bars(svg, "current")][0] == "[0, 1): current 5%"


def test_many_long_categories_are_abbreviated_turned_and_thinned() -> None:
    names = [f"clinic number {i} north wing" for i in range(60)]
    histogram = {
        "labels": names,
        "edges": None,
        "reference": [1 / 60] * 60,
        "current": [1 / 60] * 60,
    }
    svg = ET.fromstring(histogram_svg(histogram, title="clinic"))
    labels = list(svg.find(".//g[@class='x-axis']").iter("text"))  # type: ignore[union-attr]
    assert 0 < len(labels) < 60
    assert all("rotate(-40" in label.get("transform", "") for label in labels)
    first = labels[0]
    assert first.find("title").text == names[0]  # type: ignore[union-attr]
    assert (first.text or "").endswith("…") and len(first.text or "") <= 12
    assert len(bars(svg, "current")) == 60


def test_counts_are_plotted_as_shares_and_junk_values_as_zero() -> None:
    histogram = {"labels": ["a", "b", "c"], "reference": [10, 30, 60], "current": [0.5, None, "x"]}
    svg = ET.fromstring(histogram_svg(histogram, title="t"))
    assert [text(rect) for rect in bars(svg, "reference")] == [
        "a: reference 10%",
        "b: reference 30%",
        "c: reference 60%",
    ]
    assert [float(rect.get("height", "")) for rect in bars(svg, "current")][1:] == [0.0, 0.0]


def test_an_empty_histogram_says_so() -> None:
    svg = ET.fromstring(histogram_svg({}, title="nothing"))
    assert "No histogram data" in text(svg) and not bars(svg, "reference")


def test_the_page_makes_no_outside_requests() -> None:
    html = render_html(report())
    lowered = html.lower()
    for needle in ("http://", "https://", "<script", "src=", "@import", "url(", "<link"):
        assert needle not in lowered, needle
    assert "default-src 'none'" in html


def test_the_same_report_renders_the_same_bytes() -> None:
    document = report(metrics=[{"name": "accuracy", "value": 0.9, "labels": 9, "judged": False}])
    assert render_html(document) == render_html(copy.deepcopy(document))


def test_the_banner_counts_only_the_features_that_were_compared() -> None:
    features = [
        drift("mean radius", statistic=0.31, score=0.31, drifted=True),
        drift("mean texture"),
        drift("seen at", kind="datetime", statistic=None, score=None, histogram=None,
              note="datetime columns are not compared"),
    ]  # fmt: skip
    root = page(report(features=features, drift_share=0.5, drifted=True))
    banner = text(root.find(".//p[@role='status']"))  # type: ignore[arg-type]
    assert banner.startswith("Drift: 1 of 2 features (50%) — threshold 50%: dataset drift")
    assert "1 not compared: their notes say why." in banner
    row = section(root, "features").findall(".//tbody/tr")[-1]
    assert text(row.find("td")) == "seen at datetime columns are not compared"  # type: ignore[arg-type]


def test_open_outer_bins_leave_their_outer_edges_unlabelled() -> None:
    histogram = {**NUMERIC, "labels": ["(-inf, 1)", "[1, 2)", "[2, 3)", "[3, +inf)"]}
    svg = ET.fromstring(histogram_svg(histogram, title="t"))
    labels = [text(label) for label in svg.find(".//g[@class='x-axis']").iter("text")]  # type: ignore[union-attr]
    assert labels == ["", "1", "2", "3", ""]


@pytest.mark.parametrize("method", sorted(P_VALUE_METHODS))
def test_p_value_methods_read_as_p_values(method: str) -> None:
    entry = drift("x", method=method, p_value=0.2, score=0.2, threshold=0.05)
    root = page(report(features=[entry]))
    assert text(root.find(".//figure//title")) == f"x · {method} p-value 0.2 ≥ 0.05"  # type: ignore[arg-type]


def test_the_profiles_other_bin_reads_as_other() -> None:
    histogram = {**CATEGORICAL, "labels": ["benign", OTHER]}
    svg = ET.fromstring(histogram_svg(histogram, title="t"))
    assert [text(rect) for rect in bars(svg, "current")][1] == "(other): current 70%"


def test_a_real_monitor_report_renders() -> None:
    """The document ``MonitorReport.to_dict()`` makes from real drift checks, through JSON."""
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {"size": rng.normal(10, 2, 400), "site": rng.choice(["a", "b", "c"], 400)}
    )
    current = pd.DataFrame(
        {
            "size": rng.normal(14, 2, 300),
            "site": rng.choice(["a", "b", "c"], 300, p=[0.8, 0.1, 0.1]),
        }
    )
    found = compare_frame(build_profile(reference)["features"], current, method="psi")
    document = MonitorReport(
        model="m", environment="production", version=1,
        created_at=datetime(2026, 11, 23, tzinfo=UTC), rows=300, min_rows=100,
        window_start=None, window_end=None, features=found, predictions=[], metrics=[],
        share_threshold=0.5,
    ).to_dict()  # fmt: skip
    root = page(json.loads(json.dumps(document)))
    titles = [text(svg.find("title")) for svg in section(root, "drifted").iter("svg")]  # type: ignore[arg-type]
    assert [title.split(" · ")[0] for title in titles] == ["size", "site"]
    assert text(root.find(".//p[@role='status']")).endswith("threshold 50%: dataset drift")  # type: ignore[arg-type]
