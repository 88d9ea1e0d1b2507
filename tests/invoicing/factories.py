"""Helpers that build invoices the way billing does: a customer, and drafts written by production's one draft
writer (``write_invoice_plans``), so their lines, tax and totals are computed as a billing run's are."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from accounts.models import Customer
from accounts.services.customers import customer_create
from invoicing.models import BillingRun, Invoice, InvoiceDocument, LineKind
from invoicing.services.documents import document_year
from invoicing.services.drafts import InvoicePlan, LineDraft, write_invoice_plans

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)
FEB_1 = datetime(2026, 2, 1, tzinfo=UTC)
MAR_1 = datetime(2026, 3, 1, tzinfo=UTC)

_counter = {"n": 0}


def make_customer(external_id: str | None = None, **fields: Any) -> Customer:
    if external_id is None:
        _counter["n"] += 1
        external_id = f"cus_doc_{_counter['n']}"
    values: dict[str, Any] = {
        "name": "Acme GmbH",
        "currency": "USD",
        "email": "billing@acme.test",
        "address_line1": "Hauptstraße 5",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
        "tax_id": "DE123456789",
        "net_terms_days": 30,
        "timezone": "Europe/Berlin",
    }
    values.update(fields)
    return customer_create(external_id=external_id, **values)


def subscription_line(amount: str = "100.00", description: str = "Pro plan") -> LineDraft:
    return LineDraft(
        kind=LineKind.SUBSCRIPTION,
        description=description,
        amount=Decimal(amount),
        quantity=Decimal(1),
        unit_amount=Decimal(amount),
        period_start=FEB_1,
        period_end=MAR_1,
    )


def usage_line(amount: str = "107.00", quantity: str = "1500") -> LineDraft:
    return LineDraft(
        kind=LineKind.USAGE,
        description="API calls",
        amount=Decimal(amount),
        quantity=Decimal(quantity),
        period_start=JAN_1,
        period_end=FEB_1,
        detail={
            "slices": [
                {
                    "first_unit": "1",
                    "last_unit": "100",
                    "quantity": "100",
                    "unit_amount": "0.10",
                    "flat_amount": "0",
                    "amount": "10.00",
                },
                {
                    "first_unit": "101",
                    "last_unit": "1000",
                    "quantity": "900",
                    "unit_amount": "0.08",
                    "flat_amount": "0",
                    "amount": "72.00",
                },
                {
                    "first_unit": "1001",
                    "last_unit": "1500",
                    "quantity": "500",
                    "unit_amount": "0.05",
                    "flat_amount": "0",
                    "amount": "25.00",
                },
            ]
        },
    )


def document_no(kind: str, issued_at: datetime | str | None, n: int) -> str:
    """The number the ``n``-th ``kind`` (``INV``/``CN``) document of the year of ``issued_at`` gets: tests of
    documents issued at wall-clock time build it from the document's own time, never from today's date."""
    if isinstance(issued_at, str):
        issued_at = datetime.fromisoformat(issued_at)
    assert issued_at is not None
    return f"{kind}-{document_year(issued_at)}-{n:06d}"


def stored_pdf(invoice: Invoice, variant: str = "invoice") -> bytes:
    """The invoice's stored PDF document of ``variant`` (rendered after commit, or by a download)."""
    document = InvoiceDocument.objects.filter(invoice=invoice, variant=variant).first()
    assert document is not None, f"invoice {invoice.pk} has no stored {variant} PDF"
    return bytes(document.content)


def make_draft(
    customer: Customer | None = None,
    *,
    lines: list[LineDraft] | None = None,
    billing_date: datetime = FEB_1,
    group_key: str = "",
    tax_rate: Decimal | None = None,
    run: BillingRun | None = None,
) -> Invoice:
    """A draft with ``lines`` (default: one 100.00 subscription line), written as billing writes drafts."""
    customer = customer or make_customer()
    plan = InvoicePlan(
        customer_id=customer.pk,
        billing_date=billing_date,
        group_key=group_key,
        subscription_id=None,
        tax_rate=Decimal(customer.tax_rate_percent) if tax_rate is None else tax_rate,
        currency=customer.currency,
        net_terms_days=customer.net_terms_days,
        lines=lines if lines is not None else [subscription_line()],
    )
    invoice = write_invoice_plans(plans=[plan], run=run).of(plan)
    invoice.refresh_from_db()  # totals were recomputed in bulk
    return invoice
