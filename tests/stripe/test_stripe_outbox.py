"""Lose nothing when Stripe is away: finalizing still succeeds, the outbox keeps the rows with their
error and backoff, and once Stripe is back the sweep delivers each exactly once (counted in localstripe).
Dead rows wait for finance, who retries them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from invoicing.models import StripeOutbox
from invoicing.services.stripe_outbox import (
    retry_delay,
    stripe_outbox_deliver,
    stripe_outbox_due,
    stripe_outbox_retry,
)
from invoicing.stripe_tasks import stripe_outbox_sweep
from tests.stripe.conftest import API_KEY, WEBHOOK_SECRET, LocalStripe, wait_for
from tests.stripe.helpers import billing_run, card, customer, invoice_of, plan, subscribe

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_stripe(settings: Any, tmp_path: Path, live_server: Any) -> Iterator[LocalStripe]:
    """A localstripe of this test's own, which it stops and starts again (its state survives on disk)."""
    server = LocalStripe(tmp_path)
    server.start()
    settings.STRIPE_API_KEY = API_KEY
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    server.register_webhook(f"{live_server.url}/stripe/webhook/")
    yield server
    server.stop()


def deliver_due_later() -> list[str]:
    """What the beat sweep does once the rows' backoff has passed (an hour from now)."""
    later = timezone.now() + timedelta(hours=1)
    due = stripe_outbox_due(now=later)
    delivered = (stripe_outbox_deliver(outbox_id=i, now=later) for i in due)
    return [str(row.status) for row in delivered if row is not None]


def test_with_stripe_down_finalizing_succeeds_and_the_sweep_later_charges_each_invoice_once(
    own_stripe: LocalStripe, api: APIClient, live_server: Any
) -> None:
    plan(api, "pro", "USD", "18.00")
    names = ("acme", "globex", "initech")
    for name in names:
        customer(api, name)
        card(api, name, "pm_card_visa")
        subscribe(api, name, "pro")
    own_stripe.stop()

    billing_run()  # finalizes; the Stripe calls fail after commit and stay in the outbox

    invoices = [invoice_of(name) for name in names]
    assert {inv.status for inv in invoices} == {"open"}
    rows = list(StripeOutbox.objects.filter(kind="invoice_collect").order_by("id"))
    assert len(rows) == 3
    assert {(row.status, row.attempts) for row in rows} == {("pending", 1)}
    assert all("StripeUnavailable" in row.last_error for row in rows)
    assert all(row.next_attempt_at and row.next_attempt_at > timezone.now() for row in rows)
    assert stripe_outbox_due() == []  # backing off: the sweep leaves them until their time comes
    assert stripe_outbox_deliver(outbox_id=rows[0].pk) is None  # nor does a stray task message

    own_stripe.start()
    own_stripe.register_webhook(f"{live_server.url}/stripe/webhook/")
    assert deliver_due_later() == ["done", "done", "done"]
    assert deliver_due_later() == []  # a second sweep finds nothing: each row went once
    for row in rows:  # a duplicated task message for a done row does nothing
        assert stripe_outbox_deliver(outbox_id=row.pk) is None
    intents = own_stripe.payment_intents()
    assert sorted(int(pi["metadata"]["ratecard_invoice_id"]) for pi in intents) == sorted(
        i.pk for i in invoices
    )
    wait_for(lambda: all(invoice_of(name).status == "paid" for name in names), what="the three webhooks")


def test_a_row_is_dead_after_the_last_attempt_and_finance_retries_it(
    own_stripe: LocalStripe, api: APIClient, settings: Any
) -> None:
    settings.RATECARD_STRIPE_OUTBOX_MAX_ATTEMPTS = 2
    plan(api, "pro", "USD", "18.00")
    customer(api, "acme")
    card(api, "acme", "pm_card_visa")
    subscribe(api, "acme", "pro")
    own_stripe.stop()
    billing_run()
    (row,) = StripeOutbox.objects.filter(kind="invoice_collect")
    assert deliver_due_later() == ["dead"]
    row.refresh_from_db()
    assert (row.status, row.attempts, row.next_attempt_at) == ("dead", 2, None)
    assert deliver_due_later() == []  # dead rows are not swept

    own_stripe.start()
    assert stripe_outbox_retry(outbox_ids=[row.pk]) == 1  # delivered after commit (eager here)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("done", 1)
    assert len(own_stripe.payment_intents()) == 1
    assert stripe_outbox_retry(outbox_ids=[row.pk]) == 0  # only dead rows are retried


def test_backoff_doubles_up_to_the_cap(settings: Any) -> None:
    settings.RATECARD_STRIPE_OUTBOX_BACKOFF_SECONDS = 30
    settings.RATECARD_STRIPE_OUTBOX_BACKOFF_CAP_SECONDS = 600
    assert [retry_delay(n).total_seconds() for n in range(1, 8)] == [30, 60, 120, 240, 480, 600, 600]


def test_the_beat_sweep_delivers_a_row_whose_message_was_lost(stripe_on: LocalStripe, api: APIClient) -> None:
    plan(api, "pro", "USD", "18.00")
    customer(api, "acme")
    card(api, "acme", "pm_card_visa")
    subscribe(api, "acme", "pro")
    from invoicing.services import stripe_outbox

    # the broker lost the message: the row is written, nothing is delivered
    original = stripe_outbox._deliver_after_commit
    stripe_outbox._deliver_after_commit = lambda ids: None  # type: ignore[assignment]
    try:
        billing_run()
    finally:
        stripe_outbox._deliver_after_commit = original  # type: ignore[assignment]
    (row,) = StripeOutbox.objects.filter(kind="invoice_collect")
    assert (row.status, row.attempts) == ("pending", 0)
    StripeOutbox.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())  # its grace has passed
    assert stripe_outbox_sweep() == {"outbox": 1, "events": 0}
    row.refresh_from_db()
    assert row.status == "done" and len(stripe_on.payment_intents()) == 1
