"""Finance in a real browser over the demo data: the dashboard's charts match the report API, an aging
bucket drills down to its invoices, a report exports as CSV, and a billing run starts from the admin."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from billing.demo import seed_demo
from billing.display import format_money
from invoicing.models import BillingRun, Invoice
from tests.e2e.conftest import log_in, shot
from tests.e2e.test_finance_dashboard import CHARTS_DRAWN

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # as tests/test_seed_demo.py: no PBKDF2 for the demo's staff logins (fiona's still checks), no PDF
    # rendering per invoice
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    monkeypatch.setattr("invoicing.services.invoice_documents.invoice_pdf", lambda **kwargs: b"%PDF-1.7 test")
    seed_demo(customers=40, history_customers=40)


def test_finance_works_the_demo_books_in_a_browser(
    live_server: Any, page: Any, finance_user: User, finance_api: APIClient, demo: None
) -> None:
    base = live_server.url
    log_in(page, base, "fiona")

    # the dashboard: four drawn charts; its MRR and ARR are the report API's last month
    page.goto(f"{base}/admin/?currency=USD")
    page.wait_for_selector("html[data-finance-charts=drawn]")
    charts = page.evaluate(CHARTS_DRAWN)
    assert len(charts) == 4
    assert all(c["chart"] and c["points"] > 0 and c["painted"] > 1000 for c in charts), charts
    months = finance_api.get("/api/v1/reports/mrr?currency=USD").json()["months"]
    mrr = Decimal(months[-1]["mrr"])
    assert mrr > 0
    kpis = page.locator(".fin-kpi-value").all_inner_texts()
    assert kpis[:2] == [format_money(mrr, "USD"), format_money(mrr * 12, "USD")]
    print(shot(page, "finance-demo-dashboard"))

    # receivables: a bucket's total links to exactly the invoices it adds up
    page.goto(f"{base}/admin/reports/ar-aging/?currency=USD")
    totals = page.locator("#aging-table tr.fin-total td")
    cell = next(
        totals.nth(i) for i in range(1, 6) if totals.nth(i).locator("a").count() and i > 1
    )  # the first past-due bucket with invoices
    figure = Decimal(cell.inner_text().replace("$", "").replace(",", "").strip())
    href = cell.locator("a").get_attribute("href") or ""
    ids = [int(n) for n in parse_qs(urlsplit(href).query)["id__in"][0].split(",")]
    assert sum(Invoice.objects.filter(pk__in=ids).values_list("amount_due", flat=True)) == figure
    print(shot(page, "finance-demo-aging"))
    with page.expect_download() as download:
        page.click("text=Download CSV")
    csv_lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert csv_lines[0] == "customer,name,current,1_30,31_60,61_90,over_90,total"
    assert csv_lines[-1].startswith("TOTAL,,") and len(csv_lines) > 3
    cell.locator("a").click()
    page.wait_for_url("**/admin/invoicing/invoice/?id__in=*")
    assert page.locator("#result_list tbody tr").count() == len(ids)
    print(shot(page, "finance-demo-aging-invoices"))

    # a billing run from the admin: as of now, finished (no worker here) when the page shows
    page.goto(f"{base}/admin/invoicing/billingrun/")
    page.click("text=Start a billing run")
    page.wait_for_url("**/billingrun/start/")
    assert page.is_checked("input[name=when][value=now]")
    print(shot(page, "finance-demo-start-run"))
    page.click("input[type=submit][value='Start the run']")
    page.wait_for_url("**/admin/invoicing/billingrun/*/change/")
    run = BillingRun.objects.order_by("-pk").first()
    assert run is not None and run.status in ("completed", "completed_with_failures")
    body = page.locator("#content").inner_text()
    assert f"{run} has finished: completed" in page.locator(".messagelist").inner_text()
    # the demo is billed up to today: a run now has nothing due, and says so
    assert ("chunk(s) done" in body and "invoice(s)" in body) or (
        "Nothing was due at this instant" in body and "no invoice was created" in body
    )
    print(shot(page, "finance-demo-billing-run"))
    assert page.errors == []
