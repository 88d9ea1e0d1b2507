"""Issue 11's acceptance on the demo data: every dashboard and report figure equals the same figure
computed here independently, in plain Python over the invoice and subscription rows (not by the
report services), both ways and to the cent; and every month's MRR reconciles from the month before.

The demo is seeded once (it takes a while) and one test checks everything against it.
"""

from __future__ import annotations

import calendar
import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from billing.demo import seed_demo
from billing.models import Price, Subscription, SubscriptionChange
from invoicing.models import Invoice, InvoiceLine

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")
ISSUED = ("open", "paid", "uncollectible")
MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")
BUCKETS = ("current", "1_30", "31_60", "61_90", "over_90")


@pytest.fixture(autouse=True)
def fast_seed(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # as tests/test_seed_demo.py: no PBKDF2 for the staff logins, no PDF rendering per invoice
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setattr("invoicing.services.invoice_documents.invoice_pdf", lambda **kwargs: b"%PDF-1.7 test")


# --- months ----------------------------------------------------------------------------------------


def month_key(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m}"


def month_start(key: str) -> datetime:
    year, month = map(int, key.split("-"))
    return datetime(year, month, 1, tzinfo=UTC)


def next_key(key: str) -> str:
    year, month = map(int, key.split("-"))
    return f"{year + month // 12}-{month % 12 + 1:02d}"


def keys_between(first: str, last: str) -> list[str]:
    out = [first]
    while out[-1] != last:
        out.append(next_key(out[-1]))
    return out


def plus_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def cents(value: Fraction | Decimal) -> Decimal:
    exact = Fraction(value)
    return (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(CENT, ROUND_HALF_UP)


def text(value: Decimal) -> str:
    return f"{value.quantize(CENT)}"


# --- MRR, independently: the demo's monthly plans are flat fees and per-seat prices -------------


def mrr_by_customer(currency: str, moment: datetime) -> dict[int, Decimal]:
    """Each customer's MRR in the last instant before ``moment``: licensed fees of the plan version and
    seats in force (applied changes), after a repeating or forever coupon, nothing in a trial or ended."""
    out: dict[int, Decimal] = defaultdict(Decimal)
    for sub in Subscription.objects.filter(currency=currency).select_related("coupon"):
        ended = sub.ended_at or (sub.canceled_at if sub.status == "canceled" else None)
        if sub.started_at >= moment or (ended is not None and ended < moment):
            continue
        if sub.trial_end is not None and sub.trial_end >= moment:
            continue
        version, seats = None, None
        for change in CHANGES[sub.pk]:
            if change.effective_at >= moment:
                break
            version = change.new_plan_version_id or version
            seats = change.new_quantity if change.new_quantity is not None else seats
        if version is None or seats is None:
            continue
        value = Decimal(0)
        for price in PRICES[version]:
            assert price.interval_months == 1, "the demo's plans are monthly"
            if price.metric_id is not None:
                continue  # metered usage is revenue, not MRR
            value += price.amount if price.model == "flat" else price.unit_amount * seats
        coupon = sub.coupon
        if coupon is not None and coupon.duration != "once" and value > 0:
            lasts = coupon.duration == "forever" or moment <= plus_months(
                sub.coupon_redeemed_at or sub.started_at, coupon.duration_in_months or 0
            )
            if lasts:
                off = cents(value * coupon.percent_off / 100) if coupon.percent_off else coupon.amount_off
                value -= min(off or Decimal(0), value)
        if value:
            out[sub.customer_id] += cents(value)
    return dict(out)


CHANGES: dict[int, list[SubscriptionChange]] = defaultdict(list)
PRICES: dict[int, list[Any]] = defaultdict(list)


def load_subscription_rows() -> None:
    CHANGES.clear()
    PRICES.clear()
    for change in SubscriptionChange.objects.filter(applied=True).order_by("effective_at", "id"):
        CHANGES[change.subscription_id].append(change)
    for price in Price.objects.select_related("plan_version").order_by("position", "id"):
        price.interval_months = {"month": 1, "year": 12}[price.plan_version.interval] * (  # type: ignore[attr-defined]
            price.plan_version.interval_count
        )
        PRICES[price.plan_version_id].append(price)


def expected_mrr(currency: str, months: list[str]) -> dict[str, dict[str, str]]:
    first_start = min(Subscription.objects.filter(currency=currency).values_list("started_at", flat=True))
    history = keys_between(min(month_key(first_start), months[0]), months[-1])
    at_end = {key: mrr_by_customer(currency, month_start(next_key(key))) for key in history}
    at_end[month_key(plus_months(first_start, -1))] = {}
    out: dict[str, dict[str, str]] = {}
    paid_before: set[int] = set()
    previous: dict[int, Decimal] = {}
    for key in history:
        current = at_end[key]
        sums = dict.fromkeys(MOVEMENTS, Decimal(0))
        # ChartMogul's definitions restated on purpose (the test must not call reporting/mrr.py)
        for customer in set(previous) | set(current):
            before, after = previous.get(customer, Decimal(0)), current.get(customer, Decimal(0))
            if before == after:
                continue
            if not before:
                kind = "reactivation" if customer in paid_before else "new"
            elif not after:
                kind = "churn"
            else:
                kind = "expansion" if after > before else "contraction"
            sums[kind] += abs(after - before)
        paid_before |= set(current)
        if key in months:
            out[key] = {
                "mrr": text(sum(current.values(), Decimal(0))),
                **{k: text(v) for k, v in sums.items()},
            }
        previous = current
    return out


# --- revenue and receivables, independently ----------------------------------------------------


def through(amount: Decimal, start: datetime, end: datetime, moment: datetime) -> Decimal:
    """How much of a line serving [start, end) is recognized before ``moment`` (cumulative, by time)."""
    if moment <= start:
        return Decimal(0)
    if moment >= end:
        return amount
    return cents(
        Fraction(amount) * Fraction(int((moment - start).total_seconds()), int((end - start).total_seconds()))
    )


def expected_revenue(currency: str, months: list[str]) -> dict[str, dict[str, str]]:
    invoiced: dict[str, Decimal] = defaultdict(Decimal)
    recognized: dict[str, Decimal] = defaultdict(Decimal)
    deferred: dict[str, Decimal] = defaultdict(Decimal)
    lines = InvoiceLine.objects.filter(invoice__currency=currency, invoice__status__in=ISSUED).select_related(
        "invoice"
    )
    for line in lines:
        issued = line.invoice.issued_at
        assert issued is not None  # finalized
        start, end = line.period_start or issued, line.period_end or issued
        if line.period_start is None or line.period_end is None or end <= start:
            start = end = issued
        invoiced[month_key(issued)] += line.amount
        for key in months:
            begin, finish = month_start(key), month_start(next_key(key))
            if start == end:
                recognized[key] += line.amount if begin <= start < finish else Decimal(0)
                done = line.amount if start < finish else Decimal(0)
            else:
                recognized[key] += through(line.amount, start, end, finish) - through(
                    line.amount, start, end, begin
                )
                done = through(line.amount, start, end, finish)
            if issued < finish:
                deferred[key] += line.amount - done
    return {
        key: {
            "invoiced": text(invoiced[key]),
            "recognized": text(recognized[key]),
            "deferred": text(deferred[key]),
        }
        for key in months
    }


def bucket(days: int) -> str:
    return next(name for name, top in zip(BUCKETS, (0, 30, 60, 90, 10**9), strict=True) if days <= top)


def expected_aging(currency: str, as_of: datetime) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    totals = dict.fromkeys(BUCKETS, Decimal(0))
    per_customer: dict[str, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(BUCKETS, Decimal(0)))
    for invoice in Invoice.objects.filter(currency=currency, status="open", amount_due__gt=0).select_related(
        "customer"
    ):
        due = invoice.due_at or invoice.issued_at
        assert due is not None
        name = bucket((as_of - due).days)
        totals[name] += invoice.amount_due
        per_customer[invoice.customer.external_id][name] += invoice.amount_due
    return (
        {b: text(v) for b, v in totals.items()},
        {
            c: {**{b: text(v) for b, v in row.items()}, "total": text(sum(row.values(), Decimal(0)))}
            for c, row in per_customer.items()
        },
    )


def dashboard_charts(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="finance-charts" type="application/json">(.*?)</script>', html, re.S)
    assert found
    return json.loads(found.group(1))  # type: ignore[no-any-return]


# --- the test --------------------------------------------------------------------------------------


def test_every_report_and_dashboard_figure_reconciles_with_the_demo_rows(
    api: APIClient, client: Client, finance_user: User
) -> None:
    report = seed_demo(customers=40, history_customers=40)
    assert report.history is not None
    load_subscription_rows()
    now = datetime.now(UTC).replace(microsecond=0)
    last = month_key(now)
    client.force_login(finance_user)
    checked = 0
    for currency in ("USD", "EUR"):
        first = month_key(
            min(Subscription.objects.filter(currency=currency).values_list("started_at", flat=True))
        )
        # every month of the demo's history, and at least the dashboard's 12 (some before the business)
        twelve = keys_between(month_key(plus_months(month_start(last), -11)), last)
        months = keys_between(min(first, twelve[0]), last)
        history = keys_between(first, last)
        assert len(history) >= 6  # the demo has months of history in both currencies

        mrr = {
            m.pop("month"): {k: v for k, v in m.items() if k != "usage_revenue"}
            for m in api.get(f"/api/v1/reports/mrr?currency={currency}&from={months[0]}&to={last}").json()[
                "months"
            ]
        }
        assert mrr == expected_mrr(currency, months)
        assert any(Decimal(m["mrr"]) > 0 for m in mrr.values()) and any(
            Decimal(m["churn"]) for m in mrr.values()
        )
        previous = Decimal(0)  # the demo's business starts in its first month
        for month in months:
            row = {k: Decimal(v) for k, v in mrr[month].items()}
            assert (
                row["mrr"]
                == previous
                + row["new"]
                + row["expansion"]
                + row["reactivation"]
                - row["contraction"]
                - row["churn"]
            ), month
            previous = row["mrr"]

        revenue = {
            m.pop("month"): m
            for m in api.get(
                f"/api/v1/reports/revenue?currency={currency}&from={months[0]}&to={last}"
            ).json()["months"]
        }
        assert revenue == expected_revenue(currency, months)
        # (the first month may be all trials)
        assert [m for m in history[1:] if not Decimal(revenue[m]["invoiced"])] == []

        aging = api.get(f"/api/v1/reports/ar-aging?currency={currency}&as_of={now.isoformat()}").json()
        buckets, customers = expected_aging(currency, now)
        assert aging["buckets"] == buckets
        assert {
            c.pop("customer"): {k: v for k, v in c.items() if k != "name"} for c in aging["customers"]
        } == customers
        assert customers, "the demo has open invoices"

        # the dashboard (the admin index for finance): the last 12 months, receivables now
        charts = dashboard_charts(client.get(f"/admin/?currency={currency}").content.decode())
        assert charts["mrr"] == [mrr[m]["mrr"] for m in twelve]
        assert charts["arr"] == [text(Decimal(mrr[m]["mrr"]) * 12) for m in twelve]
        for kind in MOVEMENTS:
            taken = kind in ("contraction", "churn")  # drawn below zero (0 - x: no "-0.00")
            assert charts["movements"][kind]["values"] == [
                text(Decimal(0) - Decimal(mrr[m][kind]) if taken else Decimal(mrr[m][kind])) for m in twelve
            ]
        for field in ("invoiced", "recognized", "deferred"):
            assert charts[field] == [revenue[m][field] for m in twelve]
        assert charts["aging"]["values"] == [buckets[b] for b in BUCKETS]
        checked += 1
    assert checked == 2
