"""Reads of invoicing that faces (API, admin, tasks) need, written once (docs/architecture.md: services write, selectors read).

Past due: an open invoice whose due date has gone by at ``at`` — the business instant the caller
supplies (the request's time, a report's as-of), never the wall clock read here. The API's ``past_due``,
the admin's "Past due" column and its filter all ask these two functions, so they cannot disagree.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from invoicing.models import Invoice, InvoiceStatus


def invoice_is_past_due(*, invoice: Invoice, at: datetime) -> bool:
    """Open with its due date gone by at ``at`` (the same rule as ``invoices_past_due``)."""
    return bool(invoice.status == InvoiceStatus.OPEN and invoice.due_at is not None and invoice.due_at < at)


def invoices_past_due(*, at: datetime, invoices: QuerySet[Invoice] | None = None) -> QuerySet[Invoice]:
    """The invoices (of ``invoices``; all by default) past due at ``at``."""
    among = Invoice.objects.all() if invoices is None else invoices
    return among.filter(status=InvoiceStatus.OPEN, due_at__isnull=False, due_at__lt=at)
