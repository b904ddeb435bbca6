"""One small sender per channel kind: Slack, generic webhook, email over SMTP.

A sender turns a message (see ``message``) into one request and raises
NotificationError with a one-line reason when the receiver cannot be reached or
refuses it (``HTTP 500 from https://hooks.slack.com``). Reasons never carry
secrets: URLs are shown as scheme and host only, passwords never appear.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import smtplib
import urllib.error
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from mlrelease.errors import ConfigError, NotificationError
from mlrelease.notify.guard import check_url, display_url
from mlrelease.notify.message import email_body, probe_message, slack_payload
from mlrelease.notify.transport import Network

if TYPE_CHECKING:  # types only: keeps pydantic off this import path
    from mlrelease.spec import EmailSpec, NotifySpec

__all__ = [
    "EmailSender",
    "Sender",
    "SlackSender",
    "WebhookSender",
    "make_sender",
    "send_test",
    "sign",
]


class Sender(Protocol):
    def check(self) -> None:
        """Raise ConfigError if the configuration cannot work (resolves hosts for the guard)."""

    def send(self, message: Mapping[str, Any], *, delivery_id: str) -> None:
        """Deliver one message; raise NotificationError (or ConfigError) if it did not arrive."""


def make_sender(spec: NotifySpec, network: Network | None = None) -> Sender:
    net = network or Network()
    if spec.slack is not None:
        return SlackSender(spec.slack, spec.allow_link_local, net)
    if spec.webhook is not None:
        return WebhookSender(spec.webhook.url, spec.allow_link_local, net, spec.webhook.secret)
    if spec.email is not None:
        return EmailSender(spec.email, net)
    raise ConfigError("a notify entry needs one of 'slack', 'webhook' or 'email'")


def send_test(name: str, spec: NotifySpec, *, network: Network | None = None) -> None:
    """Send a test message to one channel now, bypassing the outbox."""
    sender = make_sender(spec, network)
    try:
        sender.check()
        sender.send(probe_message(name), delivery_id=f"test-{uuid.uuid4().hex[:12]}")
    except ConfigError as exc:
        raise ConfigError(f"channel '{name}': {exc.message}") from None
    except NotificationError as exc:
        raise NotificationError(f"channel '{name}': {exc.message}") from None


def sign(secret: str, body: bytes) -> str:
    """The ``X-Mlrelease-Signature`` value: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _HttpSender:
    url: str
    allow_link_local: bool
    network: Network

    def check(self) -> None:
        check_url(self.url, allow_link_local=self.allow_link_local, resolve=self.network.resolve)

    def _post(self, body: bytes, headers: Mapping[str, str]) -> None:
        self.check()  # again at every delivery: DNS can change
        shown = display_url(self.url)
        headers = {"Content-Type": "application/json", "User-Agent": "mlrelease", **headers}
        try:
            reply = self.network.post(self.url, body, headers, self.network.timeout)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise NotificationError(f"cannot reach {shown}: {_reason(exc)}") from None
        if not 200 <= reply.status < 300:
            said = f": {reply.body}" if reply.body else ""
            raise NotificationError(f"HTTP {reply.status} from {shown}{said}")


class SlackSender(_HttpSender):
    """A Slack incoming webhook: ``{"text": ..., "blocks": [section]}``."""

    def send(self, message: Mapping[str, Any], *, delivery_id: str) -> None:
        self._post(json.dumps(slack_payload(message)).encode(), {})


@dataclass(frozen=True)
class WebhookSender(_HttpSender):
    """Any HTTP receiver: the message as a JSON body, signed when a secret is set."""

    secret: str | None = None

    def send(self, message: Mapping[str, Any], *, delivery_id: str) -> None:
        body = json.dumps(message, sort_keys=True, separators=(",", ":")).encode()
        headers = {"X-Mlrelease-Delivery": delivery_id, "X-Mlrelease-Event": str(message["kind"])}
        if self.secret:
            headers["X-Mlrelease-Signature"] = sign(self.secret, body)
        self._post(body, headers)


@dataclass(frozen=True)
class _SmtpEndpoint:
    host: str
    port: int
    implicit_tls: bool

    @property
    def shown(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class EmailSender:
    """Email over SMTP: plain, STARTTLS (``starttls: true``) or implicit TLS (``smtps://``)."""

    spec: EmailSpec
    network: Network

    def check(self) -> None:
        _parse_smtp(self.spec.smtp, starttls=self.spec.starttls)

    def send(self, message: Mapping[str, Any], *, delivery_id: str) -> None:
        endpoint = _parse_smtp(self.spec.smtp, starttls=self.spec.starttls)
        mail = self._mail(message, delivery_id)
        try:
            with self._connect(endpoint) as smtp:
                if self.spec.starttls and not endpoint.implicit_tls:
                    smtp.starttls(context=self.network.tls_context())
                if self.spec.username:
                    smtp.login(self.spec.username, self.spec.password or "")
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotificationError(f"SMTP {endpoint.shown}: {_reason(exc)}") from None

    def _connect(self, endpoint: _SmtpEndpoint) -> smtplib.SMTP:
        net = self.network
        if endpoint.implicit_tls:
            return net.smtp_ssl(
                endpoint.host, endpoint.port, timeout=net.timeout, context=net.tls_context()
            )
        return net.smtp(endpoint.host, endpoint.port, timeout=net.timeout)

    def _mail(self, message: Mapping[str, Any], delivery_id: str) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = f"[mlrelease] {message['headline']}"
        mail["From"] = self.spec.sender
        mail["To"] = ", ".join(self.spec.to)
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = make_msgid(domain="mlrelease")
        mail["X-Mlrelease-Delivery"] = delivery_id
        mail["X-Mlrelease-Event"] = str(message["kind"])
        mail.set_content(email_body(message))
        return mail


def _parse_smtp(url: str, *, starttls: bool) -> _SmtpEndpoint:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname or port == -1:
        raise ConfigError(
            f"email smtp {parts.scheme or '?'}://{parts.hostname or '?'} is not usable; "
            "use smtp://host:port (add 'starttls: true' for STARTTLS) or smtps://host:port"
        )
    implicit = parts.scheme == "smtps"
    default = 465 if implicit else (587 if starttls else 25)
    return _SmtpEndpoint(parts.hostname, port or default, implicit)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        return f"{exc.smtp_code} {' '.join(text.split())}"
    return " ".join(str(exc).split()) or type(exc).__name__
