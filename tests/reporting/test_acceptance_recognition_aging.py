"""Issue 11's acceptance for revenue recognition and AR aging, through the report API, to the cent."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from billing.pricing.money import round_amount
from invoicing.services.payments import invoice_record_payment
from tests.reporting.books import post

pytestmark = pytest.mark.django_db


def subscribe(api: APIClient, *, customer: str, plan: str, amount: str, interval: str, start: str) -> int:
    """A USD customer on a one-fee plan from ``start``; its first invoice finalized then. The invoice id."""
    post(
        api,
        "customers",
        {
            "external_id": customer,
            "name": customer.title(),
            "email": f"ap@{customer}.example",
            "currency": "USD",
            "net_terms_days": 30,
        },
    )
    if api.get(f"/api/v1/plans/{plan}").status_code == 404:
        price = {"code": "fee", "model": "flat", "amount": amount}
        post(
            api,
            "plans",
            {"code": plan, "name": plan.title(), "currency": "USD", "interval": interval, "prices": [price]},
        )
    sub = post(api, "subscriptions", {"customer": customer, "plan": plan, "start": start})
    invoice_id = int(sub["latest_invoice"]["id"])
    post(api, f"invoices/{invoice_id}/finalize", {"at": start}, status=200)
    return invoice_id


def recognized(api: APIClient, first: str, last: str) -> dict[str, str]:
    response = api.get(f"/api/v1/reports/revenue?currency=USD&from={first}&to={last}")
    assert response.status_code == 200, response.content
    return {m["month"]: m["recognized"] for m in response.json()["months"]}


def by_day(amount: Decimal, start: date, end: date) -> dict[str, Decimal]:
    """Recognized per month, independently: cumulative days over the period's days, rounded half up, each
    month the difference of two cumulative figures, so the last month takes the rounding remainder."""
    days, out, cumulative, done, day = (end - start).days, {}, 0, Decimal(0), start
    while day < end:
        next_month = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        cumulative += (min(next_month, end) - day).days
        upto = round_amount(amount * cumulative / days, "USD") if next_month < end else amount
        out[f"{day:%Y-%m}"], done, day = upto - done, upto, next_month
    return out


def test_an_annual_line_is_recognized_by_day_over_its_365_days(api: APIClient) -> None:
    subscribe(
        api, customer="acme", plan="yearly", amount="1200.00", interval="year", start="2026-03-15T00:00:00Z"
    )

    months = recognized(api, "2026-02", "2027-04")

    # Mar 2026 has 17 of the 365 days: round(1200 * 17/365) = 55.89; then cumulatively (e.g. through
    # April 47 days: 154.52 - 55.89 = 98.63); March 2027's 14 days take what is left
    assert months == {
        "2026-02": "0.00",
        "2026-03": "55.89",
        "2026-04": "98.63",
        "2026-05": "101.92",
        "2026-06": "98.63",
        "2026-07": "101.92",
        "2026-08": "101.91",
        "2026-09": "98.63",
        "2026-10": "101.92",
        "2026-11": "98.63",
        "2026-12": "101.92",
        "2027-01": "101.92",
        "2027-02": "92.05",
        "2027-03": "46.03",
        "2027-04": "0.00",
    }
    assert sum(Decimal(v) for v in months.values()) == Decimal("1200.00")
    expected = by_day(Decimal("1200.00"), date(2026, 3, 15), date(2027, 3, 15))
    assert {k: Decimal(v) for k, v in months.items() if v != "0.00"} == expected


def test_a_monthly_line_is_recognized_in_the_months_its_period_covers(api: APIClient) -> None:
    subscribe(
        api, customer="bravo", plan="monthly", amount="30.00", interval="month", start="2026-03-10T00:00:00Z"
    )
    # March 10 -> April 10: 22 of 31 days in March, 9 in April
    assert recognized(api, "2026-02", "2026-05") == {
        "2026-02": "0.00",
        "2026-03": "21.29",
        "2026-04": "8.71",
        "2026-05": "0.00",
    }


def test_ar_aging_45_days_past_due_paid_and_partly_credited(api: APIClient) -> None:
    # net 30 from March 18: due April 17, which is 45 days before June 1
    start = "2026-03-18T00:00:00Z"
    subscribe(api, customer="late", plan="monthly", amount="100.00", interval="month", start=start)
    paid = subscribe(api, customer="paid", plan="monthly", amount="100.00", interval="month", start=start)
    credited = subscribe(
        api, customer="credited", plan="monthly", amount="100.00", interval="month", start=start
    )
    invoice_record_payment(invoice_id=paid, amount=Decimal("100.00"), at=datetime(2026, 3, 20, tzinfo=UTC))
    post(
        api,
        "credit-notes",
        {"invoice": credited, "amount": "30.00", "reason": "outage", "at": "2026-03-25T00:00:00Z"},
    )

    response = api.get("/api/v1/reports/ar-aging?as_of=2026-06-01T00:00:00Z&currency=USD")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()

    assert body["buckets"] == {
        "current": "0.00",
        "1_30": "0.00",
        "31_60": "170.00",  # 100.00 late + what is still due on the credited one (100.00 - 30.00)
        "61_90": "0.00",
        "over_90": "0.00",
    }
    rows = {row["customer"]: row for row in body["customers"]}
    assert set(rows) == {"late", "credited"}  # the paid invoice is in no bucket
    assert (rows["late"]["31_60"], rows["late"]["total"]) == ("100.00", "100.00")
    assert (rows["credited"]["31_60"], rows["credited"]["total"]) == ("70.00", "70.00")
