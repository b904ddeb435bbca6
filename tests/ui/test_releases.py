"""The releases pages: the list; one release's steps, traffic, analysis, events and levers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from mlrelease.client import Client
from mlrelease.release.phases import Phase
from mlrelease.release.service import update_release
from mlrelease.traffic import TrafficState, get_traffic

from ._scene import MODEL, Scene
from .conftest import Ui, csrf

XSS = "<script>alert(1)</script>"


def _lever(http: TestClient, release_id: int, name: str, reason: str = "") -> str:
    """Pull a lever as the page's form does; the page it lands on."""
    page = f"/ui/releases/{release_id}"
    answer = http.post(
        f"{page}/{name}", data={"csrf": csrf(http, page), "next": page, "reason": reason}
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == page
    return http.get(page).text


def _traffic(client: Client) -> TrafficState:
    with client.store.read() as connection:
        return get_traffic(connection, MODEL, "production")


def _levers(html: str, release_id: int) -> set[str]:
    return {
        name
        for name in ("pause", "resume", "promote", "abort")
        if f'action="/ui/releases/{release_id}/{name}"' in html
    }


def test_the_list_shows_every_release(ui: Ui) -> None:
    html = ui.browser("viewer").get("/ui/releases").text
    row = html[html.index(f'href="/ui/releases/{ui.scene.release_id}"') :]
    row = row[: row.index("</tr>")]
    assert "phase-progressing" in row and MODEL in row and "production" in row
    assert "v1</a> → <a" in row and "v2</a>" in row
    assert "20%" in row and "2 of 3" in row and "in progress" in row


def test_the_release_page_shows_steps_weight_traffic_and_checks(ui: Ui) -> None:
    html = ui.browser("viewer").get(f"/ui/releases/{ui.scene.release_id}").text
    assert '<main data-live="3">' in html and "refreshes every 3 s" in html
    assert '<meter min="0" max="100" value="20"' in html
    # The steps of the canary, the first done, the analysis the current one.
    assert "Send 20% of requests to v2" in html and "✓ done" in html
    current = html[html.index('class="current"') :]
    assert current.index("Analyse: 2 measurements, one every 1 min") < current.index("</tr>")
    assert "Send 50% of requests to v2" in html
    assert "latency_p95 &lt;= 0.5" in html and "error_rate &lt;= 0.01" in html
    # The environment's traffic right now, and the story so far.
    traffic = html[html.index("production right now") :]
    assert '<td>v1</td><td>stable</td><td class="num">80%</td>' in traffic
    assert '<td>v2</td><td>canary</td><td class="num">20%</td>' in traffic
    assert "release.started" in html and "promotion.approved" in html
    assert "No measurement yet" in html
    # A viewer sees no levers, but is told why.
    assert not _levers(html, ui.scene.release_id)
    assert "needs the operator role" in html


def test_an_unknown_release_is_a_404(ui: Ui) -> None:
    answer = ui.browser("viewer").get("/ui/releases/999")
    assert answer.status_code == 404 and "no release #999" in answer.text


def _measurement(at: datetime, latency: float, stable_errors: float, verdict: str) -> Any:
    return {
        "verdict": verdict,
        "step": 1,
        "at": at.isoformat(),
        "window_start": (at - timedelta(minutes=1)).isoformat(),
        "window_end": at.isoformat(),
        "checks": [
            {
                "check": "latency_p95 <= 0.5",
                "verdict": verdict,
                "candidate": latency,
                "stable": None,
                "threshold": 0.5,
                "samples": {"candidate": 40},
                "note": XSS,
            },
            {
                "check": "error_rate <= stable * 1.1",
                "verdict": "successful",
                "candidate": 0.01,
                "stable": stable_errors,
                "threshold": stable_errors * 1.1,
                "samples": {"candidate": 40, "stable": 160},
                "note": "within the stable's rate",
            },
        ],
    }


def test_measurements_are_tabled_and_charted_then_promote_ends_it(fresh_scene: Scene) -> None:
    start = datetime(2026, 1, 2, 10, 0, 0, tzinfo=UTC)
    with Client.from_project(fresh_scene.project_file, env={}) as client:
        with client.store.write() as connection:  # as the controller records them
            update_release(
                connection,
                fresh_scene.release_id,
                measurements=[
                    _measurement(start, 0.2, 0.02, "successful"),
                    _measurement(start + timedelta(minutes=1), 0.45, 0.01, "inconclusive"),
                    _measurement(start + timedelta(minutes=2), 0.7, 0.015, "failed"),
                ],
            )
        ci = Ui(client, fresh_scene).browser("ci")
        page = f"/ui/releases/{fresh_scene.release_id}"
        html = ci.get(page).text
        analysis = html[html.index("<h2>Analysis</h2>") : html.index("<h2>Events</h2>")]
        assert analysis.count("<svg") == 2  # one chart per check
        assert 'aria-label="latency_p95 &lt;= 0.5"' in analysis
        assert "threshold 0.5" in analysis  # a fixed threshold is the chart's line
        assert "10:00:00" in analysis and "10:02:00" in analysis  # x: time of day, UTC
        assert 'stroke-dasharray="6 4"' in analysis  # stable, where the check reads it
        for verdict in ("successful", "inconclusive", "failed"):
            assert f'class="badge phase-{verdict}"' in analysis
        assert "2026-01-02 10:02:00 UTC" in analysis and "10:01:00 to 10:02:00" in analysis
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in analysis and XSS not in analysis
        assert analysis.index("10:02:00 UTC") < analysis.index("10:00:00 UTC")  # newest first
        overview = ci.get("/ui/").text  # the latest checks, at a glance
        checks = overview[overview.index('<ul class="small checks">') :]
        assert "<code>latency_p95 &lt;= 0.5</code>: 0.7" in checks
        assert 'class="badge phase-failed"' in checks

        html = _lever(ci, fresh_scene.release_id, "promote", reason="enough evidence")
        assert f"Release #{fresh_scene.release_id} promoting: v2 becomes the stable" in html
        assert client.releases.get(fresh_scene.release_id).phase is Phase.PROMOTING
        assert _levers(html, fresh_scene.release_id) == {"abort"}
        client.controller().tick()
        html = ci.get(page).text
        assert "phase-succeeded" in html and "data-live" not in html
        assert "All traffic on" in html and "v2</a> (stable)" in html
        assert client.registry.alias_version(MODEL, "production") == 2


def test_an_operator_pauses_resumes_and_aborts(fresh_scene: Scene) -> None:
    release_id = fresh_scene.release_id
    with Client.from_project(fresh_scene.project_file, env={}) as client:
        ui = Ui(client, fresh_scene)
        ci = ui.browser("ci")
        assert _levers(ci.get(f"/ui/releases/{release_id}").text, release_id) == {
            "pause",
            "promote",
            "abort",
        }
        html = _lever(ci, release_id, "pause", reason="looking at a dashboard")
        assert f"Release #{release_id} paused" in html
        assert client.releases.get(release_id).phase is Phase.PAUSED
        assert _levers(html, release_id) == {"resume", "promote", "abort"}
        assert "looking at a dashboard" in html

        html = _lever(ci, release_id, "resume")
        assert f"Release #{release_id} resumed" in html
        assert client.releases.get(release_id).phase is Phase.PROGRESSING

        # Refused: a viewer, and a form without this session's CSRF token.
        viewer = ui.browser("viewer")
        answer = viewer.post(
            f"/ui/releases/{release_id}/abort", data={"csrf": csrf(viewer), "reason": "x"}
        )
        assert answer.status_code == 403
        for data in ({"reason": "x"}, {"csrf": csrf(viewer), "reason": "x"}):
            assert ci.post(f"/ui/releases/{release_id}/abort", data=data).status_code == 403
        assert client.releases.get(release_id).phase is Phase.PROGRESSING
        assert _traffic(client).canary_weight == 20

        html = _lever(ci, release_id, "abort", reason=XSS)
        assert f"Release #{release_id} aborted: all traffic back on v1" in html
        traffic = _traffic(client)
        assert (traffic.stable, traffic.canary, traffic.canary_weight) == (1, None, 0)
        assert "All traffic on" in html and "v1</a> (stable)" in html
        assert "data-live" not in html and not _levers(html, release_id)
        assert "release.aborted" in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and XSS not in html

        html = _lever(ci, release_id, "abort")  # too late now: a clear refusal
        assert "flash error" in html and "is aborted: it cannot become aborted" in html
