"""A client of the control-plane API with the local :class:`Client`'s promotion methods.

The CLI talks to a store directly, or -- with ``--server`` -- to an mlrelease
server through this class; both hand back the same records (``PromotionInfo``,
``EventInfo``) and raise the same typed errors: the server's ``error.code`` is
mapped back to the ``MlreleaseError`` subclass that produced it (its HTTP status
when the code is unknown).

HTTP goes through a :data:`Transport` (the standard library's ``urllib`` unless
another is passed), the seam that lets tests answer in-process.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from mlrelease import errors
from mlrelease.audit import EventInfo
from mlrelease.errors import ConfigError, MlreleaseError, StoreError, Unauthorized
from mlrelease.promotion import Decision, PromotionInfo, PromotionStatus

__all__ = ["TOKEN_VARIABLE", "HttpAnswer", "RemoteClient", "Transport", "urllib_transport"]

TOKEN_VARIABLE = "MLRELEASE_TOKEN"
DEFAULT_TIMEOUT = 120.0  # seconds: a promotion scores the model against its gates


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes


# (method, url, headers, body, timeout) -> the answer; raises OSError when unreachable.
Transport = Callable[[str, str, Mapping[str, str], bytes | None, float], HttpAnswer]


def urllib_transport(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
) -> HttpAnswer:
    # RemoteClient only builds http(s) URLs, so urlopen never reads a file: URL here.
    request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpAnswer(response.status, response.read())
    except urllib.error.HTTPError as answer:  # an HTTP error is still an answer
        with answer:
            return HttpAnswer(answer.code, answer.read())


class RemoteClient:
    """Promotions, approvals, rollbacks and history through an mlrelease server."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: Transport = urllib_transport,
    ) -> None:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ConfigError(
                f"server URL {url!r} must be http(s)://HOST[:PORT], e.g. http://127.0.0.1:8080"
            )
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._timeout = timeout
        self._transport = transport

    @classmethod
    def from_env(
        cls, server_url: str, *, env: Mapping[str, str] | None = None, **options: Any
    ) -> RemoteClient:
        """A client for ``server_url`` with the token in ``MLRELEASE_TOKEN``."""
        token = (os.environ if env is None else env).get(TOKEN_VARIABLE, "").strip()
        if not token:
            raise Unauthorized(
                f"talking to {server_url} needs an API token: export {TOKEN_VARIABLE}=TOKEN "
                "(an admin creates one with 'mlrelease token create --name NAME --role ROLE')"
            )
        return cls(server_url, token, **options)

    def close(self) -> None:
        """Nothing to release (each call is one connection); kept to match ``Client``."""

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteClient({self.url!r})"  # never the token

    # -- the methods of Client ------------------------------------------------------------

    def promote(self, model: str, version: int, to: str, *, reason: str = "") -> PromotionInfo:
        body = {"model": model, "version": version, "environment": to, "reason": reason}
        return _promotion(self._call("POST", "/api/promotions", body=body))

    def approve(self, request_id: int, *, reason: str = "") -> PromotionInfo:
        path = f"/api/promotions/{request_id}/approve"
        return _promotion(self._call("POST", path, body={"reason": reason}))

    def reject(self, request_id: int, *, reason: str) -> PromotionInfo:
        path = f"/api/promotions/{request_id}/reject"
        return _promotion(self._call("POST", path, body={"reason": reason}))

    def rollback(
        self, model: str, environment: str, *, to: int | None = None, reason: str
    ) -> EventInfo:
        body = {"environment": environment, "to": to, "reason": reason}
        return _event(self._call("POST", f"/api/models/{_segment(model)}/rollback", body=body))

    def archive(self, model: str, version: int, *, reason: str = "") -> int:
        path = f"/api/models/{_segment(model)}/versions/{version}/archive"
        return int(self._call("POST", path, body={"reason": reason})["cancelled_requests"])

    def promotion_requests(
        self,
        *,
        model: str | None = None,
        environment: str | None = None,
        status: PromotionStatus | None = PromotionStatus.PENDING,
    ) -> list[PromotionInfo]:
        query = {"model": model, "environment": environment, "status": status or "all"}
        return [_promotion(item) for item in self._call("GET", "/api/promotions", query=query)]

    def promotion_request(self, request_id: int) -> PromotionInfo:
        return _promotion(self._call("GET", f"/api/promotions/{request_id}"))

    def events(
        self,
        model: str | None = None,
        *,
        environment: str | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[EventInfo]:
        query = {
            "model": model,
            "environment": environment,
            "until": until.isoformat() if until else None,
            "limit": limit,
        }
        return [_event(item) for item in self._call("GET", "/api/events", query=query)]

    def live_at(self, model: str, at: datetime | None = None) -> dict[str, int]:
        query = {"at": at.isoformat() if at else None}
        answer = self._call("GET", f"/api/models/{_segment(model)}/live", query=query)
        return {env: int(version) for env, version in answer["environments"].items()}

    def whoami(self) -> tuple[str, str]:
        """The token's name and role, as the server sees them."""
        answer = self._call("GET", "/api/whoami")
        return str(answer["name"]), str(answer["role"])

    # -- plumbing --------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, object] | None = None,
        body: Mapping[str, object] | None = None,
    ) -> Any:
        url = self.url + path
        given = {key: value for key, value in (query or {}).items() if value is not None}
        if given:
            url += "?" + urlencode(given)
        headers = dict(self._headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            answer = self._transport(method, url, headers, data, self._timeout)
        except (OSError, http.client.HTTPException) as exc:  # refused, timed out, not HTTP
            raise StoreError(
                f"cannot reach the mlrelease server at {self.url}: {_reason(exc)}; "
                "check --server / MLRELEASE_SERVER and that 'mlrelease server' runs there"
            ) from None
        if answer.status >= 400:
            raise error_from_answer(answer)
        try:
            return json.loads(answer.body)
        except ValueError:
            raise MlreleaseError(
                f"{url} did not answer JSON; is {self.url} an mlrelease server?"
            ) from None


def error_from_answer(answer: HttpAnswer) -> MlreleaseError:
    """The typed error a server's error answer stands for (by code, else by status)."""
    try:
        error = json.loads(answer.body)["error"]
        code, message, details = str(error["code"]), str(error["message"]), error["details"]
    except (ValueError, KeyError, TypeError):
        text = answer.body.decode(errors="replace").strip()[:200]
        code, message, details = "", f"the server answered HTTP {answer.status}: {text}", {}
    kind = _BY_CODE.get(code) or _BY_STATUS.get(answer.status, MlreleaseError)
    return kind(message, details=details if isinstance(details, dict) else {})


def _error_classes() -> list[type[MlreleaseError]]:
    found = (getattr(errors, name) for name in errors.__all__)
    return [kind for kind in found if isinstance(kind, type) and issubclass(kind, MlreleaseError)]


_BY_CODE: dict[str, type[MlreleaseError]] = {kind.code: kind for kind in _error_classes()}
_BY_STATUS: dict[int, type[MlreleaseError]] = {
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFoundError,
    409: errors.ConflictError,
    422: errors.RequestError,
    503: errors.StoreError,
}


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)  # URLError wraps the socket error
    return str(reason or exc) or type(exc).__name__


