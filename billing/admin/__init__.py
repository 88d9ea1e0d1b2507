"""Billing's admin screens, one module per subject:

- ``plans``: plans, plan versions (read-only, with their prices, tiers and entitlements), the action
  that makes version N+1;
- ``catalog``: products, billable metrics, features, coupons;
- ``subscriptions``: subscriptions (read-only, with their timeline, items and pending lines; the action
  "Cancel at period end") and pending lines;
- ``contracts``: the deal screen (sales), the approval queue (finance), a contract's page;
- ``base``: the read-only mixin and admin links; ``timeline``: a subscription's timeline.

How amounts, tiers and instants read is in ``billing.display``. Who may do what comes from the role
groups' model permissions (``accounts/roles.py``); these admins only ever take permissions away.
"""

from billing.admin import catalog, contracts, plans, subscriptions, usage, usage_voids
from billing.admin.base import ImmutableMixin
from billing.admin.plans import plan_version_copy_newest, plan_version_draft
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

__all__ = [
    "DASH",
    "EMPTY",
    "ImmutableMixin",
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
    "usage",
    "usage_voids",
]
