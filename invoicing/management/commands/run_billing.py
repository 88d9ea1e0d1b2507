"""``python manage.py run_billing --as-of T``: run a whole billing run in this process and report it.

It needs the database only: no broker, no cache (it works while Redis is down).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from config.errors import RatecardError
from invoicing.services.billing_runs import billing_run_create, billing_run_execute


class Command(BaseCommand):
    help = "Bill every subscription period that has ended by --as-of (ISO 8601 with an offset)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", required=True, help="e.g. 2026-02-01T00:00:00Z")

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = parse_datetime(options["as_of"])
        if as_of is None or as_of.tzinfo is None:
            raise CommandError("--as-of must be an ISO 8601 time with an offset, e.g. 2026-02-01T00:00:00Z")
        try:
            created = billing_run_create(as_of=as_of)
        except RatecardError as exc:
            raise CommandError(f"--as-of: {exc.message}") from exc
        run = billing_run_execute(run_id=created.pk)
        self.stdout.write(
            f"Billing run #{run.pk} as of {run.as_of.isoformat()}: {run.status}; "
            f"{run.subscriptions_billed} of {run.subscriptions_due} subscriptions billed, "
            f"{run.invoices_created} invoices created, {run.failures_count} failures, "
            f"{run.deferred} deferred, {run.duration_seconds}s"
        )
        if run.reason:
            self.stderr.write(f"  {run.reason}")
        for failure in run.failures.all()[:20]:
            what = (
                f"invoice {failure.invoice_id}"
                if failure.invoice_id
                else f"subscription {failure.subscription_id}"
            )
            self.stderr.write(f"  {what}: {failure.error}")
        if run.status != run.Status.COMPLETED:
            raise CommandError(f"Billing run #{run.pk} {run.status}; see the billing run in the admin.")
