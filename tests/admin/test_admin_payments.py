"""Payments in the admin: the demo's failed payments in the payments list (filtered by status and
method) and on their invoices; the Stripe outbox with its banner while calls are dead, and finance's
retry; the reconciliation, webhook event, refund and dispute screens."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from billing.demo import seed_demo
from invoicing.models import (
    Invoice,
    Payment,
    PaymentDispute,
    ReconciliationMismatch,
    Refund,
    StripeEvent,
    StripeOutbox,
)
from tests.admin import change_url, changelist_url, logged_in
from tests.conftest import make_staff
from tests.test_seed_demo import HISTORY

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("invoicing.services.invoice_documents.invoice_pdf", lambda **kwargs: b"%PDF-1.7 test")


def test_the_demo_failed_payments_are_in_the_payments_list_and_on_their_invoices(
    client: Client, no_pdf: None
) -> None:
    report = seed_demo(customers=30, history_customers=HISTORY)
    assert report.history is not None
    failed = list(Payment.objects.filter(status="failed").select_related("invoice"))
    assert len(failed) == report.history.failed_payments >= 2
    for payment in failed:
        assert payment.method == "stripe" and payment.failure_reason.startswith(
            "Your card has insufficient funds"
        )
        assert payment.invoice.status == "open" and payment.invoice.payment_failed_at is not None
    finance = logged_in(client, make_staff("fin", "finance"))
    page = finance.get(
        changelist_url(Payment) + "?status__exact=failed&method__exact=stripe"
    ).content.decode()
    for payment in failed:
        assert str(payment.invoice.number) in page
    assert page.count("insufficient funds") == len(failed)
    invoice_page = finance.get(change_url(failed[0].invoice)).content.decode()
    assert "Your card has insufficient funds" in invoice_page and "Failure message" in invoice_page


def test_dead_stripe_calls_raise_a_banner_and_finance_retries_them(client: Client, settings: Any) -> None:
    from tests.invoicing.factories import make_customer

    customer = make_customer()
    dead = StripeOutbox.objects.create(
        key="customer-1-sync-1",
        kind="customer_sync",
        customer=customer,
        status="dead",
        attempts=8,
        last_error="boom",
    )
    finance = logged_in(client, make_staff("fin", "finance"))
    home = finance.get("/admin/invoicing/invoice/").content.decode()
    assert "1 Stripe call(s) gave up after their last attempt" in home
    listing = finance.get(changelist_url(StripeOutbox) + "?status__exact=dead").content.decode()
    assert "customer-1-sync-1" in listing and "boom" in listing
    settings.STRIPE_API_KEY = ""  # the retried row is queued; with Stripe off its delivery fails again
    response = finance.post(
        changelist_url(StripeOutbox), {"action": "retry_dead", "_selected_action": [dead.pk]}, follow=True
    )
    assert "Queued 1 dead Stripe call(s) again." in response.content.decode()
    dead.refresh_from_db()
    assert dead.status in ("pending", "dead") and dead.attempts <= 1


def test_support_sees_the_outbox_but_cannot_retry(client: Client) -> None:
    support = logged_in(client, make_staff("sup", "support"))
    response = support.get(changelist_url(StripeOutbox))
    assert response.status_code == 200
    assert "retry_dead" not in response.content.decode()


@pytest.mark.parametrize("model", [StripeOutbox, StripeEvent, Refund, PaymentDispute, ReconciliationMismatch])
def test_finance_opens_every_payments_screen(client: Client, admin_user: User, model: Any) -> None:
    finance = logged_in(client, make_staff("fin", "finance"))
    assert finance.get(changelist_url(model)).status_code == 200


def test_a_customer_shows_its_default_card(client: Client) -> None:
    from invoicing.models import CustomerPaymentMethod
    from tests.invoicing.factories import make_customer

    customer = make_customer()
    CustomerPaymentMethod.objects.create(
        customer=customer,
        stripe_payment_method_id="pm_123",
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2030,
    )
    finance = logged_in(client, make_staff("fin", "finance"))
    page = finance.get(change_url(customer)).content.decode()
    assert "visa •••• 4242" in page and "12/2030" in page
    assert Invoice.objects.count() == 0


def test_the_payments_list_records_a_bank_transfer_on_its_invoice_never_above_what_is_due(
    client: Client,
) -> None:
    """One admin path records a payment by hand: the invoice's "Record payment" (form, review, confirm);
    the payments list's "add" leads there."""
    from django.urls import reverse

    from tests.invoicing.test_admin_payments import reviewed
    from tests.invoicing.test_payments_api import open_invoice

    invoice = open_invoice()
    finance = logged_in(client, make_staff("fin", "finance"))
    add = reverse("admin:invoicing_payment_add")
    url = reverse("admin:invoicing_invoice_payment", args=(invoice.pk,))
    assert finance.get(f"{add}?invoice={invoice.pk}")["Location"] == url
    assert finance.get(add)["Location"].endswith("/admin/invoicing/invoice/?status__exact=open")
    form = {
        "amount": "100.01",
        "method": "bank_transfer",
        "reference": "wire-9",
        "received_at": "2026-02-10 09:00",
    }

    def confirm(data: dict[str, str]) -> str:
        review = finance.post(url, {**data, "preview": "1"}).content.decode()
        return finance.post(
            url, {**data, "confirm": "1", "previewed": reviewed(review)}, follow=True
        ).content.decode()

    assert "more than the 100.00 USD due" in confirm(form)
    assert not invoice.payments.exists()
    confirm({**form, "amount": "100.00"})
    invoice.refresh_from_db()
    (payment,) = invoice.payments.all()
    assert (payment.method, payment.amount, invoice.status) == ("bank_transfer", 100, "paid")
    support = logged_in(Client(), make_staff("sup", "support"))
    assert support.get(add).status_code == 403
    assert support.get(url).status_code == 403


def test_finance_charges_an_open_invoice_again_from_its_outbox_row(client: Client, settings: Any) -> None:
    from tests.invoicing.test_payments_api import open_invoice

    invoice = open_invoice()
    invoice.customer.collection_method = "charge_automatically"
    invoice.customer.save()
    declined = StripeOutbox.objects.create(
        key=f"invoice-{invoice.pk}-payment-1",
        kind="invoice_collect",
        customer=invoice.customer,
        invoice=invoice,
        status="done",
        attempts=1,
        outcome="declined: Your card was declined.",
    )
    settings.STRIPE_API_KEY = "sk_test_ratecard"  # Stripe on: the retry is an outbox row
    finance = logged_in(client, make_staff("fin", "finance"))
    response = finance.post(
        changelist_url(StripeOutbox),
        {"action": "charge_again", "_selected_action": [declined.pk]},
        follow=True,
    )
    assert "Queued a new charge for 1 of 1 invoice(s)" in response.content.decode()
    # delivered after commit (this test's transaction never commits: tests/stripe deliver for real)
    retry = StripeOutbox.objects.get(key=f"invoice-{invoice.pk}-payment-2")
    assert (retry.kind, retry.status, retry.invoice_id) == ("invoice_collect", "pending", invoice.pk)
