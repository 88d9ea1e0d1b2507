"""Documents issued at wall-clock time, with the clock frozen: the year of the number is the year of issue.

The rest of the suite never depends on today's date (fixed business times, or expectations built from a
document's own time). This file pins the wall-clock path on fixed dates: the day after a New Year (an
``INV-2026-…`` expectation written in 2026 would fail here), and the turn of the due date.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from rest_framework.test import APIClient

from invoicing.services.credit_notes import credit_note_create
from invoicing.services.finalization import invoice_finalize
from tests.invoicing.factories import make_customer, make_draft, subscription_line

pytestmark = pytest.mark.django_db

NEW_YEAR = datetime(2027, 1, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def new_year() -> Iterator[datetime]:
    """The wall clock stands still on 2 January 2027, 10:00 UTC."""
    with time_machine.travel(NEW_YEAR, tick=False):
        yield NEW_YEAR


def test_a_finalize_without_a_time_is_numbered_in_the_year_of_the_clock(new_year: datetime) -> None:
    last_year = invoice_finalize(
        invoice_id=make_draft(make_customer()).pk, at=datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    )
    now = invoice_finalize(invoice_id=make_draft(make_customer()).pk)
    again = invoice_finalize(invoice_id=make_draft(make_customer()).pk)

    assert last_year.number == "INV-2026-000001"
    assert (now.number, now.issued_at, now.due_at) == (
        "INV-2027-000001",
        new_year,
        new_year + timedelta(days=30),  # net 30
    )
    assert again.number == "INV-2027-000002"


def test_a_credit_note_without_a_time_is_numbered_in_the_year_of_the_clock(new_year: datetime) -> None:
    invoice = invoice_finalize(
        invoice_id=make_draft(make_customer(), lines=[subscription_line("120.00")]).pk,
        at=datetime(2026, 12, 20, tzinfo=UTC),
    )
    note = credit_note_create(invoice_id=invoice.pk, amount=Decimal("20.00"), reason="Outage")

    assert (invoice.number, note.number, note.issued_at) == ("INV-2026-000001", "CN-2027-000001", new_year)


def test_the_api_finalizes_and_credits_at_the_wall_clock(new_year: datetime, api: APIClient) -> None:
    draft = make_draft(make_customer("cus_clock"), lines=[subscription_line("120.00")])

    finalized = api.post(f"/api/v1/invoices/{draft.pk}/finalize", format="json")
    assert finalized.status_code == 200, finalized.json()
    body = finalized.json()
    assert (body["number"], body["issued_at"], body["due_at"], body["past_due"]) == (
        "INV-2027-000001",
        "2027-01-02T10:00:00Z",
        "2027-02-01T10:00:00Z",
        False,
    )
    credited = api.post(
        "/api/v1/credit-notes", {"invoice": draft.pk, "amount": "20.00", "reason": "Outage"}, format="json"
    )
    assert credited.status_code == 201, credited.json()
    assert (credited.json()["number"], credited.json()["issued_at"]) == (
        "CN-2027-000001",
        "2027-01-02T10:00:00Z",
    )


def test_an_invoice_is_past_due_once_the_clock_passes_its_due_date(api: APIClient) -> None:
    draft = make_draft(make_customer("cus_due"))
    with time_machine.travel(datetime(2026, 3, 4, 23, 59, tzinfo=UTC), tick=False) as clock:
        body = api.post(
            f"/api/v1/invoices/{draft.pk}/finalize", {"at": "2026-02-03T00:00:00Z"}, format="json"
        ).json()
        assert (body["due_at"], body["past_due"]) == ("2026-03-05T00:00:00Z", False)  # net 30

        clock.move_to(datetime(2026, 3, 5, 0, 1, tzinfo=UTC))
        assert api.get(f"/api/v1/invoices/{draft.pk}").json()["past_due"] is True
