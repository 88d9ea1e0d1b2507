"""Payments without Stripe: a transfer or a check recorded by finance (never above what is due), refunds
of them (a credit note, no Stripe call), the payments in the invoice's shape, and Stripe off by default
(``send_invoice`` customers, no outbox rows, 409 on a payment method)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from invoicing.models import Invoice, Refund, StripeOutbox
from invoicing.services.finalization import invoice_finalize
from invoicing.services.payment_outcomes import payment_failed_record
from tests.invoicing.factories import FEB_1, make_customer, make_draft
from tests.stripe.helpers import customer

pytestmark = pytest.mark.django_db


def open_invoice() -> Invoice:
    """A finalized invoice of 100.00 due in 30 days."""
    return invoice_finalize(invoice_id=make_draft(make_customer(net_terms_days=30)).pk, at=FEB_1)


def pay(api: APIClient, invoice: Invoice, **body: Any) -> Any:
    values = {"amount": "40.00", "method": "bank_transfer", "reference": "wire-1", **body}
    return api.post(f"/api/v1/invoices/{invoice.pk}/payments", values, format="json")


def test_a_bank_transfer_is_recorded_and_shown_on_the_invoice(api: APIClient) -> None:
    invoice = open_invoice()
    response = pay(api, invoice, paid_at="2026-02-10T09:00:00Z")
    assert response.status_code == 201, response.content
    assert {k: response.json()[k] for k in ("amount", "method", "status", "reference")} == {
        "amount": "40.00",
        "method": "bank_transfer",
        "status": "succeeded",
        "reference": "wire-1",
    }
    body = api.get(f"/api/v1/invoices/{invoice.pk}").json()
    assert (body["status"], body["amount_paid"], body["amount_due"]) == ("open", "40.00", "60.00")
    (payment,) = body["payments"]
    assert payment["stripe_payment_intent"] == "" and payment["failure_message"] == ""
    # the same reference again is the same payment (a retried request), not a second one
    assert pay(api, invoice).json()["id"] == payment["id"]
    assert pay(api, invoice, amount="60.00", method="check", reference="chk-7").status_code == 201
    assert api.get(f"/api/v1/invoices/{invoice.pk}").json()["status"] == "paid"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "100.01"}, "amount"),  # above what is due
        ({"amount": "-5.00"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"method": "stripe"}, "method"),  # card payments come from Stripe
        ({"method": "cash"}, "method"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_bad_manual_payment_is_400_on_its_field_and_writes_nothing(
    api: APIClient, body: dict[str, Any], field: str
) -> None:
    invoice = open_invoice()
    response = pay(api, invoice, **body)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == field
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.payments.count()) == (0, 0)


def test_support_and_sales_cannot_record_payments_or_refund(
    support_api: APIClient, sales_api: APIClient
) -> None:
    invoice = open_invoice()
    for client in (support_api, sales_api):
        assert pay(client, invoice).status_code == 403
    assert invoice.payments.count() == 0


def test_refunding_a_transfer_credits_the_invoice_without_stripe(api: APIClient) -> None:
    invoice = open_invoice()
    payment_id = pay(api, invoice, amount="100.00").json()["id"]
    response = api.post(
        f"/api/v1/payments/{payment_id}/refund", {"amount": "30.00", "reason": "overbilled"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert (
        response.json()["refund"]["status"] == "succeeded"
        and response.json()["refund"]["stripe_refund_id"] is None
    )
    body = api.get(f"/api/v1/invoices/{invoice.pk}").json()
    assert (body["total"], body["amount_credited"], body["amount_paid"], body["amount_due"]) == (
        "100.00",
        "30.00",
        "70.00",
        "0.00",
    )
    assert Refund.objects.get().credit_note.amount == Decimal("30.00")
    assert StripeOutbox.objects.count() == 0
    missing = api.post("/api/v1/payments/999999/refund", {"amount": "1.00", "reason": "x"}, format="json")
    assert missing.status_code == 404


def test_a_failed_payment_can_not_be_refunded(api: APIClient) -> None:
    invoice = open_invoice()
    failed = payment_failed_record(
        invoice_id=invoice.pk,
        amount=Decimal("100.00"),
        at=FEB_1,
        method="stripe",
        reference="pi_x",
        failure_message="Your card was declined.",
    )
    response = api.post(
        f"/api/v1/payments/{failed.pk}/refund", {"amount": "1.00", "reason": "x"}, format="json"
    )
    assert response.status_code == 409
    body = api.get(f"/api/v1/invoices/{invoice.pk}").json()
    assert body["payments"][0]["failure_message"] == "Your card was declined."
    assert Invoice.objects.get(pk=invoice.pk).payment_failed_at == FEB_1  # dunning started


def test_with_stripe_off_customers_are_invoiced_by_e_mail_and_nothing_goes_to_stripe(api: APIClient) -> None:
    body = customer(api, "acme")
    assert (body["collection_method"], body["stripe_customer_id"]) == ("send_invoice", "")
    open_invoice()
    assert StripeOutbox.objects.count() == 0
    response = api.post(
        "/api/v1/customers/acme/payment-method", {"payment_method": "pm_card_visa"}, format="json"
    )
    assert response.status_code == 409
    bad = api.patch("/api/v1/customers/acme", {"collection_method": "wire"}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "collection_method"
