"""What finance's home page shows, computed by the report services in one currency.

Every figure here comes from ``mrr_report``, ``revenue_report`` and ``ar_aging_report`` (the same
numbers as the report API) or from one grouped query on billing runs, so the page and the API can never
disagree. Chart series are amounts written as strings (exact decimals); the browser only plots them.

Alerts come from ``ALERT_SOURCES``: a list of functions, each returning the alerts of one subject. Billing
runs that failed or completed with failures are the first source; the Stripe outbox (dead rows) and
reconciliation (mismatches) declare alert rules (``config.monitoring``) whose open incidents show here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum

from accounts.models import Customer
from billing.pricing import round_amount
from billing.pricing.money import plain_amount
from invoicing.models import BillingRun
from reporting.aging import BUCKETS, AgingReport, ar_aging_report
from reporting.months import Month, months_ending
from reporting.mrr import MrrMonth, mrr_report
from reporting.revenue import RevenueMonth, revenue_report

BUCKET_LABELS = {
    "current": "Not yet due",
    "1_30": "1–30 days",
    "31_60": "31–60 days",
    "61_90": "61–90 days",
    "over_90": "Over 90 days",
}
MOVEMENT_LABELS = {
    "new": "New",
    "expansion": "Expansion",
    "reactivation": "Reactivation",
    "contraction": "Contraction",
    "churn": "Churn",
}
TOP_CUSTOMERS = 10
LAST_RUNS = 5


@dataclass(frozen=True)
class Alert:
    level: str  # "error" or "warning"
    message: str
    url: str | None = None  # where to act on it (an admin page), when there is one


AlertSource = Callable[[], list[Alert]]


def billing_run_alerts() -> list[Alert]:
    """Every billing run that failed or completed with failures, newest first."""
    runs = BillingRun.objects.filter(
        status__in=[BillingRun.Status.FAILED, BillingRun.Status.COMPLETED_WITH_FAILURES]
    ).order_by("-created_at")[:LAST_RUNS]
    from django.urls import reverse  # faces' URLs: resolved when the page asks

    return [
        Alert(
            level="error" if run.status == BillingRun.Status.FAILED else "warning",
            message=(
                f"{run}: failed"
                if run.status == BillingRun.Status.FAILED
                else f"{run}: {run.failures_count} subscription(s) failed"
            ),
            url=reverse("admin:invoicing_billingrun_change", args=(run.pk,)),
        )
        for run in runs
    ]


def incident_alerts() -> list[Alert]:
    """The open alert incidents (reporting.alerts: every rule of every app, Stripe's included)."""
    from django.urls import reverse

    from reporting.models import AlertIncident

    incidents = AlertIncident.objects.filter(status=AlertIncident.Status.OPEN).order_by("-opened_at", "-id")
    return [
        Alert(
            level="error" if incident.severity == "error" else "warning",
            message=f"{incident.title}: {incident.message}",
            url=reverse("admin:reporting_alertincident_change", args=(incident.pk,)),
        )
        for incident in incidents[: LAST_RUNS * 2]
    ]


# Open incidents first: the alert rules cover every subject (billing runs, ingestion, the Stripe outbox,
# webhooks and reconciliation once their rules are declared); then the last unhappy billing runs.
ALERT_SOURCES: list[AlertSource] = [incident_alerts, billing_run_alerts]


def dashboard_alerts() -> list[Alert]:
    return [alert for source in ALERT_SOURCES for alert in source()]


@dataclass
class RunRow:
    run: BillingRun
    invoices: int
    amount: Decimal


@dataclass
class TopCustomer:
    customer: Customer
    mrr: Decimal


@dataclass
class Dashboard:
    currency: str
    months: list[Month]
    mrr: list[MrrMonth]
    revenue: list[RevenueMonth]
    aging: AgingReport
    top_customers: list[TopCustomer]
    runs: list[RunRow]
    alerts: list[Alert]

    @property
    def mrr_now(self) -> Decimal:
        return self.mrr[-1].mrr

    @property
    def arr_now(self) -> Decimal:
        return self.mrr_now * 12

    def _amount(self, value: Decimal) -> str:
        return plain_amount(value, self.currency)

    def charts(self) -> dict[str, Any]:
        """The JSON the page's charts draw: labels and exact amounts as strings."""
        labels = [m.label for m in self.months]
        return {
            "currency": self.currency,
            "labels": labels,
            "mrr": [self._amount(m.mrr) for m in self.mrr],
            "arr": [self._amount(m.mrr * 12) for m in self.mrr],
            "movements": {
                kind: {
                    "label": label,
                    # contraction and churn take MRR away: drawn below zero
                    "values": [
                        self._amount(
                            -getattr(m, kind) if kind in ("contraction", "churn") else getattr(m, kind)
                        )
                        for m in self.mrr
                    ],
                }
                for kind, label in MOVEMENT_LABELS.items()
            },
            "invoiced": [self._amount(r.invoiced) for r in self.revenue],
            "recognized": [self._amount(r.recognized) for r in self.revenue],
            "deferred": [self._amount(r.deferred) for r in self.revenue],
            "aging": {
                "labels": [BUCKET_LABELS[b] for b in BUCKETS],
                "values": [self._amount(self.aging.buckets[b]) for b in BUCKETS],
            },
        }


def last_runs(currency: str) -> list[RunRow]:
    """The last billing runs with what they billed in ``currency``: invoices created and their totals."""
    in_currency = Q(invoices__currency=currency)
    runs = BillingRun.objects.annotate(
        n=Count("invoices", filter=in_currency), billed=Sum("invoices__total", filter=in_currency)
    ).order_by("-created_at")[:LAST_RUNS]
    zero = round_amount(Decimal(0), currency)
    return [RunRow(run=r, invoices=r.n, amount=round_amount(r.billed or zero, currency)) for r in runs]


def top_customers(last: MrrMonth) -> list[TopCustomer]:
    ranked = sorted(last.by_customer.items(), key=lambda item: (-item[1], item[0]))[:TOP_CUSTOMERS]
    customers = Customer.objects.in_bulk([cid for cid, _ in ranked])
    return [TopCustomer(customer=customers[cid], mrr=mrr) for cid, mrr in ranked if cid in customers]


def finance_dashboard(*, currency: str, now: datetime) -> Dashboard:
    """The last 12 months up to ``now``'s month, receivables at ``now``, in ``currency``."""
    months = months_ending(Month.of(now))
    mrr = mrr_report(currency=currency, months=months)
    return Dashboard(
        currency=currency,
        months=months,
        mrr=mrr,
        revenue=revenue_report(currency=currency, months=months),
        aging=ar_aging_report(currency=currency, as_of=now),
        top_customers=top_customers(mrr[-1]),
        runs=last_runs(currency),
        alerts=dashboard_alerts(),
    )
