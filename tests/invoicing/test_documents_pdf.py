"""The invoice PDF: a real invoice (seller, customer, number, dates, terms, lines, totals, pages)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.display import format_money
from invoicing.models import Invoice, LineKind
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.drafts import LineDraft
from invoicing.services.finalization import invoice_finalize
from invoicing.services.pdf import invoice_html, invoice_pdf, payment_terms, quantity
from tests.invoicing.factories import (
    FEB_1,
    MAR_1,
    make_customer,
    make_draft,
    subscription_line,
    usage_line,
)

pytestmark = pytest.mark.django_db

# 23:30 UTC on Feb 3 is already Feb 4 in Berlin: dates are shown in the customer's time zone
AT = datetime(2026, 2, 3, 23, 30, tzinfo=UTC)


def test_money_is_shown_with_the_currency_symbol_and_minor_unit() -> None:
    # the PDF uses the one formatter (tests/test_money_format.py pins it), here in the default locale
    assert format_money(Decimal("1234.5"), "USD") == "$1,234.50"
    assert format_money(Decimal("-90"), "EUR") == "-€90.00"
    assert format_money(Decimal("1200"), "JPY") == "¥1,200"
    assert format_money(Decimal("0.0004"), "USD") == "$0.0004"
    assert quantity(Decimal("1500.000000000000"), "en_US") == "1,500"
    assert quantity(Decimal("1500.000000000000"), "en_DE") == "1.500"
    assert (payment_terms(30), payment_terms(0)) == ("Net 30", "Due on receipt")


def test_a_finalized_invoice_reads_like_an_invoice() -> None:
    customer = make_customer("cus_pdf", tax_rate_percent=Decimal(19))
    invoice = invoice_finalize(
        invoice_id=make_draft(customer, lines=[subscription_line("49.00"), usage_line("107.00")]).pk, at=AT
    )
    html = invoice_html(invoice=invoice)
    for text in (
        "Meshwork Networks, Inc.",  # seller
        "100 Relay Street",
        "Acme GmbH",  # customer, from the snapshot
        "Hauptstraße 5",
        "10115 Berlin",
        "Germany",
        "Tax ID: DE123456789",
        "INV-2026-000001",
        "Feb 4, 2026",  # issued, in Europe/Berlin
        "Mar 6, 2026",  # due: net 30
        "Net 30",
        "Pro plan",
        "Feb 1, 2026 – Mar 1, 2026",  # the line's service period
        # amounts and quantities read as in the customer's country (en_DE: English words, German
        # numbers; "US$" because "$" alone is ambiguous there): docs/money.md
        "Units 101 – 1.000",  # tier detail of the usage line
        "900 × 0,08\xa0US$",
        "156,00\xa0US$",  # subtotal
        "29,64\xa0US$",  # tax: 9.31 + 20.33
        "185,64\xa0US$",  # total and amount due
        'counter(page) " of " counter(pages)',
    ):
        assert text in html, text
    assert "DRAFT" not in html
    assert invoice_pdf(invoice=invoice).startswith(b"%PDF")


def test_the_pdf_shows_the_snapshot_not_the_live_customer() -> None:
    from accounts.services.customers import customer_update

    customer = make_customer()
    invoice = invoice_finalize(invoice_id=make_draft(customer).pk, at=AT)
    customer_update(customer=customer, name="Renamed Ltd")
    html = invoice_html(invoice=Invoice.objects.get(pk=invoice.pk))
    assert "Acme GmbH" in html and "Renamed Ltd" not in html


def test_a_draft_is_marked_draft_and_uses_the_live_customer() -> None:
    draft = make_draft(make_customer(net_terms_days=0))
    html = invoice_html(invoice=draft)
    assert 'class="watermark">DRAFT' in html
    assert "Due on receipt" in html
    assert invoice_pdf(invoice=draft).startswith(b"%PDF")


def test_credits_and_credit_invoices_are_spelled_out() -> None:
    customer = make_customer(country="US")  # en_US: $30.00
    credit = LineDraft(
        kind=LineKind.PRORATION,
        description="Unused time",
        amount=Decimal("-50.00"),
        period_start=FEB_1,
        period_end=MAR_1,
    )
    invoice = invoice_finalize(
        invoice_id=make_draft(customer, lines=[subscription_line("20.00"), credit]).pk, at=AT
    )
    html = invoice_html(invoice=invoice)
    assert "Credited to your balance" in html and "$30.00" in html
    assert "Nothing to pay: $30.00 credited to your balance" in html

    following = invoice_finalize(invoice_id=make_draft(customer, billing_date=MAR_1).pk, at=AT)
    html = invoice_html(invoice=following)
    # what reduces the amount due reads as the positive amount its label names
    assert '<td>Credits applied</td><td class="num">$30.00</td>' in html and "$70.00" in html
    assert "-$30.00" not in html


def test_a_credit_note_leaves_the_issued_invoice_document_as_issued() -> None:
    """The credit note is a document of its own (CN-…); the invoice's PDF keeps the figures it was issued with."""
    invoice = invoice_finalize(invoice_id=make_draft(make_customer()).pk, at=AT)
    issued = invoice_html(invoice=invoice)
    credit_note_create(invoice_id=invoice.pk, amount=Decimal("30.00"), reason="Outage", at=AT)
    invoice.refresh_from_db()
    assert invoice.amount_credited == Decimal("30.00")
    html = invoice_html(invoice=invoice)
    assert "Credit notes" not in html and "-$30.00" not in html
    assert html == issued


def test_a_long_invoice_renders_on_several_pages() -> None:
    lines = [subscription_line("18.00", f"Seat add-on {i}") for i in range(60)]
    invoice = invoice_finalize(invoice_id=make_draft(make_customer(), lines=lines).pk, at=AT)
    from weasyprint import HTML

    document = HTML(string=invoice_html(invoice=invoice)).render()
    assert len(document.pages) >= 2
