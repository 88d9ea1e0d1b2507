"""Tax on each line after its share of the coupon discount (DESIGN.md's invoice arithmetic), on every path
that writes or shows an invoice: subscribing, billing runs, the upcoming-invoice preview, cancellations,
late usage re-rated on a draft; and the invoice's ``amount_credited`` from its credit notes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from billing.services.usage_ingest import usage_events_ingest
from billing.services.usage_schema import EventIn
from invoicing.models import Invoice
from invoicing.selectors import customer_credit_balance
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.finalization import invoice_finalize, invoice_void
from invoicing.services.payments import invoice_record_payment

pytestmark = pytest.mark.django_db

APR = "2026-04-01T00:00:00Z"
MAY = "2026-05-01T00:00:00Z"
ISSUED = datetime(2026, 5, 2, 9, tzinfo=UTC)


def D(value: str) -> Decimal:
    return Decimal(value)


def setup_fee(
    api: APIClient,
    *,
    currency: str = "USD",
    prices: list[dict[str, Any]],
    percent_off: str = "15",
    tax: str = "10",
) -> dict[str, Any]:
    """A customer taxed at ``tax`` % on a monthly plan of ``prices`` with a forever coupon, subscribed from April."""
    customer = {"external_id": "acme", "name": "Acme", "currency": currency, "tax_rate_percent": tax}
    assert api.post("/api/v1/customers", customer, format="json").status_code == 201
    plan = {"code": "team", "name": "Team", "currency": currency, "prices": prices}
    assert api.post("/api/v1/plans", plan, format="json").status_code == 201
    coupon = {"code": "off", "percent_off": percent_off, "duration": "forever"}
    assert api.post("/api/v1/coupons", coupon, format="json").status_code == 201
    body = {"customer": "acme", "plan": "team", "start": APR, "coupon": "off", "trial_days": 0}
    response = api.post("/api/v1/subscriptions", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def flat(amount: str, code: str = "base") -> dict[str, Any]:
    return {"code": code, "model": "flat", "amount": amount}


def figures(invoice: Invoice) -> tuple[Decimal, ...]:
    invoice.refresh_from_db()
    return (invoice.subtotal, invoice.discount, invoice.tax, invoice.total)


def line_rows(invoice: Invoice) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    return [
        (line.kind, line.amount, line.discount_share, line.tax) for line in invoice.lines.order_by("position")
    ]


def api_invoice(api: APIClient, invoice: Invoice) -> dict[str, Any]:
    response = api.get(f"/api/v1/invoices/{invoice.pk}")
    assert response.status_code == 200, response.content
    return response.json()


def api_figures(api: APIClient, invoice: Invoice, *names: str) -> tuple[str, ...]:
    body = api_invoice(api, invoice)
    return tuple(body[name] for name in names)


def test_a_30_05_fee_with_15_percent_off_and_10_percent_tax_totals_28_09(api: APIClient) -> None:
    sub = setup_fee(api, prices=[flat("30.05")])
    # the first invoice, written when subscribing (the service path)
    (first,) = Invoice.objects.all()
    assert sub["latest_invoice"]["total"] == "28.09"
    assert line_rows(first) == [
        ("subscription", D("30.05"), D("-4.51"), D("2.55")),
        ("discount", D("-4.51"), D("0"), D("0")),
    ]
    assert figures(first) == (D("25.54"), D("4.51"), D("2.55"), D("28.09"))
    body = api_invoice(api, first)
    assert [(line["kind"], line["amount"], line["tax"]) for line in body["lines"]] == [
        ("subscription", "30.05", "2.55"),
        ("discount", "-4.51", "0.00"),
    ]
    assert (body["subtotal"], body["discount"], body["tax"], body["total"]) == (
        "25.54",
        "4.51",
        "2.55",
        "28.09",
    )

    # the preview of May's invoice says what the run will bill
    preview = api.get("/api/v1/customers/acme/upcoming-invoice").json()
    assert [(line["kind"], line["amount"], line["tax"]) for line in preview["lines"]] == [
        ("subscription", "30.05", "2.55"),
        ("discount", "-4.51", "0.00"),
    ]
    assert (preview["tax"], preview["total"], preview["amount_credited"]) == ("2.55", "28.09", "0.00")

    # and the billing run bills it so
    assert api.post("/api/v1/billing-runs", {"as_of": MAY}, format="json").status_code == 202
    second = Invoice.objects.exclude(pk=first.pk).get()
    assert figures(second) == (D("25.54"), D("4.51"), D("2.55"), D("28.09"))
    assert [row[3] for row in line_rows(second)] == [D("2.55"), D("0")]


def test_jpy_1005_fee_with_15_percent_off_and_10_percent_tax_totals_939(api: APIClient) -> None:
    setup_fee(api, currency="JPY", prices=[flat("1005")])
    (first,) = Invoice.objects.all()
    # discount 150.75 -> 151, the fee after it 854, tax 85.4 -> 85 (taxing 1005 and -151 apart: 101 - 15)
    assert line_rows(first) == [
        ("subscription", D("1005"), D("-151"), D("85")),
        ("discount", D("-151"), D("0"), D("0")),
    ]
    assert figures(first) == (D("854"), D("151"), D("85"), D("939"))
    preview = api.get("/api/v1/customers/acme/upcoming-invoice").json()
    assert (preview["subtotal"], preview["tax"], preview["total"]) == ("854", "85", "939")
    assert api.post("/api/v1/billing-runs", {"as_of": MAY}, format="json").status_code == 202
    second = Invoice.objects.exclude(pk=first.pk).get()
    assert figures(second) == (D("854"), D("151"), D("85"), D("939"))


def test_the_remainder_cent_of_a_split_discount_goes_to_the_largest_line(api: APIClient) -> None:
    # 10% of 29.99 is 3.00: 2.0007 and 0.9993 round down to 2.00 and 0.99, the cent left goes to 20.00
    setup_fee(api, prices=[flat("20.00"), flat("9.99", code="support")], percent_off="10", tax="12.5")
    (first,) = Invoice.objects.all()
    assert line_rows(first) == [
        ("subscription", D("20.00"), D("-2.01"), D("2.25")),  # 17.99 x 12.5% = 2.24875
        ("subscription", D("9.99"), D("-0.99"), D("1.13")),  # 9.00 x 12.5% = 1.125
        ("discount", D("-3.00"), D("0"), D("0")),
    ]
    # taxed apart, 2.50 + 1.25 - 0.38 would be 3.37
    assert figures(first) == (D("26.99"), D("3.00"), D("3.38"), D("30.37"))
    preview = api.get("/api/v1/customers/acme/upcoming-invoice").json()
    assert [line["tax"] for line in preview["lines"]] == ["2.25", "1.13", "0.00"]
    assert preview["total"] == "30.37"


def test_a_cancellation_credit_is_taxed_after_the_coupon_takes_back_its_share(api: APIClient) -> None:
    sub = setup_fee(api, prices=[flat("30.05")])
    response = api.post(
        f"/api/v1/subscriptions/{sub['id']}/cancel", {"at": "2026-04-16T00:00:00Z"}, format="json"
    )
    assert response.status_code == 200, response.content
    final = Invoice.objects.get(pk=response.json()["latest_invoice"]["id"])
    # half of 30.05 unused: -15.025 -> -15.03; the coupon's 15% of it (2.25) comes back: -12.78 taxed
    assert line_rows(final) == [
        ("proration", D("-15.03"), D("2.25"), D("-1.28")),
        ("proration", D("2.25"), D("0"), D("0")),
    ]
    assert figures(final) == (D("-12.78"), D("0"), D("-1.28"), D("-14.06"))


def test_late_usage_on_a_discounted_draft_is_taxed_after_its_new_share(api: APIClient) -> None:
    metric = {"code": "requests", "name": "Requests", "aggregation": "sum", "field": "n"}
    assert api.post("/api/v1/metrics", metric, format="json").status_code == 201
    calls = {"code": "calls", "model": "per_unit", "unit_amount": "0.01", "billing": "in_arrears"}
    setup_fee(api, prices=[flat("30.05"), {**calls, "metric": "requests"}])

    def send(event_id: str, n: int, now: datetime) -> None:
        event = EventIn(
            event_id=event_id,
            customer="acme",
            metric="requests",
            timestamp=datetime(2026, 4, 20, tzinfo=UTC),
            properties={"n": Decimal(n)},
        )
        usage_events_ingest(events=[event], now=now)

    send("e1", 1000, datetime(2026, 4, 21, tzinfo=UTC))
    assert api.post("/api/v1/billing-runs", {"as_of": MAY}, format="json").status_code == 202
    may = Invoice.objects.get(billing_date=datetime(2026, 5, 1, tzinfo=UTC))
    # usage 10.00 (April) + fee 30.05 (May): 15% of 40.05 = 6.0075 -> 6.01, split 1.50 / 4.51
    assert sorted(line_rows(may)) == [
        ("discount", D("-6.01"), D("0"), D("0")),
        ("subscription", D("30.05"), D("-4.51"), D("2.55")),
        ("usage", D("10.00"), D("-1.50"), D("0.85")),
    ]
    send("e2", 505, datetime(2026, 5, 2, tzinfo=UTC))  # inside the grace window: the draft is re-rated
    invoice_finalize(invoice_id=may.pk, at=ISSUED)
    # usage 15.05, 15% of 45.10 = 6.765 -> 6.77, split 4.5108 / 2.2592 -> 4.51 / 2.25 and the cent
    # left to the larger line: 4.52 / 2.25; taxes 25.53 -> 2.55, 12.80 -> 1.28
    assert sorted(line_rows(may)) == [
        ("discount", D("-6.77"), D("0"), D("0")),
        ("subscription", D("30.05"), D("-4.52"), D("2.55")),
        ("usage", D("15.05"), D("-2.25"), D("1.28")),
    ]
    assert figures(may) == (D("38.33"), D("6.77"), D("3.83"), D("42.16"))


def test_credit_notes_add_up_to_amount_credited_and_amount_due_reconciles(api: APIClient) -> None:
    setup_fee(api, prices=[flat("30.05")])
    (invoice,) = Invoice.objects.all()
    invoice_finalize(invoice_id=invoice.pk, at=ISSUED)
    credit_note_create(invoice_id=invoice.pk, amount=D("5.00"), reason="Outage", at=ISSUED)
    credit_note_create(invoice_id=invoice.pk, amount=D("3.09"), reason="Goodwill", at=ISSUED)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.total, invoice.amount_credited, invoice.amount_due) == (
        "open",
        D("28.09"),
        D("8.09"),
        D("20.00"),
    )
    assert (
        invoice.amount_due
        == invoice.total - invoice.credits_applied - invoice.amount_credited - invoice.amount_paid
    )
    assert api_figures(api, invoice, "total", "amount_credited", "amount_due", "amount_paid") == (
        "28.09",
        "8.09",
        "20.00",
        "0.00",
    )
    invoice_record_payment(invoice_id=invoice.pk, amount=D("20.00"), at=ISSUED)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == ("paid", D("20.00"), D("0"))
    # a paid invoice's credit goes to the balance: amount_due stays 0, the formula gives minus that credit
    credit_note_create(invoice_id=invoice.pk, amount=D("1.00"), reason="Late", at=ISSUED)
    invoice.refresh_from_db()
    assert (invoice.amount_credited, invoice.amount_due) == (D("9.09"), D("0"))
    assert customer_credit_balance(customer_id=invoice.customer_id, currency="USD") == D("1.00")
    assert invoice.total - invoice.credits_applied - invoice.amount_credited - invoice.amount_paid == D(
        "-1.00"
    )


def test_a_void_invoice_owes_nothing_and_was_credited_nothing(api: APIClient) -> None:
    setup_fee(api, prices=[flat("30.05")])
    (invoice,) = Invoice.objects.all()
    invoice_finalize(invoice_id=invoice.pk, at=ISSUED)
    invoice_void(invoice_id=invoice.pk, at=ISSUED)
    shown = api_figures(api, invoice, "status", "total", "amount_credited", "amount_due")
    assert shown == ("void", "28.09", "0.00", "0.00")
