"""``python manage.py seed_demo``: load the Meshwork demo (catalog, ~200 customers, staff logins, and six
months of subscriptions, usage and invoices for some of the customers).

The data and the logic live in ``billing.demo``; running the command twice changes nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.demo import CUSTOMER_COUNT, DEMO_PORT, HISTORY_CUSTOMERS, admin_url, demo_summary, seed_demo
from config.errors import RatecardError

# the services log every invoice, payment and dunning step; the command prints a summary instead
QUIET_LOGGERS = ("billing", "invoicing")


class Command(BaseCommand):
    help = (
        "Seed the Meshwork demo: plans, metrics, coupons, ~200 customers, one staff user per role, and "
        "six months of subscriptions, usage and invoices run through the billing code."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=CUSTOMER_COUNT, help="How many customers.")
        parser.add_argument(
            "--history-customers",
            type=int,
            default=None,
            help=f"How many of them get a history (default {HISTORY_CUSTOMERS}; 0: none; at least 20).",
        )
        parser.add_argument(
            "--today",
            type=lambda value: datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC),
            default=None,
            help="The history's last day, YYYY-MM-DD (default: today, UTC).",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=DEMO_PORT,
            help=f"The port the demo will be served on, for the admin address printed (default {DEMO_PORT}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbose = options["verbosity"] > 1
        levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
        if not verbose:
            for name in QUIET_LOGGERS:
                logging.getLogger(name).setLevel(logging.ERROR)
        try:
            report = seed_demo(
                customers=options["customers"],
                history_customers=options["history_customers"],
                today=options["today"],
                stdout=self.stdout if verbose else None,
            )
        except RatecardError as err:
            raise CommandError(f"{err.field or 'seed'}: {err.message}") from err
        except ValueError as err:
            raise CommandError(str(err)) from err
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)

        created = (
            f"{report.products} product, {report.metrics} metrics, {report.plans} plans, "
            f"{report.coupons} coupons, {report.customers} customers, {report.users} staff users"
        )
        if report.created_anything:
            self.stdout.write(self.style.SUCCESS(f"Demo data seeded: created {created}."))
        else:
            self.stdout.write(self.style.SUCCESS("Demo data already in place: nothing to create."))
        if report.history is not None:
            h = report.history
            self.stdout.write(
                f"History up to {h.today:%Y-%m-%d} ({h.seconds}s): {h.subscriptions} subscriptions, "
                f"{h.changes} changes, {h.cancellations} cancellations, {h.billing_runs} billing runs, "
                f"{h.payments} payments, failed payments: {h.failed_payments}, voided: {h.voided}, "
                f"credit notes: {h.credit_notes}, usage events: {h.usage_events:,}."
            )
        self.stdout.write(f"{report.customers_total} customers in the database.")
        for line in demo_summary().lines():
            self.stdout.write(line)

        self.stdout.write(f"\nAdmin: {admin_url(options['port'])}")
        width = max(len("username"), *(len(login.username) for login in report.logins))
        pwidth = max(len("password"), *(len(login.password) for login in report.logins))
        self.stdout.write(f"  {'username':<{width}}  {'password':<{pwidth}}  role")
        for login in report.logins:
            self.stdout.write(f"  {login.username:<{width}}  {login.password:<{pwidth}}  {login.role}")
        self.stdout.write("\nAPI token for the REST API: python manage.py create_api_token finance")
