"""End to end on localstripe: a billing run finalizes invoices, the outbox creates the Stripe customers
and one PaymentIntent per invoice for its exact amount in minor units, and the webhook localstripe
signs and posts marks ours paid; a declined card leaves the invoice open with a failed payment and
dunning started, and a later successful retry marks it paid."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from invoicing.models import Invoice, Payment, StripeOutbox
from tests.stripe.conftest import LocalStripe, wait_for
from tests.stripe.helpers import billing_run, card, customer, invoice_of, plan, subscribe

pytestmark = pytest.mark.django_db(transaction=True)


def paid(external_id: str) -> Invoice | None:
    invoice = invoice_of(external_id)
    return invoice if invoice.status == "paid" else None


def test_a_billing_run_is_collected_by_one_payment_intent_per_invoice_and_the_webhook_marks_it_paid(
    stripe_on: LocalStripe, api: APIClient
) -> None:
    plan(api, "pro", "USD", "18.00")
    plan(api, "pro-jp", "JPY", "1500")
    for external_id, currency, plan_code in (("acme", "USD", "pro"), ("kaisha", "JPY", "pro-jp")):
        body = customer(api, external_id, currency)
        assert body["collection_method"] == "charge_automatically"  # the default while Stripe is on
        card(api, external_id, "pm_card_visa")
        subscribe(api, external_id, plan_code)

    billing_run()

    acme, kaisha = invoice_of("acme"), invoice_of("kaisha")
    assert (acme.status, acme.amount_due, kaisha.amount_due) == ("open", Decimal("180.00"), Decimal("15000"))
    intents = stripe_on.payment_intents()
    assert sorted(
        (pi["currency"], pi["amount"], pi["metadata"]["ratecard_invoice_number"]) for pi in intents
    ) == [
        ("jpy", 15000, kaisha.number),  # yen have no minor unit: 15,000 yen is 15000
        ("usd", 18000, acme.number),
    ]
    by_invoice = {pi["metadata"]["ratecard_invoice_id"]: pi for pi in intents}
    assert (
        by_invoice[str(acme.pk)]["customer"] == api.get("/api/v1/customers/acme").json()["stripe_customer_id"]
    )
    # the Idempotency-Key is sent, derived from our ids (localstripe ignores it: the outbox row is the guard)
    assert sorted(stripe_on.idempotency_keys("/v1/payment_intents")) == [
        f"invoice-{acme.pk}-payment-1",
        f"invoice-{kaisha.pk}-payment-1",
    ]

    wait_for(lambda: paid("acme") and paid("kaisha"), what="the payment_intent.succeeded webhooks")
    body = api.get(f"/api/v1/invoices/{acme.pk}").json()
    assert (body["status"], body["amount_paid"], body["amount_due"]) == ("paid", "180.00", "0.00")
    (payment,) = body["payments"]
    assert (
        payment["method"] == "stripe" and payment["status"] == "succeeded" and payment["amount"] == "180.00"
    )
    assert payment["stripe_payment_intent"] == by_invoice[str(acme.pk)]["id"]

    # a retried task (a redelivered message) charges nothing twice: the row is done
    for row in StripeOutbox.objects.filter(kind="invoice_collect"):
        from invoicing.services.stripe_outbox import stripe_outbox_deliver

        assert stripe_outbox_deliver(outbox_id=row.pk) is None
    assert len(stripe_on.payment_intents()) == 2


def test_a_declined_card_leaves_the_invoice_open_with_a_failed_payment_until_a_new_card_pays_it(
    stripe_on: LocalStripe, api: APIClient
) -> None:
    plan(api, "pro", "USD", "18.00")
    customer(api, "brokeco")
    card(api, "brokeco", "pm_card_chargeCustomerFail")
    subscribe(api, "brokeco", "pro")

    billing_run()

    invoice = invoice_of("brokeco")
    failed = wait_for(
        lambda: Payment.objects.filter(invoice=invoice, status="failed").first(),
        what="the payment_intent.payment_failed webhook",
    )
    invoice.refresh_from_db()
    assert invoice.status == "open" and invoice.amount_due == Decimal("180.00")
    assert failed.method == "stripe" and failed.failure_reason == "Your card was declined."
    assert failed.stripe_payment_intent == invoice.stripe_payment_intent_id != ""
    # dunning started: past due, its first reminder scheduled
    assert invoice.payment_failed_at is not None and invoice.next_dunning_at is not None
    row = StripeOutbox.objects.get(invoice=invoice)
    assert row.status == "done" and row.outcome.startswith("declined")

    # the customer sets a working card: the invoice is charged again (a new attempt, a new key)
    card(api, "brokeco", "pm_card_visa")
    wait_for(lambda: paid("brokeco"), what="the retry's payment_intent.succeeded webhook")
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.amount_due, invoice.next_dunning_at) == (Decimal("180.00"), 0, None)
    assert sorted(stripe_on.idempotency_keys("/v1/payment_intents")) == [
        f"invoice-{invoice.pk}-payment-1",
        f"invoice-{invoice.pk}-payment-2",
    ]
    statuses = sorted(Payment.objects.filter(invoice=invoice).values_list("status", flat=True))
    assert statuses == ["failed", "succeeded"]
