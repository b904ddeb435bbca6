"""Logging in with an API token, and out: the only UI routes an anonymous visitor reaches."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlrelease.auth import token_hash
from mlrelease.errors import Unauthorized
from mlrelease.ui.routing import csrf_ok, finish, local_path, open_view
from mlrelease.ui.sessions import Flash, Session

__all__ = ["routes"]


async def _login(request: Request) -> Response:
    view = await open_view(request)
    wanted = request.query_params.get("next") or view.form.get("next")
    target = local_path(wanted, view.root) or "/"
    if request.method == "GET":
        if view.actor is not None:
            return finish(view, view.redirect(target))
        return finish(view, view.render("login.html", next=view.href(target)))
    if not csrf_ok(view):
        response = view.render(
            "login.html", status=403, next=view.href(target), error="The form expired: try again."
        )
        return finish(view, response)
    secret = view.form.get("token", "").strip()
    try:
        actor = await run_in_threadpool(view.state.tokens.authenticate, secret)
    except Unauthorized:
        response = view.render(
            "login.html",
            status=401,
            next=view.href(target),
            error="That token is unknown or revoked. An admin creates one with "
            "'mlrelease token create --name NAME --role ROLE'.",
        )
        return finish(view, response)
    session = Session.logged_in(token_hash(secret), now=view.state.codec.clock())
    view.new_session = session.with_flash(Flash(f"Logged in as {actor.name} ({actor.role.name})."))
    return finish(view, view.redirect(target))


async def _logout(request: Request) -> Response:
    view = await open_view(request)
    if csrf_ok(view):
        view.new_session = Session.anonymous().with_flash(Flash("Logged out."))
    return finish(view, view.redirect("/login"))


routes = [
    Route("/login", _login, methods=["GET", "POST"], name="login"),
    Route("/logout", _logout, methods=["POST"], name="logout"),
]
