"""Finance's workplace screens: a plan edited into a new version (with its preview), subscriptions moved to
it at next period, and subscriptions created, changed and canceled through a preview and a confirmation.

Amounts are DESIGN.md's worked example: 18.00 a seat, 10 seats, 15 seats from the middle of a 30-day
period: a credit of -90.00 and a charge of +135.00.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import PendingLine, Plan, PlanVersion, ScheduledChange, Subscription
from billing.services.catalog import PlanDraft, PriceDraft, plan_create
from invoicing.models import Invoice
from invoicing.services import subscription_invoicing
from tests.admin import changelist_url, logged_in, seat_plan, utc_customer

pytestmark = pytest.mark.django_db

APR_1 = datetime(2026, 4, 1, tzinfo=UTC)
APR_16 = datetime(2026, 4, 16, tzinfo=UTC)
MAY_1 = datetime(2026, 5, 1, tzinfo=UTC)


def edit_data(**changes: str) -> dict[str, str]:
    data = {
        "name": "Team",
        "trial_days": "0",
        "features": "sso = true",
        "seats__keep": "on",
        "seats__unit_amount": "18.00",
        "calls__keep": "on",
        "calls__tiers": "100 0.10 0\n1000 0.08 0\ninf 0.05 2.00",
    }
    data.update(changes)
    return data


def digest_of(html: str) -> str:
    found = re.search(r'name="previewed" value="([0-9a-f]+)"', html)
    assert found, "no preview digest on the page"
    return found.group(1)


def test_finance_previews_then_saves_a_new_version_and_the_old_one_is_unchanged(
    client: Client, finance_user: User
) -> None:
    v1 = seat_plan()
    url = reverse("admin:billing_plan_edit_version", args=(v1.plan_id,))
    c = logged_in(client, finance_user)
    assert "seats__unit_amount" in c.get(url).content.decode()
    data = edit_data(seats__unit_amount="20.00", trial_days="14", features="sso = true\nmax_users = 50")
    preview = c.post(url, {**data, "preview": "1"}).content.decode()
    assert PlanVersion.objects.filter(plan_id=v1.plan_id).count() == 1  # a preview writes nothing
    assert "3 changes" in preview
    assert (
        '<tr class="changed"><td>price seats: unit price</td><td>$18.00</td><td><strong>$20.00</strong>'
        in preview
    )
    assert '<tr class="changed"><td>trial</td><td>0 days</td><td><strong>14 days</strong>' in preview
    assert '<tr class="changed"><td>feature max_users</td><td>—</td><td><strong>50</strong>' in preview
    response = c.post(url, {**data, "confirm": "1", "previewed": digest_of(preview)})
    v2 = PlanVersion.objects.get(plan_id=v1.plan_id, version=2)
    assert response.status_code == 302 and response["Location"].endswith(f"/planversion/{v2.pk}/change/")
    assert v2.prices.get(code="seats").unit_amount == Decimal("20.00") and v2.trial_days == 14
    assert {e.feature.key: e.value for e in v2.entitlements.select_related("feature")} == {
        "sso": True,
        "max_users": 50,
    }
    v1.refresh_from_db()
    assert v1.prices.get(code="seats").unit_amount == Decimal("18.00") and v1.trial_days == 0


def test_a_removed_price_is_not_in_the_new_version_and_a_changed_form_is_previewed_again(
    client: Client, finance_user: User
) -> None:
    v1 = seat_plan()
    url = reverse("admin:billing_plan_edit_version", args=(v1.plan_id,))
    c = logged_in(client, finance_user)
    data = edit_data(calls__keep="")
    preview = c.post(url, {**data, "preview": "1"}).content.decode()
    assert "<td>price calls</td><td>kept</td><td><strong>removed</strong>" in preview
    c.post(url, {**edit_data(seats__unit_amount="1.00"), "confirm": "1", "previewed": digest_of(preview)})
    assert PlanVersion.objects.filter(plan_id=v1.plan_id).count() == 1  # not what was previewed
    c.post(url, {**data, "confirm": "1", "previewed": digest_of(preview)})
    v2 = PlanVersion.objects.get(plan_id=v1.plan_id, version=2)
    assert list(v2.prices.values_list("code", flat=True)) == ["seats"]


def test_bad_tiers_show_on_the_form_and_write_nothing(client: Client, finance_user: User) -> None:
    v1 = seat_plan()
    url = reverse("admin:billing_plan_edit_version", args=(v1.plan_id,))
    page = logged_in(client, finance_user).post(url, {**edit_data(calls__tiers="100 ten"), "preview": "1"})
    assert "Tier line 1" in page.content.decode()
    assert PlanVersion.objects.filter(plan_id=v1.plan_id).count() == 1


@pytest.mark.parametrize("role", ["sales_user", "support_user"])
def test_only_finance_edits_plans_and_moves_subscriptions(
    client: Client, request: pytest.FixtureRequest, role: str
) -> None:
    v1 = seat_plan()
    c = logged_in(client, request.getfixturevalue(role))
    assert c.get(reverse("admin:billing_plan_edit_version", args=(v1.plan_id,))).status_code == 403
    assert (
        "edit-version" not in c.get(reverse("admin:billing_plan_change", args=(v1.plan_id,))).content.decode()
    )
    assert c.get(reverse("admin:billing_subscription_new")).status_code == 403
    assert "move_to_newest_version" not in c.get(changelist_url(Subscription)).content.decode()


def test_finance_moves_one_subscription_to_the_new_version_at_next_period(
    client: Client, finance_user: User
) -> None:
    seat_plan()
    moved, stays = (
        subscription_invoicing.subscription_create(
            customer=utc_customer(cid), plan_code="team", start=APR_1, quantity=Decimal(10)
        )[0]
        for cid in ("cus_a", "cus_b")
    )
    plan_create(
        draft=PlanDraft(
            code="team",
            name="Team",
            currency="USD",
            prices=(PriceDraft(code="seats", model="per_unit", unit_amount=Decimal("20.00")),),
        )
    )
    c = logged_in(client, finance_user)
    asked = {"action": "move_to_newest_version", "_selected_action": [moved.pk]}
    confirm = c.post(changelist_url(Subscription), asked).content.decode()
    assert "moves to v2 at 2026-05-01 00:00 (UTC)" in confirm
    assert not ScheduledChange.objects.exists()
    c.post(changelist_url(Subscription), {**asked, "post": "yes"})
    change = ScheduledChange.objects.get()
    v2 = PlanVersion.objects.get(plan__code="team", version=2)
    assert (change.subscription_id, change.effective_at, change.new_plan_version_id) == (
        moved.pk,
        MAY_1,
        v2.pk,
    )
    assert Subscription.objects.get(pk=moved.pk).plan_version.version == 1  # until its next period
    assert Subscription.objects.get(pk=stays.pk).plan_version.version == 1


def test_finance_creates_a_subscription_after_previewing_its_first_invoice(
    client: Client, finance_user: User
) -> None:
    seat_plan()
    customer = utc_customer()
    c = logged_in(client, finance_user)
    url = reverse("admin:billing_subscription_new")
    data = {"customer": "cus_utc", "plan": "team", "seats": "10", "start": "2026-04-01 00:00", "coupon": ""}
    preview = c.post(url, {**data, "preview": "1"}).content.decode()
    assert "$180.00" in preview and not Subscription.objects.exists() and not Invoice.objects.exists()
    response = c.post(url, {**data, "confirm": "1", "previewed": digest_of(preview)})
    sub = Subscription.objects.get(customer=customer)
    assert response.status_code == 302 and sub.quantity == 10 and sub.started_at == APR_1
    assert Invoice.objects.get(customer=customer).total == Decimal("180.00")


def test_the_seat_change_preview_shows_the_billing_codes_proration_lines(
    client: Client, finance_user: User
) -> None:
    seat_plan()
    sub, _ = subscription_invoicing.subscription_create(
        customer=utc_customer(), plan_code="team", start=APR_1, quantity=Decimal(10)
    )
    url = reverse("admin:billing_subscription_change_plan", args=(sub.pk,))
    data = {
        "plan": "team",
        "seats": "15",
        "when": "now",
        "at": "2026-04-16 00:00",
        "proration": "create_prorations",
    }
    c = logged_in(client, finance_user)
    preview = c.post(url, {**data, "preview": "1"}).content.decode()
    amounts = re.findall(r'<td class="money">([^<]+)</td>', preview)
    assert amounts == ["-$90.00", "$135.00"]
    assert '<th class="money" id="preview-total">$45.00</th>' in preview
    assert not PendingLine.objects.filter(subscription=sub).exists()  # the preview was rolled back
    c.post(url, {**data, "confirm": "1", "previewed": digest_of(preview)})
    assert sorted(PendingLine.objects.filter(subscription=sub).values_list("amount", flat=True)) == [
        Decimal("-90.00"),
        Decimal("135.00"),
    ]
    assert Subscription.objects.get(pk=sub.pk).quantity == 15


def test_finance_cancels_at_period_end_after_a_confirmation(client: Client, finance_user: User) -> None:
    seat_plan()
    sub, _ = subscription_invoicing.subscription_create(
        customer=utc_customer(), plan_code="team", start=APR_1, quantity=Decimal(10)
    )
    url = reverse("admin:billing_subscription_cancel", args=(sub.pk,))
    c = logged_in(client, finance_user)
    data = {"when": "period_end", "at": "2026-04-16 00:00"}
    preview = c.post(url, {**data, "preview": "1"}).content.decode()
    assert (
        "Nothing is billed now." in preview and not Subscription.objects.get(pk=sub.pk).cancel_at_period_end
    )
    c.post(url, {**data, "confirm": "1", "previewed": digest_of(preview)})
    assert Subscription.objects.get(pk=sub.pk).cancel_at_period_end


def test_the_subscription_list_query_count_does_not_grow(client: Client, finance_user: User) -> None:
    seat_plan()
    c = logged_in(client, finance_user)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert c.get(changelist_url(Subscription)).status_code == 200
        return len(ctx)

    subscription_invoicing.subscription_create(customer=utc_customer("cus_1"), plan_code="team", start=APR_1)
    few = count()
    for i in range(2, 6):
        subscription_invoicing.subscription_create(
            customer=utc_customer(f"cus_{i}"), plan_code="team", start=APR_1
        )
    assert count() == few


def test_plan_pages_show_the_edit_link_to_finance(client: Client, finance_user: User) -> None:
    v1 = seat_plan()
    page = logged_in(client, finance_user).get(reverse("admin:billing_plan_change", args=(v1.plan_id,)))
    assert reverse("admin:billing_plan_edit_version", args=(v1.plan_id,)) in page.content.decode()
    assert Plan.objects.count() == 1


def test_a_403_is_the_admin_styled_page_and_logs_no_traceback(
    client: Client, support_user: User, caplog: pytest.LogCaptureFixture
) -> None:
    v1 = seat_plan()
    response = logged_in(client, support_user).get(
        reverse("admin:billing_plan_edit_version", args=(v1.plan_id,))
    )
    assert response.status_code == 403
    assert "Your role does not allow this page or action." in response.content.decode()
    assert "Ratecard billing" in response.content.decode()  # the admin's header, not Django's bare page
    forbidden = [
        r for r in caplog.records if r.name == "django.request" and getattr(r, "status_code", 0) == 403
    ]
    assert forbidden and all(r.exc_info is None for r in forbidden)


def test_the_header_has_no_view_site_link(client: Client, finance_user: User) -> None:
    assert "View site" not in logged_in(client, finance_user).get(reverse("admin:index")).content.decode()


def test_cancel_now_previews_the_final_invoice_then_issues_it(client: Client, finance_user: User) -> None:
    seat_plan()
    sub, _ = subscription_invoicing.subscription_create(
        customer=utc_customer(), plan_code="team", start=APR_1, quantity=Decimal(10)
    )
    url = reverse("admin:billing_subscription_cancel", args=(sub.pk,))
    c = logged_in(client, finance_user)
    data = {"when": "now", "at": "2026-04-16 00:00"}
    preview = c.post(url, {**data, "preview": "1"}).content.decode()
    # the unused half of 10 seats x 18.00 comes back as a negative proration line; usage up to then: none
    assert re.findall(r'<td class="money">([^<]+)</td>', preview) == ["-$90.00", "$0.00"]
    assert Subscription.objects.get(pk=sub.pk).status == "active" and Invoice.objects.count() == 1
    c.post(url, {**data, "confirm": "1", "previewed": digest_of(preview)})
    assert Subscription.objects.get(pk=sub.pk).status == "canceled"
    assert Invoice.objects.order_by("-pk").first().total == Decimal("-90.00")  # type: ignore[union-attr]
