"""Admin screens: role permissions, immutable plan versions, history, query counts.

Helpers shared by the admin tests (fixtures live in each module: only test_admin_*.py files live here).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts.models import Contact, Customer
from accounts.services.customers import customer_create
from billing.models import BillableMetric, Feature, PlanVersion
from billing.services.catalog import PlanDraft, PriceDraft, TierDraft, metric_create, plan_create
from invoicing.models import Invoice
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.finalization import invoice_finalize
from invoicing.services.payments import invoice_record_payment

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


# --- the customer page (test_admin_customer_page.py, tests/e2e/test_support_lookup.py) ----------------

APR_1 = datetime(2026, 4, 1, tzinfo=UTC)
CUSTOMER_PAGE_PLAN = {
    "code": "team",
    "name": "Team",
    "currency": "USD",
    "prices": [
        {"code": "seat", "model": "per_unit", "unit_amount": "18.00"},
        {
            "code": "calls",
            "model": "per_unit",
            "unit_amount": "0.01",
            "billing": "in_arrears",
            "metric": "api_calls",
        },
    ],
    "features": {"sso": True, "max_calls": 1000},
}


def billed_customer(finance_api: Any) -> dict[str, Any]:
    """A Berlin customer on the Team plan since April 2026, billed twice, with usage in its current
    period (June), a paid invoice, a credit note and a contact."""
    created = [
        finance_api.post("/api/v1/metrics", {"code": "api_calls", "name": "API calls", "aggregation": "count"}, format="json"),
        finance_api.post("/api/v1/plans", CUSTOMER_PAGE_PLAN, format="json"),
        finance_api.post(
            "/api/v1/customers",
            {"external_id": "acme", "name": "Acme Rockets", "email": "ap@acme.test", "currency": "USD", "timezone": "Europe/Berlin"},
            format="json",
        ),
    ]  # fmt: skip
    assert [r.status_code for r in created] == [201, 201, 201]
    # the api_calls metric measures the max_calls limit (usage is shown beside it)
    Feature.objects.filter(key="max_calls").update(metric=BillableMetric.objects.get(code="api_calls"))
    sub = finance_api.post(
        "/api/v1/subscriptions", {"customer": "acme", "plan": "team", "quantity": 3, "start": "2026-04-01T00:00:00Z"}, format="json"
    ).json()  # fmt: skip
    for as_of in ("2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z"):
        assert finance_api.post("/api/v1/billing-runs", {"as_of": as_of}, format="json").status_code == 202
    events = [
        {"event_id": f"e{i}", "customer": "acme", "metric": "api_calls", "timestamp": f"2026-06-0{1 + i % 3}T10:00:00Z", "properties": {}}
        for i in range(12)
    ]  # fmt: skip
    assert (
        finance_api.post("/api/v1/events?backfill=true", {"events": events}, format="json").status_code == 202
    )
    customer = Customer.objects.get(external_id="acme")
    Contact.objects.create(customer=customer, name="Ada Lovelace", email="ada@acme.test", role="billing")
    first = Invoice.objects.filter(customer=customer).order_by("billing_date").first()
    assert first is not None
    first = invoice_finalize(invoice_id=first.pk, at=APR_1)
    invoice_record_payment(
        invoice_id=first.pk,
        amount=Decimal("30.00"),
        at=APR_1 + timedelta(days=1),
        method="bank_transfer",
        reference="wire-1",
    )
    credit_note_create(
        invoice_id=first.pk, amount=Decimal("5.00"), reason="Goodwill", at=APR_1 + timedelta(days=2)
    )
    return {"customer": customer, "subscription": sub["id"], "first": first}
