"""The history page: the event log and its filters, and what was live at a moment."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from mlrelease.client import Client
from mlrelease.ui.pages import history

from ._scene import IRIS, MODEL, Scene
from .conftest import Ui

XSS = "<script>alert(1)</script>"
COLUMNS = ("time", "actor", "kind", "model", "environment", "versions", "reason")


class _Events(HTMLParser):
    """The rows of the events table, each as {column: text}."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self._inside = self._in_body = False
        self._cells: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and "events" in (dict(attrs).get("class") or ""):
            self._inside = True
        elif self._inside and tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self._cells = []
        elif self._cells is not None and tag == "td":
            self._cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._cells is not None:
            self.rows.append(dict(zip(COLUMNS, (c.strip() for c in self._cells), strict=False)))
            self._cells = None
        elif tag == "table":
            self._inside = self._in_body = False

    def handle_data(self, data: str) -> None:
        if self._cells:
            self._cells[-1] += data


def _rows(ui: Ui, query: str = "") -> list[dict[str, str]]:
    answer = ui.browser("viewer").get(f"/ui/history{query}")
    assert answer.status_code == 200, answer.text
    parser = _Events()
    parser.feed(answer.text)
    return parser.rows


def test_every_event_is_listed_newest_first(ui: Ui) -> None:
    rows = _rows(ui)
    events = ui.client.events()
    assert len(rows) == len(events) <= history.LIMIT
    assert [row["kind"] for row in rows] == [event.kind for event in reversed(events)]
    assert rows[-1]["kind"] == "model.created"


@pytest.mark.parametrize(
    ("query", "column", "value"),
    [
        (f"?model={IRIS}", "model", IRIS),
        ("?environment=staging", "environment", "staging"),
        ("?actor=lead", "actor", "lead"),
        ("?kind=promotion.approved", "kind", "promotion.approved"),
    ],
)
def test_each_filter_keeps_only_its_events(ui: Ui, query: str, column: str, value: str) -> None:
    rows = _rows(ui, query)
    assert rows and all(row[column] == value for row in rows)
    assert len(rows) < len(_rows(ui))


def test_filters_combine(ui: Ui) -> None:
    rows = _rows(ui, f"?model={MODEL}&environment=production&kind=promotion.approved")
    assert [(r["actor"], r["reason"]) for r in rows] == [
        ("lead", "canary it"),
        ("lead", "looks good"),
    ]
    assert (
        "No event matches these filters"
        in ui.browser("viewer").get("/ui/history?actor=nobody").text
    )


def test_the_filter_form_offers_what_the_log_holds(ui: Ui) -> None:
    html = ui.browser("viewer").get("/ui/history?kind=release.step").text
    assert '<option value="release.step" selected>release.step</option>' in html
    assert '<option value="controller">controller</option>' in html  # an actor
    assert f'<option value="{IRIS}">{IRIS}</option>' in html


def test_a_long_log_says_it_is_truncated(ui: Ui, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "LIMIT", 3)
    html = ui.browser("viewer").get("/ui/history").text
    assert "Showing the newest 3 events that match" in html
    assert len(_rows(ui)) == 3
    monkeypatch.setattr(history, "LIMIT", 10_000)
    assert "Showing the newest" not in ui.browser("viewer").get("/ui/history").text


def test_what_was_live_before_the_first_version_is_nothing(ui: Ui) -> None:
    html = ui.browser("viewer").get(f"/ui/history?model={MODEL}&at=2001-01-01T00:00").text
    assert "Live at 2001-01-01 00:00:00 UTC" in html
    assert "Nothing was live in any environment then" in html
    assert _rows(ui, f"?model={MODEL}&at=2001-01-01T00:00") == []  # and no event yet


def test_what_was_live_later_links_each_environment_to_its_version(ui: Ui) -> None:
    html = ui.browser("viewer").get("/ui/history?at=2999-01-01T00:00:00").text
    cells = html[html.index(f'data-model="{MODEL}"') :]
    cells = cells[: cells.index("</div>\n  </div>") + 6]
    assert f'production</div><div class="v"><a href="/ui/models/{MODEL}/versions/1">v1</a>' in cells
    assert f'staging</div><div class="v"><a href="/ui/models/{MODEL}/versions/3">v3</a>' in cells
    iris = html[html.index(f'data-model="{IRIS}"') :]
    assert "production" not in iris[: iris.index("</div>\n  </div>")]  # iris still waits


def test_a_bad_moment_is_a_400_that_shows_the_format(ui: Ui) -> None:
    answer = ui.browser("viewer").get("/ui/history?at=yesterday")
    assert answer.status_code == 400
    assert "write it like 2026-11-20T10:00" in answer.text and "UTC" in answer.text


def test_an_unknown_model_for_live_at_is_a_404(ui: Ui) -> None:
    answer = ui.browser("viewer").get("/ui/history?model=nope&at=2026-01-01T00:00")
    assert answer.status_code == 404


def test_reasons_and_payloads_are_escaped(fresh_scene: Scene) -> None:
    with Client.from_project(fresh_scene.project_file, env={}) as client:
        client.reject(fresh_scene.waiting_request, reason=XSS, actor="lead")
        ui = Ui(client, fresh_scene)
        html = ui.browser("viewer").get("/ui/history?kind=promotion.rejected").text
        assert XSS not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<details><summary>payload</summary>" in html
        assert [row["reason"] for row in _rows(ui, "?kind=promotion.rejected")] == [XSS]
