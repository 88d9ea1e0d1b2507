"""Support in a real browser: finds a customer by an invoice number typed in the header's search box,
reads the customer page (no edit control anywhere on it), downloads the invoice's PDF; Enter in the box
lists every match. A screenshot of each page goes to $RATECARD_SHOTS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tests.admin import billed_customer
from tests.e2e.conftest import log_in, shot

pytestmark = pytest.mark.django_db(transaction=True)

# what could change anything, on the page's own content (the header's search box is outside it)
EDIT_CONTROLS = (
    "#content-main input, #content-main select, #content-main textarea, #content-main button, "
    "#content-main form, #content-main a.addlink, #content-main a.changelink, #content-main a.deletelink"
)


def test_support_finds_a_customer_by_invoice_number_and_downloads_its_pdf(
    live_server: Any, page: Any, support_user: User, finance_api: APIClient
) -> None:
    world = billed_customer(finance_api)
    customer, invoice = world["customer"], world["first"]
    base = live_server.url
    log_in(page, base, support_user.username)
    print(shot(page, "support-home"))

    # the header box: the invoice number, as typed, lists the invoice; choosing it opens the customer
    page.fill("#rc-search-input", invoice.number.lower())
    option = page.locator("#rc-search-results li[role=option]").first
    option.wait_for()
    assert invoice.number in option.inner_text() and "Acme Rockets" in option.inner_text()
    print(shot(page, "support-search-dropdown"))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/admin/customers/{customer.pk}/?invoice={invoice.pk}#invoice-{invoice.pk}")
    page.wait_for_selector("html[data-usage-charts=drawn]")
    print(shot(page, "support-customer-page"))

    # everything on one page, in the customer's zone, read-only
    assert page.locator("h1").first.inner_text() == "Acme Rockets"
    assert "All times in Europe/Berlin" in page.locator(".c360-zone").inner_text()
    assert page.locator(EDIT_CONTROLS).count() == 0
    assert page.get_by_text("Edit customer").count() == 0
    row = page.locator("tr.c360-highlight")
    assert row.get_attribute("id") == f"invoice-{invoice.pk}"
    assert "Open" in row.inner_text() and "past due" in row.inner_text()
    for section in ("Plan and entitlements", "Subscriptions", "Usage this period", "Invoices", "Payments",
                    "Credit balance and ledger", "Credit notes", "Contacts", "History of changes"):  # fmt: skip
        assert page.locator("h2", has_text=section).count() == 1, section

    # its PDF, from the marked row
    with page.expect_download() as download_info:
        row.locator("a.c360-pdf").click()
    download = download_info.value
    assert download.suggested_filename == f"{invoice.number}.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF")

    # resend is there for support, behind a confirmation page (nothing is sent by a click)
    row.locator("a.c360-resend").click()
    page.wait_for_load_state("load")
    print(shot(page, "support-resend-confirmation"))
    assert page.locator("input[type=submit]").count() == 1  # the one confirm button
    page.go_back()

    # Enter in the box: every match on the results page
    page.fill("#rc-search-input", "acme")
    page.locator("#rc-search-results li[role=option]").first.wait_for()
    page.keyboard.press("Enter")
    page.wait_for_url("**/admin/search/?q=acme")
    print(shot(page, "support-search-results"))
    assert "Acme Rockets (acme)" in page.locator("#rc-customer-results").inner_text()

    # the customer's own form is read-only for support too: no save button, no input
    page.goto(f"{base}/admin/accounts/customer/{customer.pk}/change/")
    print(shot(page, "support-customer-form"))
    assert page.locator("#customer_form input[type=submit], #customer_form input[type=text]").count() == 0
    assert page.errors == []
