"""Accepted usage always lands on a live customer; a customer with usage, subscriptions or invoices is
archived, never deleted; sales deletes nobody."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Customer
from accounts.services.customers import customer_create, customer_remove
from billing.models import UsageEvent
from billing.services.usage_ingest import lookups, usage_events_ingest
from billing.services.usage_schema import EventIn
from config.errors import Conflict, ValidationFailed
from invoicing.models import Invoice
from invoicing.services.billing_runs import billing_run_create, billing_run_execute

pytestmark = pytest.mark.django_db

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
D = Decimal


def requests_event(event_id: str, n: int, at: datetime) -> EventIn:
    return EventIn(
        event_id=event_id, customer="acme", metric="requests", timestamp=at, properties={"n": D(n)}
    )


def test_an_event_for_a_re_created_customer_is_billed_to_it(api: APIClient, metered_catalog: None) -> None:
    first = customer_create(external_id="acme", name="Acme", currency="USD")
    lookups.customer_ids({"acme"})  # an earlier batch of this process cached acme's id
    assert customer_remove(customer=first) == "deleted"  # nothing referred to it yet
    assert (
        api.post(
            "/api/v1/customers",
            {"external_id": "acme", "name": "Acme again", "currency": "USD"},
            format="json",
        ).status_code
        == 201
    )
    second = Customer.objects.get(external_id="acme")
    body = {"customer": "acme", "plan": "api", "start": JAN.isoformat()}
    assert api.post("/api/v1/subscriptions", body, format="json").status_code == 201

    for index in range(6):  # the audit's 6 events: every one for the customer that exists now
        usage_events_ingest(events=[requests_event(f"e{index}", 1000, JAN + timedelta(days=index))], now=FEB)

    assert set(UsageEvent.objects.values_list("customer_id", flat=True)) == {second.pk}
    billing_run_execute(run_id=billing_run_create(as_of=FEB).pk)
    line = Invoice.objects.get(customer=second, billing_date=FEB).lines.get(kind="usage")
    assert (line.quantity, line.amount) == (D("6000"), D("2.40"))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the foreign keys are PostgreSQL's")
def test_the_database_refuses_an_event_for_a_customer_that_does_not_exist(metered_catalog: None) -> None:
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_usageevent (customer_id, metric_id, event_id, timestamp, properties)"
            " SELECT 987654, id, 'x', now(), '{}' FROM billing_billablemetric LIMIT 1"
        )


def test_an_unknown_customer_is_refused_even_when_a_dead_id_was_cached(metered_catalog: None) -> None:
    gone = customer_create(external_id="acme", name="Acme", currency="USD")
    lookups.customer_ids({"acme"})
    customer_remove(customer=gone)
    with pytest.raises(ValidationFailed) as refused:
        usage_events_ingest(events=[requests_event("e1", 5, JAN)], now=FEB)
    assert refused.value.field == "events[0].customer"
    assert UsageEvent.objects.count() == 0


def test_a_customer_with_usage_is_archived_not_deleted(metered_catalog: None) -> None:
    acme = customer_create(external_id="acme", name="Acme", currency="USD")
    usage_events_ingest(events=[requests_event("e1", 5, JAN)], now=FEB)

    assert customer_remove(customer=acme) == "archived"

    acme.refresh_from_db()
    assert acme.archived_at is not None
    assert UsageEvent.objects.filter(customer=acme).count() == 1
    assert customer_remove(customer=acme) == "archived"  # again: nothing changes
    with pytest.raises(ValidationFailed) as taken:  # its external id is never reused
        customer_create(external_id="acme", name="Other", currency="USD")
    assert taken.value.field == "external_id"
    assert "archived" in taken.value.message


def test_a_customer_whose_subscription_still_bills_is_neither_deleted_nor_archived(
    api: APIClient, metered_catalog: None
) -> None:
    acme = customer_create(external_id="acme", name="Acme", currency="USD")
    body = {"customer": "acme", "plan": "api", "start": JAN.isoformat()}
    assert api.post("/api/v1/subscriptions", body, format="json").status_code == 201
    with pytest.raises(Conflict):
        customer_remove(customer=acme)
    acme.refresh_from_db()
    assert acme.archived_at is None


def test_admin_delete_of_a_customer_with_invoices_archives_it_after_asking(
    client: Client, finance_user: User, api: APIClient, metered_catalog: None
) -> None:
    acme = customer_create(external_id="acme", name="Acme", currency="USD")
    body = {"customer": "acme", "plan": "api", "start": JAN.isoformat()}
    response = api.post("/api/v1/subscriptions", body, format="json")
    assert (
        api.post(
            f"/api/v1/subscriptions/{response.json()['id']}/cancel", {"at": JAN.isoformat()}, format="json"
        ).status_code
        == 200
    )
    assert Invoice.objects.filter(customer=acme).exists()
    client.force_login(finance_user)
    url = f"/admin/accounts/customer/{acme.pk}/delete/"

    page = client.get(url)
    assert page.status_code == 200
    assert "cannot be deleted" in page.content.decode()
    assert "Yes, archive it" in page.content.decode()

    done = client.post(url, {"post": "yes"}, follow=True)
    assert "was archived, not deleted" in done.content.decode()
    acme.refresh_from_db()
    assert acme.archived_at is not None


def test_admin_delete_of_a_customer_nothing_refers_to_deletes_it(client: Client, finance_user: User) -> None:
    lone = customer_create(external_id="lone", name="Lone", currency="USD")
    client.force_login(finance_user)
    client.post(f"/admin/accounts/customer/{lone.pk}/delete/", {"post": "yes"})
    assert not Customer.objects.filter(pk=lone.pk).exists()


def test_sales_may_delete_no_customer(client: Client, sales_user: User) -> None:
    lone = customer_create(external_id="lone", name="Lone", currency="USD")
    assert not sales_user.has_perm("accounts.delete_customer")
    assert sales_user.has_perm("accounts.change_customer")
    client.force_login(sales_user)
    assert client.post(f"/admin/accounts/customer/{lone.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Customer.objects.filter(pk=lone.pk).exists()
    listing = client.get("/admin/accounts/customer/")
    assert "remove_selected" not in listing.content.decode()


def test_the_api_shows_when_a_customer_was_archived(api: APIClient, metered_catalog: None) -> None:
    acme = customer_create(external_id="acme", name="Acme", currency="USD")
    usage_events_ingest(events=[requests_event("e1", 5, JAN)], now=FEB)
    customer_remove(customer=acme)
    assert api.get("/api/v1/customers/acme").json()["archived_at"] is not None
