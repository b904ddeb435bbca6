"""The approvals page: what waits with its evidence; who may approve or reject, and what it does."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from mlrelease.client import Client
from mlrelease.promotion import PromotionStatus

from ._scene import IRIS, MODEL, Scene
from .conftest import Ui, csrf

XSS = "<script>alert(1)</script>"


def _card(html: str, request_id: int) -> str:
    """The HTML of one waiting request's card."""
    start = html.index(f'id="request-{request_id}"')
    return html[start : html.index("</section>", start)]


def _decide(http: TestClient, request_id: int, decision: str, reason: str = "") -> str:
    """POST a decision as the page's form does; the text of the flash it lands on."""
    answer = http.post(
        f"/ui/approvals/{request_id}/{decision}",
        data={"csrf": csrf(http), "next": "/ui/approvals", "reason": reason},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/ui/approvals"
    page = http.get(answer.headers["location"]).text
    return page[page.index('<p class="flash') : page.index("</p>", page.index('<p class="flash'))]


def test_the_waiting_request_is_shown_with_its_evidence(ui: Ui) -> None:
    html = ui.browser("lead").get("/ui/approvals").text
    card = _card(html, ui.scene.waiting_request)
    assert f'href="/ui/models/{IRIS}/versions/1"' in card
    assert "production" in card and "first iris release" in card
    assert "<strong>ci</strong>" in card  # who asked
    assert "0 of 1" in card
    assert "accuracy &gt;= 0.8" in card and "passed" in card  # its gate results
    assert "Nothing is live in production yet" in card  # no champion to compare with
    assert "<code>accuracy</code>" in card  # the candidate's metrics
    assert f'action="/ui/approvals/{ui.scene.waiting_request}/approve"' in card
    assert f'action="/ui/approvals/{ui.scene.waiting_request}/reject"' in card
    # Below: requests already decided, with their outcome (the canary's is releasing).
    decided = html[html.index("Recently decided") :]
    assert "releasing" in decided and f'href="/ui/releases/{ui.scene.release_id}"' in decided
    assert "lead</strong> approved: canary it" in decided


@pytest.mark.parametrize("who", ["viewer", "ci"])
def test_a_viewer_or_operator_sees_no_buttons_and_cannot_decide(ui: Ui, who: str) -> None:
    http = ui.browser(who)
    html = http.get("/ui/approvals").text
    assert "/approve" not in html and "/reject" not in html
    assert "needs the approver role" in html
    for decision in ("approve", "reject"):
        answer = http.post(
            f"/ui/approvals/{ui.scene.waiting_request}/{decision}",
            data={"csrf": csrf(http), "reason": "x"},
        )
        assert answer.status_code == 403
    request = ui.client.promotions.request(ui.scene.waiting_request)
    assert request.status is PromotionStatus.PENDING and not request.decisions


def test_a_form_without_the_sessions_csrf_token_is_refused(ui: Ui) -> None:
    http = ui.browser("lead")
    for data in ({}, {"csrf": "forged"}):
        answer = http.post(f"/ui/approvals/{ui.scene.waiting_request}/approve", data=data)
        assert answer.status_code == 403
    assert ui.client.promotions.request(ui.scene.waiting_request).status is PromotionStatus.PENDING


def test_the_requester_cannot_approve_and_another_approver_makes_it_live(
    fresh_scene: Scene,
) -> None:
    with Client.from_project(fresh_scene.project_file, env={}) as client:
        ui = Ui(client, fresh_scene)
        client.reject(fresh_scene.waiting_request, reason="ask again as lead", actor="alice")
        mine = client.promote(IRIS, 1, "production", actor="lead", reason=XSS)
        lead = ui.browser("lead")
        card = _card(lead.get("/ui/approvals").text, mine.id)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in card and XSS not in card
        assert "/approve" not in card  # no button for the requester...
        assert "You asked for this promotion, so you cannot approve it" in card
        assert f'action="/ui/approvals/{mine.id}/reject"' in card  # ...who may withdraw it

        # The service is the real guard: a forged POST is refused, and nothing changes.
        flash = _decide(lead, mine.id, "approve")
        assert "flash error" in flash and "needs the approval of someone else" in flash
        assert client.promotions.request(mine.id).status is PromotionStatus.PENDING
        assert IRIS not in {m.name for m in client.models() if "production" in m.aliases}

        flash = _decide(ui.browser("alice"), mine.id, "approve", reason="checked")
        assert "flash error" not in flash and "iris v1 is now live in production" in flash
        assert client.registry.alias_version(IRIS, "production") == 1
        after = ui.browser("viewer").get("/ui/approvals").text
        assert "Nothing waits for approval" in after
        assert "alice</strong> approved: checked" in after


def test_a_rejection_needs_a_reason(fresh_scene: Scene) -> None:
    with Client.from_project(fresh_scene.project_file, env={}) as client:
        lead = Ui(client, fresh_scene).browser("lead")
        waiting = fresh_scene.waiting_request
        flash = _decide(lead, waiting, "reject", reason="  ")
        assert "flash error" in flash and "a rejection needs a reason" in flash
        assert client.promotions.request(waiting).status is PromotionStatus.PENDING

        flash = _decide(lead, waiting, "reject", reason=XSS)
        assert "Rejected: iris v1 will not go to production" in flash
        assert client.promotions.request(waiting).status is PromotionStatus.REJECTED
        html = lead.get("/ui/approvals").text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and XSS not in html

        flash = _decide(lead, waiting, "approve")  # decided already: a clear refusal
        assert "flash error" in flash and "already rejected" in flash


def test_approving_into_a_canary_environment_starts_a_release(fresh_scene: Scene) -> None:
    with Client.from_project(fresh_scene.project_file, env={}) as client:
        ui = Ui(client, fresh_scene)
        client.releases.abort(fresh_scene.release_id, actor="ci", reason="make room")
        request = client.promote(MODEL, 3, "production", actor="ci", reason="v3 is better")
        card = _card(ui.browser("alice").get("/ui/approvals").text, request.id)
        # The evidence compares the candidate with the champion live in production (v1).
        assert "v3 (candidate)" in card and "v1 (live)" in card
        assert f"/ui/models/{MODEL}/compare?a=1&amp;b=3" in card
        v1, v3 = client.version(MODEL, 1).metrics, client.version(MODEL, 3).metrics
        assert f"{v3['accuracy'] - v1['accuracy']:+.4g}" in card

        flash = _decide(ui.browser("alice"), request.id, "approve")
        release = client.releases.list(model=MODEL, limit=1)[0]
        assert release.id != fresh_scene.release_id and release.candidate_version == 3
        assert f"release #{release.id} started" in flash
        assert client.promotions.request(request.id).status is PromotionStatus.RELEASING
