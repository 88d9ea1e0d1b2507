"""Staff roles as Django groups, with permissions derived from rules so new models are covered too.

- finance: everything in Ratecard's apps (catalog, contracts, invoices, credit notes, billing runs).
- sales: reads everything; edits customers, contacts and the deal models listed in SALES_EDITABLE;
  never the catalog's prices, never invoice finalization, never deletes a customer.
- support: reads everything; may resend an invoice; changes nothing else.
- every staff role (finance, sales, support) uses the one-box search (``accounts.search_customers``).
- integration: the product's own service (API only): creates and edits customers and subscriptions,
  sends usage, reads entitlements, usage, the catalog, invoices and previews; no finalize, void,
  credit notes, billing runs, one-off charges or catalog writes. A whitelist: a new model is not
  granted to it until it is named here.

``ensure_roles`` runs after every migrate (post_migrate), so it is idempotent.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

APPS = ("accounts", "billing", "invoicing", "reporting")

FINANCE = "finance"
SALES = "sales"
SUPPORT = "support"
INTEGRATION = "integration"
ROLES = (FINANCE, SALES, SUPPORT, INTEGRATION)

# model labels (app_label.model_name) sales may add/change/delete
SALES_EDITABLE = {
    "accounts.customer",
    "accounts.contact",
    "billing.contract",
    "billing.contractphase",
    "billing.contractpriceoverride",
    "billing.commitment",
    "billing.creditgrant",
}
# custom permissions that are actions rather than model edits
SUPPORT_EXTRA = {"invoicing.resend_invoice"}
# what every staff role may do beyond reading (the integration role is the product's service, not staff)
STAFF_EXTRA = {"accounts.search_customers"}
FINANCE_ONLY = {"invoicing.finalize_invoice", "billing.approve_contract"}
# sales never deletes a customer (finance removes one: deleted if nothing refers to it, else archived)
SALES_DENIED = {"accounts.delete_customer"}
# tokens and idempotency records are per-user plumbing, not something roles edit
NOT_FOR_ROLES = {"accounts.apitoken", "accounts.idempotencyrecord"}
# what the integration role may read (model labels) and the model permissions it may use to write
INTEGRATION_VIEWS = {
    "accounts.customer",
    "billing.product",
    "billing.plan",
    "billing.planversion",
    "billing.price",
    "billing.pricetier",
    "billing.billablemetric",
    "billing.coupon",
    "billing.feature",
    "billing.entitlement",
    "billing.subscription",
    "billing.subscriptionitem",
    "billing.subscriptionchange",
    "billing.usageevent",
    "invoicing.invoice",
    "invoicing.invoiceline",
}
INTEGRATION_WRITES = {
    "accounts.add_customer",
    "accounts.change_customer",
    "billing.add_subscription",
    "billing.change_subscription",
    "billing.add_usageevent",
}


def grants(role: str, label: str, full: str) -> bool:
    """Whether ``role`` holds permission ``full`` (``app.codename``) of model ``label``."""
    is_view = full.split(".", 1)[1].startswith("view_")
    if role == FINANCE:
        return True
    if role == SALES:
        return (
            is_view
            or full in STAFF_EXTRA
            or (label in SALES_EDITABLE and full not in FINANCE_ONLY | SALES_DENIED)
        )
    if role == SUPPORT:
        return is_view or full in SUPPORT_EXTRA | STAFF_EXTRA
    if role == INTEGRATION:
        return (is_view and label in INTEGRATION_VIEWS) or full in INTEGRATION_WRITES
    return False


def role_permissions(role: str) -> set[str]:
    """Return the ``app_label.codename`` permissions a role holds."""
    wanted: set[str] = set()
    perms = Permission.objects.filter(content_type__app_label__in=APPS).select_related("content_type")
    for perm in perms:
        label = f"{perm.content_type.app_label}.{perm.content_type.model}"
        full = f"{perm.content_type.app_label}.{perm.codename}"
        if label not in NOT_FOR_ROLES and grants(role, label, full):
            wanted.add(full)
    return wanted


def ensure_roles(**_kwargs: Any) -> None:
    """Create the role groups and (re)set their permissions. Safe to run any number of times."""
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        codes = role_permissions(role)
        perms = [
            p
            for p in Permission.objects.filter(content_type__app_label__in=APPS).select_related(
                "content_type"
            )
            if f"{p.content_type.app_label}.{p.codename}" in codes
        ]
        group.permissions.set(perms)


def user_roles(user: Any) -> set[str]:
    """The role names a user has (a superuser has all)."""
    if getattr(user, "is_superuser", False):
        return set(ROLES)
    return set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
