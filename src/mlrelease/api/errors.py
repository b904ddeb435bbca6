"""The one place where an exception becomes an HTTP answer, in the one JSON error shape.

Every failure -- an ``MlreleaseError`` from the core, a request FastAPI cannot
validate, an unknown path, a bug -- is answered as
``{"error": {"code", "message", "details"}}`` with the error's HTTP status.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from mlrelease.api.schemas import ErrorOut
from mlrelease.errors import MlreleaseError, RequestError, Unauthorized

__all__ = ["ERROR_RESPONSES", "install_error_handler"]

log = logging.getLogger("mlrelease.api")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}

# Documented on every operation (this also replaces FastAPI's own 422 shape there).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in {
        401: "No token, or an unknown or revoked one.",
        403: "The token's role is below the operation's x-min-role.",
        404: "No such model, version, promotion request or token.",
        409: "The current state does not allow it (e.g. a promotion rule is not met).",
        422: "The request is not valid, or a quality gate failed (code gate_failed).",
    }.items()
}


def install_error_handler(app: FastAPI) -> None:
    for kind in (MlreleaseError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(kind, error_response)


async def error_response(request: Request, exc: Exception) -> JSONResponse:
    status, code, message, details = _describe(request, exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == Unauthorized.http_status else None
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def _describe(request: Request, exc: Exception) -> tuple[int, str, str, dict[str, Any]]:
    if isinstance(exc, MlreleaseError):
        return exc.http_status, exc.code, exc.message, exc.details
    if isinstance(exc, RequestValidationError):
        errors = jsonable_encoder(exc.errors())
        return 422, RequestError.code, _first_problem(errors), {"errors": errors}
    if isinstance(exc, HTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return exc.status_code, code, str(exc.detail), {}
    # A bug: logged here with its traceback, never sent to the client.
    log.error("unexpected error answering %s", request.url.path, exc_info=exc)
    return 500, "internal", "internal error; the server log has the details", {}


def _first_problem(errors: list[dict[str, Any]]) -> str:
    """One line a person can act on, e.g. ``body.version: Input should be a valid integer``."""
    if not errors:
        return "the request is not valid"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"
