"""The deal screen (sales) and the approval queue (finance) in the admin, through Django's test client."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from billing.models import Contract, Subscription
from invoicing.models import Invoice
from tests.contracts.conftest import money
from tests.contracts.test_contract_rules import counts

pytestmark = pytest.mark.django_db

DEAL = {
    "customer": "acme",
    "plan": "premium",
    "start": "2026-01-01",
    "quantity": "10",
    "phase-0-price-seats-mode": "unit",
    "phase-0-price-seats-value": "14.00",
    "phase-0-fee-0-description": "Platform fee",
    "phase-0-fee-0-amount": "500",
    "phase-1-start": "2026-03-01",
    "phase-1-price-seats-mode": "unit",
    "phase-1-price-seats-value": "15",
    "phase-1-fee-0-description": "Platform fee",
    "phase-1-fee-0-amount": "600",
    "commitment": "1000",
    "credit-0-amount": "1000",
    "oneoff-0-description": "Onboarding",
    "oneoff-0-amount": "250",
    "notes": "Ramp agreed with procurement.",
}


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def deal_form(version_pk: int) -> dict[str, Any]:
    return {**DEAL, "version": str(version_pk)}


@pytest.fixture
def submitted(sales_user: User, premium: Any) -> Contract:
    from billing.models import PlanVersion

    version = PlanVersion.objects.get(plan__code="premium")
    response = as_user(sales_user).post(
        reverse("admin:billing_contract_deal"), {**deal_form(version.pk), "submit": "1"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return Contract.objects.get()


def test_the_preview_rates_each_phase_with_the_contract_prices(sales_user: User, premium: Any) -> None:
    from billing.models import PlanVersion

    version = PlanVersion.objects.get(plan__code="premium")
    html = (
        as_user(sales_user)
        .post(reverse("admin:billing_contract_preview"), deal_form(version.pk))
        .content.decode()
    )
    phase1, phase2 = html.split('id="preview-phase-2"')
    assert "Seats × 10" in phase1 and "140.00" in phase1 and "500.00" in phase1 and "250.00" in phase1
    # amounts as the one formatter writes them; the credit covers the first invoice
    assert money("890.00") in phase1 and f"−{money('890.00')}" in phase1 and money("0.00") in phase1
    assert "150.00" in phase2 and "600.00" in phase2 and money("750.00") in phase2
    assert f"−{money('110.00')}" in phase2


def test_sales_submits_a_deal_from_one_screen(submitted: Contract) -> None:
    assert submitted.status == "pending_approval"
    assert [p.start.date().isoformat() for p in submitted.phases.all()] == ["2026-01-01", "2026-03-01"]
    assert [s.action for s in submitted.approval_steps.all()] == ["submitted"]


def test_a_bad_deal_shows_the_field_and_writes_nothing(sales_user: User, premium: Any) -> None:
    from billing.models import PlanVersion

    version = PlanVersion.objects.get(plan__code="premium")
    before = counts()
    response = as_user(sales_user).post(
        reverse("admin:billing_contract_deal"), {**deal_form(version.pk), "phase-1-start": "2025-12-01"}
    )
    assert response.status_code == 200
    assert "Phase 2 · start" in response.content.decode()
    assert counts() == before


def test_sales_cannot_approve_in_the_admin_by_any_path(sales_user: User, submitted: Contract) -> None:
    client = as_user(sales_user)
    before = counts()
    assert client.post(reverse("admin:billing_contract_approve", args=(submitted.pk,))).status_code == 403
    assert (
        client.post(
            reverse("admin:billing_contract_reject", args=(submitted.pk,)), {"comment": "x"}
        ).status_code
        == 403
    )
    changelist = reverse("admin:billing_contract_changelist")
    client.post(changelist, {"action": "approve_selected", "_selected_action": [submitted.pk]})
    assert "approve_selected" not in client.get(changelist).content.decode()
    queue = client.get(reverse("admin:billing_contract_queue")).content.decode()
    assert f'id="approve-{submitted.pk}"' not in queue
    submitted.refresh_from_db()
    assert submitted.status == "pending_approval"
    assert counts() == before


def test_finance_approves_from_the_queue_and_the_first_invoice_follows_the_contract(
    finance_user: User, submitted: Contract
) -> None:
    client = as_user(finance_user)
    queue = client.get(reverse("admin:billing_contract_queue")).content.decode()
    assert f'id="approve-{submitted.pk}"' in queue and "the plan&#x27;s list prices" in queue
    assert money("14.00") in queue and f"list: {money('18.00')} per unit" in queue
    response = client.post(reverse("admin:billing_contract_approve", args=(submitted.pk,)), {"comment": "OK"})
    assert response.status_code == 302
    submitted.refresh_from_db()
    assert submitted.status == "active"
    invoice = (
        Invoice.objects.get(subscription__isnull=True, customer=submitted.customer)
        if False
        else Invoice.objects.get()
    )
    assert invoice.total == 890 and Subscription.objects.get().pk == submitted.subscription_id
    detail = client.get(reverse("admin:billing_contract_change", args=(submitted.pk,))).content.decode()
    assert "Approved</strong> by fiona" in detail and "“OK”" in detail


def test_finance_rejects_with_a_comment_that_sales_sees(
    finance_user: User, sales_user: User, submitted: Contract
) -> None:
    client = as_user(finance_user)
    client.post(
        reverse("admin:billing_contract_reject", args=(submitted.pk,)), {"comment": "Commitment too low"}
    )
    submitted.refresh_from_db()
    assert submitted.status == "draft"
    page = (
        as_user(sales_user)
        .get(reverse("admin:billing_contract_change", args=(submitted.pk,)))
        .content.decode()
    )
    assert "Commitment too low" in page and "Edit the deal" in page
    edit = (
        as_user(sales_user).get(reverse("admin:billing_contract_edit", args=(submitted.pk,))).content.decode()
    )
    assert 'value="2026-03-01"' in edit and 'value="14"' in edit
