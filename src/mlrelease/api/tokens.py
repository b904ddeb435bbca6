"""Routes about identity: who am I, and the tokens an admin hands out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from mlrelease.api.errors import ERROR_RESPONSES
from mlrelease.api.schemas import TokenCreatedOut, TokenIn, TokenOut, WhoAmIOut
from mlrelease.api.security import Admin, GuardedRoute, Viewer, get_tokens
from mlrelease.auth import Role, Tokens

__all__ = ["router"]

router = APIRouter(tags=["tokens"], route_class=GuardedRoute, responses=ERROR_RESPONSES)

TokensDep = Annotated[Tokens, Depends(get_tokens)]


@router.get("/whoami", summary="The calling token's name and role")
def whoami(actor: Viewer) -> WhoAmIOut:
    return WhoAmIOut.model_validate(actor)


@router.get("/tokens", summary="Every token, active or revoked (never the secrets)")
def list_tokens(tokens: TokensDep, _: Admin) -> list[TokenOut]:
    return [TokenOut.model_validate(info) for info in tokens.list()]


@router.post("/tokens", status_code=201, summary="Create a token; its secret is shown only here")
def create_token(body: TokenIn, tokens: TokensDep, actor: Admin) -> TokenCreatedOut:
    info, secret = tokens.create(body.name, Role.parse(body.role), actor=actor.name)
    return TokenCreatedOut.model_validate({**info.to_dict(), "secret": secret})


@router.delete("/tokens/{name}", summary="Revoke a token at once")
def revoke_token(name: str, tokens: TokensDep, actor: Admin) -> TokenOut:
    return TokenOut.model_validate(tokens.revoke(name, actor=actor.name))
