"""Real receivers on 127.0.0.1: an HTTP server that records requests, an SMTP server (aiosmtpd).

The HTTP receiver's port is bound before it listens, so a test can start with the
receiver "down" (connections refused) and bring it up on the same URL later.
"""

from __future__ import annotations

import email
import email.policy
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from mlrelease.audit import EventInfo, EventKind, record_event
from mlrelease.notify import Outbox
from mlrelease.store import Store

from ..receivers import Receiver

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to the local receivers must not go through a proxy from the environment."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


# --- the clock seam ------------------------------------------------------------------


@dataclass
class FakeClock:
    moment: datetime = T0

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> datetime:
        self.moment += timedelta(seconds=seconds)
        return self.moment


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def announce(
    store: Store, outbox: Outbox, kind: str = EventKind.PROMOTED, **fields: Any
) -> EventInfo:
    """Record one event and announce it, in one transaction, as a core service does."""
    values: dict[str, Any] = {
        "model": "breast-cancer",
        "actor": "alice",
        "environment": "production",
        "from_version": 2,
        "to_version": 3,
        "reason": "better recall",
        **fields,
    }
    with store.write() as connection:
        event = record_event(connection, kind=kind, timestamp=T0, **values)
        outbox.announce(connection, event)
    return event


# --- an HTTP receiver (tests/receivers.py) ---------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver that is up."""
    server = Receiver()
    server.start()
    yield server
    server.close()


@pytest.fixture
def down_receiver() -> Iterator[Receiver]:
    """A receiver whose port refuses connections until the test calls ``start()``."""
    server = Receiver()
    yield server
    server.close()


# --- an SMTP server (aiosmtpd) -----------------------------------------------------


@dataclass
class Mailbox:
    envelopes: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[misc]
            for envelope in self.envelopes
        ]


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SmtpFactory = Callable[..., SmtpServer]
LOGIN, PASSWORD = "bot", "hunter2-smtp"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        LOGIN.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[SmtpFactory]:
    """Start SMTP servers on 127.0.0.1: ``smtp_server(auth=True, tls_context=...)``."""
    from aiosmtpd.controller import Controller

    controllers: list[Any] = []

    def start(*, auth: bool = False, **options: Any) -> SmtpServer:
        mailbox = Mailbox()
        if auth:
            options = {"authenticator": _authenticator, "auth_required": True, **options}
        controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **options)
        controller.start()
        controllers.append(controller)
        return SmtpServer("127.0.0.1", controller.port, mailbox)

    yield start
    for controller in controllers:
        controller.stop()


# --- a self-signed certificate for 127.0.0.1 ---------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlrelease test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(folder / "cert.pem", folder / "key.pem")
