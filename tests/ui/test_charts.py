"""The SVG line charts: well-formed, escaped, honest about gaps and empty data."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from mlrelease.ui.charts import Series, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


def test_a_chart_has_a_line_per_series_and_a_point_per_value() -> None:
    svg = line_chart(
        [Series("accuracy", [(1, 0.9), (2, 0.93), (3, 0.95)]), Series("f1", [(1, 0.8), (3, 0.9)])],
        title="metrics",
        threshold=0.85,
    )
    root = _parse(svg)
    assert len(root.findall(f"{SVG}polyline")) == 2
    assert len(root.findall(f"{SVG}circle")) == 5
    assert "threshold 0.85" in svg


def test_a_missing_value_breaks_the_line() -> None:
    svg = line_chart(
        [Series("drift", [(1, 0.1), (2, None), (3, 0.2), (4, 0.3), (5, math.nan)])], title="t"
    )
    root = _parse(svg)
    assert len(root.findall(f"{SVG}polyline")) == 1  # 3-4; the lone point 1 is only a dot
    assert len(root.findall(f"{SVG}circle")) == 3


def test_names_and_titles_are_escaped() -> None:
    svg = line_chart(
        [Series("<script>alert(1)</script>", [(1, 1.0), (2, 2.0)])],
        title='"><script>',
        x_format=lambda x: "<b>",
    )
    _parse(svg)
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg


def test_no_data_says_so() -> None:
    svg = line_chart([Series("a", [])], title="empty")
    _parse(svg)
    assert "no data yet" in svg


def test_one_point_and_a_flat_line_still_draw() -> None:
    for points in ([(1.0, 0.5)], [(1.0, 0.5), (2.0, 0.5)]):
        root = _parse(line_chart([Series("a", points)], title="t"))
        assert root.findall(f"{SVG}circle")
