"""A credit note's PDF, drawn like the invoice's (the same stylesheet, parties and money formatting).

Everything on it is frozen when the note is issued or taken from its invoice's snapshot (the customer's
billing details as issued), so rendering it again gives the same document; it is rendered on request
(the admin's "Download PDF"), not stored.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from billing.display import customer_locale, format_money
from invoicing.models import CreditNote
from invoicing.services.pdf import address_lines, html_pdf, local_date, seller_address_lines, zone

TEMPLATE = "invoicing/credit_note_pdf.html"


def credit_note_context(*, note: CreditNote) -> dict[str, Any]:
    invoice = note.invoice
    customer = invoice.customer_snapshot
    seller = invoice.seller_snapshot
    tz = zone(customer.get("timezone"))
    locale = customer_locale(customer.get("country"))
    return {
        "title": "Credit note",
        "number": note.number,
        "invoice_number": invoice.number,
        "issued_at": local_date(note.issued_at, tz),
        "invoice_issued_at": local_date(invoice.issued_at, tz),
        "seller": seller,
        "seller_address": seller_address_lines(str(seller.get("address") or "")),
        "customer": customer,
        "customer_address": address_lines(customer),
        "currency": note.currency,
        "timezone": str(tz.key),
        "amount": format_money(note.amount, note.currency, locale=locale),
        "invoice_total": format_money(invoice.total, invoice.currency, locale=locale),
        "reason": note.reason,
    }


def credit_note_pdf(*, note: CreditNote) -> bytes:
    return html_pdf(render_to_string(TEMPLATE, credit_note_context(note=note)))
