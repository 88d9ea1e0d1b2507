"""The invoice list and page in a real browser: amounts as people write them, past due as a red badge."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from invoicing.services.finalization import invoice_finalize
from invoicing.services.payments import invoice_record_payment
from tests.e2e.conftest import log_in, shot
from tests.invoicing.factories import make_customer, make_draft, subscription_line

pytestmark = pytest.mark.django_db(transaction=True)


def test_finance_reads_amounts_and_sees_what_is_past_due(
    live_server: Any, page: Any, finance_user: User
) -> None:
    # issued 60 days ago on net 30: past due whatever today is
    issued_at = timezone.now() - timedelta(days=60)
    late = invoice_finalize(
        invoice_id=make_draft(
            make_customer("cus_late", name="Late Ltd", country="US"), lines=[subscription_line("1534.50")]
        ).pk,
        at=issued_at,
    )
    paid = invoice_finalize(
        invoice_id=make_draft(
            make_customer("cus_paid", name="Paid GmbH", currency="EUR"), lines=[subscription_line("1534.50")]
        ).pk,
        at=issued_at,
    )
    invoice_record_payment(invoice_id=paid.pk, amount=Decimal("1534.50"), at=issued_at + timedelta(days=1))

    base = live_server.url
    log_in(page, base, "fiona")
    page.goto(f"{base}/admin/invoicing/invoice/")
    shot(page, "invoice-list-money")
    late_row = page.locator("#result_list tr", has_text=str(late))
    assert late_row.locator(".field-total_display").inner_text() == "$1,534.50"
    badge = late_row.locator(".field-past_due .ratecard-badge")
    assert badge.inner_text() == "Past due"
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(197, 48, 48)"  # red
    paid_row = page.locator("#result_list tr", has_text=str(paid))
    assert paid_row.locator(".field-total_display").inner_text() == "€1,534.50"
    assert paid_row.locator(".field-past_due .ratecard-badge").count() == 0
    assert page.locator(".field-past_due img").count() == 0  # no boolean icons in that column

    page.goto(f"{base}/admin/invoicing/invoice/{paid.pk}/change/")
    shot(page, "invoice-page-paid-figures")
    figures = page.locator(".field-figures table").inner_text()
    assert "Amount paid\t€1,534.50" in figures and "Amount due\t€0.00" in figures
    assert "-€" not in figures.split("Amount paid")[1]
    assert page.errors == []
