"""Staff roles as Django groups, with permissions derived from rules so new models are covered too.

- finance: everything in Ratecard's apps (catalog, contracts, invoices, credit notes, billing runs).
- sales: reads everything; edits customers, contacts and the deal models listed in SALES_EDITABLE;
  never the catalog's prices, never invoice finalization.
- support: reads everything; may resend an invoice; changes nothing else.

``ensure_roles`` runs after every migrate (post_migrate), so it is idempotent.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

APPS = ("accounts", "billing", "invoicing", "reporting")

FINANCE = "finance"
SALES = "sales"
SUPPORT = "support"
ROLES = (FINANCE, SALES, SUPPORT)

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
FINANCE_ONLY = {"invoicing.finalize_invoice", "billing.approve_contract"}
# tokens and idempotency records are per-user plumbing, not something roles edit
NOT_FOR_ROLES = {"accounts.apitoken", "accounts.idempotencyrecord"}


def role_permissions(role: str) -> set[str]:
    """Return the ``app_label.codename`` permissions a role holds."""
    wanted: set[str] = set()
    perms = Permission.objects.filter(content_type__app_label__in=APPS).select_related("content_type")
    for perm in perms:
        label = f"{perm.content_type.app_label}.{perm.content_type.model}"
        full = f"{perm.content_type.app_label}.{perm.codename}"
        is_view = perm.codename.startswith("view_")
        if label in NOT_FOR_ROLES:
            continue
        if role == FINANCE:
            wanted.add(full)
        elif role == SALES:
            if is_view or (label in SALES_EDITABLE and full not in FINANCE_ONLY):
                wanted.add(full)
        elif role == SUPPORT and (is_view or full in SUPPORT_EXTRA):
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
