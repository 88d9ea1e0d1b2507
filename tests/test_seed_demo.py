"""``manage.py seed_demo``: the Meshwork demo data set, idempotent, with working staff logins."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client

from accounts.models import Customer
from billing.demo import CUSTOMER_COUNT, DEMO_LOGINS, SUPERUSER, customer_specs, seed_demo
from billing.models import BillableMetric, Coupon, Entitlement, Plan, PlanVersion, Price, PriceTier, Product


@pytest.fixture(autouse=True)
def fast_hasher(settings: Any) -> None:
    # The seed hashes four passwords per run; PBKDF2 would dominate the test's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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
        )
    }


def run_command() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seeding_twice_changes_nothing_the_second_time(db: Any) -> None:
    first_output = run_command()
    after_first = counts()
    hashes = dict(User.objects.values_list("username", "password"))

    second = seed_demo()

    assert counts() == after_first
    assert dict(User.objects.values_list("username", "password")) == hashes  # no password rehashed
    assert not second.created_anything
    assert "nothing to create" in run_command()
    assert "Demo data seeded" in first_output
    assert "http://127.0.0.1:8000/admin/" in first_output
    for login in DEMO_LOGINS:
        assert login.username in first_output and login.password in first_output


def test_creates_about_200_customers_in_usd_and_eur_with_matching_time_zones(db: Any) -> None:
    report = seed_demo()

    assert report.customers == CUSTOMER_COUNT == Customer.objects.count() == report.customers_total
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


def test_staff_users_are_in_their_groups_and_can_log_in(db: Any) -> None:
    seed_demo()

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
    seed_demo()
    user = User.objects.get(username="sales")
    user.set_password("something-else")
    user.save()

    seed_demo()

    assert User.objects.filter(username="sales").count() == 1
    assert Client().login(username="sales", password="sales-demo")


def features(plan_code: str) -> dict[str, Any]:
    version = PlanVersion.objects.filter(plan__code=plan_code).order_by("-version").first()
    assert version is not None
    return {e.feature.key: e.value for e in version.entitlements.select_related("feature")}


def test_catalog_plans_prices_and_features(db: Any) -> None:
    seed_demo()

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
