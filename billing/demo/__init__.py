"""The demo data set behind ``python manage.py seed_demo``: a freemium networking SaaS called Meshwork.

- ``catalog``: one product, three billable metrics, five plans in USD and EUR, a few coupons;
- ``customers``: about 200 customers with realistic company names and addresses (three in four in USD);
- ``staff``: one staff user per role plus a superuser, whose logins the command prints;
- ``stories``, ``history``, ``usage``: six months of a living business for some of the customers —
  subscriptions (free, paid, trials, upgrades, cancellations), usage sent through the ingestion code,
  daily billing runs, payments, a failed card in dunning, a voided invoice and a credit note — all
  through the real services, in business time;
- ``summary``: subscriptions and invoices by status and money per currency, for the command to print.

Deterministic (``random.Random`` seeded with 42, no Faker). Each catalog object, customer and user is
created only when missing, and the history is played only when its subscriptions do not exist, so
running the seed twice changes nothing.
"""

from billing.demo.catalog import COUPONS, METRICS, PRODUCT_CODE, plan_drafts
from billing.demo.customers import CUSTOMER_COUNT, CustomerSpec, customer_specs
from billing.demo.history import DemoHistoryError, HistoryReport, demo_today, seed_history
from billing.demo.seed import HISTORY_CUSTOMERS, SeedReport, Writer, seed_demo
from billing.demo.staff import ADMIN_URL, DEMO_LOGINS, DEMO_PORT, SUPERUSER, DemoLogin, admin_url
from billing.demo.summary import DemoSummary, demo_summary

__all__ = [
    "ADMIN_URL",
    "COUPONS",
    "CUSTOMER_COUNT",
    "DEMO_LOGINS",
    "DEMO_PORT",
    "HISTORY_CUSTOMERS",
    "METRICS",
    "PRODUCT_CODE",
    "SUPERUSER",
    "CustomerSpec",
    "DemoHistoryError",
    "DemoLogin",
    "DemoSummary",
    "HistoryReport",
    "SeedReport",
    "Writer",
    "admin_url",
    "customer_specs",
    "demo_summary",
    "demo_today",
    "plan_drafts",
    "seed_demo",
    "seed_history",
]
