"""How a page is declared, and what every page gets for free: login, role, CSRF, errors.

A page module makes a :class:`Pages` and declares its handlers on it::

    pages = Pages()

    @pages.get("/models/{model}")
    def model_page(view: View, model: str) -> Response: ...

    @pages.post("/approvals/{request_id:int}/approve", role=Role.approver)
    def approve(view: View, request_id: int) -> Response: ...

Each declaration names its minimum role (viewer unless said otherwise), so no
page is ever open by omission. Before a handler runs, :class:`UiRoute` has:

* sent an anonymous visitor to the login page (a 303, nothing rendered);
* answered 403 to an actor whose role is too low;
* for a POST: read the form and refused it (403) unless it carries the session's
  CSRF token and, when the browser sends one, an ``Origin`` of this very host.

Handlers are plain functions run in a worker thread (they read the store); an
:class:`~mlrelease.errors.MlreleaseError` they raise becomes an error page, or
for a form, a message on the page the form came from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from mlrelease.auth import Actor, Role, Tokens
from mlrelease.client import Client
from mlrelease.errors import MlreleaseError, Unauthorized
from mlrelease.ui.rendering import Renderer
from mlrelease.ui.sessions import Flash, Session, SessionCodec

__all__ = [
    "COOKIE",
    "Pages",
    "UiRoute",
    "UiState",
    "View",
    "csrf_ok",
    "finish",
    "local_path",
    "open_view",
]

COOKIE = "mlrelease_session"

Handler = Callable[..., Response]


@dataclass
class UiState:
    """What the UI app holds for its lifetime (``app.state.ui``)."""

    client: Client
    codec: SessionCodec
    renderer: Renderer
    tokens: Tokens = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = Tokens(self.client.store)


@dataclass
class View:
    """One request as a page handler sees it.

    ``render`` passes ``view``, ``actor``, ``csrf``, ``flash``, ``href`` and ``can`` to
    every template: a page's own context must not reuse those names.
    """

    request: Request
    state: UiState
    session: Session
    actor: Actor | None
    form: Mapping[str, str] = field(default_factory=dict)
    new_session: Session | None = None  # set to replace the cookie with the response

    @property
    def client(self) -> Client:
        return self.state.client

    @property
    def root(self) -> str:
        """Where the UI is mounted (``/ui``), for building links."""
        return cast(str, self.request.scope.get("root_path", ""))

    @property
    def actor_name(self) -> str:
        """Who acts: every UiRoute lets only a logged-in actor reach its handler."""
        if self.actor is None:
            raise Unauthorized("log in first")
        return self.actor.name

    def href(self, path: str) -> str:
        return f"{self.root}{path}"

    def can(self, role: Role | str) -> bool:
        return self.actor is not None and self.actor.role >= Role.parse(role)

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        flash = self.session.flash
        if flash is not None:  # shown once: the cookie goes back without it
            self.new_session = (self.new_session or self.session).with_flash(None)
        html = self.state.renderer.render(
            template,
            view=self,
            actor=self.actor,
            csrf=(self.new_session or self.session).csrf,
            flash=flash,
            href=self.href,
            can=self.can,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def redirect(self, path: str, *, done: str | None = None, error: str | None = None) -> Response:
        """303 to ``path`` (within the UI), with a message for the page it lands on."""
        if done is not None or error is not None:
            flash = Flash(error or done or "", error=error is not None)
            self.new_session = (self.new_session or self.session).with_flash(flash)
        return RedirectResponse(self.href(path), status_code=303)

    def back(self, fallback: str) -> str:
        """The form's ``next`` field if it is a path inside the UI, else ``fallback``."""
        return local_path(self.form.get("next"), self.root) or fallback


def local_path(target: str | None, root: str) -> str | None:
    """``target`` without the UI's root if it is a plain path inside the UI, else None.

    Refuses anything that could leave the site: schemes, ``//host``, backslashes.
    """
    if not target or "\\" in target or not target.startswith(root + "/"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    return target[len(root) :]


class UiRoute(Route):
    """A UI route: states its minimum role; checks login, role and CSRF before the handler."""

    def __init__(self, path: str, handler: Handler, *, role: Role, method: str) -> None:
        self.min_role = role
        self.handler = handler
        super().__init__(path, self._endpoint, methods=[method], name=handler.__name__)

    async def _endpoint(self, request: Request) -> Response:
        view = await open_view(request)
        if view.actor is None:
            response = _to_login(view)
        elif view.actor.role < self.min_role:
            response = _forbidden(view, f"this needs the {self.min_role.name} role")
        elif request.method == "POST" and not csrf_ok(view):
            response = _forbidden(view, "the form has expired or came from another site: reload it")
        else:
            response = await run_in_threadpool(self._call, view)
        return finish(view, response)

    def _call(self, view: View) -> Response:
        try:
            return self.handler(view, **view.request.path_params)
        except MlreleaseError as exc:
            if view.request.method == "POST":  # back to the page the form was on
                return view.redirect(view.back("/"), error=exc.message)
            return view.render("error.html", status=exc.http_status, message=exc.message)


async def open_view(request: Request) -> View:
    """The request's session (a new one if it has none or a forged one), actor and form."""
    state = cast(UiState, request.app.state.ui)
    session = state.codec.decode(request.cookies.get(COOKIE))
    view = View(request, state, session or Session.anonymous(), actor=None)
    if session is None:
        view.new_session = view.session
    view.actor = await run_in_threadpool(_actor, state.tokens, view.session)
    if request.method == "POST":
        form = await request.form()
        view.form = {key: value for key, value in form.items() if isinstance(value, str)}
    return view


def csrf_ok(view: View) -> bool:
    """A form may change state: it carries the session's CSRF token, from this very site."""
    return same_origin(view.request) and view.session.csrf_matches(view.form.get("csrf"))


def _actor(tokens: Tokens, session: Session) -> Actor | None:
    if session.token_hash is None:
        return None
    try:
        return tokens.authenticate_hash(session.token_hash)
    except Unauthorized:  # revoked since login
        return None


def _to_login(view: View) -> Response:
    target = view.request.url.path
    if view.request.url.query:
        target += "?" + view.request.url.query
    wanted = f"?next={quote(target, safe='')}" if view.request.method == "GET" else ""
    return RedirectResponse(view.href(f"/login{wanted}"), status_code=303)


def _forbidden(view: View, message: str) -> Response:
    return view.render("error.html", status=403, message=message)


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another origin."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def finish(view: View, response: Response) -> Response:
    """Set the session cookie if it changed, and the headers every UI page carries."""
    if view.new_session is not None:
        response.set_cookie(
            COOKIE,
            view.state.codec.encode(view.new_session),
            max_age=None,
            path=view.root or "/",
            httponly=True,
            samesite="strict",
            secure=view.request.url.scheme == "https",
        )
    response.headers.update(SECURITY_HEADERS)
    return response


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Pages:
    """The routes of one page module, each with its minimum role."""

    def __init__(self) -> None:
        self.routes: list[UiRoute] = []

    def get(self, path: str, *, role: Role = Role.viewer) -> Callable[[Handler], Handler]:
        return self._add(path, role, "GET")

    def post(self, path: str, *, role: Role) -> Callable[[Handler], Handler]:
        return self._add(path, role, "POST")

    def _add(self, path: str, role: Role, method: str) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            self.routes.append(UiRoute(path, handler, role=role, method=method))
            return handler

        return declare
