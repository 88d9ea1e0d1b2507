"""Amounts as people read them on the admin and the invoice PDF: ``$1,534.50``, never ``1534.5000`` nor a
figure without its currency; a paid amount reads positive; past due looks like a problem."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import models
from django.test import Client
from django.urls import reverse

from invoicing.models import Invoice
from invoicing.selectors import invoice_is_past_due, invoices_past_due
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.finalization import invoice_finalize
from invoicing.services.payments import invoice_record_payment
from invoicing.services.pdf import invoice_html
from tests.invoicing.factories import make_customer, make_draft, subscription_line

pytestmark = pytest.mark.django_db

AT = datetime(2026, 2, 3, tzinfo=UTC)  # issued; net 30: due 2026-03-05
AFTER_DUE = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
CHANGELIST = "/admin/invoicing/invoice/"


def issued(amount: str = "1534.50", **customer: Any) -> Invoice:
    draft = make_draft(make_customer(**{"country": "US", **customer}), lines=[subscription_line(amount)])
    return invoice_finalize(invoice_id=draft.pk, at=AT)


def page(client: Client, user: User, url: str, **params: str) -> str:
    client.force_login(user)
    response = client.get(url, params)
    assert response.status_code == 200
    return str(response.content.decode())


def change_url(obj: Any) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=(obj.pk,))


def test_the_invoice_list_and_page_show_amounts_with_their_currency(
    client: Client, finance_user: User
) -> None:
    invoice = issued()
    listing = page(client, finance_user, CHANGELIST)
    assert '<td class="field-total_display">$1,534.50</td>' in listing
    assert '<td class="field-amount_due_display">$1,534.50</td>' in listing
    detail = page(client, finance_user, change_url(invoice))
    assert '<td>Total</td><td style="text-align:right">$1,534.50</td>' in detail
    for raw in ("1534.5000", "1534.50 ", "USD 1", "1,534.5000"):
        assert raw not in listing and raw not in detail


def test_a_paid_amount_reads_positive_everywhere(client: Client, finance_user: User) -> None:
    invoice = issued(currency="EUR")
    invoice_record_payment(invoice_id=invoice.pk, amount=Decimal("1534.50"), at=AT)
    detail = page(client, finance_user, change_url(invoice))
    assert '<td>Amount paid</td><td style="text-align:right">€1,534.50</td>' in detail
    assert '<td>Amount due</td><td style="text-align:right">€0.00</td>' in detail
    assert "-€1,534.50" not in detail and "EUR -1,534.50" not in detail
    # the payment's own rows: formatted, not the raw 4-place column beside a currency code
    payments = page(client, finance_user, "/admin/invoicing/payment/")
    assert '<td class="field-amount_display">€1,534.50</td>' in payments
    assert "1534.5000" not in payments
    assert "€1,534.50" in page(client, finance_user, change_url(invoice.payments.get()))


def test_credit_notes_read_with_their_currency(client: Client, finance_user: User) -> None:
    invoice = issued("120.00")
    note = credit_note_create(invoice_id=invoice.pk, amount=Decimal("100"), reason="Outage", user=None)
    for url in ("/admin/invoicing/creditnote/", change_url(note), change_url(invoice)):
        html = page(client, finance_user, url)
        assert "$100.00" in html and "100.0000" not in html, url


def test_the_pdf_reads_in_the_customers_locale() -> None:
    us = invoice_html(invoice=issued())
    assert "$1,534.50 due Mar 5, 2026" in us and "1534.5" not in us
    de = invoice_html(invoice=issued(currency="EUR", country="DE"))
    assert "1.534,50\xa0€ due Mar 5, 2026" in de  # en_DE: English words, German numbers
    jp = invoice_html(invoice=issued("939", currency="JPY", country="JP"))
    assert "¥939 due" in jp and "¥939.00" not in jp


def test_past_due_is_a_red_badge_and_the_filter_agrees_with_the_selector(
    client: Client, finance_user: User
) -> None:
    late, paid = issued("10.00"), issued("20.00")
    invoice_record_payment(invoice_id=paid.pk, amount=Decimal("20.00"), at=AT)
    draft = make_draft(make_customer(country="US"))
    assert list(invoices_past_due(at=AFTER_DUE)) == [late]
    assert not invoice_is_past_due(invoice=late, at=datetime(2026, 3, 4, tzinfo=UTC))
    with time_machine.travel(AFTER_DUE, tick=False):
        listing = page(client, finance_user, CHANGELIST)
        past_due_only = page(client, finance_user, CHANGELIST, past_due="yes")
        not_past_due = page(client, finance_user, CHANGELIST, past_due="no")
    # one red "Past due" badge (on the late invoice), no green tick anywhere in that column
    assert listing.count(">Past due</span>") == 1
    assert 'class="field-past_due"><img' not in listing and "icon-yes.svg" not in listing
    assert str(late) in past_due_only and str(paid) not in past_due_only
    assert f"/admin/invoicing/invoice/{draft.pk}/change/" not in past_due_only
    assert str(late) not in not_past_due and str(paid) in not_past_due


AMOUNT_NAMES = ("amount", "total", "subtotal", "tax", "discount", "credits_applied", "threshold")


def test_no_admin_shows_a_raw_amount_column() -> None:
    """Every amount a list or a read-only page shows goes through the formatter: no model Decimal field
    whose name says amount is displayed as the column itself (it would read ``1534.5000``)."""
    raw = []
    for model, model_admin in admin.site._registry.items():
        for shown, owner in [(model_admin, model)] + [(i, i.model) for i in model_admin.inlines]:
            names = {*getattr(shown, "list_display", ()), *(shown.readonly_fields or ())}
            for name in names:
                if not isinstance(name, str) or hasattr(shown, name):
                    continue
                try:
                    field = owner._meta.get_field(name)
                except Exception:
                    continue
                if isinstance(field, models.DecimalField) and any(part in name for part in AMOUNT_NAMES):
                    raw.append(f"{owner.__name__}.{name}")
    assert raw == []
