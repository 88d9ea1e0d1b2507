"""Subscriptions billed end to end through the API and billing runs, with DESIGN.md's worked examples."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from invoicing.models import BilledPeriod, Invoice, InvoiceLine

pytestmark = pytest.mark.django_db


def D(value: str) -> Decimal:
    return Decimal(value)


def make_customer(api: APIClient, external_id: str = "acme", **extra: Any) -> None:
    body = {"external_id": external_id, "name": external_id.title(), "currency": "USD", **extra}
    response = api.post("/api/v1/customers", body, format="json")
    assert response.status_code == 201, response.content


def make_plan(api: APIClient, code: str, prices: list[dict[str, Any]], **extra: Any) -> None:
    body = {"code": code, "name": code.title(), "currency": "USD", "prices": prices, **extra}
    response = api.post("/api/v1/plans", body, format="json")
    assert response.status_code == 201, response.content


def subscribe(api: APIClient, **body: Any) -> dict[str, Any]:
    response = api.post("/api/v1/subscriptions", {"customer": "acme", **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def run_billing(api: APIClient, as_of: str) -> dict[str, Any]:
    response = api.post("/api/v1/billing-runs", {"as_of": as_of}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def invoices_of(customer: str = "acme") -> list[Invoice]:
    return list(Invoice.objects.filter(customer__external_id=customer).order_by("billing_date", "id"))


def lines_of(invoice: Invoice) -> list[tuple[str, Decimal]]:
    return [(line.kind, line.amount) for line in invoice.lines.order_by("position")]


SEATS = [{"code": "seat", "model": "per_unit", "unit_amount": "18.00", "description": "Premium seat"}]


def test_subscribing_invoices_the_first_in_advance_fees_at_once(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "premium", SEATS)
    sub = subscribe(api, plan="premium", quantity="10", start="2026-04-01T00:00:00Z")
    assert sub["status"] == "active"
    assert sub["current_period_start"] == "2026-04-01T00:00:00Z"
    assert sub["current_period_end"] == "2026-05-01T00:00:00Z"
    assert sub["latest_invoice"]["total"] == "180.00"
    (invoice,) = invoices_of()
    assert invoice.status == "draft"
    assert lines_of(invoice) == [("subscription", D("180.00"))]
    line = invoice.lines.get()
    assert line.period_start is not None and line.period_end is not None
    assert (line.period_start.isoformat(), line.period_end.isoformat()) == (
        "2026-04-01T00:00:00+00:00",
        "2026-05-01T00:00:00+00:00",
    )


def test_seat_upgrade_at_half_of_a_30_day_period_always_invoice(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "premium", SEATS)
    sub = subscribe(api, plan="premium", quantity="10", start="2026-04-01T00:00:00Z")
    changed = api.post(
        f"/api/v1/subscriptions/{sub['id']}/change",
        {"quantity": "15", "at": "2026-04-16T00:00:00Z", "proration": "always_invoice"},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["quantity"] == "15"
    proration = Invoice.objects.get(pk=changed.json()["latest_invoice"]["id"])
    assert sorted(lines_of(proration)) == [("proration", D("-90.00")), ("proration", D("135.00"))]
    assert proration.total == D("45.00")


def test_seat_upgrade_create_prorations_lands_on_the_next_invoice(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "premium", SEATS)
    sub = subscribe(api, plan="premium", quantity="10", start="2026-04-01T00:00:00Z")
    api.post(
        f"/api/v1/subscriptions/{sub['id']}/change",
        {"quantity": "15", "at": "2026-04-16T00:00:00Z", "proration": "create_prorations"},
        format="json",
    )
    assert len(invoices_of()) == 1
    run_billing(api, "2026-05-01T00:00:00Z")
    may = invoices_of()[-1]
    assert sorted(lines_of(may)) == [
        ("proration", D("-90.00")),
        ("proration", D("135.00")),
        ("subscription", D("270.00")),
    ]
    assert may.total == D("315.00")


def test_seat_change_with_no_proration_changes_only_the_next_period(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "premium", SEATS)
    sub = subscribe(api, plan="premium", quantity="10", start="2026-04-01T00:00:00Z")
    api.post(
        f"/api/v1/subscriptions/{sub['id']}/change",
        {"quantity": "15", "at": "2026-04-16T00:00:00Z", "proration": "none"},
        format="json",
    )
    run_billing(api, "2026-05-01T00:00:00Z")
    assert lines_of(invoices_of()[-1]) == [("subscription", D("270.00"))]


def test_twenty_percent_off_for_three_months(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "team", [{"code": "base", "model": "flat", "amount": "60.00"}])
    coupon = {"code": "launch20", "percent_off": "20", "duration": "repeating", "duration_in_months": 3}
    assert api.post("/api/v1/coupons", coupon, format="json").status_code == 201
    subscribe(api, plan="team", start="2026-01-15T00:00:00Z", coupon="launch20")
    for as_of in [
        "2026-02-15T00:00:00Z",
        "2026-03-15T00:00:00Z",
        "2026-04-15T00:00:00Z",
        "2026-05-15T00:00:00Z",
    ]:
        run_billing(api, as_of)
    totals = [invoice.total for invoice in invoices_of()]
    assert totals == [D("48.00"), D("48.00"), D("48.00"), D("60.00"), D("60.00")]
    first = invoices_of()[0]
    assert lines_of(first) == [("subscription", D("60.00")), ("discount", D("-12.00"))]
    assert (first.subtotal, first.discount, first.total) == (D("48.00"), D("12.00"), D("48.00"))


def test_january_31_anchor_gives_month_end_periods(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "team", [{"code": "base", "model": "flat", "amount": "60.00"}])
    sub = subscribe(api, plan="team", start="2026-01-31T00:00:00Z")
    assert sub["current_period_end"] == "2026-02-28T00:00:00Z"
    run_billing(api, "2026-04-30T00:00:00Z")
    periods = [
        (line.period_start.date().isoformat(), line.period_end.date().isoformat())
        for line in InvoiceLine.objects.order_by("period_start")
        if line.period_start and line.period_end
    ]
    assert periods == [
        ("2026-01-31", "2026-02-28"),
        ("2026-02-28", "2026-03-31"),
        ("2026-03-31", "2026-04-30"),
        ("2026-04-30", "2026-05-31"),
    ]
    current = api.get(f"/api/v1/subscriptions/{sub['id']}").json()
    assert current["current_period_start"] == "2026-04-30T00:00:00Z"
    assert current["current_period_end"] == "2026-05-31T00:00:00Z"


def test_leap_year_january_31_anchor_gives_february_29(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "team", [{"code": "base", "model": "flat", "amount": "60.00"}])
    sub = subscribe(api, plan="team", start="2028-01-31T00:00:00Z")
    assert sub["current_period_end"] == "2028-02-29T00:00:00Z"


def test_a_second_run_for_the_same_time_creates_nothing(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "premium", SEATS)
    subscribe(api, plan="premium", quantity="2", start="2026-01-01T00:00:00Z")
    first = run_billing(api, "2026-03-01T00:00:00Z")
    assert first["status"] == "completed"
    counts = (Invoice.objects.count(), InvoiceLine.objects.count(), BilledPeriod.objects.count())
    second = run_billing(api, "2026-03-01T00:00:00Z")
    assert second["invoices_created"] == 0
    assert (Invoice.objects.count(), InvoiceLine.objects.count(), BilledPeriod.objects.count()) == counts
    assert counts[0] == 3


def test_run_billing_command_runs_the_same_code(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "premium", SEATS)
    subscribe(api, plan="premium", quantity="2", start="2026-01-01T00:00:00Z")
    call_command("run_billing", "--as-of", "2026-02-01T00:00:00Z")
    assert [i.total for i in invoices_of()] == [D("36.00"), D("36.00")]
    call_command("run_billing", "--as-of", "2026-02-01T00:00:00Z")
    assert len(invoices_of()) == 2


def test_trial_defers_the_first_fees_to_the_trial_end(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "premium", SEATS, trial_days=14)
    sub = subscribe(api, plan="premium", quantity="3", start="2026-03-01T00:00:00Z")
    assert sub["status"] == "trialing"
    assert sub["current_period_end"] == "2026-03-15T00:00:00Z"
    assert invoices_of() == []
    run_billing(api, "2026-03-15T00:00:00Z")
    (invoice,) = invoices_of()
    assert lines_of(invoice) == [("subscription", D("54.00"))]
    now = api.get(f"/api/v1/subscriptions/{sub['id']}").json()
    assert now["status"] == "active"
    assert (now["current_period_start"], now["current_period_end"]) == (
        "2026-03-15T00:00:00Z",
        "2026-04-15T00:00:00Z",
    )


def test_calendar_billing_prorates_the_first_period_to_the_first_of_the_month(api: APIClient) -> None:
    make_customer(api, billing_anchor="calendar")
    make_plan(api, "team", [{"code": "base", "model": "flat", "amount": "31.00"}])
    sub = subscribe(api, plan="team", start="2026-01-15T00:00:00Z")
    assert sub["current_period_end"] == "2026-02-01T00:00:00Z"
    assert sub["latest_invoice"]["total"] == "17.00"  # 17 of January's 31 days
    run_billing(api, "2026-02-01T00:00:00Z")
    assert invoices_of()[-1].total == D("31.00")


def test_calendar_periods_follow_the_customer_time_zone(api: APIClient) -> None:
    make_customer(api, billing_anchor="calendar", timezone="America/New_York")
    make_plan(api, "team", [{"code": "base", "model": "flat", "amount": "31.00"}])
    sub = subscribe(api, plan="team", start="2026-01-31T05:00:00Z")  # midnight Jan 31 in New York
    assert sub["current_period_end"] == "2026-02-01T05:00:00Z"
    assert sub["latest_invoice"]["total"] == "1.00"


def test_cancel_at_a_time_credits_the_unused_fees_on_a_final_invoice(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "premium", SEATS)
    sub = subscribe(api, plan="premium", quantity="10", start="2026-04-01T00:00:00Z")
    response = api.post(
        f"/api/v1/subscriptions/{sub['id']}/cancel", {"at": "2026-04-16T00:00:00Z"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "canceled"
    assert body["ended_at"] == "2026-04-16T00:00:00Z"
    final = Invoice.objects.get(pk=body["latest_invoice"]["id"])
    assert lines_of(final) == [("proration", D("-90.00"))]
    assert final.total == D("-90.00")
    again = api.post(f"/api/v1/subscriptions/{sub['id']}/cancel", {"at": "period_end"}, format="json")
    assert again.status_code == 409
    change = api.post(f"/api/v1/subscriptions/{sub['id']}/change", {"quantity": "3"}, format="json")
    assert change.status_code == 409


def test_cancel_at_period_end_bills_nothing_more(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "premium", SEATS)
    sub = subscribe(api, plan="premium", quantity="1", start="2026-04-01T00:00:00Z")
    body = api.post(f"/api/v1/subscriptions/{sub['id']}/cancel", {"at": "period_end"}, format="json").json()
    assert body["status"] == "active"
    assert body["cancel_at_period_end"] is True
    run_billing(api, "2026-06-01T00:00:00Z")
    assert len(invoices_of()) == 1
    assert api.get(f"/api/v1/subscriptions/{sub['id']}").json()["status"] == "canceled"


def test_plan_change_at_period_end_applies_at_the_boundary(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "starter", [{"code": "seat", "model": "per_unit", "unit_amount": "6.00"}])
    make_plan(api, "premium", SEATS)
    sub = subscribe(api, plan="starter", quantity="5", start="2026-04-01T00:00:00Z")
    body = api.post(
        f"/api/v1/subscriptions/{sub['id']}/change", {"plan": "premium", "at": "period_end"}, format="json"
    ).json()
    assert body["plan"] == "starter"
    run_billing(api, "2026-05-01T00:00:00Z")
    assert lines_of(invoices_of()[-1]) == [("subscription", D("90.00"))]
    assert api.get(f"/api/v1/subscriptions/{sub['id']}").json()["plan"] == "premium"


def test_upgrade_plan_mid_period_credits_old_and_charges_new(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "starter", [{"code": "seat", "model": "per_unit", "unit_amount": "6.00"}])
    make_plan(api, "premium", SEATS)
    sub = subscribe(api, plan="starter", quantity="10", start="2026-04-01T00:00:00Z")
    body = api.post(
        f"/api/v1/subscriptions/{sub['id']}/change",
        {"plan": "premium", "at": "2026-04-16T00:00:00Z", "proration": "always_invoice"},
        format="json",
    ).json()
    invoice = Invoice.objects.get(pk=body["latest_invoice"]["id"])
    assert sorted(lines_of(invoice)) == [("proration", D("-30.00")), ("proration", D("90.00"))]


def test_each_customer_gets_one_invoice_per_billing_date_for_all_its_subscriptions(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "premium", SEATS)
    make_plan(api, "addon", [{"code": "base", "model": "flat", "amount": "5.00"}])
    subscribe(api, plan="premium", quantity="1", start="2026-04-01T00:00:00Z")
    subscribe(api, plan="addon", start="2026-04-01T00:00:00Z")
    assert len(invoices_of()) == 1
    assert invoices_of()[0].total == D("23.00")
    api.patch("/api/v1/customers/acme", {"invoice_grouping": "per_subscription"}, format="json")
    run_billing(api, "2026-05-01T00:00:00Z")
    assert sorted(i.total for i in invoices_of()[1:]) == [D("5.00"), D("18.00")]


def test_bad_subscription_input_is_400_naming_the_field(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "premium", SEATS)
    cases = [
        ({"plan": "nope", "start": "2026-01-01T00:00:00Z"}, "plan"),
        ({"plan": "premium", "start": "2026-01-01T00:00:00"}, "start"),
        ({"plan": "premium", "start": "yesterday"}, "start"),
        ({"plan": "premium", "start": "2026-01-01T00:00:00Z", "quantity": "-1"}, "quantity"),
        ({"plan": "premium", "start": "2026-01-01T00:00:00Z", "coupon": "nope"}, "coupon"),
        ({"plan": "premium", "start": "2026-01-01T00:00:00Z", "customer": "ghost"}, "customer"),
    ]
    for body, field in cases:
        response = api.post("/api/v1/subscriptions", {"customer": "acme", **body}, format="json")
        assert response.status_code == 400, (body, response.content)
        assert field in {e["field"] for e in response.json()["errors"]}, (body, response.json())
    assert Invoice.objects.count() == 0


def test_currency_mismatch_is_400_on_plan(api: APIClient) -> None:
    make_customer(api, currency="EUR")
    make_plan(api, "premium", SEATS)
    response = api.post(
        "/api/v1/subscriptions",
        {"customer": "acme", "plan": "premium", "start": "2026-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "plan"


def test_a_billing_run_reports_its_counts(api: APIClient) -> None:
    make_customer(api)
    make_plan(api, "premium", SEATS)
    subscribe(api, plan="premium", quantity="2", start="2026-01-01T00:00:00Z")
    started = run_billing(api, "2026-02-01T00:00:00Z")
    body = api.get(f"/api/v1/billing-runs/{started['id']}").json()
    assert (body["status"], body["invoices_created"], body["failures"], body["failure_details"]) == (
        "completed",
        1,
        0,
        [],
    )
    assert body["subscriptions_billed"] == 1
