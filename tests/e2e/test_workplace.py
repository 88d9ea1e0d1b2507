"""Finance's workplace in a real browser: a price changed into a new version and one subscription moved
to it; a transfer recorded until the invoice is paid; a subscription created and its seats changed with
the proration preview; and support, who sees no edit control on the catalog, subscriptions or invoices.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User

from billing.models import PlanVersion, ScheduledChange, Subscription
from invoicing.models import InvoiceStatus, Payment
from invoicing.services import subscription_invoicing
from invoicing.services.finalization import invoice_finalize
from tests.admin import seat_plan, utc_customer
from tests.e2e.conftest import log_in, shot
from tests.invoicing.factories import make_customer, make_draft, subscription_line

pytestmark = pytest.mark.django_db(transaction=True)

APR_1 = datetime(2026, 4, 1, tzinfo=UTC)
MAY_1 = datetime(2026, 5, 1, tzinfo=UTC)


def test_finance_changes_a_price_and_moves_one_subscription(
    live_server: Any, page: Any, finance_user: User
) -> None:
    v1 = seat_plan()
    moved, stays = (
        subscription_invoicing.subscription_create(
            customer=utc_customer(cid), plan_code="team", start=APR_1, quantity=Decimal(10)
        )[0]
        for cid in ("cus_moved", "cus_stays")
    )
    base = live_server.url
    log_in(page, base, "fiona")
    page.goto(f"{base}/admin/billing/plan/{v1.plan_id}/change/")
    shot(page, "workplace-plan-page")
    page.click("text=Edit prices, features or trial (new version)")
    shot(page, "workplace-plan-edit-form")
    page.fill("#id_seats__unit_amount", "20.00")
    page.click("input[value='Preview version 2']")
    shot(page, "workplace-plan-edit-preview")
    changed = page.locator("#version-diff tr.changed")
    assert changed.count() == 1
    assert changed.inner_text().split("\t") == ["price seats: unit price", "$18.00", "$20.00"]
    page.click("input[value='Save as version 2']")
    shot(page, "workplace-plan-version-2")
    assert "Saved team v2" in page.locator(".messagelist").inner_text()
    v2 = PlanVersion.objects.get(plan_id=v1.plan_id, version=2)
    assert v2.prices.get(code="seats").unit_amount == Decimal("20.00")
    assert v1.prices.get(code="seats").unit_amount == Decimal("18.00")  # the old version is untouched
    page.click("text=Move subscriptions to it at their next period")
    row = page.locator("#result_list tr", has_text="cus_moved")
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "move_to_newest_version")
    page.click("button[name=index]")
    shot(page, "workplace-move-confirm")
    assert "moves to v2 at 2026-05-01 00:00 (UTC)" in page.locator("#confirm-rows").inner_text()
    page.click("input[type=submit][value^='Yes']")
    shot(page, "workplace-move-done")
    assert "1 subscription will move to the newest version" in page.locator(".messagelist").inner_text()
    change = ScheduledChange.objects.get()
    assert (change.subscription_id, change.effective_at, change.new_plan_version_id) == (
        moved.pk,
        MAY_1,
        v2.pk,
    )
    assert not ScheduledChange.objects.filter(subscription=stays).exists()
    assert page.errors == []


def test_finance_records_a_transfer_and_the_invoice_turns_paid(
    live_server: Any, page: Any, finance_user: User
) -> None:
    invoice = invoice_finalize(
        invoice_id=make_draft(
            make_customer("cus_wire", name="Wire Ltd"), lines=[subscription_line("1534.50")]
        ).pk,
        at=APR_1,
    )
    base = live_server.url
    log_in(page, base, "fiona")
    page.goto(f"{base}/admin/invoicing/invoice/{invoice.pk}/change/")
    shot(page, "workplace-invoice-open")
    page.click("text=Record payment")
    assert page.input_value("#id_amount") == "1534.50"
    page.fill("#id_reference", "WIRE-2026-0042")
    page.fill("#id_received_at", "2026-04-20 10:00")
    page.click("input[name=preview]")
    shot(page, "workplace-payment-review")
    assert "the invoice becomes paid" in page.locator("#review").inner_text()
    page.click("input[name=confirm]")
    shot(page, "workplace-invoice-paid")
    assert "Recorded $1,534.50 (bank transfer WIRE-2026-0042)" in page.locator(".messagelist").inner_text()
    assert page.locator(".field-status_badge .ratecard-badge").inner_text() == "Paid"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_due == 0
    assert Payment.objects.get().reference == "WIRE-2026-0042"
    assert page.errors == []


def test_finance_creates_a_subscription_and_changes_seats_seeing_the_proration(
    live_server: Any, page: Any, finance_user: User
) -> None:
    seat_plan()
    customer = utc_customer("cus_new")
    base = live_server.url
    log_in(page, base, "fiona")
    page.set_viewport_size({"width": 1366, "height": 900})  # the laptops finance works on
    for url in ("/admin/billing/subscription/", "/admin/invoicing/invoice/", "/admin/billing/plan/"):
        page.goto(base + url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366, url  # no sideways scroll
    page.goto(f"{base}/admin/billing/subscription/")
    shot(page, "workplace-subscriptions-1366")
    page.click("text=New subscription")
    page.fill("#id_customer", "cus_new")
    page.select_option("#id_plan", "team")
    page.fill("#id_seats", "10")
    page.fill("#id_start", "2026-04-01 00:00")
    page.click("input[name=preview]")
    shot(page, "workplace-subscription-new-preview")
    assert page.locator("#preview-total").inner_text() == "$180.00"
    page.click("input[name=confirm]")
    shot(page, "workplace-subscription-created")
    sub = Subscription.objects.get(customer=customer)
    page.click("text=Change plan or seats")
    page.fill("#id_seats", "15")
    page.check("#id_when_0")
    page.fill("#id_at", "2026-04-16 00:00")
    page.click("input[name=preview]")
    shot(page, "workplace-seat-change-preview")
    amounts = page.locator("#preview-lines td.money").all_inner_texts()
    assert amounts == ["-$90.00", "$135.00"]
    assert page.locator("#preview-total").inner_text() == "$45.00"
    page.click("input[name=confirm]")
    shot(page, "workplace-seat-change-done")
    assert Subscription.objects.get(pk=sub.pk).quantity == 15
    assert page.errors == []


def test_support_sees_no_edit_control(live_server: Any, page: Any, support_user: User) -> None:
    v1 = seat_plan()
    sub, _ = subscription_invoicing.subscription_create(
        customer=utc_customer(), plan_code="team", start=APR_1, quantity=Decimal(2)
    )
    invoice = invoice_finalize(
        invoice_id=make_draft(make_customer("cus_sup"), lines=[subscription_line("10.00")]).pk, at=APR_1
    )
    base = live_server.url
    log_in(page, base, "sue")
    pages = {
        "plan": f"/admin/billing/plan/{v1.plan_id}/change/",
        "planversion": f"/admin/billing/planversion/{v1.pk}/change/",
        "subscriptions": "/admin/billing/subscription/",
        "subscription": f"/admin/billing/subscription/{sub.pk}/change/",
        "invoices": "/admin/invoicing/invoice/",
        "invoice": f"/admin/invoicing/invoice/{invoice.pk}/change/",
    }
    for name, url in pages.items():
        page.goto(base + url)
        shot(page, f"workplace-support-{name}")
        text = " ".join(
            page.locator("#content a, #content input[type=submit], #content button").all_inner_texts()
        )
        text += " ".join(
            page.locator("#content input[type=submit]").evaluate_all("els => els.map(e => e.value)")
        )
        for control in (
            "Edit prices",
            "New subscription",
            "Change plan or seats",
            "Cancel…",
            "Record payment",
            "Void…",
        ):
            assert control not in text, (name, control)
        assert page.locator("#content input[type=submit][name=_save]").count() == 0, name
        assert page.locator("select[name=action] option[value=move_to_newest_version]").count() == 0
    assert page.errors == []
    response = page.goto(f"{base}/admin/billing/plan/{v1.plan_id}/edit-version/")
    shot(page, "workplace-support-403")
    assert response.status == 403
    assert "Your role does not allow this page or action." in page.locator("#content").inner_text()
