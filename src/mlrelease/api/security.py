"""Who is calling, and whether their role is enough: the dependencies every route declares.

A route states its minimum role once, in its signature (``actor: Operator``);
:class:`GuardedRoute` then writes that role into the route's OpenAPI operation
as ``x-min-role``, and refuses a route that states none, so no route is ever
open by omission.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mlrelease.auth import Actor, Role, Tokens, require
from mlrelease.client import Client

__all__ = [
    "Admin",
    "Approver",
    "ClientDep",
    "GuardedRoute",
    "Operator",
    "RoleRequirement",
    "Viewer",
    "requires",
]

MIN_ROLE_KEY = "x-min-role"

# auto_error=False: a missing token is answered by our error handler, in our shape.
_bearer = HTTPBearer(
    auto_error=False,
    description="An API token from 'mlrelease token create' (or POST /api/tokens).",
)


def get_client(request: Request) -> Client:
    return cast(Client, request.app.state.client)


def get_tokens(request: Request) -> Tokens:
    return cast(Tokens, request.app.state.tokens)


class RoleRequirement:
    """Dependency: the calling token's actor, if its role is at least ``role``."""

    def __init__(self, role: Role) -> None:
        self.role = role

    # A plain ``def``: FastAPI runs it in a worker thread, so the token lookup in the
    # store never blocks the event loop.
    def __call__(
        self,
        tokens: Annotated[Tokens, Depends(get_tokens)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Actor:
        actor = tokens.authenticate(credentials.credentials if credentials else None)
        require(actor, self.role)
        return actor


def requires(role: Role) -> RoleRequirement:
    return RoleRequirement(role)


ClientDep = Annotated[Client, Depends(get_client)]
Viewer = Annotated[Actor, Depends(requires(Role.viewer))]
Operator = Annotated[Actor, Depends(requires(Role.operator))]
Approver = Annotated[Actor, Depends(requires(Role.approver))]
Admin = Annotated[Actor, Depends(requires(Role.admin))]


class GuardedRoute(APIRoute):
    """An API route that must declare a minimum role; it is published as ``x-min-role``.

    Checked when the route is defined, so a route without ``requires(...)`` never
    gets as far as an app.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        roles = [call.role for call in _calls(self.dependant) if isinstance(call, RoleRequirement)]
        if not roles:
            raise TypeError(f"route {path} declares no minimum role (an Actor from requires())")
        self.openapi_extra = {**(self.openapi_extra or {}), MIN_ROLE_KEY: max(roles).name}


def _calls(dependant: Dependant) -> Iterator[object]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)
