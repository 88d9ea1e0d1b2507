"""Dunning tries the card again: each step of a card customer's failed invoice is a new collection attempt
(a new PaymentIntent, key ``invoice-<id>-payment-<n>``) besides its reminder e-mail; never a second one
while an attempt may still take the money, never for an invoice that is paid or void."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from billing.models import Subscription
from invoicing.models import CustomerPaymentMethod, Invoice, StripeOutbox
from invoicing.services.dunning import dunning_run, invoice_payment_failed
from invoicing.services.finalization import invoice_finalize, invoice_void
from invoicing.services.payments import invoice_record_payment
from invoicing.services.stripe_outbox import stripe_outbox_deliver
from invoicing.services.stripe_sync import invoice_collect_retry
from tests.invoicing.factories import make_customer, make_draft
from tests.stripe.conftest import LocalStripe
from tests.stripe.helpers import (
    billing_run,
    card,
    customer,
    invoice_of,
    plan,
    post_recorded_events,
    subscribe,
)

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def intents(localstripe: LocalStripe) -> list[tuple[int, str]]:
    return [(pi["amount"], pi["status"]) for pi in localstripe.payment_intents()]


def test_a_dunning_step_charges_the_card_the_customer_set_in_stripe_and_the_webhook_restores_service(
    stripe_quiet: LocalStripe,
    api: APIClient,
    client: Client,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """localstripe's own events are posted by the test (``post_recorded_events``) rather than by its
    webhook thread, so the moment between the last step and the payment's report is the test's to look at."""
    settings.RATECARD_DUNNING_SCHEDULE_DAYS = [1, 2]
    settings.RATECARD_DUNNING_FINAL_ACTION = "past_due"
    run = django_capture_on_commit_callbacks(execute=True)  # each commit's after-commit work runs
    with run:
        plan(api, "pro", "USD", "18.00")
        customer(api, "brokeco", email="ap@brokeco.test")
        card(api, "brokeco", "pm_card_chargeCustomerFail")
        subscribe(api, "brokeco", "pro")
        billing_run()
    invoice = invoice_of("brokeco")
    assert (invoice.status, invoice.amount_due) == ("open", Decimal("180.00"))
    assert intents(stripe_quiet) == [(18000, "requires_payment_method")]  # declined
    with django_capture_on_commit_callbacks(execute=True):
        post_recorded_events(stripe_quiet, client, "payment_intent.payment_failed")
    invoice.refresh_from_db()
    failed_at = invoice.payment_failed_at
    assert failed_at is not None and invoice.next_dunning_at == failed_at + DAY

    # step 1: the reminder goes and the same (still failing) card is tried again: a second PaymentIntent
    with django_capture_on_commit_callbacks(execute=True):
        assert dunning_run(as_of=failed_at + DAY) == 1
        assert dunning_run(as_of=failed_at + DAY) == 0  # a rerun takes no step and charges nothing
    assert intents(stripe_quiet) == [(18000, "requires_payment_method")] * 2
    assert [m.subject for m in mail.outbox] == [f"Reminder: invoice {invoice.number} is past due"]

    # the customer puts a working card in Stripe itself (a Stripe-hosted page): we still show the old one
    stripe_id = invoice.customer.stripe_customer_id
    visa = stripe_quiet.request("POST", "/v1/payment_methods/pm_card_visa/attach", {"customer": stripe_id})
    stripe_quiet.request(
        "POST", f"/v1/customers/{stripe_id}", {"invoice_settings[default_payment_method]": visa["id"]}
    )
    assert CustomerPaymentMethod.objects.get(customer=invoice.customer).last4 == "0341"

    # the last step: service is suspended (past due), the final notice goes, the new card is charged
    with django_capture_on_commit_callbacks(execute=True):
        assert dunning_run(as_of=failed_at + 2 * DAY) == 1
    subscription = Subscription.objects.get(customer__external_id="brokeco")
    assert subscription.status == "past_due"
    assert intents(stripe_quiet) == [(18000, "requires_payment_method")] * 2 + [(18000, "succeeded")]
    assert mail.outbox[-1].subject == f"Final notice: invoice {invoice.number} is past due"
    assert CustomerPaymentMethod.objects.get(customer=invoice.customer).last4 == "4242"  # Stripe's card now

    # Stripe's reports arrive: the two declines are failed payments, the success pays the invoice
    with django_capture_on_commit_callbacks(execute=True):
        post_recorded_events(stripe_quiet, client, "payment_intent.payment_failed")
        assert post_recorded_events(stripe_quiet, client, "payment_intent.succeeded") == 1
    invoice.refresh_from_db()
    subscription.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, invoice.amount_due, invoice.next_dunning_at) == (
        "paid",
        Decimal("180.00"),
        Decimal("0.00"),
        None,
    )
    assert subscription.status == "active"
    payments = invoice.payments.order_by("id").values_list("status", "amount")
    assert list(payments) == [("failed", Decimal("180.00"))] * 2 + [("succeeded", Decimal("180.00"))]
    assert sorted(stripe_quiet.idempotency_keys("/v1/payment_intents")) == [
        f"invoice-{invoice.pk}-payment-{n}" for n in (1, 2, 3)
    ]

    # nothing charges it again: later runs, a retry, a redelivered task
    with django_capture_on_commit_callbacks(execute=True):
        assert dunning_run(as_of=failed_at + 30 * DAY) == 0
        assert invoice_collect_retry(invoice_id=invoice.pk) is None
        for row in StripeOutbox.objects.filter(invoice=invoice):
            assert stripe_outbox_deliver(outbox_id=row.pk) is None
    assert len(stripe_quiet.payment_intents()) == 3
    # audited: the history shows the invoice paid with its dunning stopped, and the card payment as created
    assert invoice.history.filter(next_dunning_at__isnull=True, status="paid").exists()
    succeeded = invoice.payments.get(status="succeeded")
    [created] = succeeded.history.all()
    assert created.stripe_payment_intent == stripe_quiet.payment_intents()[-1]["id"] != ""


FAILED_AT = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)


def card_invoice(external_id: str, *, with_card: bool = True) -> Invoice:
    """A card customer's open invoice whose first attempt was delivered and declined (dunning started)."""
    customer_ = make_customer(external_id, collection_method="charge_automatically")
    if with_card:
        CustomerPaymentMethod.objects.create(
            customer=customer_, stripe_payment_method_id="pm_1", last4="0341"
        )
    invoice = invoice_finalize(invoice_id=make_draft(customer_).pk, at=FAILED_AT - DAY)
    StripeOutbox.objects.filter(invoice=invoice).update(
        status="done", outcome="declined: Your card was declined."
    )
    return invoice_payment_failed(invoice_id=invoice.pk, at=FAILED_AT, reason="card_declined")


