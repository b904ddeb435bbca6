"""The monitoring page: the newest stored report of an environment, and the reports over time."""

from __future__ import annotations

import re

from ..monitoring._loop import SHIFTED
from ._scene import IRIS, MODEL
from .conftest import Ui

PAGE = f"/ui/models/{MODEL}/monitoring"


def _section(html: str, anchor: str) -> str:
    found = re.search(rf'<section[^>]*id="{anchor}".*?</section>', html, re.S)
    assert found, f"no section #{anchor}"
    return found.group(0)


def test_the_newest_report_is_shown_with_its_verdict(ui: Ui) -> None:
    page = ui.browser("viewer").get(PAGE)

    assert page.status_code == 200
    newest = _section(page.text, "newest")
    assert "#2" in newest  # the drifted report, not the first one
    assert "dataset drift" in newest and "no dataset drift" not in newest
    assert "5 of 30 features drifted (16.7%)" in newest
    assert "15.0% or more" in newest
    assert f'href="/ui/models/{MODEL}/versions/1"' in newest
    assert "300" in newest  # rows in the window
    assert 'aria-current="page">Monitoring' in page.text


def test_drifted_features_come_first_with_a_histogram_each(ui: Ui) -> None:
    page = ui.browser("viewer").get(PAGE).text

    rows = re.findall(r"<tr>\s*<td>([^<]+?)(?: <span|</td>)", _section(page, "features"))
    assert len(rows) == 30
    assert set(rows[:5]) == set(SHIFTED)
    drifted = _section(page, "drifted")
    assert drifted.count('<svg class="histogram"') == len(SHIFTED)
    for feature in SHIFTED:
        assert f"<title>{feature} · psi" in drifted


def test_live_accuracy_with_the_labels_behind_it(ui: Ui) -> None:
    metrics = _section(ui.browser("viewer").get(PAGE).text, "live-metrics")

    assert "<code>accuracy</code>" in metrics
    assert "0.5119" in metrics  # the flipped labels of the drifted window
    assert "420" in metrics  # labelled rows behind it: both windows'
    assert "≥ 0.8" in metrics
    assert "breached" in metrics


def _chart(html: str, title: str) -> str:
    return html.split(f'aria-label="{title}"')[1].split("</svg>")[0]


def test_charts_over_the_two_reports(ui: Ui) -> None:
    over_time = _section(ui.browser("viewer").get(PAGE).text, "over-time")

    assert "The newest 2 reports" in over_time
    share = _chart(over_time, "Share of features that drifted")
    assert share.count("<circle") == 2  # one point per report
    assert "dataset drift at 0.15" in share
    accuracy = _chart(over_time, "Live accuracy")
    assert "min 0.8" in accuracy
    assert "0.5119 from 420 labels" in accuracy


def test_a_chart_per_feature_that_drifted_at_most_eight(ui: Ui) -> None:
    over_time = _section(ui.browser("viewer").get(PAGE).text, "over-time")

    titles = re.findall(r'<svg class="chart"[^>]*aria-label="([^"]+)"', over_time)
    features = titles[2:]  # after the drifted share and live accuracy
    # The five shifted features drifted far in the second report, so they come first;
    # a few more drift by chance in the small first window.
    assert set(features[:5]) == set(SHIFTED)
    more = re.search(r"(\d+) features drifted in these reports: the 8 that", over_time)
    assert len(features) == 8 if more and int(more.group(1)) > 8 else len(features) <= 8
    for feature in SHIFTED:
        assert _chart(over_time, feature).count("<circle") == 2
        assert "drift at 0.1" in _chart(over_time, feature)


def test_a_model_without_reports_says_how_to_get_one(ui: Ui) -> None:
    page = ui.browser("viewer").get(f"/ui/models/{IRIS}/monitoring")

    assert page.status_code == 200
    assert (
        f"No monitoring report yet for <strong>{IRIS}</strong> in <strong>production" in page.text
    )
    assert f"mlrelease monitor {IRIS} --env production" in page.text
    assert "mlrelease controller" in page.text


def test_another_environment_can_be_picked(ui: Ui) -> None:
    page = ui.browser("viewer").get(PAGE, params={"environment": "staging"})

    assert page.status_code == 200
    assert f"mlrelease monitor {MODEL} --env staging" in page.text
    assert '<option value="staging" selected>' in page.text


def test_an_unknown_model_is_404(ui: Ui) -> None:
    page = ui.browser("viewer").get("/ui/models/no-such-model/monitoring")

    assert page.status_code == 404
    assert "no-such-model" in page.text


def test_the_environment_asked_for_is_escaped(ui: Ui) -> None:
    page = ui.browser("viewer").get(PAGE, params={"environment": "<script>alert(1)</script>"})

    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_anonymous_visitors_are_sent_to_log_in(ui: Ui) -> None:
    answer = ui.browser().get(PAGE)

    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui/login")
