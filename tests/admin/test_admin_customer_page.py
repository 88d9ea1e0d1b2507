"""The customer page (/admin/customers/<id>/): everything on one page, read-only for support, in the
customer's time zone, in a number of queries that does not grow with the customer's invoices."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import Customer
from accounts.roles import INTEGRATION
from billing.services.entitlements import entitlements_invalidate
from invoicing.models import Invoice, InvoiceStatus
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.finalization import invoice_finalize
from invoicing.services.payments import invoice_record_payment
from tests.admin import billed_customer, logged_in
from tests.conftest import make_staff
from tests.invoicing.factories import make_draft

pytestmark = pytest.mark.django_db


def page_url(customer: Customer) -> str:
    return f"/admin/customers/{customer.pk}/"


@pytest.fixture
def world(finance_api: APIClient) -> dict[str, Any]:
    return billed_customer(finance_api)


def add_invoices(customer: Customer, count: int, start: int) -> None:
    """``count`` more finalized invoices, each paid in part and credited (more rows in every list)."""
    for n in range(start, start + count):
        billing_date = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=7 * n)
        invoice = invoice_finalize(
            invoice_id=make_draft(customer, billing_date=billing_date).pk, at=billing_date
        )
        invoice_record_payment(
            invoice_id=invoice.pk,
            amount=Decimal("40.00"),
            at=billing_date,
            method="check",
            reference=f"chk-{n}",
        )
        credit_note_create(
            invoice_id=invoice.pk, amount=Decimal("1.00"), reason=f"credit {n}", at=billing_date
        )


def text(response: Any) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_the_page_holds_plan_usage_invoices_payments_credit_contacts_and_history(
    client: Client, support_user: User, world: dict[str, Any]
) -> None:
    customer = world["customer"]
    response = logged_in(client, support_user).get(page_url(customer))
    assert response.status_code == 200
    body = text(response)
    assert "All times in Europe/Berlin , the customer's time zone." in body
    assert "team v1 Active · 3 seats · current period 2026-06-01 – 2026-07-01" in body  # plan, status badge
    assert "Max calls max_calls 1,000 12 of 1,000" in body  # usage against the limit
    assert "12 API calls api_calls" in body  # usage this period
    assert "Due now $73.00 2 open invoices · 2 past due" in body
    assert f"{world['first'].number} Open past due" in body
    assert f"2026-04-02 02:00 {world['first'].number} Succeeded bank_transfer $30.00 wire-1" in body
    assert "Goodwill" in body and "Ada Lovelace" in body
    assert "Created" in body and "Billed" in body  # the subscription's timeline
    assert "Contract No contract: billed at the plan's list prices." in body  # the contracts slot
    # the first invoice was created on the 1st of April 00:00 UTC: 02:00 in Berlin
    assert "2026-04-01 02:00 Created" in body


def test_support_sees_no_edit_control_only_pdf_and_resend(
    client: Client, support_user: User, world: dict[str, Any]
) -> None:
    html = logged_in(client, support_user).get(page_url(world["customer"])).content.decode()
    assert "Edit customer" not in html
    content = html.split('id="content-main"', 1)[1]
    assert re.findall(r"<(input|select|textarea|button)\b", content) == []  # no form on the page itself
    first = world["first"]
    assert f'href="/admin/invoicing/invoice/{first.pk}/pdf/"' in content
    assert f'href="/admin/invoicing/invoice/{first.pk}/resend/"' in content


def test_finance_gets_an_edit_button_sales_no_resend(
    client: Client, finance_user: User, sales_user: User, world: dict[str, Any]
) -> None:
    url = page_url(world["customer"])
    assert "Edit customer" in logged_in(client, finance_user).get(url).content.decode()
    client.logout()
    sales_page = logged_in(client, sales_user).get(url).content.decode()
    assert "Edit customer" in sales_page and "/resend/" not in sales_page  # sales may not resend


def test_a_searched_invoice_is_marked_on_the_page(
    client: Client, support_user: User, world: dict[str, Any]
) -> None:
    first = world["first"]
    html = (
        logged_in(client, support_user)
        .get(f"{page_url(world['customer'])}?invoice={first.pk}")
        .content.decode()
    )
    assert f'<tr id="invoice-{first.pk}" class="c360-highlight">' in html


def test_who_may_not_see_customers_gets_403(client: Client, world: dict[str, Any]) -> None:
    product = make_staff("product", INTEGRATION)  # staff flag only for this test: the admin's door
    no_role = make_staff("nobody", None)
    assert logged_in(client, no_role).get(page_url(world["customer"])).status_code == 403
    client.logout()
    # the integration role may view customers (API) but neither search them nor read the staff's page
    # (payments, credit notes, the balance ledger)
    assert logged_in(client, product).get("/admin/search/?q=acme").status_code == 403
    assert client.get(page_url(world["customer"])).status_code == 403


def test_the_customer_list_opens_the_customer_page(
    client: Client, support_user: User, world: dict[str, Any]
) -> None:
    html = logged_in(client, support_user).get("/admin/accounts/customer/").content.decode()
    assert f'href="{page_url(world["customer"])}"' in html


def test_the_query_count_does_not_grow_with_invoices(
    client: Client, support_user: User, world: dict[str, Any]
) -> None:
    customer = world["customer"]
    c = logged_in(client, support_user)

    def count() -> int:
        entitlements_invalidate()  # the entitlement profile is cached per process
        c.get(page_url(customer))  # warm: live usage counters, sessions
        entitlements_invalidate()
        with CaptureQueriesContext(connection) as queries:
            assert c.get(page_url(customer)).status_code == 200
        return len(queries)

    add_invoices(customer, 2, start=0)
    before = count()
    add_invoices(customer, 30, start=2)  # more than one page of invoices, payments and credit notes
    assert (
        Invoice.objects.filter(customer=customer, status=InvoiceStatus.PAID).count()
        + Invoice.objects.filter(customer=customer, status=InvoiceStatus.OPEN).count()
        >= 33
    )
    after = count()
    print(f"customer page: {before} queries with 3 invoices, {after} with 33")
    assert after == before
    assert before <= 30, before  # 25 when written: session and user, then one or two per section
