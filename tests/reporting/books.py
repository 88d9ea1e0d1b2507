"""A small book of business dated from today, for the admin pages and the browser test.

The dashboard shows the last 12 months up to now, so its data is built relative to now: a yearly plan
of 1,200.00 started 75 days ago (MRR 100.00), invoiced then with net 30 terms, so 45 days past due now
(the 31-60 bucket); a monthly 50.00 plan in EUR for the currency switcher.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rest_framework.test import APIClient


def post(api: APIClient, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = api.post(f"/api/v1/{path}", body, format="json")
    assert response.status_code == status, response.content
    return response.json()


def book_from_today(api: APIClient, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    start = (now - timedelta(days=75)).replace(microsecond=0)
    at = start.isoformat().replace("+00:00", "Z")
    out: dict[str, Any] = {"start": start}
    for code, currency, plan, amount, interval in (
        ("acme", "USD", "yearly", "1200.00", "year"),
        ("bravo", "EUR", "monthly-eur", "50.00", "month"),
    ):
        post(
            api,
            "customers",
            {
                "external_id": code,
                "name": code.title(),
                "email": f"ap@{code}.example",
                "currency": currency,
                "net_terms_days": 30,
            },
        )
        price = {"code": "fee", "model": "flat", "amount": amount}
        post(
            api,
            "plans",
            {
                "code": plan,
                "name": plan.title(),
                "currency": currency,
                "interval": interval,
                "prices": [price],
            },
        )
        sub = post(api, "subscriptions", {"customer": code, "plan": plan, "start": at})
        invoice_id = int(sub["latest_invoice"]["id"])
        post(api, f"invoices/{invoice_id}/finalize", {"at": at}, status=200)
        out[code] = invoice_id
    return out
