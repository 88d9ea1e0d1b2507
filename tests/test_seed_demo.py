"""``manage.py seed_demo``: the Meshwork demo data set, idempotent, with working staff logins and six
months of history run through the billing code."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db.models import Count, Sum
from django.test import Client
from django.utils import timezone

from accounts.models import Customer
from billing.demo import (
    CUSTOMER_COUNT,
    DEMO_LOGINS,
    SUPERUSER,
    customer_specs,
    demo_summary,
    demo_today,
    seed_demo,
)
from billing.demo.stories import Member, plan_stories
from billing.models import (
    BillableMetric,
    Coupon,
    Entitlement,
    Plan,
    PlanVersion,
    Price,
    PriceTier,
    Product,
    Subscription,
    SubscriptionChange,
    UsageEvent,
)
from billing.services.usage import customer_usage_by_metric
from invoicing.models import BillingRun, CreditNote, Invoice, InvoiceLine, Payment
from invoicing.services.documents import document_year

TODAY = datetime(2026, 3, 1, tzinfo=UTC)  # a fixed history that crosses a year: two invoice sequences
HISTORY = 24  # customers with a history in these tests (20 is the least that holds every story)


@pytest.fixture(autouse=True)
def fast_hasher(settings: Any) -> None:
    # The seed hashes four passwords per run; PBKDF2 would dominate the test's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def no_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each finalized invoice's PDF is rendered after commit (WeasyPrint, ~0.2 s); tests/invoicing covers it.
    monkeypatch.setattr("invoicing.services.invoice_documents.invoice_pdf", lambda **kwargs: b"%PDF-1.7 test")


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            Customer,
            Product,
            Plan,
            PlanVersion,
            Price,
            PriceTier,
            Entitlement,
            BillableMetric,
            Coupon,
            User,
            Subscription,
            SubscriptionChange,
            Invoice,
            InvoiceLine,
            Payment,
            CreditNote,
            BillingRun,
            UsageEvent,
        )
    }


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_seeding_twice_changes_nothing_the_second_time(db: Any, no_pdf: None) -> None:
    first_output = run_command(
        "--customers", "30", "--history-customers", str(HISTORY), "--today", "2026-03-01"
    )
    after_first = counts()
    hashes = dict(User.objects.values_list("username", "password"))
    assert after_first["Subscription"] == HISTORY
    assert after_first["Invoice"] > HISTORY and after_first["Payment"] and after_first["CreditNote"] == 1
    prefixes = {
        str(n).rpartition("-")[0]
        for n in Invoice.objects.exclude(number=None).values_list("number", flat=True)
    }
    assert prefixes == {"INV-2025", "INV-2026"}  # numbered per year of issue, whatever today is

    second = seed_demo(customers=30, history_customers=HISTORY)  # another "today": skipped all the same

    assert counts() == after_first
    assert dict(User.objects.values_list("username", "password")) == hashes  # no password rehashed
    assert not second.created_anything
    assert second.history is None and second.history_skipped
    again = run_command("--customers", "30", "--history-customers", str(HISTORY), "--port", "8101")
    assert "nothing to create" in again
    assert "http://127.0.0.1:8101/admin/" in again and ":8000" not in again  # make demo PORT=8101
    assert counts() == after_first
    assert "Demo data seeded" in first_output
    assert "History up to 2026-03-01" in first_output
    assert re.search(r"Subscriptions: .*\d+ active.*\d+ canceled", first_output)
    assert re.search(r"Billed: EUR [\d,.]+, USD [\d,.]+", first_output)
    assert "http://127.0.0.1:8000/admin/" in first_output
    for login in DEMO_LOGINS:
        assert login.username in first_output and login.password in first_output


def issued(invoices: Any) -> Any:
    return invoices.filter(status__in=["open", "paid", "uncollectible"])


def test_the_history_is_a_living_business_billed_by_the_billing_code(db: Any, no_pdf: None) -> None:
    # the demo's default: a history that ends today (run the suite under faketime to try other days)
    before = demo_today()
    report = seed_demo(customers=30, history_customers=HISTORY)
    history = report.history
    assert history is not None
    today = history.today
    assert today in (before, demo_today())  # the seed may run past midnight UTC
    assert (history.subscriptions, history.cancellations, history.credit_notes, history.voided) == (
        HISTORY,
        6,
        1,
        1,
    )
    # Enterprise customers are on contracts (30 days net, by transfer): never among the card payers whose
    # cards fail, so on some days the last five weeks hold one small card invoice fewer to decline
    assert 2 <= history.failed_payments <= 4 and history.one_off_charges == 1 and history.changes == 6

    # subscriptions in every state: five running trials, six cancellations, past due after dunning
    statuses = dict(Subscription.objects.values_list("status").annotate(n=Count("id")))
    assert statuses["trialing"] == 5 and statuses["canceled"] == 6
    assert statuses["active"] >= 8 and statuses.get("past_due", 0) >= 1
    for sub in Subscription.objects.filter(status="trialing"):
        assert sub.trial_end is not None and today - timedelta(days=21) < sub.started_at < sub.trial_end
        assert sub.trial_end > today
    assert Subscription.objects.filter(started_at__lt=today - timedelta(days=182)).exists()
    assert Subscription.objects.filter(
        customer__currency="EUR", plan_version__plan__code__endswith="-eur"
    ).exists()
    assert (
        not Subscription.objects.filter(customer__currency="EUR")
        .exclude(plan_version__currency="EUR")
        .exists()
    )
    assert Subscription.objects.filter(plan_version__plan__code__startswith="personal").count() >= 6
    assert Subscription.objects.filter(coupon__code="launch20").count() == 3

    # invoices in every state, numbered without gaps per year, and their arithmetic holds
    invoices = Invoice.objects.all()
    by_status = dict(invoices.values_list("status").annotate(n=Count("id")))
    assert by_status["paid"] > by_status["open"] >= 3 and by_status["void"] == 1
    numbers: dict[str, list[int]] = defaultdict(list)
    for number in invoices.exclude(number=None).values_list("number", flat=True):
        prefix, _, value = str(number).rpartition("-")
        numbers[prefix].append(int(value))
    issued_years = {
        document_year(at) for at in invoices.values_list("issued_at", flat=True) if at is not None
    }
    assert set(numbers) == {f"INV-{year}" for year in issued_years}
    for values in numbers.values():
        assert sorted(values) == list(range(1, len(values) + 1))
    for invoice in issued(invoices):
        assert invoice.total == invoice.subtotal + invoice.tax, invoice.number
        assert invoice.amount_due == invoice.total - invoice.credits_applied - invoice.amount_paid, (
            invoice.number
        )
        paid = invoice.payments.filter(status="succeeded").aggregate(s=Sum("amount"))["s"] or Decimal(0)
        assert paid == invoice.amount_paid, invoice.number
        lines = invoice.lines.aggregate(a=Sum("amount"), t=Sum("tax"))
        assert (lines["a"], lines["t"]) == (invoice.subtotal, invoice.tax), invoice.number
    assert issued(invoices).filter(issued_at__lt=today - timedelta(days=40), status="paid").count() > 20

    # what the stories left on the invoices
    kinds = set(InvoiceLine.objects.values_list("kind", flat=True))
    assert {"subscription", "usage", "proration", "discount", "one_off"} <= kinds
    assert (
        Invoice.objects.filter(group_key__startswith="change-").count() == 2
    )  # two upgrades, invoiced at once
    assert Invoice.objects.filter(
        group_key__startswith="cancel:"
    ).exists()  # canceled at once, unused time credited
    assert InvoiceLine.objects.filter(
        kind="usage", amount__gt=0
    ).exists()  # relay traffic above what is included

    # past due: payments failed, dunning under way or done
    past_due = Invoice.objects.filter(status="open", payment_failed_at__isnull=False)
    assert past_due.count() == history.failed_payments
    assert past_due.filter(dunning_step__gte=1).count() >= 2
    assert past_due.filter(dunning_step=3).exists()

    # one partial credit note on a paid invoice; the customer's next invoice used the credit
    note = CreditNote.objects.get()
    assert note.invoice.status == "paid" and 0 < note.amount < note.invoice.total
    assert note.number.startswith("CN-")
    assert Invoice.objects.filter(customer=note.customer, credits_applied__gt=0).exists()

    # usage through the ingestion code: every metric, weekdays busier than weekends, users within seats
    assert set(UsageEvent.objects.values_list("metric__code", flat=True).distinct()) == {
        "active_users",
        "devices",
        "relay_gb",
    }
    relay_by_weekday: dict[bool, Decimal] = defaultdict(Decimal)
    for at, gb in UsageEvent.objects.filter(metric__code="relay_gb").values_list("timestamp", "value"):
        relay_by_weekday[at.weekday() < 5] += gb or Decimal(0)
    assert relay_by_weekday[True] / 5 > 2 * relay_by_weekday[False] / 2
    month = (today - timedelta(days=31)).replace(day=1)
    for sub in Subscription.objects.filter(status="active", plan_version__plan__code__startswith="starter"):
        if sub.started_at < month - timedelta(days=30):
            usage = dict(customer_usage_by_metric(customer_id=sub.customer_id, start=month, end=today))
            assert 0 < usage["active_users"] <= sub.quantity
            assert usage["relay_gb"] > 0 and usage["devices"] > 0

    # it ends today: periods billed up to today, open invoices not due yet but for the customers whose
    # card failed (in dunning), usage sent up to today
    assert BillingRun.objects.filter(as_of__lte=today).count() == BillingRun.objects.count() > 0
    for sub in Subscription.objects.exclude(status="canceled"):
        assert sub.current_period_end > today, (sub.customer.external_id, sub.current_period_end)
    still_open = Invoice.objects.filter(status="open")
    now = timezone.now()
    failed_cards = set(still_open.exclude(payment_failed_at=None).values_list("customer_id", flat=True))
    overdue = set(still_open.filter(due_at__lt=now).values_list("customer_id", flat=True))
    assert overdue == failed_cards and len(failed_cards) == history.failed_payments
    latest = UsageEvent.objects.order_by("-timestamp").values_list("timestamp", flat=True)[0]
    assert today - timedelta(days=1) <= latest < today
    assert not UsageEvent.objects.filter(timestamp__gte=today).exists()

    summary = demo_summary()
    assert summary.subscriptions == statuses
    assert set(summary.billed) == {"USD", "EUR"} and all(v > 0 for v in summary.billed.values())
    assert summary.credit_notes == 1 and summary.past_due == history.failed_payments


def test_the_stories_are_deterministic_and_hold_the_mix() -> None:
    members = [Member(spec.external_id, spec.currency) for spec in customer_specs(80)]
    stories = plan_stories(members, today=TODAY)

    assert stories == plan_stories(members, today=TODAY)
    plans: dict[str, int] = defaultdict(int)
    for story in stories:
        plans[story.plan] += 1
        assert story.start < TODAY and story.start >= TODAY - timedelta(days=214)
        assert story.plan_code.endswith("-eur") == (story.currency == "EUR")
        assert all(story.start < step.at < TODAY for step in story.steps)
    assert 0.35 <= plans["personal"] / 80 <= 0.45 and 0.25 <= plans["starter"] / 80 <= 0.35
    assert plans["premium"] >= 10 and plans["enterprise"] >= 2 and plans["personal-plus"] >= 6
    assert sum(1 for s in stories if s.role == "trial") == 5
    with pytest.raises(ValueError):
        plan_stories(members[:10], today=TODAY)


def test_demo_today_is_the_current_day_in_utc() -> None:
    assert demo_today(datetime(2026, 5, 17, 15, 30, tzinfo=UTC)) == datetime(2026, 5, 17, tzinfo=UTC)
    assert demo_today(datetime(2026, 12, 31, 23, 30, tzinfo=ZoneInfo("America/New_York"))) == datetime(
        2027, 1, 1, tzinfo=UTC
    )


def test_creates_about_200_customers_in_usd_and_eur_with_matching_time_zones(db: Any) -> None:
    report = seed_demo(history_customers=0)

    assert report.customers == CUSTOMER_COUNT == Customer.objects.count() == report.customers_total
    assert report.history is None and not Subscription.objects.exists()
    currencies = dict.fromkeys(("USD", "EUR"), 0)
    for customer in Customer.objects.all():
        currencies[customer.currency] += 1
        assert customer.email.endswith("@" + customer.domain)
        assert customer.country and customer.city and customer.address_line1
        if customer.currency == "EUR":
            assert customer.timezone.startswith("Europe/")
    assert set(currencies) == {"USD", "EUR"}
    assert 0.6 < currencies["USD"] / CUSTOMER_COUNT < 0.9
    assert Customer.objects.filter(timezone="America/New_York").exists()
    assert Customer.objects.filter(timezone="America/Los_Angeles").exists()
    assert Customer.objects.filter(billing_anchor="calendar").exists()
    assert Customer.objects.filter(billing_anchor="anniversary").exists()
    assert Customer.objects.filter(net_terms_days=30).exists()
    assert len(set(Customer.objects.values_list("name", flat=True))) == CUSTOMER_COUNT
    assert Customer.objects.get(external_id="cus_0001").name == customer_specs()[0].name


def test_the_customer_list_is_deterministic() -> None:
    assert customer_specs() == customer_specs()
    assert customer_specs(30) == customer_specs()[:30]


def test_staff_users_are_in_their_groups_and_can_log_in(db: Any) -> None:
    seed_demo(customers=5)

    for login in DEMO_LOGINS:
        user = User.objects.get(username=login.username)
        assert user.is_staff
        if login.role == SUPERUSER:
            assert user.is_superuser
        else:
            assert not user.is_superuser
            assert list(user.groups.values_list("name", flat=True)) == [login.role]
            assert Group.objects.get(name=login.role).permissions.exists()
        assert Client().login(username=login.username, password=login.password)

    client = Client()
    finance = next(login for login in DEMO_LOGINS if login.username == "finance")
    assert client.login(username=finance.username, password=finance.password)
    assert client.get("/admin/").status_code == 200


def test_an_existing_staff_user_gets_its_demo_password_back(db: Any) -> None:
    seed_demo(customers=5)
    user = User.objects.get(username="sales")
    user.set_password("something-else")
    user.save()

    seed_demo(customers=5)

    assert User.objects.filter(username="sales").count() == 1
    assert Client().login(username="sales", password="sales-demo")


def features(plan_code: str) -> dict[str, Any]:
    version = PlanVersion.objects.filter(plan__code=plan_code).order_by("-version").first()
    assert version is not None
    return {e.feature.key: e.value for e in version.entitlements.select_related("feature")}


def test_catalog_plans_prices_and_features(db: Any) -> None:
    seed_demo(customers=1)

    assert features("personal") == {"max_users": 3, "max_devices": 100, "sso": False}
    assert features("premium")["sso"] is True
    assert features("starter")["max_users"] is None

    plans = {p.code: p for p in Plan.objects.select_related("product")}
    assert {"personal", "personal-plus", "starter", "premium", "enterprise"} <= set(plans)
    assert {"starter-eur", "premium-eur"} <= set(plans)
    assert all(p.product is not None and p.product.code == "meshwork" for p in plans.values())

    starter = Price.objects.get(plan_version__plan__code="starter", code="seats")
    assert (starter.model, starter.billing, starter.unit_amount) == (
        "per_unit",
        "in_advance",
        Decimal("6.00"),
    )
    assert starter.plan_version.currency == "USD"
    premium_eur = Price.objects.get(plan_version__plan__code="premium-eur", code="seats")
    assert premium_eur.unit_amount == Decimal("16.50")
    assert premium_eur.plan_version.currency == "EUR"
    relay = Price.objects.get(plan_version__plan__code="starter", code="relay")
    assert relay.metric is not None and relay.metric.code == "relay_gb"
    assert [(t.up_to, t.unit_amount) for t in relay.tiers.all()] == [
        (Decimal(100), Decimal(0)),
        (None, Decimal("0.05")),
    ]

    metrics = {m.code: (m.aggregation, m.field_name) for m in BillableMetric.objects.all()}
    assert metrics == {
        "active_users": ("unique_count", "user_id"),
        "devices": ("max", "devices"),
        "relay_gb": ("sum", "gb"),
    }
    launch = Coupon.objects.get(code="launch20")
    assert (launch.percent_off, launch.duration, launch.duration_in_months) == (Decimal(20), "repeating", 3)


def test_demo_limits_are_measured_by_their_metrics(db: Any) -> None:
    from billing.demo.catalog import seed_metrics, seed_plans, seed_product
    from billing.models import Feature

    seed_product()
    seed_metrics()
    seed_plans()
    measured = dict(Feature.objects.filter(metric__isnull=False).values_list("key", "metric__code"))
    assert measured == {"max_users": "active_users", "max_devices": "devices"}
