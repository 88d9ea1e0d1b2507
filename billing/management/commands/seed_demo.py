"""``python manage.py seed_demo``: load the Meshwork demo (catalog, ~200 customers, staff logins).

The data and the logic live in ``billing.demo``; running the command twice changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from billing.demo import ADMIN_URL, seed_demo
from config.errors import RatecardError


class Command(BaseCommand):
    help = "Seed the Meshwork demo: plans, metrics, coupons, ~200 customers and one staff user per role."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = seed_demo(stdout=self.stdout if options["verbosity"] > 1 else None)
        except RatecardError as err:
            raise CommandError(f"{err.field or 'seed'}: {err.message}") from err

        created = (
            f"{report.products} product, {report.metrics} metrics, {report.plans} plans, "
            f"{report.coupons} coupons, {report.customers} customers, {report.users} staff users"
        )
        if report.created_anything:
            self.stdout.write(self.style.SUCCESS(f"Demo data seeded: created {created}."))
        else:
            self.stdout.write(self.style.SUCCESS("Demo data already in place: nothing to create."))
        self.stdout.write(f"{report.customers_total} customers in the database.\n")

        self.stdout.write(f"Admin: {ADMIN_URL}")
        width = max(len("username"), *(len(login.username) for login in report.logins))
        pwidth = max(len("password"), *(len(login.password) for login in report.logins))
        self.stdout.write(f"  {'username':<{width}}  {'password':<{pwidth}}  role")
        for login in report.logins:
            self.stdout.write(f"  {login.username:<{width}}  {login.password:<{pwidth}}  {login.role}")
        self.stdout.write("\nAPI token for the REST API: python manage.py create_api_token finance")
