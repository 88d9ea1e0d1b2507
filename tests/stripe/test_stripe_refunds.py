"""Refunds: part of a card payment refunded gives a credit note and a Stripe refund, and the invoice's
figures still add up (``amount_due = total - credits_applied - amount_credited - amount_paid``); a refund
made in Stripe itself reaches us by ``charge.refunded`` (localstripe sends no such event: the test signs
it in Stripe's shape) and gets the same credit note and refund row."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from invoicing.models import CreditNote, Payment, Refund
from tests.stripe.conftest import LocalStripe, signed, wait_for
from tests.stripe.helpers import billing_run, card, customer, plan, subscribe

pytestmark = pytest.mark.django_db(transaction=True)


def paid_by_card(stripe: LocalStripe, api: APIClient) -> Payment:
    plan(api, "pro", "USD", "18.00")
    customer(api, "acme")
    card(api, "acme", "pm_card_visa")
    subscribe(api, "acme", "pro")
    billing_run()
    return wait_for(lambda: Payment.objects.filter(status="succeeded").first(), what="the payment webhook")


def figures(api: APIClient, invoice_id: int) -> tuple[str, ...]:
    body = api.get(f"/api/v1/invoices/{invoice_id}").json()
    return tuple(body[k] for k in ("status", "total", "amount_credited", "amount_paid", "amount_due"))


def test_a_partial_refund_of_a_card_payment_credits_the_invoice_and_refunds_in_stripe(
    stripe_on: LocalStripe, api: APIClient, client: Client
) -> None:
    payment = paid_by_card(stripe_on, api)
    response = api.post(
        f"/api/v1/payments/{payment.pk}/refund", {"amount": "50.00", "reason": "outage"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["credit_note"]["amount"], body["credit_note"]["invoice"]) == ("50.00", payment.invoice_id)
    assert (body["refund"]["amount"], body["refund"]["status"]) == ("50.00", "pending")  # sent after commit
    refund = Refund.objects.get()
    assert refund.status == "succeeded" and refund.stripe_refund_id  # delivered by the outbox (eager here)
    (in_stripe,) = stripe_on.get(f"/v1/refunds?payment_intent={payment.reference}")["data"]
    assert (in_stripe["id"], in_stripe["amount"]) == (refund.stripe_refund_id, 5000)
    assert in_stripe["metadata"]["ratecard_refund_id"] == str(refund.pk)
    assert stripe_on.idempotency_keys("/v1/refunds") == [f"refund-{refund.pk}"]
    # 180.00 = 50.00 credited + 130.00 paid (net of the refund); nothing due, nothing to the balance
    assert figures(api, payment.invoice_id) == ("paid", "180.00", "50.00", "130.00", "0.00")
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("succeeded", Decimal("50.00"))
    assert not payment.invoice.customer.balance_transactions.exclude(credit_note=None).exists()

    # more than is left to refund is 400 on amount, and writes nothing
    too_much = api.post(
        f"/api/v1/payments/{payment.pk}/refund", {"amount": "130.01", "reason": "x"}, format="json"
    )
    assert too_much.status_code == 400 and too_much.json()["errors"][0]["field"] == "amount"
    assert (CreditNote.objects.count(), Refund.objects.count()) == (1, 1)

    # a refund made in Stripe's dashboard, reported by charge.refunded
    stripe_on.request("POST", "/v1/refunds", {"payment_intent": payment.reference, "amount": "1000"})
    intent = stripe_on.get(f"/v1/payment_intents/{payment.reference}")
    charge = intent["latest_charge"]
    event = {
        "id": "evt_refunded_1",
        "object": "event",
        "type": "charge.refunded",
        "created": int(time.time()),
        "data": {"object": {"id": charge["id"], "object": "charge", "payment_intent": payment.reference}},
    }
    payload, signature = signed(event)
    for _ in range(2):  # a redelivery changes nothing
        delivered = client.post(
            "/stripe/webhook/", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
        assert delivered.status_code == 200
    assert sorted(Refund.objects.values_list("amount", flat=True)) == [Decimal("10.00"), Decimal("50.00")]
    assert figures(api, payment.invoice_id) == ("paid", "180.00", "60.00", "120.00", "0.00")
    # the rest, refunded through the API: the payment is refunded in full
    rest = api.post(
        f"/api/v1/payments/{payment.pk}/refund", {"amount": "120.00", "reason": "churn"}, format="json"
    )
    assert rest.status_code == 201
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("refunded", Decimal("180.00"))
    assert figures(api, payment.invoice_id) == ("paid", "180.00", "180.00", "0.00", "0.00")
