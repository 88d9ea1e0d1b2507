"""``seed_demo``: create whatever of the Meshwork demo is missing, then play its history once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.db import transaction

from accounts.models import Customer
from billing.demo.catalog import seed_coupons, seed_metrics, seed_plans, seed_product
from billing.demo.customers import CUSTOMER_COUNT, customer_specs, seed_customers
from billing.demo.history import HistoryReport, demo_today, history_exists, seed_history
from billing.demo.staff import DEMO_LOGINS, DemoLogin, seed_staff
from billing.demo.stories import MIN_HISTORY_CUSTOMERS

# How many customers get six months of subscriptions, usage and invoices. Finalizing an invoice renders
# its PDF (WeasyPrint: ~0.12 s on an idle machine, several times that on a busy one), about two thirds
# of the seed's time: 80 customers make about 360 issued invoices, and the seed takes about a minute.
HISTORY_CUSTOMERS = 80


class Writer(Protocol):
    """Where progress goes: a management command's ``self.stdout`` or any text stream."""

    def write(self, msg: str, /) -> Any: ...


@dataclass
class SeedReport:
    """What one run created (zeros on a second run) and the staff logins it set up."""

    products: int = 0
    metrics: int = 0
    plans: int = 0
    coupons: int = 0
    customers: int = 0
    users: int = 0
    customers_total: int = 0
    logins: tuple[DemoLogin, ...] = field(default_factory=tuple)
    history: HistoryReport | None = None  # None: in place already, or not asked for
    history_skipped: bool = False  # the history's subscriptions existed: nothing was played

    @property
    def created_anything(self) -> bool:
        created = (self.products, self.metrics, self.plans, self.coupons, self.customers, self.users)
        return any(created) or bool(self.history and self.history.subscriptions)


def seed_demo(
    *,
    customers: int = CUSTOMER_COUNT,
    history_customers: int | None = None,
    today: datetime | None = None,
    stdout: Writer | None = None,
) -> SeedReport:
    """Create the missing demo data: catalog, ``customers`` customers and staff in one transaction; then,
    unless their subscriptions exist, the history of the first ``history_customers`` of them up to
    ``today`` (default: ``HISTORY_CUSTOMERS``, or none when there are fewer than 20 customers; 0: none).
    """

    def say(message: str) -> None:
        if stdout is not None:
            stdout.write(message + "\n")

    if history_customers is None:
        history_customers = HISTORY_CUSTOMERS if customers >= MIN_HISTORY_CUSTOMERS else 0
    history_customers = min(history_customers, customers)
    if 0 < history_customers < MIN_HISTORY_CUSTOMERS:
        raise ValueError(f"A demo history needs at least {MIN_HISTORY_CUSTOMERS} customers (or 0 for none).")

    report = SeedReport(logins=DEMO_LOGINS)
    with transaction.atomic():
        report.products = seed_product()
        report.metrics = seed_metrics()
        say(f"metrics: {report.metrics} created")
        report.plans = seed_plans()
        say(f"plans: {report.plans} created")
        report.coupons = seed_coupons()
        say(f"coupons: {report.coupons} created")
        report.customers = seed_customers(customers)
        say(f"customers: {report.customers} created")
        report.users = seed_staff()
        say(f"staff users: {report.users} created")
    report.customers_total = Customer.objects.count()

    if history_customers:
        ids = [spec.external_id for spec in customer_specs(history_customers)]
        if history_exists(ids):
            report.history_skipped = True
            say("history: the demo subscriptions exist already; nothing to play")
        else:
            report.history = seed_history(external_ids=ids, today=today or demo_today(), say=say)
    return report
