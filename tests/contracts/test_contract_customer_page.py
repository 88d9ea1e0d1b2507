"""The customer page's "Contract" section: the deal in effect, its phase, commitment and prepaid credit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import Customer
from accounts.roles import SUPPORT
from invoicing.models import Invoice
from invoicing.selectors.customer_overview import customer_overview
from tests.conftest import make_staff
from tests.contracts.conftest import WORKED, D, money, post

pytestmark = pytest.mark.django_db


def approved_deal(api: APIClient, sales_api: APIClient, *, second_credit: bool = False) -> Customer:
    """The worked example approved on Jan 1 and its first invoice finalized (890.00 of credit drawn)."""
    body = dict(WORKED)
    if second_credit:  # a second, smaller grant that expires at the end of February
        body["credits"] = [
            *WORKED["credits"],  # type: ignore[misc]
            {"amount": "50.00", "priority": 2, "expires_at": "2026-03-01T00:00:00Z"},
        ]
    contract = post(sales_api, "/api/v1/contracts", body, 201)
    post(sales_api, f"/api/v1/contracts/{contract['id']}/submit")
    post(api, f"/api/v1/contracts/{contract['id']}/approve", {"at": "2026-01-01T00:00:00Z"})
    jan = Invoice.objects.get(customer__external_id="acme")
    post(api, f"/api/v1/invoices/{jan.pk}/finalize", {"at": "2026-01-01T00:00:00Z"})
    return Customer.objects.get(external_id="acme")


def test_the_summary_follows_the_phase_and_the_credit_at_its_time(
    api: APIClient, sales_api: APIClient, premium: Any
) -> None:
    customer = approved_deal(api, sales_api, second_credit=True)
    feb = customer_overview(customer=customer, at=datetime(2026, 2, 10, tzinfo=UTC)).contract
    assert feb is not None
    [terms] = feb.contracts
    assert (terms.phase.position, terms.phase_count) == (0, 2)  # type: ignore[union-attr]
    assert terms.next_phase is not None and terms.next_phase.start == datetime(2026, 3, 1, tzinfo=UTC)
    assert terms.commitment == D("1000.00")
    # 1,000 + 50 granted, 890 drawn from the first grant (priority 1): 110 + 50 left
    assert feb.credit_balance == D("160.00")
    assert [(g.grant.priority, g.remaining, g.expired) for g in feb.grants] == [
        (1, D("110.00"), False),
        (2, D("50.00"), False),
    ]

    mar = customer_overview(customer=customer, at=datetime(2026, 3, 10, tzinfo=UTC)).contract
    assert mar is not None
    assert mar.contracts[0].phase.position == 1 and mar.contracts[0].next_phase is None  # type: ignore[union-attr]
    assert mar.credit_balance == D("110.00")  # the expired grant is never drawable
    assert [g.expired for g in mar.grants] == [False, True]


def test_a_customer_without_a_contract_has_no_summary(premium: Any) -> None:
    customer = Customer.objects.get(external_id="acme")
    assert customer_overview(customer=customer).contract is None


def test_the_customer_page_shows_the_contract(api: APIClient, sales_api: APIClient, premium: Any) -> None:
    customer = approved_deal(api, sales_api)
    client = Client()
    client.force_login(make_staff("page-reader", SUPPORT))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/admin/customers/{customer.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    section = html[html.index('<section id="contract"') : html.index('<section id="plan"')]
    family = customer.contracts.get().pk
    assert f"Contract #{family} v1" in section
    assert f"/admin/billing/contract/{family}/change/" in section
    assert "Premium" in section and "10 seats" in section
    assert "phase " in section and " of 2" in section
    assert f"minimum commitment <strong>{money('1000.00')}</strong>" in section
    assert f"Prepaid credit available now: <strong>{money('110.00')}</strong>" in section
    assert money("1000.00") in section  # the grant's amount, beside what is left
    assert "No contract" not in section
    assert len(queries) <= 45, len(queries)  # the section reads in a constant number of queries


def test_the_plan_on_a_contract_is_named_by_its_deal_not_its_private_code(
    api: APIClient, sales_api: APIClient, premium: Any
) -> None:
    """The subscription runs on the contract's private plan (``premium-contract-<n>``); support reads
    "Premium, contract #n prices, phase 1" instead of a code nobody sells."""
    customer = approved_deal(api, sales_api)
    family = customer.contracts.get().pk
    client = Client()
    client.force_login(make_staff("plan-reader", SUPPORT))
    html = client.get(f"/admin/customers/{customer.pk}/").content.decode()
    plan = html[html.index('<section id="plan"') :]
    assert f"Premium, contract #{family} prices, phase " in plan
    assert "-contract-" not in plan
