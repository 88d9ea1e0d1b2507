"""Sales configures a deal in a real browser and submits it; finance approves it from the queue; the
customer's first invoice carries the contract's prices. A screenshot of each step goes to the shots dir."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from billing.models import Contract
from invoicing.models import Invoice
from tests.contracts.conftest import make_premium, money
from tests.e2e.conftest import log_in, shot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def premium(api: Any) -> None:
    make_premium(api)


def test_sales_configures_a_deal_and_finance_approves_it(
    live_server: Any, browser: Any, page: Any, sales_user: User, finance_user: User, premium: Any
) -> None:
    base = live_server.url
    log_in(page, base, "sam")
    page.goto(f"{base}/admin/billing/contract/")
    page.click("text=New deal")
    page.select_option("#id_customer", "acme")
    page.select_option("#id_plan", "premium")
    page.click("input[value=Continue]")
    page.wait_for_selector("#deal-form")

    page.fill("#id_start", "2026-01-01")
    page.fill("#id_quantity", "10")
    page.select_option("select[name=phase-0-price-seats-mode]", "unit")
    page.fill("input[name=phase-0-price-seats-value]", "14.00")
    page.fill("input[name=phase-0-fee-0-description]", "Platform fee")
    page.fill("input[name=phase-0-fee-0-amount]", "500")
    page.fill("#id_phase-1-start", "2026-03-01")
    page.select_option("select[name=phase-1-price-seats-mode]", "unit")
    page.fill("input[name=phase-1-price-seats-value]", "15.00")
    page.fill("input[name=phase-1-fee-0-description]", "Platform fee")
    page.fill("input[name=phase-1-fee-0-amount]", "600")
    page.fill("#id_commitment", "1000")
    page.fill("input[name=credit-0-amount]", "1000")
    page.fill("input[name=oneoff-0-description]", "Onboarding")
    page.fill("input[name=oneoff-0-amount]", "250")
    page.fill("#id_ent-max_users", "500")
    page.fill("#id_notes", "Ramp agreed with procurement; credit in lieu of a launch discount.")

    # the live preview: each phase's first invoice, rated by the server
    page.wait_for_function(
        "() => document.querySelector('#preview[data-state=ready] #preview-phase-1')"
        "?.innerText.includes('Onboarding') && document.querySelector('#preview-phase-2')"
        f"?.innerText.includes('{money('750.00')}')"
    )
    first = page.locator("#preview-phase-1").inner_text()
    assert "Seats × 10" in first and "140.00" in first and "Onboarding" in first and money("890.00") in first
    assert f"−{money('890.00')}" in first  # the credit covers the first invoice
    print(shot(page, "contract-1-sales-deal-preview"))

    page.click("#submit-deal")
    page.wait_for_selector(".messagelist")
    assert "submitted to finance" in page.locator(".messagelist").inner_text()
    print(shot(page, "contract-2-sales-submitted"))
    contract = Contract.objects.get()
    assert contract.status == "pending_approval"
    assert not page.locator(f"#approve-{contract.pk}").count()  # sales sees no approve button
    assert page.errors == []

    finance = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    log_in(finance, base, "fiona")
    finance.goto(f"{base}/admin/billing/contract/approvals/")
    card = finance.locator(f"#contract-{contract.pk}")
    assert "Ramp agreed with procurement" in card.inner_text()
    assert f"list: {money('18.00')} per unit" in card.inner_text() and money("14.00") in card.inner_text()
    print(shot(finance, "contract-3-finance-queue"))
    finance.fill(f"input[aria-label='approval comment for {contract.pk}']", "Within the discount policy.")
    finance.click(f"#approve-{contract.pk}")
    finance.wait_for_selector(".messagelist")
    assert "approved and active" in finance.locator(".messagelist").inner_text()
    assert "Nothing waits for approval" in finance.locator("#content").inner_text()
    print(shot(finance, "contract-4-finance-approved"))

    invoice = Invoice.objects.get(customer__external_id="acme")
    finance.goto(f"{base}/admin/invoicing/invoice/{invoice.pk}/change/")
    body = finance.locator("#content").inner_text()
    assert "Seats × 10" in body and "14.00" in body and "140.00" in body
    assert "Platform fee" in body and "500.00" in body and "Onboarding" in body and "890.00" in body
    print(shot(finance, "contract-5-first-invoice"))
    finance.goto(f"{base}/admin/billing/contract/{contract.pk}/change/")
    assert "Within the discount policy." in finance.locator("#content").inner_text()
    print(shot(finance, "contract-6-contract-page"))

    # the customer page names the deal, its commitment and the prepaid credit (not yet drawn: a draft)
    finance.goto(f"{base}/admin/customers/{invoice.customer_id}/#contract")
    section = finance.locator("#contract").inner_text()
    assert f"Contract #{contract.pk} v1" in section and "minimum commitment" in section
    assert f"Prepaid credit available now: {money('1000.00')}" in section
    print(shot(finance, "contract-7-customer-page"))
