"""Finance's dashboard (the admin index for finance) and report pages: figures, drill-down, who sees them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from invoicing.models import BillingRun
from tests.reporting.books import book_from_today

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(api: APIClient) -> dict[str, Any]:
    return book_from_today(api)


def charts(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="finance-charts" type="application/json">(.*?)</script>', html, re.S)
    assert found, "the charts' JSON is on the page"
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def test_finance_sees_the_dashboard_with_the_report_figures(
    client: Client, finance_user: User, api: APIClient, book: dict[str, Any]
) -> None:
    client.force_login(finance_user)
    html = client.get("/admin/?currency=USD").content.decode()
    assert "Finance dashboard" in html
    assert "$100.00" in html  # MRR: 1,200.00 a year / 12
    assert "$1,200.00" in html  # ARR, and the receivables (45 days past due)
    data = charts(html)
    assert data["currency"] == "USD"
    assert len(data["labels"]) == 12
    assert data["mrr"][-1] == "100.00"
    assert data["arr"][-1] == "1200.00"
    assert data["aging"]["values"] == ["0.00", "0.00", "1200.00", "0.00", "0.00"]
    # the same figures as the report API
    api_mrr = api.get("/api/v1/reports/mrr?currency=USD").json()["months"]
    assert [m["mrr"] for m in api_mrr] == data["mrr"]
    api_revenue = api.get("/api/v1/reports/revenue?currency=USD").json()["months"]
    assert [m["recognized"] for m in api_revenue] == data["recognized"]
    assert [m["invoiced"] for m in api_revenue] == data["invoiced"]
    assert "All models" in html and "/admin/invoicing/invoice/" in html  # the model list is still there


def test_the_currency_switcher_changes_every_figure(
    client: Client, finance_user: User, book: dict[str, Any]
) -> None:
    client.force_login(finance_user)
    html = client.get("/admin/?currency=EUR").content.decode()
    data = charts(html)
    assert data["currency"] == "EUR"
    assert data["mrr"][-1] == "50.00"
    assert "€50.00" in html
    assert "$100.00" not in html
    assert '<option value="EUR" selected>' in html


def test_failed_billing_runs_are_alerts(client: Client, finance_user: User, book: dict[str, Any]) -> None:
    run = BillingRun.objects.create(
        as_of=book["start"], status=BillingRun.Status.COMPLETED_WITH_FAILURES, failures_count=2
    )
    client.force_login(finance_user)
    html = client.get("/admin/").content.decode()
    assert f"Billing run #{run.pk}" in html
    assert "2 subscription(s) failed" in html


def test_the_dashboard_runs_a_bounded_number_of_queries(
    client: Client, finance_user: User, book: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    for _ in range(3):
        BillingRun.objects.create(as_of=book["start"], status=BillingRun.Status.COMPLETED)
    client.force_login(finance_user)
    with django_assert_max_num_queries(25):
        response = client.get("/admin/")
    assert response.status_code == 200


@pytest.mark.parametrize("who", ["sales_user", "support_user"])
def test_sales_and_support_keep_djangos_index_and_cannot_open_reports(
    client: Client, who: str, request: pytest.FixtureRequest, book: dict[str, Any]
) -> None:
    client.force_login(request.getfixturevalue(who))
    html = client.get("/admin/").content.decode()
    assert "Finance dashboard" not in html
    assert "finance-charts" not in html
    for url in ("/admin/reports/mrr/", "/admin/reports/revenue/", "/admin/reports/ar-aging/"):
        assert client.get(url).status_code == 403


def test_anonymous_visitors_are_sent_to_the_login_page(client: Client) -> None:
    response = client.get("/admin/reports/ar-aging/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_an_aging_bucket_links_to_its_invoices(
    client: Client, finance_user: User, book: dict[str, Any]
) -> None:
    client.force_login(finance_user)
    html = client.get("/admin/reports/ar-aging/?currency=USD").content.decode()
    link = f"/admin/invoicing/invoice/?id__in={book['acme']}"
    assert f'<a href="{link}">$1,200.00</a>' in html
    listing = client.get(link)
    assert listing.status_code == 200
    assert "1 result" in listing.content.decode() or "1 invoice" in listing.content.decode()


def test_a_months_invoiced_amount_links_to_the_invoices_issued_then(
    client: Client, finance_user: User, book: dict[str, Any]
) -> None:
    client.force_login(finance_user)
    html = client.get("/admin/reports/revenue/?currency=USD").content.decode()
    links = re.findall(r'href="(/admin/invoicing/invoice/\?[^"]+)"', html)
    assert len(links) == 1
    listing = client.get(links[0].replace("&amp;", "&"))
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1
    assert [i.pk for i in listing.context["cl"].result_list] == [book["acme"]]


def test_a_movement_links_to_the_customers_that_moved(
    client: Client, finance_user: User, book: dict[str, Any]
) -> None:
    client.force_login(finance_user)
    html = client.get("/admin/reports/mrr/?currency=USD").content.decode()
    links = re.findall(r'href="(/admin/reports/mrr/movers/\?[^"]+)"', html)
    assert len(links) == 1 and "kind=new" in links[0]
    movers = client.get(links[0].replace("&amp;", "&")).content.decode()
    assert "Acme" in movers
    assert "$100.00" in movers
    assert "/admin/billing/subscription/?customer__id__exact=" in movers


def test_bad_filters_show_an_error_not_a_500(client: Client, finance_user: User) -> None:
    client.force_login(finance_user)
    response = client.get("/admin/reports/mrr/?from=2026-13&currency=XXX")
    assert response.status_code == 200
    html = response.content.decode()
    assert "from must be a month written YYYY-MM" in html
    assert "Unknown currency" in html
