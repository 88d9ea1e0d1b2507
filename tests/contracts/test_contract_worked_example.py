"""The issue's worked example, to the cent: a ramp, a commitment true-up, a credit grant, an onboarding fee."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from invoicing.models import BalanceTransaction, Invoice
from tests.contracts.conftest import WORKED, D, bill_and_finalize, lines, post, usage

pytestmark = pytest.mark.django_db


def test_the_worked_example_bills_four_invoices_exactly(
    api: APIClient, sales_api: APIClient, premium: Any, settings: Any
) -> None:
    settings.RATECARD_ALLOW_FUTURE_BILLING = True
    contract = post(sales_api, "/api/v1/contracts", WORKED, 201)
    assert (contract["status"], contract["version"]) == ("draft", 1)
    assert not Invoice.objects.exists()  # nothing bills while a draft
    post(sales_api, f"/api/v1/contracts/{contract['id']}/submit")
    approved = post(api, f"/api/v1/contracts/{contract['id']}/approve", {"at": "2026-01-01T00:00:00Z"})
    assert approved["status"] == "active" and approved["subscription"]
    assert [s["action"] for s in approved["approval_steps"]] == ["submitted", "approved"]

    jan = Invoice.objects.get(customer__external_id="acme")
    post(api, f"/api/v1/invoices/{jan.pk}/finalize", {"at": "2026-01-01T00:00:00Z"})
    jan.refresh_from_db()
    assert lines(jan) == [
        ("subscription", "Seats × 10", D("140.00")),
        ("subscription", "Platform fee", D("500.00")),
        ("one_off", "Onboarding", D("250.00")),
    ]
    assert (jan.total, jan.credits_applied, jan.amount_due) == (D("890.00"), D("890.00"), D("0.00"))

    usage(api, "jan-1", "2026-01-15T00:00:00Z", "2000")
    upcoming = api.get("/api/v1/customers/acme/upcoming-invoice").json()  # the preview follows the contract
    assert (upcoming["total"], upcoming["credits_applied"], upcoming["amount_due"]) == (
        "1000.00",
        "110.00",
        "890.00",
    )
    assert sorted(line["kind"] for line in upcoming["lines"]) == [
        "commitment",
        "subscription",
        "subscription",
        "usage",
    ]
    feb = bill_and_finalize(api, "2026-02-01T00:00:00Z")
    assert [(k, a) for k, _, a in lines(feb)] == [
        ("usage", D("100.00")),
        ("subscription", D("140.00")),
        ("subscription", D("500.00")),
        ("commitment", D("260.00")),
    ]
    assert (feb.total, feb.credits_applied, feb.amount_due) == (D("1000.00"), D("110.00"), D("890.00"))

    mar = bill_and_finalize(api, "2026-03-01T00:00:00Z")
    assert [(k, a) for k, _, a in lines(mar)] == [
        ("subscription", D("150.00")),
        ("subscription", D("600.00")),
        ("commitment", D("360.00")),
    ]
    assert (mar.total, mar.credits_applied, mar.amount_due) == (D("1110.00"), D("0.00"), D("1110.00"))

    usage(api, "mar-1", "2026-03-10T00:00:00Z", "4000")
    apr = bill_and_finalize(api, "2026-04-01T00:00:00Z")
    assert [(k, a) for k, _, a in lines(apr)] == [
        ("usage", D("200.00")),
        ("subscription", D("150.00")),
        ("subscription", D("600.00")),
        ("commitment", D("50.00")),
    ]
    assert (apr.total, apr.credits_applied, apr.amount_due) == (D("1000.00"), D("0.00"), D("1000.00"))

    # the ledger keeps every row: the grant in, two draws out; the balance is their sum
    rows = list(BalanceTransaction.objects.order_by("id").values_list("amount", "invoice_id"))
    assert rows == [(D("-1000.00"), None), (D("890.00"), jan.pk), (D("110.00"), feb.pk)]
    credits = api.get("/api/v1/customers/acme/credits?at=2026-04-01T00:00:00Z").json()
    assert credits["balance"] == "0.00"
    assert [(g["amount"], g["remaining"]) for g in credits["grants"]] == [("1000.00", "0.00")]
    assert [p["code"] for p in api.get("/api/v1/plans").json()["results"]] == [
        "premium"
    ]  # private plan hidden
    features = api.get("/api/v1/customers/acme/entitlements").json()["features"]
    assert (features["max_users"], features["sso"]) == (500, True)
