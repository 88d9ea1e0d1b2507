"""Stored invoice PDFs: rendered after commit by a task, or on demand, once per (invoice, variant).

Finalization no longer renders the PDF inside its transaction (that held the invoice-number lock for
the ~0.1 s WeasyPrint takes, so every finalization queued behind one PDF). Instead:

1. the service that changes an invoice's document (finalize, a payment that makes it paid, void) calls
   ``invoice_documents_queue``: after its transaction commits, a task renders the variant the invoice
   needs now (``invoice`` as issued, ``paid`` or ``void`` stamped) and stores it;
2. ``invoice_document_get`` is what the task and every download call: the stored document when it
   exists, else it renders it now and stores it. Rendering is deterministic (``pdf.py``), so a download
   that comes before the task gets the very bytes the task would have stored, and a task that runs
   twice (a retry, a redelivery, two workers) finds the row, or loses the insert race to an identical
   document, and stores nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import structlog
from django.db import IntegrityError, transaction

from config.tasks_queue import task_enqueue
from invoicing.models import Invoice, InvoiceDocument, InvoiceStatus
from invoicing.services.documents import issued_invoice
from invoicing.services.pdf import invoice_pdf

log = structlog.get_logger(__name__)

# invoices per render task: few messages for a big billing run, still spread over the workers
RENDER_BATCH = 20


def document_variant(invoice: Invoice) -> str:
    """The document an invoice shows now: stamped once paid or void, else as issued."""
    if invoice.status == InvoiceStatus.PAID:
        return InvoiceDocument.Variant.PAID
    if invoice.status == InvoiceStatus.VOID:
        return InvoiceDocument.Variant.VOID
    return InvoiceDocument.Variant.INVOICE


def invoice_document_get(*, invoice_id: int, variant: str | None = None) -> InvoiceDocument:
    """The stored document of a finalized invoice (``variant`` default: the one for its status now),
    rendered and stored first when it does not exist yet."""
    return _stored_or_rendered(invoice_id, variant)[0]


def _stored_or_rendered(invoice_id: int, variant: str | None) -> tuple[InvoiceDocument, bool]:
    """(the document, whether this call rendered and stored it)."""
    invoice = issued_invoice(invoice_id=invoice_id, hint="it has no stored document")
    variant = variant or document_variant(invoice)
    stored = InvoiceDocument.objects.filter(invoice_id=invoice_id, variant=variant).first()
    if stored is not None:
        return stored, False
    content = invoice_pdf(invoice=invoice, variant=variant)
    document = InvoiceDocument(
        invoice=invoice,
        variant=variant,
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
    )
    try:
        with transaction.atomic():
            document.save()
    except IntegrityError:  # rendered at the same time elsewhere: the same bytes, keep the first
        return InvoiceDocument.objects.get(invoice_id=invoice_id, variant=variant), False
    log.info("invoice.document_stored", invoice_id=invoice_id, variant=variant, size=len(content))
    return document, True


def invoice_documents_render(*, invoice_ids: Iterable[int]) -> int:
    """Make sure each invoice's current document is stored; returns how many were rendered now."""
    ids = list(invoice_ids)
    invoices = Invoice.objects.filter(pk__in=ids).exclude(status=InvoiceStatus.DRAFT).only("id", "status")
    wanted = {(inv.pk, document_variant(inv)) for inv in invoices}
    stored = set(InvoiceDocument.objects.filter(invoice_id__in=ids).values_list("invoice_id", "variant"))
    rendered = 0
    for invoice_id, variant in sorted(wanted - stored):
        rendered += _stored_or_rendered(invoice_id, variant)[1]
    return rendered


def invoice_documents_queue(*, invoice_ids: Iterable[int]) -> None:
    """After the caller's transaction commits, render these invoices' current documents in tasks."""
    ids = sorted(set(invoice_ids))
    if not ids:
        return

    def send() -> None:
        for start in range(0, len(ids), RENDER_BATCH):
            task_enqueue("invoicing.tasks.render_invoice_documents", ids[start : start + RENDER_BATCH])

    transaction.on_commit(send)


def invoice_pdf_bytes(*, invoice: Invoice) -> bytes:
    """The PDF to hand out: a finalized invoice's stored document (rendered now if still missing),
    a draft's fresh render with its DRAFT watermark."""
    if invoice.status == InvoiceStatus.DRAFT:
        return invoice_pdf(invoice=invoice)
    return bytes(invoice_document_get(invoice_id=invoice.pk).content)
