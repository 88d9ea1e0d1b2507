"""The daily reconciliation reads a bounded window of PaymentIntents (``created[gte]``, the last
``RATECARD_STRIPE_RECONCILIATION_DAYS``), and within it still picks up payments whose webhook never came.

localstripe 1.15 answers 400 ("Unexpected created") to ``created`` on ``GET /v1/payment_intents``, where
Stripe filters by it: so what we send is checked in localstripe's request log (``localstripe_app``
records each request's query string and status), and the window is checked on what the reconciliation
keeps after its own filter, which bounds a server that ignores or refuses the parameter.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
from rest_framework.test import APIClient

from invoicing.models import ReconciliationMismatch
from invoicing.services.stripe_reconciliation import stripe_reconcile
from tests.stripe.conftest import LocalStripe
from tests.stripe.helpers import billing_run, card, customer, invoice_of, plan, subscribe

pytestmark = pytest.mark.django_db


def list_requests(localstripe: LocalStripe) -> list[tuple[dict[str, list[str]], int]]:
    return [(parse_qs(query), status) for query, status in localstripe.requests("GET", "/v1/payment_intents")]


def test_the_reconciliation_asks_for_its_window_and_picks_up_the_lost_webhooks_inside_it(
    stripe_quiet: LocalStripe, api: APIClient, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.RATECARD_STRIPE_RECONCILIATION_DAYS = 35
    with django_capture_on_commit_callbacks(execute=True):
        plan(api, "pro", "USD", "18.00")
        customer(api, "acme")
        card(api, "acme", "pm_card_visa")
        subscribe(api, "acme", "pro")
        billing_run()  # charged in Stripe; its webhook goes nowhere (stripe_quiet)
    invoice = invoice_of("acme")
    [intent] = stripe_quiet.payment_intents()
    assert (intent["status"], intent["amount"], invoice.status) == ("succeeded", 18000, "open")

    # 36 days from now the PaymentIntent is older than the window: not read, not applied
    later = datetime.fromtimestamp(time.time(), tz=UTC) + timedelta(days=36)
    since = int((later - timedelta(days=35)).timestamp())
    stripe_quiet.request("POST", "/_test/reset", {})
    with django_capture_on_commit_callbacks(execute=True):
        report = stripe_reconcile(now=later)
    assert (report.checked, report.mismatches) == (0, [])
    assert invoice_of("acme").status == "open"
    # what was sent: created[gte] at the window's start (localstripe refuses it), then the plain list
    assert list_requests(stripe_quiet) == [
        ({"limit": ["100"], "created[gte]": [str(since)]}, 400),
        ({"limit": ["100"]}, 200),
    ]

    # today the PaymentIntent is inside the window: the payment whose webhook never came is applied
    with django_capture_on_commit_callbacks(execute=True):
        report = stripe_reconcile()
    assert (report.checked, report.mismatches) == (1, [f"paid_there_open_here:{intent['id']}"])
    invoice = invoice_of("acme")
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == ("paid", Decimal("180.00"), 0)
    mismatch = ReconciliationMismatch.objects.get()
    assert (mismatch.kind, mismatch.resolved, mismatch.invoice_id) == (
        "paid_there_open_here",
        True,
        invoice.pk,
    )
