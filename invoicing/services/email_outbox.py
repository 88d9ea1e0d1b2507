"""The e-mail outbox: every e-mail about an invoice is a row written in the caller's transaction and
sent after that transaction commits, by a task.

- ``email_queue`` writes the row, unique per (invoice, kind, step), and asks for a send after commit. A
  rollback takes the row, and so the e-mail, with it; a rerun (a dunning task that runs twice, a
  retried billing step) finds the row and queues nothing.
- ``email_deliver`` makes one attempt under the row's lock: ``sent``, or the error kept in
  ``last_error`` and the row left ``pending`` with ``next_attempt_at`` (backoff 1, 2, 4... minutes),
  or ``failed`` after ``RATECARD_EMAIL_MAX_ATTEMPTS``. A sending failure never reaches the caller that
  queued the e-mail (no 500 when the mail server is down); the admin lists the rows.
- ``email_outbox_due`` is what the beat sweep retries: pending rows whose time has come (including one
  whose task message was lost).

Delivery is at least once: a worker that dies after the mail server accepted the message but before
its transaction commits leaves the row pending, and it is sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from config.tasks_queue import task_enqueue
from invoicing.models import EmailOutbox, Invoice
from invoicing.services.invoice_documents import invoice_document_get

log = structlog.get_logger(__name__)

# the beat sweep leaves a fresh row to the task queued at commit for this long
SWEEP_GRACE = timedelta(minutes=2)
# e-mails per task message when a batch is queued at once (as the PDFs are rendered in batches)
SEND_BATCH = 20


def max_attempts() -> int:
    return int(getattr(settings, "RATECARD_EMAIL_MAX_ATTEMPTS", 6))


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the n-th failed attempt: 1, 2, 4, 8... minutes, at most an hour."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


def email_next_step(*, invoice_id: int, kind: str) -> int:
    """The next step of an e-mail kind that has no natural step (resends); lock the invoice first."""
    last = EmailOutbox.objects.filter(invoice_id=invoice_id, kind=kind).aggregate(m=Max("step"))["m"]
    return int(last or 0) + 1


def email_queue(
    *,
    invoice: Invoice,
    kind: str,
    step: int,
    recipients: Sequence[str],
    subject: str,
    body: str,
    from_email: str = "",
    attach_variant: str = "",
    user: Any = None,
) -> tuple[EmailOutbox, bool]:
    """Write the outbox row and send it after the caller's transaction commits.

    Returns (row, created); a row that exists for (invoice, kind, step) is returned as it is and
    nothing is queued again.
    """
    row = EmailOutbox(
        invoice=invoice,
        kind=kind,
        step=step,
        recipients=list(recipients),
        from_email=from_email,
        subject=subject[:255],
        body=body,
        attach_variant=attach_variant,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    return email_enqueue(row)


def email_enqueue(row: EmailOutbox) -> tuple[EmailOutbox, bool]:
    """``email_queue`` for a row built by the caller (unsaved): saved, or the existing one returned."""
    row.next_attempt_at = timezone.now() + SWEEP_GRACE
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        return EmailOutbox.objects.get(invoice_id=row.invoice_id, kind=row.kind, step=row.step), False
    _send_after_commit([row.pk])
    log.info("email.queued", invoice_id=row.invoice_id, outbox_id=row.pk, kind=row.kind, step=row.step)
    return row, True


def email_queue_many(rows: Sequence[EmailOutbox]) -> list[EmailOutbox]:
    """``email_queue`` for a batch whose rows cannot exist yet (the first e-mail of invoices finalized
    in the caller's transaction): one INSERT for all of them, sent after commit like any other."""
    if not rows:
        return []
    pending_from = timezone.now() + SWEEP_GRACE
    for row in rows:
        row.next_attempt_at = pending_from
    created = EmailOutbox.objects.bulk_create(rows)
    _send_after_commit([row.pk for row in created])
    log.info("email.queued_many", count=len(created), kind=created[0].kind)
    return created


def _send_after_commit(outbox_ids: list[int]) -> None:
    """One task per e-mail; a batch (a billing run's) goes in messages of ``SEND_BATCH`` e-mails."""

    def send() -> None:
        if len(outbox_ids) == 1:
            task_enqueue("invoicing.tasks.send_email", outbox_ids[0])
            return
        for start in range(0, len(outbox_ids), SEND_BATCH):
            task_enqueue("invoicing.tasks.send_emails", outbox_ids[start : start + SEND_BATCH])

    transaction.on_commit(send)


def _message(row: EmailOutbox) -> EmailMessage:
    message = EmailMessage(
        subject=row.subject,
        body=row.body,
        from_email=row.from_email or settings.DEFAULT_FROM_EMAIL,
        to=list(row.recipients),
    )
    if row.attach_variant:
        document = invoice_document_get(invoice_id=row.invoice_id, variant=row.attach_variant)
        name = Invoice.objects.filter(pk=row.invoice_id).values_list("number", flat=True).get()
        message.attach(f"{name}.pdf", bytes(document.content), "application/pdf")
    return message


def email_deliver(*, outbox_id: int) -> EmailOutbox | None:
    """One attempt at sending a pending row (module docs); None when it is not pending or another worker
    holds it. Never raises for a sending failure: the row records it."""
    with transaction.atomic():
        row = (
            EmailOutbox.objects.select_for_update(skip_locked=True)
            .filter(pk=outbox_id, status=EmailOutbox.Status.PENDING)
            .first()
        )
        if row is None:
            return None
        row.attempts += 1
        now = timezone.now()
        try:
            _message(row).send()
        except Exception as exc:  # SMTP, DNS, TLS, a PDF that cannot render: all recorded, none raised
            row.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
            if row.attempts >= max_attempts():
                row.status = EmailOutbox.Status.FAILED
                row.next_attempt_at = None
            else:
                row.next_attempt_at = now + retry_delay(row.attempts)
            log.warning(
                "email.send_failed",
                outbox_id=row.pk,
                invoice_id=row.invoice_id,
                attempts=row.attempts,
                status=row.status,
                error=row.last_error,
            )
        else:
            row.status = EmailOutbox.Status.SENT
            row.sent_at = now
            row.next_attempt_at = None
            log.info("email.sent", outbox_id=row.pk, invoice_id=row.invoice_id, kind=row.kind, step=row.step)
        row.save(update_fields=["attempts", "status", "last_error", "next_attempt_at", "sent_at"])
        return row


def email_outbox_due(*, limit: int = 500) -> list[int]:
    """Pending rows whose next attempt is due (the beat sweep sends them)."""
    return list(
        EmailOutbox.objects.filter(status=EmailOutbox.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def email_retry(*, outbox_ids: Sequence[int]) -> int:
    """Give failed rows another round of attempts (an admin action, e.g. after fixing the mail server)."""
    with transaction.atomic():
        ids = list(
            EmailOutbox.objects.select_for_update()
            .filter(pk__in=list(outbox_ids), status=EmailOutbox.Status.FAILED)
            .values_list("id", flat=True)
        )
        EmailOutbox.objects.filter(pk__in=ids).update(
            status=EmailOutbox.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        _send_after_commit(ids)
    return len(ids)
