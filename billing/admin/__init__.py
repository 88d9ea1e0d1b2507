"""Billing's admin screens, one module per subject:

- ``plans``: plans, plan versions (read-only, with their prices, tiers and entitlements), the action
  that makes version N+1;
- ``catalog``: products, billable metrics, features, coupons;
- ``subscriptions``: subscriptions (read-only, with their timeline, items and pending lines; the action
  "Cancel at period end") and pending lines;
- ``contracts``: the deal screen (sales), the approval queue (finance), a contract's page (drawn by
  ``contract_form`` and ``contract_display``);
- ``timeline``: a subscription's timeline;
- ``usage_report`` (a customer's daily usage page and CSV, drawn by ``usage_chart``) and
  ``usage_alerts`` (alerts and their firings); ``usage_voids``: voided usage events.

What every app's admin shares (read-only mixin, per-row action runner, confirmation page, links) is in
``config.admin_kit``; ``HistoryAdmin`` in ``accounts.admin``.

How amounts, tiers and instants read is in ``billing.display``. Who may do what comes from the role
groups' model permissions (``accounts/roles.py``); these admins only ever take permissions away.
"""

from billing.admin import (
    catalog,
    contracts,
    plans,
    subscriptions,
    usage_alerts,
    usage_chart,
    usage_report,
    usage_voids,
)
from billing.display import (
    DASH,
    EMPTY,
    entitlement_text,
    format_money,
    format_quantity,
    interval_text,
    price_charge,
    tier_rows,
    tier_units,
    tiers_table,
)
from billing.services.catalog import plan_version_copy_newest, plan_version_draft

__all__ = [
    "DASH",
    "EMPTY",
    "catalog",
    "contracts",
    "entitlement_text",
    "format_money",
    "format_quantity",
    "interval_text",
    "plan_version_copy_newest",
    "plan_version_draft",
    "plans",
    "price_charge",
    "subscriptions",
    "tier_rows",
    "tier_units",
    "tiers_table",
    "usage_alerts",
    "usage_chart",
    "usage_report",
    "usage_voids",
]
