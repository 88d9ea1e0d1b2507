"""The ``integration`` role: what the product's own service needs, and nothing of finance's.

One table of (endpoint, method) -> status for an integration token, over every route of the API.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.roles import INTEGRATION
from billing.models import BillableMetric, Coupon, PendingLine, Plan
from config.api.urls import urlpatterns
from invoicing.models import BillingRun, CreditNote, Invoice
from tests.conftest import client_for, make_staff

pytestmark = pytest.mark.django_db

PLAN = {
    "code": "pro",
    "name": "Pro",
    "currency": "USD",
    "prices": [{"code": "seat", "model": "per_unit", "unit_amount": "18.00"}],
}

# (route name, method, path with {sub}/{invoice}/{run}/{note} filled in later, body, expected status)
TABLE: list[tuple[str, str, str, dict[str, Any] | None, int]] = [
    ("plan-list", "GET", "/api/v1/plans", None, 200),
    ("plan-list", "POST", "/api/v1/plans", {**PLAN, "code": "sneaky"}, 403),
    ("plan-detail", "GET", "/api/v1/plans/pro", None, 200),
    ("metric-list", "GET", "/api/v1/metrics", None, 200),
    ("metric-list", "POST", "/api/v1/metrics", {"code": "gb", "name": "GB", "aggregation": "count"}, 403),
    ("metric-detail", "GET", "/api/v1/metrics/api_calls", None, 200),
    ("coupon-list", "GET", "/api/v1/coupons", None, 200),
    ("coupon-list", "POST", "/api/v1/coupons", {"code": "free", "percent_off": "100", "duration": "forever"}, 403),
    ("coupon-detail", "GET", "/api/v1/coupons/ten", None, 200),
    ("customer-list", "GET", "/api/v1/customers", None, 200),
    ("customer-list", "POST", "/api/v1/customers", {"external_id": "newco", "name": "NewCo", "currency": "USD"}, 201),
    ("customer-detail", "GET", "/api/v1/customers/acme", None, 200),
    ("customer-detail", "PATCH", "/api/v1/customers/acme", {"name": "Acme Networks"}, 200),
    ("customer-charges", "POST", "/api/v1/customers/acme/charges", {"description": "Setup", "unit_amount": "50"}, 403),
    ("customer-upcoming-invoice", "GET", "/api/v1/customers/acme/upcoming-invoice", None, 200),
    ("customer-entitlements", "GET", "/api/v1/customers/acme/entitlements", None, 200),
    ("customer-usage", "GET", "/api/v1/customers/acme/usage?from={from}&to={to}", None, 200),
    ("event-ingest", "POST", "/api/v1/events", "EVENTS", 202),  # type: ignore[list-item]
    ("event-ingest", "POST", "/api/v1/events?backfill=true", "EVENTS", 403),  # type: ignore[list-item]
    ("event-void", "POST", "/api/v1/events/void", {"events": [{"customer": "acme", "event_id": "e1"}]}, 403),
    ("report-mrr", "GET", "/api/v1/reports/mrr", None, 403),
    ("report-revenue", "GET", "/api/v1/reports/revenue", None, 403),
    ("report-ar-aging", "GET", "/api/v1/reports/ar-aging", None, 403),
    ("subscription-list", "GET", "/api/v1/subscriptions?customer=acme", None, 200),
    ("subscription-list", "POST", "/api/v1/subscriptions", {"customer": "newco", "plan": "pro", "start": "2026-04-01T00:00:00Z"}, 201),
    ("subscription-detail", "GET", "/api/v1/subscriptions/{sub}", None, 200),
    ("subscription-change", "POST", "/api/v1/subscriptions/{sub}/change", {"quantity": "3", "proration": "none"}, 200),
    ("subscription-cancel", "POST", "/api/v1/subscriptions/{sub}/cancel", {"at": "period_end"}, 200),
    ("billing-run-list", "POST", "/api/v1/billing-runs", {"as_of": "2026-05-01T00:00:00Z"}, 403),
    ("billing-run-detail", "GET", "/api/v1/billing-runs/{run}", None, 403),
    ("invoice-list", "GET", "/api/v1/invoices?customer=acme", None, 200),
    ("invoice-detail", "GET", "/api/v1/invoices/{invoice}", None, 200),
    ("invoice-pdf", "GET", "/api/v1/invoices/{invoice}/pdf", None, 200),
    ("invoice-finalize", "POST", "/api/v1/invoices/{draft}/finalize", {}, 403),
    ("invoice-void", "POST", "/api/v1/invoices/{invoice}/void", {}, 403),
    ("invoice-resend", "POST", "/api/v1/invoices/{invoice}/resend", None, 403),
    ("credit-note-list", "GET", "/api/v1/credit-notes", None, 403),
    ("credit-note-list", "POST", "/api/v1/credit-notes", {"invoice": "{invoice}", "amount": "1.00", "reason": "x"}, 403),
    ("credit-note-detail", "GET", "/api/v1/credit-notes/{note}", None, 403),
    ("customer-payment-method", "POST", "/api/v1/customers/acme/payment-method", {"payment_method": "pm_card_visa"}, 403),
    ("invoice-payments", "POST", "/api/v1/invoices/{invoice}/payments", {"amount": "1.00", "method": "check", "reference": "c"}, 403),
    ("payment-refund", "POST", "/api/v1/payments/{payment}/refund", {"amount": "1.00", "reason": "x"}, 403),
    ("contract-list", "GET", "/api/v1/contracts?customer=acme", None, 403),
    ("contract-list", "POST", "/api/v1/contracts", {"customer": "acme", "plan": "pro", "start": "2026-07-01T00:00:00Z"}, 403),
    ("contract-detail", "GET", "/api/v1/contracts/{contract}", None, 403),
    ("contract-submit", "POST", "/api/v1/contracts/{contract}/submit", {}, 403),
    ("contract-approve", "POST", "/api/v1/contracts/{contract}/approve", {}, 403),
    ("contract-reject", "POST", "/api/v1/contracts/{contract}/reject", {"comment": "no"}, 403),
    ("contract-amend", "POST", "/api/v1/contracts/{contract}/amend", {"effective_at": "2026-08-01T00:00:00Z"}, 403),
    ("customer-credits", "GET", "/api/v1/customers/acme/credits", None, 403),
    # the one-box search is a staff tool (finance, sales, support); the product addresses customers by id
    ("search", "GET", "/api/v1/search?q=acme", None, 403),
]  # fmt: skip


def build_world(finance: APIClient) -> dict[str, str]:
    """A catalog, a subscribed customer, a finalized invoice with a credit note and a payment received by
    check, a draft, a billing run, a draft contract."""
    ok = {
        finance.post("/api/v1/metrics", {"code": "api_calls", "name": "API calls", "aggregation": "count"}, format="json").status_code,
        finance.post("/api/v1/plans", PLAN, format="json").status_code,
        finance.post("/api/v1/coupons", {"code": "ten", "percent_off": "10", "duration": "once"}, format="json").status_code,
        finance.post("/api/v1/customers", {"external_id": "acme", "name": "Acme", "currency": "USD"}, format="json").status_code,
    }  # fmt: skip
    assert ok == {201}
    sub = finance.post(
        "/api/v1/subscriptions",
        {"customer": "acme", "plan": "pro", "start": "2026-04-01T00:00:00Z"},
        format="json",
    ).json()
    first = Invoice.objects.get(customer__external_id="acme")
    assert finance.post(f"/api/v1/invoices/{first.pk}/finalize", {}, format="json").status_code == 200
    note = finance.post(
        "/api/v1/credit-notes", {"invoice": first.pk, "amount": "2.00", "reason": "goodwill"}, format="json"
    ).json()
    payment = finance.post(
        f"/api/v1/invoices/{first.pk}/payments",
        {"amount": "3.00", "method": "check", "reference": "c-1"},
        format="json",
    ).json()
    run = finance.post("/api/v1/billing-runs", {"as_of": "2026-05-01T00:00:00Z"}, format="json").json()
    draft = Invoice.objects.get(customer__external_id="acme", status="draft")
    contract = finance.post(
        "/api/v1/contracts",
        {"customer": "acme", "plan": "pro", "start": "2026-06-01T00:00:00Z"},
        format="json",
    ).json()
    now = timezone.now()
    return {
        "sub": str(sub["id"]),
        "invoice": str(first.pk),
        "draft": str(draft.pk),
        "note": str(note["id"]),
        "payment": str(payment["id"]),
        "run": str(run["id"]),
        "contract": str(contract["id"]),
        "from": (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


def test_the_integration_role_endpoint_by_endpoint(finance_api: APIClient) -> None:
    ids = build_world(finance_api)
    api = client_for(make_staff("product-service", INTEGRATION))
    event = {
        "event_id": "e-1",
        "customer": "acme",
        "metric": "api_calls",
        "timestamp": (timezone.now() - timedelta(hours=1)).isoformat(),
        "properties": {},
    }
    before = (Plan.objects.count(), BillableMetric.objects.count(), Coupon.objects.count())
    counts = (BillingRun.objects.count(), CreditNote.objects.count(), PendingLine.objects.count())
    statuses = dict(Invoice.objects.values_list("pk", "status"))
    got, expected = {}, {}
    for name, method, path, body, status in TABLE:
        data = {"events": [event]} if body == "EVENTS" else fill(body, ids)
        response = getattr(api, method.lower())(fill(path, ids), data, format="json")
        got[(name, method)] = response.status_code
        expected[(name, method)] = status
    assert got == expected
    # what was refused wrote nothing
    assert (Plan.objects.count(), BillableMetric.objects.count(), Coupon.objects.count()) == before
    assert (BillingRun.objects.count(), CreditNote.objects.count(), PendingLine.objects.count()) == counts
    for pk in (int(ids["invoice"]), int(ids["draft"])):  # not finalized, not voided
        assert Invoice.objects.get(pk=pk).status == statuses[pk]


def test_the_table_covers_every_route_of_the_api() -> None:
    covered = {name for name, *_ in TABLE}
    routes = {p.name for p in urlpatterns}
    assert routes - covered == set(), "add the new endpoints to TABLE with the integration role's status"


def test_the_integration_role_holds_no_finance_permission(db: Any) -> None:
    perms = set(
        Group.objects.get(name=INTEGRATION).permissions.values_list("content_type__app_label", "codename")
    )
    assert ("billing", "add_usageevent") in perms
    assert ("invoicing", "view_invoice") in perms
    for forbidden in (
        "finalize_invoice",
        "add_creditnote",
        "view_creditnote",
        "add_billingrun",
        "add_plan",
        "add_coupon",
        "add_pendingline",
        "resend_invoice",
        "delete_customer",
    ):
        assert forbidden not in {codename for _, codename in perms}


def test_create_api_token_makes_an_api_only_integration_user(db: Any) -> None:
    from io import StringIO

    from django.contrib.auth.models import User
    from django.core.management import call_command

    out = StringIO()
    call_command("create_api_token", "product", "--create", "--role", INTEGRATION, stdout=out)
    user = User.objects.get(username="product")
    assert not user.is_staff and not user.has_usable_password()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")
    assert api.get("/api/v1/customers").status_code == 200
    refused = api.post("/api/v1/coupons", {"code": "x", "percent_off": "5", "duration": "once"})
    assert refused.status_code == 403
