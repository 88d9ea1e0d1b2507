"""The audit trail: invoices, lines, payments, balance transactions and what billing runs change.

Who: the request's user, or the ``ratecard-system`` actor for billing runs and tasks; when; what.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import RequestFactory
from rest_framework.test import APIClient
from simple_history.models import HistoricalRecords

from accounts.audit import SYSTEM_ACTOR
from billing.models import Subscription
from invoicing.models import BalanceTransaction, Invoice, InvoiceLine, Payment
from invoicing.services.payments import invoice_record_payment

pytestmark = pytest.mark.django_db

MAY_1 = datetime(2026, 5, 1, tzinfo=UTC)
JUN_1 = datetime(2026, 6, 1, tzinfo=UTC)


def subscribed(api: APIClient) -> dict[str, Any]:
    plan = {
        "code": "pro",
        "name": "Pro",
        "currency": "USD",
        "prices": [{"code": "seat", "model": "per_unit", "unit_amount": "18.00"}],
    }
    assert api.post("/api/v1/plans", plan, format="json").status_code == 201
    customer = {"external_id": "acme", "name": "Acme", "currency": "USD"}
    assert api.post("/api/v1/customers", customer, format="json").status_code == 201
    body = {"customer": "acme", "plan": "pro", "quantity": "10", "start": "2026-04-01T00:00:00Z"}
    response = api.post("/api/v1/subscriptions", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@contextmanager
def request_by(user: User) -> Iterator[None]:
    """What simple-history's middleware does for a request of ``user`` (e.g. an admin action)."""
    request = RequestFactory().post("/")
    request.user = user
    HistoricalRecords.context.request = request
    try:
        yield
    finally:
        del HistoricalRecords.context.request


def test_a_billing_run_records_the_subscription_change_by_the_system_actor(api: APIClient) -> None:
    sub = subscribed(api)
    call_command("run_billing", "--as-of", "2026-05-01T00:00:00Z")
    history = Subscription.history.filter(id=sub["id"]).order_by("history_date", "history_id")
    last = history.last()
    assert last is not None
    assert last.history_type == "~"
    assert last.history_user is not None and last.history_user.username == SYSTEM_ACTOR
    assert (last.current_period_start, last.current_period_end) == (MAY_1, JUN_1)
    assert last.history_change_reason is not None and last.history_change_reason.startswith("billing run ")
    # the run's invoice and its lines: created, by the system actor, for the same run
    invoice = Invoice.objects.get(billing_date=MAY_1)
    created = Invoice.history.get(id=invoice.pk, history_type="+")
    assert created.history_user.username == SYSTEM_ACTOR
    assert created.history_change_reason == last.history_change_reason
    lines = InvoiceLine.history.filter(invoice_id=invoice.pk, history_type="+")
    assert sorted((h.kind, h.amount) for h in lines) == [("subscription", Decimal("180.0000"))]
    assert {h.history_user.username for h in lines} == {SYSTEM_ACTOR}
    assert User.objects.get(username=SYSTEM_ACTOR).is_active is False


def test_a_second_run_for_the_same_time_records_nothing_new(api: APIClient) -> None:
    sub = subscribed(api)
    call_command("run_billing", "--as-of", "2026-05-01T00:00:00Z")
    rows = (Subscription.history.filter(id=sub["id"]).count(), InvoiceLine.history.count())
    call_command("run_billing", "--as-of", "2026-05-01T00:00:00Z")
    assert (Subscription.history.filter(id=sub["id"]).count(), InvoiceLine.history.count()) == rows


def test_invoice_and_line_creation_through_the_api_name_the_user(api: APIClient, finance_user: User) -> None:
    sub = subscribed(api)
    invoice_id = sub["latest_invoice"]["id"]
    created = Invoice.history.get(id=invoice_id, history_type="+")
    assert created.history_user == finance_user
    (line,) = InvoiceLine.history.filter(invoice_id=invoice_id)
    assert (line.history_type, line.history_user, line.amount) == ("+", finance_user, Decimal("180.0000"))
    assert line.description


def test_payments_and_balance_transactions_are_in_the_history_with_the_user(
    api: APIClient, finance_user: User
) -> None:
    invoice_id = subscribed(api)["latest_invoice"]["id"]
    assert api.post(f"/api/v1/invoices/{invoice_id}/finalize", {}, format="json").status_code == 200
    with request_by(finance_user):
        payment = invoice_record_payment(
            invoice_id=invoice_id, amount=Decimal("180.00"), at=MAY_1, method="bank_transfer", reference="T-1"
        )
    (row,) = Payment.history.filter(id=payment.pk)
    assert (row.history_type, row.history_user, row.amount, row.reference) == (
        "+",
        finance_user,
        Decimal("180.0000"),
        "T-1",
    )
    # a credit note on the paid invoice puts the credit on the customer's balance
    note = {"invoice": invoice_id, "amount": "30.00", "reason": "outage"}
    assert api.post("/api/v1/credit-notes", note, format="json").status_code == 201
    (balance,) = BalanceTransaction.objects.filter(customer__external_id="acme")
    (history,) = BalanceTransaction.history.filter(id=balance.pk)
    assert (history.history_type, history.history_user, history.amount) == (
        "+",
        finance_user,
        Decimal("-30.0000"),
    )


def test_a_payment_recorded_by_a_task_names_the_system_actor(api: APIClient) -> None:
    invoice_id = subscribed(api)["latest_invoice"]["id"]
    assert api.post(f"/api/v1/invoices/{invoice_id}/finalize", {}, format="json").status_code == 200
    payment = invoice_record_payment(  # no request: a webhook task or the reconciliation
        invoice_id=invoice_id, amount=Decimal("80.00"), at=MAY_1, method="stripe", reference="pi_1"
    )
    (row,) = Payment.history.filter(id=payment.pk)
    assert row.history_user is not None and row.history_user.username == SYSTEM_ACTOR


def test_the_prorations_of_a_change_are_in_the_history_with_the_user(
    api: APIClient, finance_user: User
) -> None:
    from billing.models import PendingLine

    sub = subscribed(api)
    change = {"quantity": "12", "at": "2026-04-16T00:00:00Z", "proration": "create_prorations"}
    assert api.post(f"/api/v1/subscriptions/{sub['id']}/change", change, format="json").status_code == 200
    lines = PendingLine.objects.filter(subscription_id=sub["id"])
    assert lines.exists()
    rows = PendingLine.history.filter(id__in=lines.values("id"), history_type="+")
    assert rows.count() == lines.count()
    assert {r.history_user for r in rows} == {finance_user}
    last = Subscription.history.filter(id=sub["id"]).order_by("history_date", "history_id").last()
    assert last is not None and (last.quantity, last.history_user) == (12, finance_user)
