"""A change or cancel ``at`` a time after the current period is scheduled: nothing is billed when it is
asked; the billing run that reaches it bills up to then, applies it as an immediate change would, and
bills on. Premium: 18.00 per seat and month, 10 seats, anniversary periods from 2026-04-01 (June: 30 days).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from billing.models import PlanVersion, ScheduledChange, Subscription
from invoicing.models import BilledPeriod, Invoice

pytestmark = pytest.mark.django_db

SEATS = [{"code": "seat", "model": "per_unit", "unit_amount": "18.00", "description": "Premium seat"}]


def D(value: str) -> Decimal:
    return Decimal(value)


@pytest.fixture
def premium(api: APIClient) -> None:
    body = {"code": "premium", "name": "Premium", "currency": "USD", "prices": SEATS}
    assert api.post("/api/v1/plans", body, format="json").status_code == 201


def subscribe(api: APIClient, customer: str) -> dict[str, Any]:
    body = {
        "external_id": customer,
        "name": customer.title(),
        "email": f"ap@{customer}.example",
        "currency": "USD",
    }
    assert api.post("/api/v1/customers", body, format="json").status_code == 201
    sub = {"customer": customer, "plan": "premium", "quantity": "10", "start": "2026-04-01T00:00:00Z"}
    response = api.post("/api/v1/subscriptions", sub, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def run(api: APIClient, as_of: str) -> dict[str, Any]:
    response = api.post("/api/v1/billing-runs", {"as_of": as_of}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def post(api: APIClient, sub: dict[str, Any], action: str, **body: Any) -> Any:
    return api.post(f"/api/v1/subscriptions/{sub['id']}/{action}", body, format="json")


def invoices(customer: str) -> list[tuple[str, list[tuple[str, Decimal]], Decimal]]:
    """Each invoice as (billing date, its lines as (kind, amount) in order, total)."""
    return [
        (
            invoice.billing_date.date().isoformat(),
            [(line.kind, line.amount) for line in invoice.lines.order_by("position")],
            invoice.total,
        )
        for invoice in Invoice.objects.filter(customer__external_id=customer).order_by("billing_date", "id")
    ]


def test_a_change_in_the_second_next_period_bills_nothing_until_a_run_reaches_it(
    api: APIClient, premium: None
) -> None:
    sub = subscribe(api, "acme")
    response = post(api, sub, "change", quantity="15", at="2026-06-16T00:00:00Z", proration="always_invoice")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["quantity"] == "10"
    assert body["latest_invoice"] is None
    assert body["current_period_end"] == "2026-05-01T00:00:00Z"
    (waiting,) = body["scheduled_changes"]
    assert (waiting["kind"], waiting["effective_at"], waiting["quantity"], waiting["plan"]) == (
        "change",
        "2026-06-16T00:00:00Z",
        "15",
        None,
    )
    assert waiting["proration"] == "always_invoice"
    assert invoices("acme") == [("2026-04-01", [("subscription", D("180.00"))], D("180.00"))]
    assert BilledPeriod.objects.filter(subscription_id=sub["id"]).count() == 1
    assert api.get(f"/api/v1/subscriptions/{sub['id']}").json()["scheduled_changes"] == [waiting]

    run(api, "2026-05-01T00:00:00Z")
    run(api, "2026-06-01T00:00:00Z")
    assert Subscription.objects.get(pk=sub["id"]).quantity == 10  # not reached yet
    assert len(invoices("acme")) == 3

    reached = run(api, "2026-06-21T00:00:00Z")  # the period ends on 07-01: due for its change only

    assert reached["subscriptions_due"] == 1
    assert reached["invoices_created"] == 1
    assert Subscription.objects.get(pk=sub["id"]).quantity == 15
    assert ScheduledChange.objects.get(pk=waiting["id"]).status == "applied"
    assert api.get(f"/api/v1/subscriptions/{sub['id']}").json()["scheduled_changes"] == []
    run(api, "2026-07-01T00:00:00Z")
    assert invoices("acme") == [
        ("2026-04-01", [("subscription", D("180.00"))], D("180.00")),
        ("2026-05-01", [("subscription", D("180.00"))], D("180.00")),
        ("2026-06-01", [("subscription", D("180.00"))], D("180.00")),
        ("2026-06-16", [("proration", D("-90.00")), ("proration", D("135.00"))], D("45.00")),
        ("2026-07-01", [("subscription", D("270.00"))], D("270.00")),
    ]


def test_a_scheduled_change_bills_exactly_what_the_same_change_made_at_that_time_bills(
    api: APIClient, premium: None
) -> None:
    scheduled = subscribe(api, "acme")
    immediate = subscribe(api, "twin")
    body = {
        "plan": "premium",
        "quantity": "12",
        "at": "2026-06-21T00:00:00Z",
        "proration": "create_prorations",
    }
    assert post(api, scheduled, "change", **body).status_code == 200

    run(api, "2026-06-01T00:00:00Z")
    response = post(api, immediate, "change", quantity="12", at="2026-06-21T00:00:00Z")
    assert response.status_code == 200, response.content
    assert response.json()["quantity"] == "12"  # in its current period: applied now, as before
    run(api, "2026-06-25T00:00:00Z")
    run(api, "2026-07-01T00:00:00Z")

    expected = [
        ("2026-04-01", [("subscription", D("180.00"))], D("180.00")),
        ("2026-05-01", [("subscription", D("180.00"))], D("180.00")),
        ("2026-06-01", [("subscription", D("180.00"))], D("180.00")),
        # 10 of June's 30 days left: -10 x 18.00 / 3 and +12 x 18.00 / 3, then July for 12 seats
        (
            "2026-07-01",
            [("subscription", D("216.00")), ("proration", D("-60.00")), ("proration", D("72.00"))],
            D("228.00"),
        ),
    ]
    assert invoices("acme") == expected
    assert invoices("twin") == expected


def test_the_upcoming_invoice_counts_a_change_scheduled_before_its_date_once(
    api: APIClient, premium: None
) -> None:
    sub = subscribe(api, "acme")
    post(api, sub, "change", quantity="12", at="2026-06-21T00:00:00Z", proration="create_prorations")
    run(api, "2026-06-01T00:00:00Z")

    preview = api.get("/api/v1/customers/acme/upcoming-invoice").json()

    amounts = sorted(D(line["amount"]) for line in preview["lines"])
    assert amounts == [D("-60.00"), D("72.00"), D("216.00")]
    assert preview["total"] == "228.00"
    assert Subscription.objects.get(pk=sub["id"]).quantity == 10  # the preview wrote nothing
    assert ScheduledChange.objects.get(subscription_id=sub["id"]).status == "scheduled"


def test_a_scheduled_cancel_ends_the_subscription_when_a_run_reaches_it(
    api: APIClient, premium: None
) -> None:
    sub = subscribe(api, "acme")
    response = post(api, sub, "cancel", at="2026-06-16T00:00:00Z")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["cancel_at"], body["latest_invoice"]) == (
        "active",
        "2026-06-16T00:00:00Z",
        None,
    )
    assert [c["kind"] for c in body["scheduled_changes"]] == ["cancel"]
    assert len(invoices("acme")) == 1

    run(api, "2026-07-01T00:00:00Z")

    canceled = Subscription.objects.get(pk=sub["id"])
    assert canceled.status == "canceled"
    assert canceled.ended_at is not None and canceled.ended_at.isoformat() == "2026-06-16T00:00:00+00:00"
    assert invoices("acme") == [
        ("2026-04-01", [("subscription", D("180.00"))], D("180.00")),
        ("2026-05-01", [("subscription", D("180.00"))], D("180.00")),
        ("2026-06-01", [("subscription", D("180.00"))], D("180.00")),
        ("2026-06-16", [("proration", D("-90.00"))], D("-90.00")),  # the unused half of June
    ]
    run(api, "2026-08-01T00:00:00Z")
    assert len(invoices("acme")) == 4


def test_a_second_scheduled_change_replaces_the_first(api: APIClient, premium: None) -> None:
    sub = subscribe(api, "acme")
    first = post(api, sub, "change", quantity="15", at="2026-06-16T00:00:00Z").json()["scheduled_changes"][0]
    body = post(api, sub, "change", quantity="12", at="2026-06-21T00:00:00Z").json()

    assert [(c["quantity"], c["effective_at"]) for c in body["scheduled_changes"]] == [
        ("12", "2026-06-21T00:00:00Z")
    ]
    replaced = ScheduledChange.objects.get(pk=first["id"])
    assert replaced.status == "canceled"
    assert "replaced" in replaced.note
    run(api, "2026-07-01T00:00:00Z")
    assert invoices("acme")[-1] == (
        "2026-07-01",
        [("subscription", D("216.00")), ("proration", D("-60.00")), ("proration", D("72.00"))],
        D("228.00"),
    )


def test_canceling_drops_the_scheduled_change_and_no_change_is_scheduled_after_a_cancel(
    api: APIClient, premium: None
) -> None:
    sub = subscribe(api, "acme")
    post(api, sub, "change", quantity="15", at="2026-06-16T00:00:00Z")
    body = post(api, sub, "cancel", at="period_end").json()

    assert body["scheduled_changes"] == []
    assert ScheduledChange.objects.get().status == "canceled"
    late = post(api, sub, "change", quantity="15", at="2026-06-16T00:00:00Z")
    assert late.status_code == 409
    assert late.json()["errors"][0]["field"] == "at"
    run(api, "2026-07-01T00:00:00Z")
    assert Subscription.objects.get(pk=sub["id"]).quantity == 10
    assert len(invoices("acme")) == 1  # April only: it ended on 05-01


def test_a_change_before_the_current_period_is_refused(api: APIClient, premium: None) -> None:
    sub = subscribe(api, "acme")
    response = post(api, sub, "change", quantity="15", at="2026-03-01T00:00:00Z")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "at"
    assert not ScheduledChange.objects.exists()


def test_a_run_that_cannot_apply_a_change_reports_it_and_bills_nothing_past_it(
    api: APIClient, premium: None
) -> None:
    sub = subscribe(api, "acme")
    body = {"code": "euro", "name": "Euro", "currency": "EUR", "prices": SEATS}
    assert api.post("/api/v1/plans", body, format="json").status_code == 201
    # written past the service's checks: a plan in another currency cannot be applied
    ScheduledChange.objects.create(
        subscription_id=sub["id"],
        kind="change",
        effective_at="2026-06-16T00:00:00Z",
        new_plan_version=PlanVersion.objects.get(plan__code="euro"),
    )

    outcome = run(api, "2026-08-01T00:00:00Z")

    assert outcome["failures"] == 1
    assert "priced in EUR" in outcome["failure_details"][0]["error"]
    # May and June were billed (they end before the change); July and August wait for it
    assert [date for date, _, _ in invoices("acme")] == ["2026-04-01", "2026-05-01", "2026-06-01"]
    assert (
        Subscription.objects.get(pk=sub["id"]).current_period_end.isoformat() == "2026-07-01T00:00:00+00:00"
    )
    assert ScheduledChange.objects.get().status == "scheduled"