def _segment(name: str) -> str:
    # Names are validated to URL-safe characters; quote anyway so a bad one fails cleanly.
    return quote(name, safe="")


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _promotion(data: Mapping[str, Any]) -> PromotionInfo:
    return PromotionInfo(
        id=data["id"],
        model=data["model"],
        version=data["version"],
        environment=data["environment"],
        status=PromotionStatus(data["status"]),
        approvals_required=data["approvals_required"],
        allow_self_approval=data["allow_self_approval"],
        from_version=data["from_version"],
        gate_results=data["gate_results"],
        reason=data["reason"],
        requested_by=data["requested_by"],
        requested_at=datetime.fromisoformat(data["requested_at"]),
        decided_at=_when(data["decided_at"]),
        decisions=tuple(
            Decision(
                actor=item["actor"],
                decision=item["decision"],
                reason=item["reason"],
                created_at=datetime.fromisoformat(item["created_at"]),
            )
            for item in data["decisions"]
        ),
    )


def _event(data: Mapping[str, Any]) -> EventInfo:
    return EventInfo(
        id=data["id"],
        timestamp=datetime.fromisoformat(data["timestamp"]),
        actor=data["actor"],
        kind=data["kind"],
        model=data["model"],
        environment=data["environment"],
        from_version=data["from_version"],
        to_version=data["to_version"],
        reason=data["reason"],
        payload=data["payload"],
    )
