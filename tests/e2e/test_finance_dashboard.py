"""Finance in a real browser: the dashboard's charts, the currency switcher, an aging drill-down, a CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.conftest import client_for
from tests.e2e.conftest import log_in, shot
from tests.reporting.books import book_from_today

pytestmark = pytest.mark.django_db(transaction=True)

# every canvas has a Chart.js chart with data and painted pixels
CHARTS_DRAWN = """() => Array.from(document.querySelectorAll('canvas')).map(c => {
  const chart = Chart.getChart(c);
  const ctx = c.getContext('2d');
  const pixels = ctx.getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) painted++; }
  return {id: c.id, chart: !!chart, points: chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : 0, painted};
})"""


@pytest.fixture
def book(finance_user: User) -> dict[str, Any]:
    return book_from_today(client_for(finance_user))


def test_finance_sees_charts_switches_currency_and_drills_into_aging(
    live_server: Any, page: Any, finance_user: User, book: dict[str, Any]
) -> None:
    base = live_server.url
    log_in(page, base, "fiona")
    page.goto(f"{base}/admin/?currency=USD")
    assert page.locator("h1").inner_text() == "Finance dashboard"
    page.wait_for_selector("html[data-finance-charts=drawn]")
    charts = page.evaluate(CHARTS_DRAWN)
    assert [c["id"] for c in charts] == ["chart-mrr", "chart-movements", "chart-revenue", "chart-aging"]
    assert all(c["chart"] and c["points"] > 0 and c["painted"] > 1000 for c in charts), charts
    kpis = page.locator(".fin-kpi-value").all_inner_texts()
    assert kpis[0] == "$100.00" and kpis[1] == "$1,200.00"
    print(shot(page, "dashboard-usd"))

    page.select_option("#fin-currency", "EUR")  # submits the form: every figure in EUR
    page.wait_for_url("**/admin/?currency=EUR")
    page.wait_for_selector("html[data-finance-charts=drawn]")
    assert page.locator(".fin-kpi-value").first.inner_text() == "€50.00"
    print(shot(page, "dashboard-eur"))

    page.click("text=Receivables aging")
    page.select_option("#fin-currency", "USD")
    page.wait_for_url("**/admin/reports/ar-aging/?*currency=USD")
    assert [t.lower() for t in page.locator("#aging-table th").all_inner_texts()[1:4]] == [
        "not yet due",
        "1–30 days",
        "31–60 days",
    ]
    print(shot(page, "ar-aging"))
    with page.expect_download() as download:
        page.click("text=Download CSV")
    csv_text = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert csv_text[0] == "customer,name,current,1_30,31_60,61_90,over_90,total"
    assert csv_text[1] == "acme,Acme,0.00,0.00,1200.00,0.00,0.00,1200.00"

    # 45 days past due: the 31-60 bucket; its amount links to the invoice it is made of
    page.locator("#aging-table tbody tr").first.locator("td").nth(3).locator("a").click()
    page.wait_for_url(f"**/admin/invoicing/invoice/?id__in={book['acme']}")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "INV-" in rows.first.inner_text()
    print(shot(page, "aging-drilldown-invoices"))
    assert page.errors == []


def test_sales_does_not_see_the_finance_dashboard(
    live_server: Any, page: Any, sales_user: User, book: dict[str, Any]
) -> None:
    log_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/admin/")
    assert "Finance dashboard" not in page.content()
    assert page.locator("canvas").count() == 0
    print(shot(page, "sales-index"))
    response = page.goto(f"{live_server.url}/admin/reports/ar-aging/")
    assert response is not None and response.status == 403
    assert page.errors == [] or all("403" in e for e in page.errors)
