"""Sending a finalized invoice: queue the e-mail of its PDF to the customer and its invoice contacts
(the outbox, ``email_outbox``: sent after commit, a failure never reaches the caller).

Two ways an invoice is e-mailed, both as ``invoice`` e-mails of the outbox (unique per invoice and step):

- **at finalization** (``invoices_email_on_finalize``, called by finalization in its transaction), for a
  ``send_invoice`` customer (it pays by transfer, so the e-mail is how it learns what to pay): step 1,
  written for the whole batch of a billing run with one query for the recipients and one INSERT. Only
  an invoice with something to pay: one finalized ``paid`` (a 0.00 invoice, credits covered it, a credit
  invoice) is not e-mailed — nobody is asked to "pay 0.00" — and neither is any invoice of a
  ``charge_automatically`` customer (Stripe charges its card). Once per invoice: finalizing again is a
  no-op, a retried run finds no draft, and a rollback takes the row with it.
- **explicitly** (``invoice_send``: API ``resend``, the admin's "Resend"): each is one new e-mail, the
  next ``step``; a request repeated with the same ``Idempotency-Key`` replays the first answer and queues
  nothing.

The PDF is attached when the e-mail is sent, from the stored document (``invoice_document_get``): if the
send task runs before the render task finalization queued, it renders and stores the document itself,
so the e-mail never goes without its PDF and both tasks end with the same stored bytes. A row is
delivered at least once (``email_outbox``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction

from accounts.models import CollectionMethod
from config.errors import ValidationFailed
from invoicing.models import EmailOutbox, Invoice, InvoiceStatus
from invoicing.services.documents import (
    amount_for_customer,
    invoice_recipients,
    issued_invoice,
    recipients_by_customer,
    seller_snapshot,
)
from invoicing.services.email_outbox import email_enqueue, email_next_step, email_queue_many
from invoicing.services.invoice_documents import document_variant

log = structlog.get_logger(__name__)

# the step of the e-mail sent at finalization; explicit sends take the next ones
FINALIZATION_STEP = 1


def _invoice_email(invoice: Invoice, *, recipients: list[str], step: int, user: Any = None) -> EmailOutbox:
    """The (unsaved) e-mail of a finalized invoice with its PDF: who, subject, body, attachment."""
    seller = invoice.seller_snapshot or seller_snapshot()
    seller_name = seller.get("name", "")
    if invoice.status == InvoiceStatus.PAID:
        what = " (paid)."
    elif Decimal(invoice.amount_due) > 0:
        due = amount_for_customer(invoice, invoice.amount_due)
        what = f": {due} due" + (f" on {invoice.due_at:%Y-%m-%d}." if invoice.due_at else ".")
    else:
        what = "."
    body = (
        f"Hello {invoice.customer_snapshot.get('name') or invoice.customer.name},\n\n"
        f"Please find attached invoice {invoice.number}{what}\n\nThank you for your business.\n"
        + (f"{seller_name}\n" if seller_name else "")
    )
    return EmailOutbox(
        invoice=invoice,
        kind=EmailOutbox.Kind.INVOICE,
        step=step,
        recipients=list(recipients),
        from_email=seller.get("email") or settings.DEFAULT_FROM_EMAIL,
        subject=f"Invoice {invoice.number} from {seller_name}".strip()[:255],
        body=body,
        attach_variant=document_variant(invoice),
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


def invoice_send(*, invoice_id: int, user: Any = None) -> EmailOutbox:
    """Queue the e-mail of the finalized invoice's PDF to its recipients (the next ``invoice`` step);
    it leaves after the caller's transaction commits (module docs). Returns the outbox row.

    Drafts are not sent (409: finalize first); a customer without an address is a 400.
    """
    with transaction.atomic():
        # the lock makes the step counter safe: two resends at once get steps n and n+1
        invoice = issued_invoice(invoice_id=invoice_id, lock=True, hint="finalize it before sending it")
        recipients = invoice_recipients(invoice.customer)
        if not recipients:
            raise ValidationFailed(
                f"Customer {invoice.customer.external_id} has no e-mail address nor a contact that receives "
                "invoices.",
                field="customer",
            )
        email = _invoice_email(
            invoice,
            recipients=recipients,
            step=email_next_step(invoice_id=invoice.pk, kind=EmailOutbox.Kind.INVOICE),
            user=user,
        )
        row, _ = email_enqueue(email)
    log.info(
        "invoice.send_queued",
        invoice_id=invoice.pk,
        customer_id=invoice.customer_id,
        number=invoice.number,
        recipients=len(recipients),
        outbox_id=row.pk,
        user_id=getattr(user, "pk", None),
    )
    return row


def emailed_on_finalize(invoice: Invoice) -> bool:
    """Whether finalization e-mails this invoice (module docs): a ``send_invoice`` customer's open
    invoice with something to pay."""
    return (
        invoice.status == InvoiceStatus.OPEN
        and Decimal(invoice.amount_due) > 0
        and invoice.customer.collection_method == CollectionMethod.SEND_INVOICE
    )


def invoices_email_on_finalize(*, invoices: Sequence[Invoice], user: Any = None) -> list[EmailOutbox]:
    """Finalization's hook, in its transaction: the first e-mail of each invoice ``emailed_on_finalize``
    (their customers loaded on them), with a constant number of queries for the whole batch. A customer
    with no address is logged and skipped (finance can send it once an address is set)."""
    chosen = [invoice for invoice in invoices if emailed_on_finalize(invoice)]
    if not chosen:
        return []
    recipients = recipients_by_customer(invoice.customer for invoice in chosen)
    emails = [
        _invoice_email(invoice, recipients=recipients[invoice.customer_id], step=FINALIZATION_STEP, user=user)
        for invoice in chosen
        if recipients[invoice.customer_id]
    ]
    unaddressed = [invoice.pk for invoice in chosen if not recipients[invoice.customer_id]]
    if unaddressed:  # one line for the batch: a big run of address-less customers must not flood the logs
        log.warning(
            "invoice.not_emailed", invoice_ids=unaddressed, reason="the customer has no e-mail address"
        )
    rows = email_queue_many(emails)
    log.info("invoice.emailed_on_finalize", invoice_ids=[row.invoice_id for row in rows])
    return rows
