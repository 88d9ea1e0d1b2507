"""Sending a finalized invoice: queue the e-mail of its PDF to the customer and its invoice contacts
(the outbox, ``email_outbox``: sent after commit, a failure never reaches the caller).

What "once" means for sending an invoice: each explicit send (API ``resend``, the admin's "Resend") is
one new e-mail, the next ``step`` of the invoice's ``invoice`` e-mails; a request repeated with the same
``Idempotency-Key`` replays the first answer and queues nothing; a transaction that rolls back sends
nothing; a row is delivered at least once (``email_outbox``).
"""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings
from django.db import transaction

from config.errors import ValidationFailed
from invoicing.models import EmailOutbox
from invoicing.services.documents import invoice_recipients, issued_invoice, seller_snapshot
from invoicing.services.email_outbox import email_next_step, email_queue
from invoicing.services.invoice_documents import document_variant

log = structlog.get_logger(__name__)


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
        seller = invoice.seller_snapshot or seller_snapshot()
        seller_name = seller.get("name", "")
        body = (
            f"Hello {invoice.customer_snapshot.get('name') or invoice.customer.name},\n\n"
            f"Please find attached invoice {invoice.number}"
            + (f", due on {invoice.due_at:%Y-%m-%d}" if invoice.due_at else "")
            + ".\n\nThank you for your business.\n"
            + (f"{seller_name}\n" if seller_name else "")
        )
        row, _ = email_queue(
            invoice=invoice,
            kind=EmailOutbox.Kind.INVOICE,
            step=email_next_step(invoice_id=invoice.pk, kind=EmailOutbox.Kind.INVOICE),
            recipients=recipients,
            subject=f"Invoice {invoice.number} from {seller_name}".strip(),
            body=body,
            from_email=seller.get("email") or settings.DEFAULT_FROM_EMAIL,
            attach_variant=document_variant(invoice),
            user=user,
        )
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
