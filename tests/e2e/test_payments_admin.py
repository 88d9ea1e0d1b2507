"""Payments in a real browser: a failed card payment in the payments list (filtered) and on its invoice
with Stripe's message, and the red banner while Stripe calls are dead."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User

from invoicing.models import StripeOutbox
from invoicing.services.finalization import invoice_finalize
from invoicing.services.payment_outcomes import payment_failed_record
from tests.e2e.conftest import log_in, shot
from tests.invoicing.factories import FEB_1, make_customer, make_draft, subscription_line

pytestmark = pytest.mark.django_db(transaction=True)


def test_finance_sees_a_failed_payment_and_the_dead_stripe_calls(
    live_server: Any, page: Any, finance_user: User
) -> None:
    buyer = make_customer("cus_broke", name="Broke Ltd", country="US")
    invoice = invoice_finalize(invoice_id=make_draft(buyer, lines=[subscription_line("180.00")]).pk, at=FEB_1)
    payment_failed_record(
        invoice_id=invoice.pk,
        amount=Decimal("180.00"),
        at=FEB_1,
        method="stripe",
        reference="pi_3Declined",
        failure_message="Your card was declined.",
        stripe_payment_intent="pi_3Declined",
    )
    StripeOutbox.objects.create(
        key=f"invoice-{invoice.pk}-payment-2",
        kind="invoice_collect",
        customer=buyer,
        invoice=invoice,
        status="dead",
        attempts=8,
        last_error="StripeUnavailable: APIConnectionError: connection refused",
    )
    base = live_server.url
    log_in(page, base, "fiona")
    page.goto(f"{base}/admin/invoicing/payment/?status__exact=failed&method__exact=stripe")
    shot(page, "payments-list-failed")
    row = page.locator("#result_list tr", has_text=str(invoice))
    assert "Your card was declined." in row.inner_text() and "pi_3Declined" in row.inner_text()
    banner = page.locator(".messagelist .error")
    assert "1 Stripe call(s) gave up after their last attempt" in banner.inner_text()

    page.goto(f"{base}/admin/invoicing/invoice/{invoice.pk}/change/")
    shot(page, "invoice-page-failed-payment")
    payments = page.locator("#payments-group").inner_text()
    assert "Your card was declined." in payments and "Failed" in payments and "$180.00" in payments

    banner.locator("a").click()
    page.wait_for_load_state("load")
    shot(page, "stripe-outbox-dead")
    assert f"invoice-{invoice.pk}-payment-2" in page.locator("#result_list").inner_text()
    assert page.errors == []
