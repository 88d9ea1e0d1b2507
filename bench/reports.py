"""Finance reports benchmark: MRR, revenue recognition and AR aging over ~100,000 finalized invoices.

Run from the repo root: ``.venv/bin/python bench/reports.py [--customers 10000] [--months 10]``. It
1. recreates the ``ratecard_bench_reporting`` database on 127.0.0.1 and migrates it;
2. bulk-inserts rows directly (it is a bench, not a billing run): N customers in USD, each with one
   subscription (a monthly per-seat plan, or a yearly one for every fifth customer) and its CREATE change,
   seat changes for some, cancellations for a few; one finalized invoice per customer and month with 2-3
   lines carrying service periods (seats, usage, a discount for some), payments for the older invoices;
3. times each report as the API computes it (MRR 12 months, revenue 12 months, AR aging at the end) and
   prints the median of ``--runs`` runs.
Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "ratecard_bench_reporting"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
FIRST = datetime(2025, 3, 1, tzinfo=UTC)


def prepare_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=os.environ)


def month_start(index: int) -> datetime:
    return datetime(
        FIRST.year + (FIRST.month - 1 + index) // 12, (FIRST.month - 1 + index) % 12 + 1, 1, tzinfo=UTC
    )


def plans() -> tuple[Any, Any]:
    from billing.services.catalog import PlanDraft, PriceDraft, plan_create

    def plan(code: str, amount: str, interval: str) -> Any:
        return plan_create(
            draft=PlanDraft(
                code=code,
                name=code.title(),
                currency="USD",
                interval=interval,
                prices=(PriceDraft(code="seat", model="per_unit", unit_amount=Decimal(amount)),),
            )
        )

    return plan("team", "18.00", "month"), plan("team-yearly", "180.00", "year")


def create_data(customers: int, months: int) -> int:
    from accounts.models import Customer
    from billing.models import ChangeKind, Subscription, SubscriptionChange
    from invoicing.models import Invoice, InvoiceLine, InvoiceStatus, Payment

    monthly, yearly = plans()
    rng = random.Random(11)
    Customer.objects.bulk_create(
        (
            Customer(external_id=f"rep-{i:06d}", name=f"Report Customer {i}", currency="USD")
            for i in range(customers)
        ),
        batch_size=5000,
    )
    ids = list(Customer.objects.order_by("id").values_list("id", flat=True))
    subs: list[Subscription] = []
    for n, cid in enumerate(ids):
        started = month_start(0) + timedelta(days=rng.randint(0, 27))
        canceled = month_start(rng.randint(3, months)) if n % 25 == 0 else None
        end = month_start(1) if n % 5 else month_start(12)
        subs.append(
            Subscription(
                customer_id=cid,
                plan_version=yearly if n % 5 == 0 else monthly,
                status="canceled" if canceled else "active",
                quantity=Decimal(rng.randint(1, 40)),
                currency="USD",
                started_at=started,
                billing_anchor="anniversary",
                anchor_at=started,
                timezone="UTC",
                current_period_start=started,
                current_period_end=end,
                canceled_at=canceled,
                ended_at=canceled,
            )
        )
    Subscription.objects.bulk_create(subs, batch_size=5000)
    changes: list[SubscriptionChange] = []
    for n, sub in enumerate(subs):
        changes.append(
            SubscriptionChange(
                subscription=sub,
                kind=ChangeKind.CREATE,
                effective_at=sub.started_at,
                new_plan_version=sub.plan_version,
                new_quantity=sub.quantity,
            )
        )
        if n % 7 == 0:  # seat changes: expansions and contractions
            changes.append(
                SubscriptionChange(
                    subscription=sub,
                    kind=ChangeKind.QUANTITY,
                    effective_at=month_start(rng.randint(1, months - 1)) + timedelta(days=3),
                    old_quantity=sub.quantity,
                    new_quantity=max(Decimal(1), sub.quantity + rng.randint(-5, 8)),
                )
            )
    SubscriptionChange.objects.bulk_create(changes, batch_size=5000)

    invoice_count = 0
    for m in range(months):
        period_start, period_end = month_start(m), month_start(m + 1)
        issued = period_start + timedelta(hours=6)
        invoices: list[Invoice] = []
        lines: list[list[tuple[str, Decimal, datetime, datetime]]] = []
        final_status: list[str] = []
        for n, sub in enumerate(subs):
            seats = sub.quantity * Decimal("18.00")
            if n % 5 == 0:  # yearly: a 12-month service period, billed again each month in this bench
                rows = [("subscription", seats * 10, period_start, period_start + timedelta(days=365))]
            else:
                rows = [("subscription", seats, period_start, period_end)]
            rows.append(
                (
                    "usage",
                    Decimal(rng.randint(0, 50_000)) / 100,
                    period_start - timedelta(days=31),
                    period_start,
                )
            )
            if n % 3 == 0:
                rows.append(
                    ("discount", -(rows[0][1] / 10).quantize(Decimal("0.01")), rows[0][2], rows[0][3])
                )
            total = sum((r[1] for r in rows), Decimal(0))
            status = InvoiceStatus.PAID if m < months - 2 and n % 11 else InvoiceStatus.OPEN
            final_status.append(status)
            invoices.append(
                Invoice(
                    customer_id=sub.customer_id,
                    subscription=sub,
                    number=f"INV-B-{m:02d}-{n:06d}",
                    status=InvoiceStatus.DRAFT,  # lines join drafts only (a trigger); finalized below
                    currency="USD",
                    billing_date=period_start,
                    period_start=period_start,
                    period_end=period_end,
                    issued_at=issued,
                    due_at=issued + timedelta(days=30),
                    subtotal=total,
                    total=total,
                    amount_paid=total if status == InvoiceStatus.PAID else Decimal(0),
                    amount_due=Decimal(0) if status == InvoiceStatus.PAID else total,
                    paid_at=issued + timedelta(days=5) if status == InvoiceStatus.PAID else None,
                    net_terms_days=30,
                )
            )
            lines.append(rows)
        Invoice.objects.bulk_create(invoices, batch_size=5000)
        InvoiceLine.objects.bulk_create(
            (
                InvoiceLine(
                    invoice=invoice,
                    position=i,
                    kind=kind,
                    description=kind,
                    subscription_id=invoice.subscription_id,
                    amount=amount,
                    period_start=start,
                    period_end=end,
                )
                for invoice, rows in zip(invoices, lines, strict=True)
                for i, (kind, amount, start, end) in enumerate(rows)
            ),
            batch_size=5000,
        )
        Payment.objects.bulk_create(
            (
                Payment(
                    invoice=invoice,
                    currency="USD",
                    amount=invoice.total,
                    status=Payment.Status.SUCCEEDED,
                    occurred_at=invoice.paid_at or invoice.issued_at or FIRST,
                )
                for invoice, status in zip(invoices, final_status, strict=True)
                if status == InvoiceStatus.PAID
            ),
            batch_size=5000,
        )
        for status in (InvoiceStatus.PAID, InvoiceStatus.OPEN):
            Invoice.objects.filter(
                pk__in=[i.pk for i, s in zip(invoices, final_status, strict=True) if s == status]
            ).update(status=status)
        invoice_count += len(invoices)
    return invoice_count


def median_seconds(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=10, help="invoices per customer (one a month)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="time the reports on the last run's database")
    args = parser.parse_args()

    os.environ.update(
        DATABASE_URL=DATABASE_URL, LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="config.settings"
    )
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    if not args.reuse:
        prepare_database()
    import django

    django.setup()
    from django.db import connection

    from invoicing.models import Invoice, InvoiceLine
    from reporting.aging import ar_aging_report
    from reporting.months import Month, month_range
    from reporting.mrr import mrr_report
    from reporting.revenue import revenue_report

    began = time.monotonic()
    if not args.reuse:
        create_data(args.customers, args.months)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(
        f"data: {Invoice.objects.count():,} finalized invoices, {InvoiceLine.objects.count():,} lines, "
        f"{args.customers:,} subscriptions (setup {time.monotonic() - began:.1f} s)"
    )
    last = Month.of(month_start(args.months - 1))
    first = last
    for _ in range(11):
        first = first.previous()
    months = month_range(first, last)
    as_of = month_start(args.months) - timedelta(seconds=1)
    reports: list[tuple[str, Callable[[], object]]] = [
        ("MRR, 12 months", lambda: mrr_report(currency="USD", months=months)),
        ("revenue recognition, 12 months", lambda: revenue_report(currency="USD", months=months)),
        ("AR aging", lambda: ar_aging_report(currency="USD", as_of=as_of)),
    ]
    for name, work in reports:
        print(f"{name:<32} {median_seconds(args.runs, work):7.3f} s  (median of {args.runs})")


if __name__ == "__main__":
    main()
