"""Who may do what to a contract, and the bad inputs that write nothing (API.md, Contracts: Errors)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rest_framework.test import APIClient

from billing.models import Contract, ContractApprovalStep, ContractPhase, CreditGrant, Subscription
from invoicing.models import BalanceTransaction, Invoice
from tests.contracts.conftest import WORKED, post

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, ...]:
    return tuple(
        m.objects.count()
        for m in (
            Contract,
            ContractPhase,
            CreditGrant,
            ContractApprovalStep,
            Subscription,
            Invoice,
            BalanceTransaction,
        )
    )


def submitted(sales_api: APIClient) -> dict[str, Any]:
    contract = post(sales_api, "/api/v1/contracts", WORKED, 201)
    return post(sales_api, f"/api/v1/contracts/{contract['id']}/submit")


@pytest.mark.parametrize("who", ["sales_api", "support_api"])
def test_only_finance_approves_through_the_api_and_a_refusal_changes_nothing(
    who: str, request: pytest.FixtureRequest, sales_api: APIClient, premium: Any
) -> None:
    contract = submitted(sales_api)
    before = counts()
    client: APIClient = request.getfixturevalue(who)
    for action, body in (("approve", {}), ("reject", {"comment": "no"})):
        response = client.post(f"/api/v1/contracts/{contract['id']}/{action}", body, format="json")
        assert response.status_code == 403, response.content
    assert counts() == before
    assert Contract.objects.get().status == "pending_approval"


def test_the_service_itself_refuses_a_sales_approval(
    sales_user: Any, sales_api: APIClient, premium: Any
) -> None:
    from django.utils import timezone

    from billing.services.contracts import ApprovalDenied
    from invoicing.services.contract_activation import contract_activate

    contract = submitted(sales_api)
    before = counts()
    with pytest.raises(ApprovalDenied):
        contract_activate(contract_id=contract["id"], user=sales_user, at=timezone.now())
    assert counts() == before


def test_finance_rejects_with_a_comment_and_sales_edits_again(
    api: APIClient, sales_api: APIClient, premium: Any
) -> None:
    contract = submitted(sales_api)
    rejected = post(api, f"/api/v1/contracts/{contract['id']}/reject", {"comment": "Platform fee too low"})
    assert rejected["status"] == "draft"
    steps = [(s["action"], s["user"], s["comment"]) for s in rejected["approval_steps"]]
    assert steps == [("submitted", "sam", ""), ("rejected", "fiona", "Platform fee too low")]
    assert not Subscription.objects.exists()
    assert post(sales_api, f"/api/v1/contracts/{contract['id']}/submit")["status"] == "pending_approval"


def bad(body_change: Any) -> dict[str, Any]:
    body = copy.deepcopy(WORKED)
    body_change(body)
    return body


CASES = [
    ("phases out of order", lambda b: b["phases"][1].update(start="2025-12-01T00:00:00Z"), "phases[1].start"),
    (
        "override for a price the plan lacks",
        lambda b: b["phases"][0]["overrides"].append({"price": "gpu", "unit_amount": "1"}),
        "phases[0].overrides[1].price",
    ),
    ("a currency other than the customer's", lambda b: b.update(currency="EUR"), "currency"),
]


@pytest.mark.parametrize(("case", "change", "field"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_contract_is_a_400_naming_the_field_and_nothing_is_written(
    case: str, change: Any, field: str, sales_api: APIClient, premium: Any
) -> None:
    before = counts()
    response = sales_api.post("/api/v1/contracts", bad(change), format="json")
    assert response.status_code == 400, response.content
    assert field in [e["field"] for e in response.json()["errors"]]
    assert counts() == before


def test_a_plan_in_another_currency_is_a_400_on_currency(
    api: APIClient, sales_api: APIClient, premium: Any
) -> None:
    post(
        api,
        "/api/v1/plans",
        {
            "code": "euro",
            "name": "Euro",
            "currency": "EUR",
            "prices": [{"code": "seats", "model": "per_unit", "unit_amount": "1"}],
        },
        201,
    )
    before = counts()
    response = sales_api.post("/api/v1/contracts", {**WORKED, "plan": "euro", "phases": []}, format="json")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["currency"]
    assert counts() == before


def test_an_overlapping_active_contract_is_a_400_on_start_and_nothing_is_written(
    api: APIClient, sales_api: APIClient, premium: Any
) -> None:
    first = submitted(sales_api)
    post(api, f"/api/v1/contracts/{first['id']}/approve", {"at": "2026-01-01T00:00:00Z"})
    before = counts()
    response = sales_api.post(
        "/api/v1/contracts", {**WORKED, "start": "2026-06-01T00:00:00Z", "phases": []}, format="json"
    )
    assert response.status_code == 400, response.content
    assert [e["field"] for e in response.json()["errors"]] == ["start"]
    assert counts() == before


@pytest.mark.parametrize(
    "override",
    [
        {"price": "seats", "tiers": [None, None]},
        {"price": "seats", "unit_amount": None, "tiers": None, "percent_off": ""},
        {"price": "seats", "unit_amount": "1", "percent_off": "5"},
        {"price": "seats", "tiers": [{"up_to": None, "unit_amount": "1"}]},
        {"price": "relay", "percent_off": "101"},
    ],
)
def test_a_malformed_override_is_a_400_never_a_500(
    override: dict[str, Any], sales_api: APIClient, premium: Any
) -> None:
    body = {**WORKED, "phases": [{"start": WORKED["start"], "overrides": [override]}]}
    before = counts()
    response = sales_api.post("/api/v1/contracts", body, format="json")
    assert response.status_code == 400, response.content
    assert all(e["field"].startswith("phases[0].overrides[0]") for e in response.json()["errors"])
    assert counts() == before
