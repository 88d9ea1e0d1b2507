"""E-mails leave through the outbox: after commit, once per (invoice, kind, step), never a 500."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from rest_framework.test import APIClient

from config.mail import BACKENDS, SMTP, mail_settings, parse_email_url
from invoicing.models import EmailOutbox, Invoice
from invoicing.services.dunning import dunning_run, invoice_payment_failed
from invoicing.services.email_outbox import email_deliver, email_outbox_due, email_retry
from invoicing.services.finalization import invoice_finalize
from invoicing.services.invoice_sending import invoice_send
from tests.invoicing.factories import make_customer, make_draft, stored_pdf

pytestmark = pytest.mark.django_db

AT = datetime(2026, 2, 3, 9, 30, tzinfo=UTC)
FAILED_AT = AT + timedelta(days=1)


class Boom(Exception):
    pass


@pytest.fixture
def invoice() -> Invoice:
    return invoice_finalize(invoice_id=make_draft(make_customer()).pk, at=AT)


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_rolled_back_transaction_sends_no_email(
    invoice: Invoice, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Boom), transaction.atomic():
        invoice_send(invoice_id=invoice.pk)
        raise Boom
    assert mail.outbox == []
    # only the e-mail finalization wrote (test_invoice_emailed_on_finalize): the resend left nothing
    assert list(EmailOutbox.objects.values_list("kind", "step")) == [("invoice", 1)]


def test_a_rerun_of_dunning_sends_each_steps_email_once(
    invoice: Invoice, django_capture_on_commit_callbacks: Any
) -> None:
    invoice_payment_failed(invoice_id=invoice.pk, at=FAILED_AT, reason="card_declined")
    due = FAILED_AT + timedelta(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(Boom), transaction.atomic():  # the step is taken, then something fails
            assert dunning_run(as_of=due) == 1
            raise Boom
        assert mail.outbox == []  # ... so its reminder never left
        assert dunning_run(as_of=due) == 1  # the rerun takes the step again
        assert dunning_run(as_of=due) == 0  # and a third run finds nothing to do
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == f"Reminder: invoice {invoice.number} is past due"
    row = EmailOutbox.objects.get(kind="dunning")
    assert (row.kind, row.step, row.status, row.attempts) == ("dunning", 1, "sent", 1)


def test_a_step_queued_twice_is_one_email(invoice: Invoice, django_capture_on_commit_callbacks: Any) -> None:
    from invoicing.services.email_outbox import email_queue

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for _ in range(2):
            email_queue(
                invoice=invoice, kind="dunning", step=1, recipients=["a@x.test"], subject="s", body="b"
            )
    assert len(callbacks) == 1
    assert len(mail.outbox) == 1


def test_resend_with_no_mail_server_answers_202_and_keeps_the_email_to_retry(
    support_api: APIClient, invoice: Invoice, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.EMAIL_BACKEND = SMTP
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 3
    settings.RATECARD_EMAIL_MAX_ATTEMPTS = 2
    with django_capture_on_commit_callbacks(execute=True):
        response = support_api.post(f"/api/v1/invoices/{invoice.pk}/resend", format="json")
    assert response.status_code == 202, response.content
    row = EmailOutbox.objects.get(pk=response.json()["email"]["id"])
    assert (row.status, row.attempts) == ("pending", 1)
    assert "Connection refused" in row.last_error or "ConnectionRefusedError" in row.last_error
    assert row.next_attempt_at is not None

    again = email_deliver(outbox_id=row.pk)  # the retry fails too: the last attempt gives up
    assert again is not None and (again.status, again.attempts) == ("failed", 2)
    assert email_outbox_due() == []

    settings.EMAIL_BACKEND = BACKENDS["memorymail"]  # the mail server is back; finance retries
    with django_capture_on_commit_callbacks(execute=True):
        assert email_retry(outbox_ids=[row.pk]) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.sent_at is not None) == ("sent", 1, True)
    assert len(mail.outbox) == 1


def test_each_resend_is_one_more_email_and_a_replayed_request_is_not(
    support_api: APIClient, invoice: Invoice, django_capture_on_commit_callbacks: Any
) -> None:
    url = f"/api/v1/invoices/{invoice.pk}/resend"
    with django_capture_on_commit_callbacks(execute=True):
        first = support_api.post(url, format="json", HTTP_IDEMPOTENCY_KEY="resend-1")
        replay = support_api.post(url, format="json", HTTP_IDEMPOTENCY_KEY="resend-1")
        second = support_api.post(url, format="json", HTTP_IDEMPOTENCY_KEY="resend-2")
    assert replay.json() == first.json()
    assert second.json()["email"]["id"] != first.json()["email"]["id"]
    steps = list(EmailOutbox.objects.order_by("step").values_list("kind", "step", "status"))
    # step 1 is the e-mail finalization queued (the fixture's commit never happens in this test, so it
    # stays pending); each resend is the next step
    assert steps == [("invoice", 1, "pending"), ("invoice", 2, "sent"), ("invoice", 3, "sent")]
    assert len(mail.outbox) == 2
    (name, content, mimetype) = mail.outbox[0].attachments[0]
    assert (name, mimetype) == (f"{invoice.number}.pdf", "application/pdf")
    assert content == stored_pdf(invoice)  # the stored document, rendered once for both e-mails


def test_mail_settings_come_from_email_url_or_the_email_variables() -> None:
    smtp = parse_email_url("smtp://ap%40acme.test:s%3Acret@mail.acme.test:2525?tls=1&timeout=4")
    assert (smtp.backend, smtp.host, smtp.port, smtp.user, smtp.password) == (
        SMTP,
        "mail.acme.test",
        2525,
        "ap@acme.test",
        "s:cret",
    )
    assert (smtp.use_tls, smtp.use_ssl, smtp.timeout) == (True, False, 4)
    implicit = parse_email_url("smtps://u:p@mail.acme.test")
    assert (implicit.port, implicit.use_ssl, implicit.use_tls) == (465, True, False)
    assert parse_email_url("submission://u:p@mail.acme.test").port == 587
    assert parse_email_url("consolemail://").backend == BACKENDS["consolemail"]
    assert parse_email_url("filemail:///tmp/mails").file_path == "/tmp/mails"
    with pytest.raises(ImproperlyConfigured, match="unknown scheme"):
        parse_email_url("carrier-pigeon://coop")

    assert mail_settings({}).backend == BACKENDS["consolemail"]  # the demo: resend prints the e-mail
    hosted = mail_settings({"EMAIL_HOST": "smtp.acme.test", "EMAIL_PORT": "587", "EMAIL_USE_TLS": "true"})
    assert (hosted.backend, hosted.host, hosted.port, hosted.use_tls) == (SMTP, "smtp.acme.test", 587, True)
    custom = mail_settings({"EMAIL_URL": "smtp://h", "EMAIL_BACKEND": "my.Backend"})
    assert (custom.backend, custom.host) == ("my.Backend", "h")


def test_the_emails_list_says_who_each_went_to(invoice: Invoice) -> None:
    """Support's first question when a customer says nothing arrived: to which address did it go?"""
    from django.test import Client

    from accounts.roles import SUPPORT
    from tests.conftest import make_staff

    row = invoice_send(invoice_id=invoice.pk)
    client = Client()
    client.force_login(make_staff("mail-reader", SUPPORT))
    html = client.get("/admin/invoicing/emailoutbox/").content.decode()
    assert row.recipients and ", ".join(row.recipients) in html
    assert invoice.number and invoice.number in html
