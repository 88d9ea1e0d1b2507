"""Admin screens: role permissions, immutable plan versions, history, query counts.

Helpers shared by the admin tests (fixtures live in each module: only test_admin_*.py files live here).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts.models import Customer
from accounts.services.customers import customer_create
from billing.models import BillableMetric, PlanVersion
from billing.services.catalog import PlanDraft, PriceDraft, TierDraft, metric_create, plan_create

# graduated tiers of DESIGN.md's worked example: 1-100 @ 0.10, 101-1,000 @ 0.08, 1,001+ @ 0.05 (+ 2.00 flat)
CALL_TIERS = (
    TierDraft(Decimal(100), Decimal("0.10")),
    TierDraft(Decimal(1000), Decimal("0.08")),
    TierDraft(None, Decimal("0.05"), Decimal("2.00")),
)


def api_calls_metric() -> BillableMetric:
    found = BillableMetric.objects.filter(code="api_calls").first()
    return found or metric_create(code="api_calls", name="API calls", aggregation="count")


def make_plan(
    code: str = "pro", *, name: str = "Pro", currency: str = "USD", product: str | None = None
) -> PlanVersion:
    """A plan version with a flat fee, a per-seat price, a graduated usage price and two features."""
    api_calls_metric()
    return plan_create(
        draft=PlanDraft(
            code=code,
            name=name,
            currency=currency,
            product=product,
            prices=(
                PriceDraft(code="base", model="flat", amount=Decimal("49.00")),
                PriceDraft(code="seats", model="per_unit", unit_amount=Decimal("18.00")),
                PriceDraft(
                    code="calls",
                    model="graduated",
                    billing="in_arrears",
                    metric="api_calls",
                    tiers=CALL_TIERS,
                ),
            ),
            features={"sso": True, "max_users": 25},
        )
    )


def make_customer(external_id: str = "cus_1", **fields: Any) -> Customer:
    values: dict[str, Any] = {"name": "Acme GmbH", "currency": "EUR", "email": "billing@acme.test"}
    values.update(fields)
    return customer_create(external_id=external_id, **values)


def logged_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def customer_form_data(customer: Customer, **changes: Any) -> dict[str, Any]:
    """What the customer change form posts (no contacts), with ``changes`` applied."""
    data: dict[str, Any] = {
        "name": customer.name,
        "email": customer.email,
        "domain": customer.domain,
        "timezone": customer.timezone,
        "billing_anchor": customer.billing_anchor,
        "invoice_grouping": customer.invoice_grouping,
        "net_terms_days": customer.net_terms_days,
        "tax_rate_percent": customer.tax_rate_percent,
        "address_line1": customer.address_line1,
        "address_line2": customer.address_line2,
        "postal_code": customer.postal_code,
        "city": customer.city,
        "state": customer.state,
        "country": customer.country,
        "tax_id": customer.tax_id,
        "contacts-TOTAL_FORMS": "0",
        "contacts-INITIAL_FORMS": "0",
        "contacts-MIN_NUM_FORMS": "0",
        "contacts-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def change_url(obj: Any) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=(obj.pk,))


def changelist_url(model: Any) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")


def add_url(model: Any) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_add")


# the workplace screens' data (tests/admin/test_admin_workplace.py, tests/e2e): 18.00 a seat in USD, UTC
def seat_plan() -> PlanVersion:
    api_calls_metric()
    return plan_create(
        draft=PlanDraft(
            code="team",
            name="Team",
            currency="USD",
            prices=(
                PriceDraft(code="seats", model="per_unit", unit_amount=Decimal("18.00")),
                PriceDraft(
                    code="calls",
                    model="graduated",
                    billing="in_arrears",
                    metric="api_calls",
                    tiers=CALL_TIERS,
                ),
            ),
            features={"sso": True},
        )
    )


def utc_customer(external_id: str = "cus_utc") -> Customer:
    return customer_create(
        external_id=external_id, name="Utc Ltd", currency="USD", email="b@utc.test", timezone="UTC"
    )
