"""The webhook endpoint: a bad signature is 400 and changes nothing; an event is stored once by its id;
events are applied from the PaymentIntent's current state, so the same event twice, or an older event
after a newer one, leave the right final state."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from invoicing.models import Payment, PaymentDispute, StripeEvent
from invoicing.services.stripe_reconciliation import stripe_reconcile
from tests.stripe.conftest import LocalStripe, signed
from tests.stripe.helpers import billing_run, card, customer, invoice_of, plan, subscribe

pytestmark = pytest.mark.django_db(transaction=True)


def collected(api: APIClient, external_id: str, payment_method: str = "pm_card_visa") -> dict[str, Any]:
    """A customer whose first invoice was finalized and charged in localstripe; nothing reported yet."""
    plan(api, "pro", "USD", "18.00")
    customer(api, external_id)
    card(api, external_id, payment_method)
    subscribe(api, external_id, "pro")
    billing_run()
    invoice = invoice_of(external_id)
    assert invoice.status == "open" and invoice.stripe_payment_intent_id
    return {"invoice": invoice, "intent": invoice.stripe_payment_intent_id}


def event(event_id: str, type_: str, obj: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": type_,
        "created": created or int(time.time()),
        "api_version": "2017-08-15",
        "data": {"object": obj},
    }


def post(client: Client, body: dict[str, Any], **headers: Any) -> Any:
    payload, signature = signed(body)
    headers.setdefault("HTTP_STRIPE_SIGNATURE", signature)
    return client.post("/stripe/webhook/", data=payload, content_type="application/json", **headers)


def test_a_bad_signature_is_400_and_changes_nothing(
    stripe_quiet: LocalStripe, api: APIClient, client: Client
) -> None:
    world = collected(api, "acme")
    body = event(
        "evt_forged", "payment_intent.succeeded", {"id": world["intent"], "object": "payment_intent"}
    )
    forged = signed(body, secret="whsec_someone_else")[1]
    for signature in (forged, "t=1,v1=deadbeef", ""):
        response = post(client, body, HTTP_STRIPE_SIGNATURE=signature)
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "Stripe-Signature"
    response = client.post(
        "/stripe/webhook/", data=b"{}", content_type="application/json"
    )  # no header at all
    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0
    invoice = invoice_of("acme")
    assert invoice.status == "open" and not invoice.payments.exists()


def test_the_same_event_twice_is_stored_once_and_pays_once(
    stripe_quiet: LocalStripe, api: APIClient, client: Client
) -> None:
    world = collected(api, "acme")
    body = event(
        "evt_paid_1", "payment_intent.succeeded", {"id": world["intent"], "object": "payment_intent"}
    )
    first, second = post(client, body), post(client, body)
    assert (first.status_code, first.json()["duplicate"]) == (200, False)
    assert (second.status_code, second.json()["duplicate"]) == (200, True)
    assert StripeEvent.objects.get().status == "applied"
    invoice = invoice_of("acme")
    assert (invoice.status, invoice.amount_paid) == ("paid", Decimal("180.00"))
    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_an_older_failure_event_after_the_success_leaves_the_invoice_paid(
    stripe_quiet: LocalStripe, api: APIClient, client: Client
) -> None:
    world = collected(api, "acme")
    now = int(time.time())
    # what Stripe reported later arrives first; the earlier "failed" copy of the object arrives last
    stale_copy = {
        "id": world["intent"],
        "object": "payment_intent",
        "status": "requires_payment_method",
        "last_payment_error": {"code": "card_declined", "message": "Your card was declined."},
    }
    post(client, event("evt_newer", "payment_intent.succeeded", {"id": world["intent"]}, created=now))
    post(client, event("evt_older", "payment_intent.payment_failed", stale_copy, created=now - 60))
    invoice = invoice_of("acme")
    # applied by the PaymentIntent as it is now (succeeded), not by the event's stale copy
    assert (invoice.status, invoice.payment_failed_at) == ("paid", None)
    assert list(Payment.objects.filter(invoice=invoice).values_list("status", flat=True)) == ["succeeded"]
    assert set(StripeEvent.objects.values_list("status", flat=True)) == {"applied"}


def test_a_failure_then_the_retry_success_arriving_in_any_order_ends_paid(
    stripe_quiet: LocalStripe, api: APIClient, client: Client
) -> None:
    world = collected(api, "brokeco", payment_method="pm_card_chargeCustomerFail")
    failed_intent = world["intent"]
    card(api, "brokeco", "pm_card_visa")  # the retry: a second PaymentIntent that succeeds
    invoice = invoice_of("brokeco")
    retried = invoice.stripe_payment_intent_id
    assert retried != failed_intent
    post(client, event("evt_ok", "payment_intent.succeeded", {"id": retried}))
    post(client, event("evt_failed", "payment_intent.payment_failed", {"id": failed_intent}))
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.next_dunning_at is None
    assert sorted(Payment.objects.filter(invoice=invoice).values_list("status", flat=True)) == [
        "failed",
        "succeeded",
    ]


def test_an_unhandled_event_type_is_stored_and_ignored(stripe_quiet: LocalStripe, client: Client) -> None:
    response = post(client, event("evt_cus", "customer.created", {"id": "cus_x", "object": "customer"}))
    assert response.status_code == 200
    assert StripeEvent.objects.get().status == "ignored"


def test_a_dispute_flags_the_invoice_and_an_older_update_does_not_reopen_it(
    stripe_quiet: LocalStripe, api: APIClient, client: Client
) -> None:
    # localstripe has no disputes: the events are built here in the shape Stripe sends (charge.dispute.*)
    world = collected(api, "acme")
    post(client, event("evt_paid", "payment_intent.succeeded", {"id": world["intent"]}))
    now = int(time.time())
    dispute = {
        "id": "dp_test_1",
        "object": "dispute",
        "amount": 18000,
        "currency": "usd",
        "payment_intent": world["intent"],
        "reason": "fraudulent",
        "status": "needs_response",
        "created": now - 10,
    }
    post(client, event("evt_dp_open", "charge.dispute.created", dispute, created=now - 10))
    post(client, event("evt_dp_won", "charge.dispute.closed", {**dispute, "status": "won"}, created=now))
    post(
        client,
        event(
            "evt_dp_late", "charge.dispute.updated", {**dispute, "status": "under_review"}, created=now - 5
        ),
    )
    flagged = PaymentDispute.objects.get()
    assert (flagged.invoice_id, flagged.amount, flagged.status) == (
        world["invoice"].pk,
        Decimal("180.00"),
        "won",
    )
    assert flagged.payment is not None and flagged.payment.reference == world["intent"]


def test_the_reconciliation_picks_up_payments_whose_webhook_never_came(
    stripe_quiet: LocalStripe, api: APIClient
) -> None:
    collected(api, "acme")
    collected_failed = collected(api, "brokeco", payment_method="pm_card_chargeCustomerFail")
    # a charge nobody invoiced: taken in Stripe directly
    stray = stripe_quiet.request(
        "POST",
        "/v1/payment_intents",
        {"amount": "999", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"},
    )
    report = stripe_reconcile()
    acme, broke = invoice_of("acme"), invoice_of("brokeco")
    assert acme.status == "paid" and acme.amount_paid == Decimal("180.00")
    assert broke.status == "open" and broke.payment_failed_at is not None
    assert sorted(report.mismatches) == sorted(
        [
            f"paid_there_open_here:{acme.stripe_payment_intent_id}",
            f"failed_not_recorded:{collected_failed['intent']}",
            f"charge_without_invoice:{stray['id']}",
        ]
    )
    from invoicing.models import ReconciliationMismatch

    rows = {m.kind: m.resolved for m in ReconciliationMismatch.objects.all()}
    assert rows == {
        "paid_there_open_here": True,
        "failed_not_recorded": True,
        "charge_without_invoice": False,
    }
    # a second run finds nothing new to apply and changes no figure
    again = stripe_reconcile()
    assert again.mismatches == [f"charge_without_invoice:{stray['id']}"]
    assert Payment.objects.count() == 2
