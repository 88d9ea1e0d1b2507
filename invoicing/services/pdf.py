"""The invoice as a document: HTML from ``templates/invoicing/invoice_pdf.html``, PDF by WeasyPrint.

A finalized invoice is rendered from its snapshots (seller and customer as they were when it was issued)
with the figures it was issued with, in one of three variants: ``invoice`` (as issued), ``paid`` and
``void`` (the same figures with a stamp and the date of the payment or the void). Rendering is
deterministic: the PDF's dates come from the invoice, never the wall clock, so the same invoice and
variant give the same bytes wherever they are rendered (``invoicing.services.invoice_documents`` stores
them). A draft (or a preview) is rendered from the live customer, with a DRAFT watermark.

Amounts go through the one formatter, ``billing.display.format_money``, in the customer's locale
(``customer_locale``: its billing country's conventions, ``$1,234.56``, ``1.234,56 €``, ``¥1,200``);
unit prices keep their extra places (``$0.0004``). Dates are in the customer's time zone.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.numbers import format_decimal
from django.conf import settings
from django.template.loader import render_to_string

from billing.display import customer_locale, format_money
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus
from invoicing.services.documents import customer_snapshot, seller_snapshot

TEMPLATE = "invoicing/invoice_pdf.html"
LOCALE = "en_US"  # the documents' language (country names); numbers follow the customer's locale
DATE_FORMAT = "%b %-d, %Y"  # Jan 5, 2026

# fontTools (WeasyPrint's font subsetting) logs every table it subsets at INFO
logging.getLogger("fontTools").setLevel(logging.WARNING)

# WeasyPrint (Pango, fontconfig) is not documented as thread-safe: one render at a time per process.
_RENDER_LOCK = threading.Lock()


# --- formatting -------------------------------------------------------------------------------------


def quantity(value: Decimal | None, locale: str) -> str:
    """``1,500`` / ``0.5`` (``1.500`` in en_DE): no trailing zeros."""
    if value is None:
        return ""
    return str(format_decimal(Decimal(value), locale=locale, decimal_quantization=False))


def country_name(code: str) -> str:
    if not code:
        return ""
    return str(Locale.parse(LOCALE).territories.get(code.upper(), code))


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_date(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime(DATE_FORMAT) if value else ""


def service_period(start: datetime | None, end: datetime | None, tz: ZoneInfo) -> str:
    """``Jan 31, 2026 – Feb 28, 2026`` (the half-open period's bounds, as Stripe shows them)."""
    if start and end:
        return f"{local_date(start, tz)} – {local_date(end, tz)}"
    return local_date(start or end, tz)


def payment_terms(net_terms_days: int) -> str:
    return f"Net {net_terms_days}" if net_terms_days else "Due on receipt"


def address_lines(party: dict[str, Any]) -> list[str]:
    """A postal address, one line each, without empty lines."""
    city = " ".join(p for p in (str(party.get("postal_code") or ""), str(party.get("city") or "")) if p)
    lines = [
        party.get("address_line1"),
        party.get("address_line2"),
        city,
        party.get("state"),
        country_name(str(party.get("country") or "")),
    ]
    return [str(line) for line in lines if line]


def seller_address_lines(address: str) -> list[str]:
    """``100 Relay Street, San Francisco, CA 94105, USA`` -> street / ``San Francisco, CA 94105`` / country."""
    parts = [part.strip() for part in address.split(",") if part.strip()]
    if len(parts) <= 2:
        return parts
    return [parts[0], ", ".join(parts[1:-1]), parts[-1]]


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None and value != "" else None
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class SliceRow:
    units: str
    quantity: str
    unit_price: str
    flat_fee: str
    amount: str


def tier_rows(detail: dict[str, Any], currency: str, locale: str) -> list[SliceRow]:
    """Rows for a tiered line's ``detail["slices"]`` (from billing.pricing's ``TierSlice``)."""
    rows = []
    for raw in detail.get("slices") or []:
        if not isinstance(raw, dict):
            continue
        first, last = _decimal(raw.get("first_unit")), _decimal(raw.get("last_unit"))
        flat = _decimal(raw.get("flat_amount")) or Decimal(0)
        if first is not None and last is not None:
            units = f"{quantity(first, locale)} – {quantity(last, locale)}"
        elif first is not None:
            units = f"{quantity(first, locale)}+"
        else:
            units = ""
        rows.append(
            SliceRow(
                units=units,
                quantity=quantity(_decimal(raw.get("quantity")), locale),
                unit_price=format_money(_decimal(raw.get("unit_amount")), currency, locale=locale),
                flat_fee=format_money(flat, currency, locale=locale) if flat else "",
                amount=format_money(_decimal(raw.get("amount")), currency, locale=locale),
            )
        )
    return rows


# --- rendering --------------------------------------------------------------------------------------


VARIANTS = ("invoice", "paid", "void")


def _utc_iso(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def _stamp(invoice: Invoice, variant: str, tz: ZoneInfo) -> tuple[str, datetime | None]:
    """The stamp of a ``paid`` / ``void`` variant and the instant it records (none for ``invoice``)."""
    if variant not in VARIANTS:
        raise ValueError(f"Unknown invoice document variant {variant!r}.")
    if variant == "invoice":
        return "", None
    when = invoice.paid_at if variant == "paid" else invoice.voided_at
    if when is None:
        raise ValueError(f"Invoice {invoice.pk} is not {variant}: it has no {variant} stamp.")
    return f"{variant.upper()} {when.astimezone(tz):%Y-%m-%d}", when


def invoice_context(
    *, invoice: Invoice, lines: list[InvoiceLine] | None = None, variant: str = "invoice"
) -> dict[str, Any]:
    """Everything the template shows, already formatted (the template does no arithmetic).

    A finalized invoice shows the figures it was issued with: nothing was paid yet when it was issued,
    so ``amount_due`` is ``total - credits_applied``; a payment or a void is the ``variant``'s stamp.
    """
    is_draft = invoice.status == InvoiceStatus.DRAFT or invoice.pk is None or not invoice.number
    customer = invoice.customer_snapshot if (invoice.customer_snapshot and not is_draft) else None
    if customer is None:
        customer = customer_snapshot(invoice.customer)
    seller = invoice.seller_snapshot if (invoice.seller_snapshot and not is_draft) else seller_snapshot()
    tz = zone(customer.get("timezone"))
    currency = invoice.currency
    locale = customer_locale(customer.get("country"))

    def money(value: Decimal) -> str:
        return format_money(value, currency, locale=locale)

    if lines is None:
        lines = list(invoice.lines.order_by("position", "id")) if invoice.pk else []
    credits = Decimal(invoice.credits_applied)
    amount_paid = Decimal(invoice.amount_paid) if is_draft else Decimal(0)
    amount_due = Decimal(invoice.amount_due) if is_draft else Decimal(invoice.total) - credits
    # a finalized invoice shows the figures as issued (later payments and credit notes are not on it)
    stamp, stamped_at = ("", None) if is_draft else _stamp(invoice, variant, tz)
    return {
        "invoice": invoice,
        "is_draft": is_draft,
        "title": "Invoice" if not is_draft else "Draft invoice",
        "number": invoice.number or "DRAFT",
        "status": invoice.get_status_display() if hasattr(invoice, "get_status_display") else invoice.status,
        "currency": currency,
        "seller": seller,
        "seller_address": seller_address_lines(str(seller.get("address") or "")),
        "customer": customer,
        "customer_address": address_lines(customer),
        "timezone": str(tz.key),
        "issued_at": local_date(invoice.issued_at, tz) or "Not issued yet",
        "due_at": local_date(invoice.due_at, tz) or "On finalization",
        "terms": payment_terms(invoice.net_terms_days),
        "period": service_period(invoice.period_start, invoice.period_end, tz),
        "lines": [
            {
                "description": line.description,
                "kind": line.get_kind_display(),
                "period": service_period(line.period_start, line.period_end, tz),
                "quantity": quantity(line.quantity, locale),
                "unit_price": money(line.unit_amount) if line.unit_amount is not None else "",
                "amount": money(line.amount),
                "tax_rate": quantity(line.tax_rate_percent, locale) if line.tax_rate_percent else "",
                "tiers": tier_rows(line.detail or {}, currency, locale),
            }
            for line in lines
        ],
        "subtotal": money(invoice.subtotal),
        # the discount lines are negative and inside the subtotal: "of which discounts -$4.51"
        "discount": money(-Decimal(invoice.discount)) if invoice.discount else "",
        "tax": money(invoice.tax),
        "total": money(invoice.total),
        # what reduces the amount due reads as the positive amount its label names ("Amount paid
        # $1,534.50", never "-$1,534.50", which reads as money paid back). credits_applied is signed:
        # > 0 consumed from the balance, < 0 credited to it (a credit invoice)
        "credits_applied": money(credits) if credits > 0 else "",
        "credited_to_balance": money(-credits) if credits < 0 else "",
        "amount_paid": money(amount_paid) if amount_paid else "",
        "amount_due": money(amount_due),
        "nothing_due": amount_due <= 0,
        "stamp": stamp,
        "variant": variant,
        # the PDF's own dates (its Info dictionary): the invoice's, so a re-render gives the same bytes
        "created_iso": _utc_iso(invoice.issued_at),
        "modified_iso": _utc_iso(stamped_at or invoice.issued_at),
    }


def invoice_html(
    *, invoice: Invoice, lines: list[InvoiceLine] | None = None, variant: str = "invoice"
) -> str:
    return render_to_string(TEMPLATE, invoice_context(invoice=invoice, lines=lines, variant=variant))


def invoice_pdf(
    *, invoice: Invoice, lines: list[InvoiceLine] | None = None, variant: str = "invoice"
) -> bytes:
    """Render the invoice as PDF bytes (a draft gets a DRAFT watermark and the live customer)."""
    from weasyprint import HTML  # heavy import, only when a PDF is made

    html = invoice_html(invoice=invoice, lines=lines, variant=variant)
    with _RENDER_LOCK:
        pdf = HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()
    return bytes(pdf or b"")
