"""Approvals: the promotions that wait, with their evidence, and the approve / reject forms.

The page only hides buttons a person may not use; the promotion service stays the
real guard (an approver cannot approve their own request unless the environment
allows it; each person decides once; a rejection needs a reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from starlette.responses import Response

from mlrelease.auth import Role
from mlrelease.client import Client
from mlrelease.errors import ConfigError
from mlrelease.evaluation import Task
from mlrelease.promotion import PromotionInfo, PromotionStatus
from mlrelease.release.records import ReleaseInfo
from mlrelease.ui.pages._versions import MetricDelta, compare_metrics
from mlrelease.ui.routing import Pages, View

__all__ = ["pages", "what_happened"]

pages = Pages()

RECENT = 20  # decided requests shown below the waiting ones


@dataclass(frozen=True)
class Waiting:
    request: PromotionInfo
    metrics: list[MetricDelta]
    may_approve: bool  # for an approver: the service would accept their approval
    may_reject: bool
    note: str | None  # why not, when they may not


@pages.get("/approvals")
def approvals(view: View) -> Response:
    client = view.client
    me = view.actor.name if view.actor else ""
    waiting = [_waiting(client, request, me) for request in client.promotion_requests()]
    decided = [
        request
        for request in client.promotion_requests(status=None)
        if request.status is not PromotionStatus.PENDING
    ][:RECENT]
    releases = {r.promotion_id: r for r in client.releases.list(limit=100) if r.promotion_id}
    return view.render("approvals.html", waiting=waiting, decided=decided, releases=releases)


@pages.post("/approvals/{request_id:int}/approve", role=Role.approver)
def approve(view: View, request_id: int) -> Response:
    outcome = view.client.approve(
        request_id, reason=view.form.get("reason", "").strip(), actor=view.actor_name
    )
    return view.redirect(
        view.back("/approvals"), done="Approved: " + what_happened(view.client, outcome)
    )


@pages.post("/approvals/{request_id:int}/reject", role=Role.approver)
def reject(view: View, request_id: int) -> Response:
    reason = view.form.get("reason", "").strip()
    if not reason:
        raise ConfigError("a rejection needs a reason: say why, for the history")
    outcome = view.client.reject(request_id, reason=reason, actor=view.actor_name)
    return view.redirect(
        view.back("/approvals"),
        done=f"Rejected: {outcome.model} v{outcome.version} will not go to {outcome.environment}",
    )


def _waiting(client: Client, request: PromotionInfo, me: str) -> Waiting:
    """A waiting request, its evidence, and what ``me`` may still do to it."""
    metrics = _comparison(client, request)
    mine = next((d for d in request.decisions if d.actor == me), None)
    if mine is not None:
        note = f"You already decided on this request ({mine.decision}d); each person decides once."
        return Waiting(request, metrics, may_approve=False, may_reject=False, note=note)
    if me == request.requested_by and not request.allow_self_approval:
        note = (
            f"You asked for this promotion, so you cannot approve it: {request.environment} "
            "needs the approval of someone else. You can still reject (withdraw) it."
        )
        return Waiting(request, metrics, may_approve=False, may_reject=True, note=note)
    return Waiting(request, metrics, may_approve=True, may_reject=True, note=None)


def _comparison(client: Client, request: PromotionInfo) -> list[MetricDelta]:
    """The live version's metrics (a, the champion it would replace) beside the candidate's
    (b), with b - a and whether the candidate is better."""
    candidate = client.version(request.model, request.version).metrics
    champion = (
        client.version(request.model, request.from_version).metrics
        if request.from_version is not None
        else {}
    )
    task = cast(Task, client.registry.model(request.model).task)
    return compare_metrics(champion, candidate, task)


def what_happened(client: Client, outcome: PromotionInfo) -> str:
    """What a promotion or an approval did: the alias moved, a release started, or it waits."""
    subject = f"{outcome.model} v{outcome.version}"
    if outcome.status is PromotionStatus.PROMOTED:
        return f"{subject} is now live in {outcome.environment}"
    if outcome.status is PromotionStatus.RELEASING:
        release = _release_of(client, outcome)
        started = f"release #{release.id} started" if release else "its release started"
        return (
            f"{started}, moving {outcome.environment} from "
            f"v{outcome.from_version} to v{outcome.version} step by step"
        )
    return (
        f"{subject} to {outcome.environment} waits for {outcome.approvals_missing} more approval(s)"
    )


def _release_of(client: Client, outcome: PromotionInfo) -> ReleaseInfo | None:
    releases = client.releases.list(model=outcome.model, environment=outcome.environment, limit=10)
    return next((r for r in releases if r.promotion_id == outcome.id), None)
