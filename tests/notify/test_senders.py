"""Each sender against a real local receiver: Slack, signed webhooks, email over SMTP."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from mlrelease.errors import ConfigError, NotificationError
from mlrelease.notify import Network, make_sender, render_message, send_test
from mlrelease.spec import EmailSpec, NotifySpec, WebhookSpec

from .conftest import LOGIN, PASSWORD, Certificate, Receiver, SmtpFactory
from .test_message import EVENT

MESSAGE = render_message(EVENT)
SLACK_PATH = "/services/T000/B000/XXXXSECRETXXXX"


def webhook(url: str, secret: str | None = "s3cret-hmac", **options: Any) -> NotifySpec:
    return NotifySpec(webhook=WebhookSpec(url=url, secret=secret), **options)


def mail(smtp: str, **options: Any) -> NotifySpec:
    recipients = ["ml@example.com", "ops@example.com"]
    return NotifySpec(email=EmailSpec(smtp=smtp, to=recipients, **options))


# --- Slack -----------------------------------------------------------------------------


def test_slack_gets_text_and_a_section_block(receiver: Receiver) -> None:
    make_sender(NotifySpec(slack=receiver.url(SLACK_PATH))).send(MESSAGE, delivery_id="1")
    (request,) = receiver.accepted()
    assert request.path == SLACK_PATH
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert body["text"] == MESSAGE["text"]
    assert body["blocks"][0]["type"] == "section"


def test_a_slack_error_names_the_status_but_not_the_secret_path(receiver: Receiver) -> None:
    receiver.status = 500
    with pytest.raises(NotificationError) as failed:
        send_test("team", NotifySpec(slack=receiver.url(SLACK_PATH)))
    message = failed.value.message
    assert message.startswith(f"channel 'team': HTTP 500 from http://127.0.0.1:{receiver.port}")
    assert "XXXXSECRET" not in message and "services" not in message


def test_a_down_receiver_is_a_clear_failure(down_receiver: Receiver) -> None:
    with pytest.raises(NotificationError) as failed:
        send_test("team", NotifySpec(slack=down_receiver.url(SLACK_PATH)))
    assert failed.value.message.startswith(
        f"channel 'team': cannot reach http://127.0.0.1:{down_receiver.port}: "
    )
    assert "refused" in failed.value.message.lower()


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.status, receiver.location = 302, "http://169.254.169.254/latest/meta-data/"
    with pytest.raises(NotificationError, match="HTTP 302 from"):
        make_sender(webhook(receiver.url())).send(MESSAGE, delivery_id="1")
    assert len(receiver.requests) == 1


# --- generic webhook ---------------------------------------------------------------------


def test_a_webhook_body_is_the_message_signed_with_the_secret(receiver: Receiver) -> None:
    make_sender(webhook(receiver.url())).send(MESSAGE, delivery_id="42")
    (request,) = receiver.accepted()
    expected = hmac.new(b"s3cret-hmac", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Mlrelease-Signature"] == f"sha256={expected}"
    assert request.headers["X-Mlrelease-Delivery"] == "42"
    assert request.headers["X-Mlrelease-Event"] == "promotion.promoted"
    assert request.json() == MESSAGE


def test_a_webhook_without_secret_is_not_signed(receiver: Receiver) -> None:
    make_sender(webhook(receiver.url(), secret=None)).send(MESSAGE, delivery_id="1")
    assert "X-Mlrelease-Signature" not in receiver.accepted()[0].headers


def test_the_guard_runs_at_delivery_time(receiver: Receiver) -> None:
    """DNS can change between the config check and a delivery: check again each time."""
    answers = [["127.0.0.1"], ["169.254.169.254"]]
    network = Network(resolve=lambda host: answers.pop(0))
    sender = make_sender(webhook(f"http://receiver.test:{receiver.port}/hook"), network)
    sender.check()
    with pytest.raises(ConfigError, match="allow_link_local"):
        sender.send(MESSAGE, delivery_id="1")
    assert receiver.requests == []


def test_allow_link_local_skips_the_refusal(receiver: Receiver) -> None:
    network = Network(resolve=lambda host: ["169.254.169.254"])
    spec = webhook(receiver.url(), allow_link_local=True)
    make_sender(spec, network).send(MESSAGE, delivery_id="1")
    assert len(receiver.accepted()) == 1


# --- email -------------------------------------------------------------------------------


def test_email_over_plain_smtp(smtp_server: SmtpFactory) -> None:
    server = smtp_server()
    spec = mail(f"smtp://{server.host}:{server.port}", sender="mlrelease@example.com")
    make_sender(spec).send(MESSAGE, delivery_id="9")
    (envelope,) = server.mailbox.envelopes
    assert envelope.mail_from == "mlrelease@example.com"
    assert envelope.rcpt_tos == ["ml@example.com", "ops@example.com"]
    (received,) = server.mailbox.messages()
    assert received["Subject"] == "[mlrelease] breast-cancer v3 promoted to production"
    assert received["To"] == "ml@example.com, ops@example.com"
    assert received["X-Mlrelease-Delivery"] == "9"
    assert "better recall" in received.get_content()


def test_email_with_starttls_and_login(smtp_server: SmtpFactory, certificate: Certificate) -> None:
    server = smtp_server(auth=True, tls_context=certificate.server_context(), require_starttls=True)
    spec = mail(
        f"smtp://{server.host}:{server.port}", starttls=True, username=LOGIN, password=PASSWORD
    )
    make_sender(spec, Network(tls_context=certificate.client_context)).send(
        MESSAGE, delivery_id="1"
    )
    assert len(server.mailbox.envelopes) == 1


def test_email_over_implicit_tls(smtp_server: SmtpFactory, certificate: Certificate) -> None:
    # aiosmtpd does not count implicit TLS as TLS for AUTH: let it offer AUTH anyway.
    server = smtp_server(
        auth=True,
        ssl_context=certificate.server_context(),
        auth_require_tls=False,
        auth_required=False,
    )
    spec = mail(f"smtps://{server.host}:{server.port}", username=LOGIN, password=PASSWORD)
    make_sender(spec, Network(tls_context=certificate.client_context)).send(
        MESSAGE, delivery_id="1"
    )
    assert len(server.mailbox.envelopes) == 1


def test_starttls_refuses_an_untrusted_certificate(
    smtp_server: SmtpFactory, certificate: Certificate
) -> None:
    server = smtp_server(tls_context=certificate.server_context(), require_starttls=True)
    spec = mail(f"smtp://{server.host}:{server.port}", starttls=True)
    with pytest.raises(NotificationError, match="CERTIFICATE_VERIFY_FAILED"):
        make_sender(spec).send(MESSAGE, delivery_id="1")  # the system trust store
    assert server.mailbox.envelopes == []


def test_a_wrong_password_fails_without_showing_it(
    smtp_server: SmtpFactory, certificate: Certificate
) -> None:
    server = smtp_server(auth=True, tls_context=certificate.server_context())
    spec = mail(
        f"smtp://{server.host}:{server.port}", starttls=True, username=LOGIN, password="wrong-pw"
    )
    with pytest.raises(NotificationError) as failed:
        send_test("mail", spec, network=Network(tls_context=certificate.client_context))
    assert failed.value.message.startswith(f"channel 'mail': SMTP smtp://127.0.0.1:{server.port}")
    assert "535" in failed.value.message and "wrong-pw" not in failed.value.message


def test_an_smtp_server_that_is_down_is_a_clear_failure() -> None:
    from .conftest import free_port

    port = free_port()
    with pytest.raises(NotificationError, match=f"SMTP smtp://127.0.0.1:{port}: .*refused"):
        make_sender(mail(f"smtp://127.0.0.1:{port}")).send(MESSAGE, delivery_id="1")


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://host:notaport"])
def test_an_unusable_smtp_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="use smtp://host:port"):
        make_sender(mail(url)).check()
