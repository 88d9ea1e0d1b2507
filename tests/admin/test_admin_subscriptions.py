"""Subscriptions in the admin: the timeline of a subscription, read-only pages, the "Cancel at period end"
action for finance only, pending lines, and constant query counts.

Data is made through the services, as the API makes it: a customer, a plan, a subscription with a seat
change, and a billing run that bills the first period's end.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Customer
from accounts.services.customers import customer_create
from billing.admin.timeline import invoice_label, timeline_entries
from billing.models import ChangeKind, PendingLine, Plan, PlanVersion, Subscription
from billing.services.catalog import PlanDraft, PriceDraft, plan_create
from invoicing.models import BilledPeriod, Invoice
from invoicing.selectors import subscription_timeline
from invoicing.services import subscription_invoicing
from invoicing.services.billing_runs import billing_run_create, billing_run_execute
from tests.admin import change_url, changelist_url, logged_in

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
JAN_1 = datetime(2026, 1, 1, tzinfo=BERLIN)
JAN_16 = datetime(2026, 1, 16, tzinfo=BERLIN)
FEB_1 = datetime(2026, 2, 1, tzinfo=BERLIN)
ACTION = "cancel_at_period_end"


def make_team_plan(code: str = "team") -> PlanVersion:
    """$49.00 a month plus $18.00 a seat, both in advance."""
    return plan_create(
        draft=PlanDraft(
            code=code,
            name=code.title(),
            currency="USD",
            prices=(
                PriceDraft(code="base", model="flat", amount=Decimal("49.00")),
                PriceDraft(code="seats", model="per_unit", unit_amount=Decimal("18.00")),
            ),
        )
    )


def make_berlin_customer(external_id: str = "cus_berlin", name: str = "Berliner Bits") -> Customer:
    return customer_create(
        external_id=external_id,
        name=name,
        currency="USD",
        email=f"billing@{external_id}.test",
        timezone="Europe/Berlin",
    )


def subscribe(customer: Customer, plan_code: str = "team", seats: int = 10) -> Subscription:
    sub, _ = subscription_invoicing.subscription_create(
        customer=customer, plan_code=plan_code, start=JAN_1, quantity=Decimal(seats)
    )
    return sub


@pytest.fixture
def billed() -> Subscription:
    """Subscribed Jan 1 (Berlin) with 10 seats, 15 seats from Jan 16, billed by a run on Feb 1."""
    make_team_plan()
    sub = subscribe(make_berlin_customer())
    subscription_invoicing.subscription_change(
        subscription_id=sub.pk, at=JAN_16, proration="create_prorations", quantity=Decimal(15)
    )
    run = billing_run_create(as_of=FEB_1)
    billing_run_execute(run_id=run.pk)
    return Subscription.objects.get(pk=sub.pk)


def page(client: Client, user: User, sub: Subscription) -> str:
    response = logged_in(client, user).get(change_url(sub))
    assert response.status_code == 200
    return response.content.decode()


# --- the timeline -----------------------------------------------------------------------------------


def test_the_timeline_shows_the_seat_change_and_the_billed_period_with_its_invoice(
    client: Client, support_user: User, billed: Subscription
) -> None:
    record = BilledPeriod.objects.get(subscription=billed, reason="period")
    invoice = record.invoice
    content = page(client, support_user, billed)

    assert '<table class="ratecard-timeline">' in content
    assert "Times in Europe/Berlin" in content
    assert "Seat change" in content
    assert "seats 10 → 15" in content
    assert "Prorate on the next invoice · applied" in content
    # the billed period, in Berlin dates, with its invoice linked to the invoice's admin page
    assert "period 2026-01-01 \u2013 2026-02-01" in content
    invoice_url = reverse("admin:invoicing_invoice_change", args=(invoice.pk,))
    assert f'<a href="{invoice_url}">{invoice_label(invoice)}</a>' in content
    # the invoice's lines for this subscription: kind and amount (15 seats x 18.00 x 16/31 = 139.35)
    assert "Proration: $139.35" in content
    assert "Proration: -$92.90" in content


def test_the_timeline_is_in_time_order_and_labels_drafts(billed: Subscription) -> None:
    entries = timeline_entries(billed, subscription_timeline(subscription=billed))
    events = [e.event for e in entries]
    assert events[0] == "Created"
    assert events.index("Seat change") < len(events) - 1
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert events.count("Billed") == 2  # the first fees, then the end of the first period

    first = BilledPeriod.objects.get(subscription=billed, reason="initial").invoice
    assert invoice_label(first) == (first.number or f"draft #{first.pk}")
    draft = Invoice(pk=41, number=None)
    assert invoice_label(draft) == "draft #41"


def test_a_scheduled_cancellation_shows_as_scheduled(client: Client, support_user: User) -> None:
    make_team_plan()
    sub = subscribe(make_berlin_customer())
    subscription_invoicing.subscription_cancel(subscription_id=sub.pk, at="period_end")
    content = page(client, support_user, sub)
    assert "Cancellation</strong> <em>(scheduled)</em>" in content
    assert "at the period&#x27;s end · scheduled" in content
    assert "cancels at period end" in content


def test_a_change_and_a_cancel_scheduled_after_the_period_show_as_scheduled(
    client: Client, support_user: User
) -> None:
    make_team_plan()
    sub = subscribe(make_berlin_customer())
    march = datetime(2026, 3, 10, tzinfo=BERLIN)
    subscription_invoicing.subscription_change(
        subscription_id=sub.pk, at=march, proration="create_prorations", quantity=Decimal(12)
    )
    subscription_invoicing.subscription_cancel(
        subscription_id=sub.pk, at=datetime(2026, 4, 20, tzinfo=BERLIN)
    )
    content = page(client, support_user, sub)
    # the cancel drops the change: only the cancel waits
    assert "to the same plan" not in content
    assert "Cancellation</strong> <em>(scheduled)</em>" in content
    assert "2026-04-20" in content

    sub2 = subscribe(make_berlin_customer("cus_two", "Two"))
    subscription_invoicing.subscription_change(
        subscription_id=sub2.pk, at=march, proration="create_prorations", quantity=Decimal(12)
    )
    content = page(client, support_user, sub2)
    assert "Seat change</strong> <em>(scheduled)</em>" in content
    assert "to the same plan, 12 seats (Prorate on the next invoice)" in content


def test_the_subscription_page_shows_items_and_pending_lines(client: Client, finance_user: User) -> None:
    make_team_plan()
    sub = subscribe(make_berlin_customer())
    subscription_invoicing.subscription_change(
        subscription_id=sub.pk, at=JAN_16, proration="create_prorations", quantity=Decimal(15)
    )
    content = page(client, finance_user, sub)
    assert "$49.00 per month" in content  # an item's charge
    assert "$18.00 per unit" in content
    for line in PendingLine.objects.filter(subscription=sub):
        assert line.description in content
    assert "$139.35" in content and "-$92.90" in content


# --- read-only for everyone; the action for finance only --------------------------------------------


def test_support_views_a_subscription_but_cannot_post_or_cancel(
    client: Client, support_user: User, billed: Subscription
) -> None:
    client = logged_in(client, support_user)
    assert client.get(change_url(billed)).status_code == 200
    assert client.get(reverse("admin:billing_subscription_history", args=(billed.pk,))).status_code == 200
    response = client.post(change_url(billed), {"quantity": "99"})
    assert response.status_code == 403

    listing = client.get(changelist_url(Subscription))
    assert listing.status_code == 200
    assert listing.context["action_form"] is None
    assert ACTION not in listing.content.decode()

    # posting the action anyway does nothing
    client.post(
        changelist_url(Subscription),
        {"action": ACTION, "_selected_action": [billed.pk], "post": "yes"},
    )
    billed.refresh_from_db()
    assert billed.cancel_at_period_end is False


def test_nobody_edits_a_subscription_in_the_admin(
    client: Client, finance_user: User, billed: Subscription
) -> None:
    client = logged_in(client, finance_user)
    response = client.get(change_url(billed))
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert client.post(change_url(billed), {"quantity": "99"}).status_code == 403
    assert client.get(reverse("admin:billing_subscription_add")).status_code == 403
    assert client.get(reverse("admin:billing_subscription_delete", args=(billed.pk,))).status_code == 403
    billed.refresh_from_db()
    assert billed.quantity == 15


def test_finance_cancels_at_period_end_after_confirming(client: Client, finance_user: User) -> None:
    make_team_plan()
    subs = [subscribe(make_berlin_customer(f"cus_{i}", f"Customer {i}"), seats=i + 1) for i in range(2)]
    client = logged_in(client, finance_user)
    listing = client.get(changelist_url(Subscription))
    assert ACTION in dict(listing.context["action_form"].fields["action"].choices)

    selected = [s.pk for s in subs]
    confirm = client.post(changelist_url(Subscription), {"action": ACTION, "_selected_action": selected})
    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert "Customer 0 (cus_0)" in text and "Customer 1 (cus_1)" in text
    assert "ends at 2026-02-01 00:00 (Europe/Berlin)" in text
    assert not Subscription.objects.filter(cancel_at_period_end=True).exists()  # nothing yet

    done = client.post(
        changelist_url(Subscription), {"action": ACTION, "_selected_action": selected, "post": "yes"}
    )
    assert done.status_code == 302
    for sub in subs:
        sub.refresh_from_db()
        assert sub.cancel_at_period_end is True
        assert sub.cancel_at == FEB_1
        assert sub.changes.filter(kind=ChangeKind.CANCEL, applied=False, created_by=finance_user).exists()
    messages = [str(m) for m in get_messages(done.wsgi_request)]
    assert "2 subscriptions will cancel at the end of the current period." in messages


def test_the_cancel_action_reports_each_row_that_fails(client: Client, finance_user: User) -> None:
    make_team_plan()
    ok = subscribe(make_berlin_customer("cus_ok", "Okay Ltd"))
    gone = subscribe(make_berlin_customer("cus_gone", "Gone Ltd"))
    subscription_invoicing.subscription_cancel(
        subscription_id=gone.pk, at=JAN_16
    )  # canceled already: the service refuses

    response = logged_in(client, finance_user).post(
        changelist_url(Subscription),
        {"action": ACTION, "_selected_action": [ok.pk, gone.pk], "post": "yes"},
    )
    assert response.status_code == 302
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(m.startswith(f"#{gone.pk} Gone Ltd (cus_gone): not canceled.") for m in messages)
    assert "1 subscription will cancel at the end of the current period." in messages
    ok.refresh_from_db()
    assert ok.cancel_at_period_end is True


# --- the list: columns, search, filters, queries ----------------------------------------------------


def test_the_list_shows_customer_plan_status_seats_and_the_period_in_the_subscriptions_zone(
    client: Client, support_user: User, billed: Subscription
) -> None:
    content = logged_in(client, support_user).get(changelist_url(Subscription)).content.decode()
    assert "Berliner Bits (cus_berlin)" in content
    assert "team v1" in content
    assert 'class="ratecard-badge"' in content and ">Active</span>" in content
    assert '<td class="field-seats">15</td>' in content
    assert "2026-02-01 \u2013 2026-03-01" in content  # Berlin dates (UTC would say Jan 31 - Feb 28)


@pytest.mark.parametrize(
    ("query", "expected"),
    [("berliner", {"cus_berlin"}), ("cus_other", {"cus_other"}), ("@cus_other.test", {"cus_other"})],
)
def test_support_finds_a_subscription_by_its_customer(
    client: Client, support_user: User, query: str, expected: set[str]
) -> None:
    make_team_plan()
    subscribe(make_berlin_customer())
    subscribe(make_berlin_customer("cus_other", "Other GmbH"))
    response = logged_in(client, support_user).get(changelist_url(Subscription), {"q": query})
    assert {s.customer.external_id for s in response.context["cl"].result_list} == expected


def test_support_finds_a_subscription_by_its_id(client: Client, support_user: User) -> None:
    make_team_plan()
    first = subscribe(make_berlin_customer())
    subscribe(make_berlin_customer("cus_other", "Other GmbH"))
    client = logged_in(client, support_user)
    for query in (str(first.pk), f"#{first.pk}"):
        found = client.get(changelist_url(Subscription), {"q": query}).context["cl"].result_list
        assert [s.pk for s in found] == [first.pk]


def test_the_list_filters_by_status_plan_anchor_and_currency(client: Client, support_user: User) -> None:
    make_team_plan()
    make_team_plan("scale")
    team = subscribe(make_berlin_customer())
    scale = subscribe(make_berlin_customer("cus_scale", "Scale AG"), plan_code="scale")
    subscription_invoicing.subscription_cancel(subscription_id=scale.pk, at=JAN_16)
    client = logged_in(client, support_user)

    def found(**params: str) -> set[int]:
        response = client.get(changelist_url(Subscription), params)
        assert response.status_code == 200
        return {s.pk for s in response.context["cl"].result_list}

    assert found(status="canceled") == {scale.pk}
    assert found(plan_version__plan__id__exact=str(Plan.objects.get(code="team").pk)) == {team.pk}
    assert found(billing_anchor="anniversary") == {team.pk, scale.pk}
    assert found(currency="USD") == {team.pk, scale.pk}
    assert found(currency="EUR") == set()


def queries_for(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_the_list_runs_as_many_queries_for_30_subscriptions_as_for_3(
    client: Client, support_user: User
) -> None:
    make_team_plan()
    make_team_plan("scale")

    def add(start: int, stop: int) -> None:
        for i in range(start, stop):
            subscribe(make_berlin_customer(f"cus_{i}", f"Customer {i}"), "team" if i % 2 else "scale")

    client = logged_in(client, support_user)
    url = changelist_url(Subscription)
    add(0, 3)
    few = queries_for(client, url)
    add(3, 30)
    many = queries_for(client, url)
    assert few == many


def test_the_subscription_page_runs_as_many_queries_however_long_its_history(
    client: Client, support_user: User
) -> None:
    make_team_plan()
    make_team_plan("scale")
    sub = subscribe(make_berlin_customer())
    client = logged_in(client, support_user)
    url = change_url(sub)
    client.get(url)  # warm the session and content types
    short = queries_for(client, url)

    subscription_invoicing.subscription_change(
        subscription_id=sub.pk, at=JAN_16, proration="create_prorations", quantity=Decimal(12)
    )
    subscription_invoicing.subscription_change(
        subscription_id=sub.pk, at="period_end", proration="none", plan_code="scale"
    )
    for as_of in (FEB_1, datetime(2026, 3, 1, tzinfo=BERLIN), datetime(2026, 4, 1, tzinfo=BERLIN)):
        billing_run_execute(run_id=billing_run_create(as_of=as_of).pk)
    assert BilledPeriod.objects.filter(subscription=sub).count() >= 4
    assert queries_for(client, url) == short


# --- pending lines ----------------------------------------------------------------------------------


def test_pending_lines_are_listed_read_only_with_their_amount_and_currency(
    client: Client, support_user: User, finance_user: User
) -> None:
    make_team_plan()
    sub = subscribe(make_berlin_customer())
    subscription_invoicing.subscription_change(
        subscription_id=sub.pk, at=JAN_16, proration="create_prorations", quantity=Decimal(15)
    )
    line = PendingLine.objects.filter(subscription=sub).order_by("amount").first()
    assert line is not None

    response = logged_in(client, support_user).get(changelist_url(PendingLine), {"invoiced": "no"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "Berliner Bits (cus_berlin)" in content
    assert f"#{sub.pk}" in content
    assert "-$92.90" in content and "$139.35" in content

    client = logged_in(client, finance_user)
    assert client.get(change_url(line)).status_code == 200
    assert client.post(change_url(line), {"amount": "0"}).status_code == 403
    assert client.get(reverse("admin:billing_pendingline_add")).status_code == 403
