"""The control-plane routes over a real store (SQLite and PostgreSQL), in-process."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from mlrelease.auth import Role
from mlrelease.monitoring.monitor import Monitor
from mlrelease.notify import DeliveryPump, Outbox
from mlrelease.spec import MonitoringSpec, NotifySpec, WebhookSpec

from ..receivers import Receiver
from ._setup import MODEL, assert_error_shape
from .conftest import Api


def _promote(api: Api, version: int, env: str, who: str = "ci") -> dict[str, object]:
    answer = api.http.post(
        "/api/promotions",
        json={"model": MODEL, "version": version, "environment": env, "reason": "ship it"},
        headers=api.as_(who),
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_whoami_names_the_token_and_its_role(api: Api) -> None:
    answer = api.http.get("/api/whoami", headers=api.as_("alice"))
    assert answer.json() == {"name": "alice", "role": "approver"}


def test_models_and_versions_are_read_without_the_data_profile(api: Api) -> None:
    viewer = api.as_role(Role.viewer)
    [model] = api.http.get("/api/models", headers=viewer).json()
    assert model["name"] == MODEL and model["latest_version"] == 2 and model["aliases"] == {}
    assert api.http.get(f"/api/models/{MODEL}", headers=viewer).json() == model
    versions = api.http.get(f"/api/models/{MODEL}/versions", headers=viewer).json()
    assert [v["version"] for v in versions] == [1, 2]
    detail = api.http.get(f"/api/models/{MODEL}/versions/2", headers=viewer).json()
    assert detail["status"] == "ready" and detail["metrics"]["accuracy"] < 1
    assert detail["gate_results"][0]["gate"] == "accuracy > champion.accuracy"
    assert detail["lineage"] == {"registered_from": "python"}
    assert "profile" not in detail


def test_unknown_models_and_versions_are_404_in_the_error_shape(api: Api) -> None:
    viewer = api.as_role(Role.viewer)
    answer = api.http.get("/api/models/nope/versions", headers=viewer)
    assert answer.status_code == 404
    assert_error_shape(answer.json(), "model_not_found")
    answer = api.http.get(f"/api/models/{MODEL}/versions/9", headers=viewer)
    assert answer.status_code == 404
    assert_error_shape(answer.json(), "version_not_found")


def test_invalid_requests_are_422_in_the_error_shape(api: Api) -> None:
    answer = api.http.post(
        "/api/promotions",
        json={"model": MODEL, "version": "one", "environment": "dev", "extra": 1},
        headers=api.as_("ci"),
    )
    assert answer.status_code == 422
    body = answer.json()
    assert_error_shape(body, "invalid_request")
    assert body["error"]["message"].startswith("body.version: ")
    assert len(body["error"]["details"]["errors"]) == 2  # the bad version, the extra field


def test_dev_to_production_with_the_approval_of_someone_else(api: Api) -> None:
    assert _promote(api, 1, "dev")["status"] == "promoted"
    assert _promote(api, 1, "staging")["status"] == "promoted"
    waiting = _promote(api, 1, "production")
    assert waiting["status"] == "pending" and waiting["requested_by"] == "ci"

    listed = api.http.get("/api/promotions", headers=api.as_("viewer")).json()
    assert [item["id"] for item in listed] == [waiting["id"]]
    approve = f"/api/promotions/{waiting['id']}/approve"
    answer = api.http.post(approve, json={}, headers=api.as_("ci"))
    assert answer.status_code == 403  # an operator cannot approve
    answer = api.http.post(approve, json={"reason": "looks good"}, headers=api.as_("alice"))
    assert answer.status_code == 200, answer.text
    done = answer.json()
    assert done["status"] == "promoted" and done["approvals"] == 1
    assert done["decisions"][0]["actor"] == "alice"

    live = api.http.get(f"/api/models/{MODEL}/live", headers=api.as_("viewer")).json()
    assert live["environments"] == {"dev": 1, "staging": 1, "production": 1}
    events = api.http.get(
        "/api/events",
        params={"model": MODEL, "environment": "production"},
        headers=api.as_("viewer"),
    ).json()
    assert [(e["kind"], e["actor"]) for e in events][-2:] == [
        ("promotion.approved", "alice"),
        ("promotion.promoted", "alice"),
    ]


def test_the_requester_cannot_approve_their_own_production_request(api: Api) -> None:
    _promote(api, 1, "dev")
    _promote(api, 1, "staging")
    waiting = _promote(api, 1, "production", who="alice")
    answer = api.http.post(
        f"/api/promotions/{waiting['id']}/approve", json={}, headers=api.as_("alice")
    )
    assert answer.status_code == 409
    assert_error_shape(answer.json(), "promotion_refused")
    answer = api.http.post(
        f"/api/promotions/{waiting['id']}/approve", json={}, headers=api.as_("bob")
    )
    assert answer.json()["status"] == "promoted"


def test_a_failed_gate_is_422_with_every_result(api: Api) -> None:
    _promote(api, 1, "dev")
    answer = api.http.post(
        "/api/promotions",
        json={"model": MODEL, "version": 2, "environment": "dev"},
        headers=api.as_("ci"),
    )
    assert answer.status_code == 422
    body = answer.json()
    assert_error_shape(body, "gate_failed")
    assert body["error"]["details"]["gates"][0]["passed"] is False


def test_a_rejection_needs_a_reason_and_closes_the_request(api: Api) -> None:
    _promote(api, 1, "dev")
    _promote(api, 1, "staging")
    waiting = _promote(api, 1, "production")
    reject = f"/api/promotions/{waiting['id']}/reject"
    answer = api.http.post(reject, json={"reason": ""}, headers=api.as_("alice"))
    assert answer.status_code == 422
    assert_error_shape(answer.json(), "invalid_config")
    answer = api.http.post(reject, json={"reason": "not this week"}, headers=api.as_("alice"))
    assert answer.json()["status"] == "rejected"
    got = api.http.get(f"/api/promotions/{waiting['id']}", headers=api.as_("viewer")).json()
    assert got["status"] == "rejected" and got["decisions"][0]["reason"] == "not this week"
    statuses = api.http.get(
        "/api/promotions", params={"status": "all"}, headers=api.as_("viewer")
    ).json()
    assert [item["status"] for item in statuses] == ["rejected", "promoted", "promoted"]


def test_rollback_and_what_was_live_before_it(api: Api) -> None:
    _promote(api, 1, "dev")
    before_v2 = datetime.now(UTC)
    api.client.registry.set_alias(MODEL, "dev", 2, actor="tester")
    answer = api.http.post(
        f"/api/models/{MODEL}/rollback",
        json={"environment": "dev", "reason": "v2 misbehaves"},
        headers=api.as_("ci"),
    )
    assert answer.status_code == 200, answer.text
    event = answer.json()
    assert (event["kind"], event["actor"], event["to_version"]) == ("alias.rolled_back", "ci", 1)
    live = api.http.get(
        f"/api/models/{MODEL}/live",
        params={"at": before_v2.replace(tzinfo=None).isoformat()},  # no offset: UTC
        headers=api.as_("viewer"),
    ).json()
    assert live["environments"] == {"dev": 1}
    earlier = (before_v2 - timedelta(hours=1)).isoformat()
    live = api.http.get(
        f"/api/models/{MODEL}/live", params={"at": earlier}, headers=api.as_("viewer")
    ).json()
    assert live["environments"] == {}


def test_archiving_needs_an_admin_and_cancels_waiting_requests(api: Api) -> None:
    for env in ("dev", "staging"):  # v2 goes first: no champion to beat yet
        _promote(api, 2, env)
    waiting = _promote(api, 2, "production")
    for env in ("dev", "staging"):  # then v1 replaces it, so v2 is live nowhere
        api.client.registry.set_alias(MODEL, env, 1, actor="tester")
    url = f"/api/models/{MODEL}/versions/2/archive"
    assert api.http.post(url, json={}, headers=api.as_("alice")).status_code == 403
    answer = api.http.post(url, json={"reason": "retired"}, headers=api.as_("root"))
    assert answer.json() == {"model": MODEL, "version": 2, "cancelled_requests": 1}
    got = api.http.get(f"/api/promotions/{waiting['id']}", headers=api.as_("viewer")).json()
    assert got["status"] == "cancelled"
    answer = api.http.post(
        f"/api/models/{MODEL}/versions/1/archive", json={}, headers=api.as_("root")
    )
    assert answer.status_code == 409  # live versions cannot be archived
    assert_error_shape(answer.json(), "conflict")


def test_archiving_a_version_that_is_not_live(api: Api) -> None:
    answer = api.http.post(
        f"/api/models/{MODEL}/versions/2/archive", json={}, headers=api.as_("root")
    )
    assert answer.json() == {"model": MODEL, "version": 2, "cancelled_requests": 0}
    detail = api.http.get(f"/api/models/{MODEL}/versions/2", headers=api.as_("viewer")).json()
    assert detail["status"] == "archived"


def test_admins_manage_tokens_and_secrets_are_shown_once(api: Api) -> None:
    admin = api.as_("root")
    answer = api.http.post(
        "/api/tokens", json={"name": "deploy", "role": "operator"}, headers=admin
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    secret = created["secret"]
    assert created["role"] == "operator" and secret.startswith(created["prefix"])
    whoami = api.http.get("/api/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert whoami.json() == {"name": "deploy", "role": "operator"}

    listed = api.http.get("/api/tokens", headers=admin)
    assert secret not in listed.text and "deploy" in listed.text
    answer = api.http.delete("/api/tokens/deploy", headers=admin)
    assert answer.json()["revoked_at"] is not None
    whoami = api.http.get("/api/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert whoami.status_code == 401
    events = api.http.get("/api/events", headers=admin).text
    assert secret not in events


def test_a_token_with_an_unknown_role_is_refused(api: Api) -> None:
    answer = api.http.post(
        "/api/tokens", json={"name": "x", "role": "god"}, headers=api.as_("root")
    )
    assert answer.status_code == 422
    assert "viewer, operator, approver, admin" in answer.json()["error"]["message"]


def test_a_change_through_the_api_is_notified_by_the_server(api: Api) -> None:
    receiver = Receiver()
    receiver.start()
    try:
        channel = NotifySpec(webhook=WebhookSpec(url=receiver.url()), on=["promoted"])
        outbox = Outbox(api.client.store, {"hook": channel})
        api.client.outbox = outbox  # what a project file's notify: section would give
        api.http.app.state.notifications = DeliveryPump(outbox, interval=60)
        try:
            _promote(api, 1, "dev")
            deadline = time.monotonic() + 10
            while not receiver.accepted() and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            api.http.app.state.notifications.stop()
    finally:
        receiver.close()
    (message,) = [request.json() for request in receiver.accepted()]
    assert (message["kind"], message["actor"], message["environment"]) == (
        "promotion.promoted",
        "ci",
        "dev",
    )


def test_the_newest_monitor_report_is_read_by_viewers(api: Api) -> None:
    viewer = api.as_role(Role.viewer)
    missing = api.http.get(f"/api/models/{MODEL}/monitor?env=dev", headers=viewer)
    assert missing.status_code == 404
    assert_error_shape(missing.json(), "not_found")
    assert "mlrelease monitor" in missing.json()["error"]["message"]

    api.client.promote(MODEL, 1, "dev")
    monitor = Monitor(api.client.registry, MODEL, "classification", MonitoringSpec())
    stored = monitor.check("dev")
    answer = api.http.get(f"/api/models/{MODEL}/monitor?env=dev", headers=viewer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == stored.id and body["version"] == 1 and body["judged"] is False
    assert body["notes"] == stored.notes  # the stored document passes through whole
