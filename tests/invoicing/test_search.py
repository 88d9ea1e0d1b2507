"""GET /api/v1/search and the selector behind it: what one box finds, in which order, for whom."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import Customer
from accounts.roles import INTEGRATION
from invoicing.models import Invoice
from invoicing.selectors.search import Tier, _one_column, search
from invoicing.services.finalization import invoice_finalize
from tests.conftest import client_for, make_staff
from tests.invoicing.factories import FEB_1, document_no, make_customer, make_draft

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> dict[str, Any]:
    acme = make_customer(
        "acme-001", name="Acme Rockets GmbH", email="billing@acme-rockets.test", domain="acme-rockets.test"
    )
    Customer.objects.filter(pk=acme.pk).update(stripe_customer_id="cus_Q9zStripeAcme")
    acmes = make_customer("acmes-2", name="Acmes Tools", email="ap@tools.test", domain="tools.test")
    roadrunner = make_customer(
        "rr-9", name="Road Runner Delivery", email="beep@acme.test", domain="roadrunner.test"
    )
    invoice = invoice_finalize(invoice_id=make_draft(roadrunner, billing_date=FEB_1).pk, at=FEB_1)
    return {"acme": acme, "acmes": acmes, "roadrunner": roadrunner, "invoice": invoice}


def labels(q: str) -> list[tuple[str, str, int]]:
    return [(hit.kind, hit.customer, hit.tier) for hit in search(q=q)]


def test_a_customer_is_found_by_each_of_its_identifiers(people: dict[str, Any]) -> None:
    for q in (
        "Acme Rockets GmbH",
        "billing@acme-rockets.test",
        "acme-rockets.test",
        "ACME-001",
        "cus_Q9zStripeAcme",
    ):
        assert labels(q)[0] == ("customer", "acme-001", Tier.EXACT), q


def test_whole_matches_come_before_prefixes_and_parts_only_when_nothing_starts_with_the_text(
    people: dict[str, Any],
) -> None:
    # "acmes tools" is a whole name; "acme rockets" starts with "acme"; "beep@acme.test" only contains it
    assert labels("acmes tools") == [("customer", "acmes-2", Tier.EXACT)]
    # within a tier, the shortest matching value first: external ids "acmes-2", then "acme-001"
    assert labels("acme") == [("customer", "acmes-2", Tier.PREFIX), ("customer", "acme-001", Tier.PREFIX)]
    assert labels("runner") == [("customer", "rr-9", Tier.CONTAINS)]
    assert labels("zzz-nobody") == []


def test_an_invoice_is_found_by_its_number_or_a_part_of_it(people: dict[str, Any]) -> None:
    number = people["invoice"].number
    assert number == document_no("INV", people["invoice"].issued_at, 1)
    whole = search(q=number.lower())
    assert [(h.kind, h.customer, h.tier, h.invoice_id) for h in whole] == [
        ("invoice", "rr-9", Tier.EXACT, people["invoice"].pk)
    ]
    assert whole[0].label == f"{number} · Road Runner Delivery"
    assert whole[0].detail == "Open · total $100.00 · due $100.00"
    assert [(h.invoice_id, h.tier) for h in search(q=number[-6:])] == [
        (people["invoice"].pk, Tier.SUFFIX)
    ]  # "000001"
    assert [(h.invoice_id, h.tier) for h in search(q=number[4:11])] == [
        (people["invoice"].pk, Tier.CONTAINS)
    ]  # "2026-00"
    assert search(q="NV-2") == []  # letters are only at a number's start: no "contains" lookup
    assert [h.tier for h in search(q=number[:6])] == [Tier.PREFIX]  # "INV-20"


def test_drafts_have_no_number_and_are_not_found(people: dict[str, Any]) -> None:
    make_draft(people["acme"])
    assert [h.kind for h in search(q="draft")] == []


def test_search_api_shape_and_links(people: dict[str, Any], support_api: APIClient) -> None:
    invoice = people["invoice"]
    response = support_api.get("/api/v1/search", {"q": invoice.number})
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {
                "type": "invoice",
                "customer": "rr-9",
                "label": f"{invoice.number} · Road Runner Delivery",
                "detail": "Open · total $100.00 · due $100.00",
                "url": f"http://testserver/admin/customers/{people['roadrunner'].pk}/?invoice={invoice.pk}#invoice-{invoice.pk}",
            }
        ]
    }
    first = support_api.get("/api/v1/search?q=acme&limit=1").json()["results"]
    assert [(r["type"], r["customer"], r["url"]) for r in first] == [
        ("customer", "acme-001", f"http://testserver/admin/customers/{people['acme'].pk}/")
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "q"),
        ("q=", "q"),
        ("q=%20%20", "q"),
        ("q=" + "x" * 201, "q"),
        ("q=acme&limit=0", "limit"),
        ("q=acme&limit=x", "limit"),
    ],
)
def test_bad_search_input_is_400_naming_the_field(support_api: APIClient, query: str, field: str) -> None:
    response = support_api.get(f"/api/v1/search?{query}")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_every_staff_role_searches_the_integration_role_does_not(
    people: dict[str, Any], finance_api: APIClient, sales_api: APIClient, support_api: APIClient
) -> None:
    for api in (finance_api, sales_api, support_api, client_for(make_staff("root", None, superuser=True))):
        assert api.get("/api/v1/search?q=acme").status_code == 200
    assert client_for(make_staff("product", INTEGRATION)).get("/api/v1/search?q=acme").status_code == 403
    assert APIClient().get("/api/v1/search?q=acme").status_code in (401, 403)


def test_postgres_answers_from_the_search_indexes(people: dict[str, Any]) -> None:
    """With sequential scans off (the tables are tiny here), each tier's query uses its index."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    prefix = _one_column(Invoice.objects.only("id"), "number", Tier.PREFIX, "INV-2", 5).explain()
    contains = _one_column(Customer.objects.only("id"), "name", Tier.CONTAINS, "ROCKET", 5).explain()
    suffix = _one_column(Invoice.objects.only("id"), "number", Tier.SUFFIX, "0001", 5).explain()
    assert "invoicing_invoice_number_search_key" in prefix
    assert "invoicing_invoice_number_search_rev" in suffix
    assert "accounts_customer_name_search_trgm" in contains