def attempts(invoice: Invoice) -> list[tuple[str, str]]:
    rows = StripeOutbox.objects.filter(invoice=invoice, kind="invoice_collect").order_by("id")
    return [(row.key.rsplit("-", 1)[1], row.status) for row in rows]


@pytest.mark.parametrize(
    ("last_attempt", "retried"),
    [
        ({"status": "pending"}, False),  # not delivered yet
        ({"status": "done", "outcome": "succeeded", "stripe_id": "pi_1"}, False),  # its report has not come
        ({"status": "done", "outcome": "processing", "stripe_id": "pi_1"}, False),
        ({"status": "dead"}, False),  # gave up: Stripe may have charged it; finance retries that row
        ({"status": "done", "outcome": "declined: Your card was declined."}, True),
        ({"status": "done", "outcome": "requires_action", "stripe_id": "pi_1"}, True),  # waits for the holder
    ],
)
def test_a_step_tries_the_card_again_only_when_no_earlier_attempt_may_still_take_the_money(
    settings: Any, last_attempt: dict[str, str], retried: bool
) -> None:
    settings.STRIPE_API_KEY = "sk_test_no_calls"  # rows are written, never delivered (no commit in this test)
    settings.RATECARD_DUNNING_SCHEDULE_DAYS = [3, 7, 14]
    invoice = card_invoice("cardco")
    assert dunning_run(as_of=FAILED_AT + 3 * DAY) == 1
    assert attempts(invoice) == [("1", "done"), ("2", "pending")]
    StripeOutbox.objects.filter(key=f"invoice-{invoice.pk}-payment-2").update(**last_attempt)

    assert dunning_run(as_of=FAILED_AT + 7 * DAY) == 1  # the reminder goes either way
    expected = [("1", "done"), ("2", last_attempt["status"])] + ([("3", "pending")] if retried else [])
    assert attempts(invoice) == expected
    assert invoice.emails.filter(kind="dunning").count() == 2


def test_no_attempt_for_an_invoice_paid_void_without_a_card_or_paid_by_transfer(settings: Any) -> None:
    settings.STRIPE_API_KEY = "sk_test_no_calls"
    paid, void, cardless = (
        card_invoice("paid"),
        card_invoice("void"),
        card_invoice("cardless", with_card=False),
    )
    transfer = make_customer("transfer", collection_method="send_invoice")
    by_transfer = invoice_finalize(invoice_id=make_draft(transfer).pk, at=FAILED_AT - DAY)
    invoice_payment_failed(invoice_id=by_transfer.pk, at=FAILED_AT, reason="bounced")
    invoice_record_payment(invoice_id=paid.pk, amount=Decimal("100.00"), at=FAILED_AT, method="bank_transfer")
    invoice_void(invoice_id=void.pk, at=FAILED_AT)

    assert dunning_run(as_of=FAILED_AT + 30 * DAY) == 6  # three steps each for the two still open
    for invoice in (paid, void, cardless):
        assert attempts(invoice) == [("1", "done")]
    for invoice in (paid, void):
        assert invoice_collect_retry(invoice_id=invoice.pk) is None
    assert not StripeOutbox.objects.filter(invoice=by_transfer).exists()
    assert cardless.emails.filter(kind="dunning").count() == 3  # its reminders still go
