"""A finalized invoice cannot be changed: not through the ORM, not with raw SQL (database triggers)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from invoicing.models import FinalizedInvoiceError, Invoice, InvoiceLine, InvoiceStatus, LineKind
from invoicing.services.finalization import invoice_finalize, invoice_void
from tests.invoicing.factories import make_customer, make_draft

pytestmark = pytest.mark.django_db

AT = datetime(2026, 2, 3, tzinfo=UTC)


@pytest.fixture
def finalized() -> Invoice:
    return invoice_finalize(invoice_id=make_draft(make_customer()).pk, at=AT)


def refused_by_the_database(statement: object) -> None:
    """Run ``statement`` in a savepoint and assert the database refused it."""
    with pytest.raises(DatabaseError) as err, transaction.atomic():
        statement()  # type: ignore[operator]
    assert "finalized" in str(err.value)


def test_save_refuses_a_changed_figure(finalized: Invoice) -> None:
    finalized.total = Decimal("1.00")
    with pytest.raises(FinalizedInvoiceError, match="total"):
        finalized.save()
    assert Invoice.objects.get(pk=finalized.pk).total == Decimal("100.00")


def test_save_refuses_changed_lines(finalized: Invoice) -> None:
    line = finalized.lines.get()
    line.amount = Decimal("1.00")
    with pytest.raises(FinalizedInvoiceError):
        line.save()
    with pytest.raises(FinalizedInvoiceError):
        line.delete()
    with pytest.raises(FinalizedInvoiceError):
        InvoiceLine.objects.create(
            invoice=finalized, kind=LineKind.ONE_OFF, description="extra", amount=Decimal(5)
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("total", Decimal("1.00")),
        ("subtotal", Decimal("1.00")),
        ("tax", Decimal("1.00")),
        ("credits_applied", Decimal("1.00")),
        ("number", "INV-2026-999999"),
        ("currency", "EUR"),
        ("issued_at", datetime(2020, 1, 1, tzinfo=UTC)),
        ("due_at", None),
        ("customer_snapshot", {"name": "Someone else"}),
        ("status", InvoiceStatus.DRAFT),
    ],
)
def test_a_raw_update_of_a_frozen_column_fails_in_the_database(
    finalized: Invoice, field: str, value: object
) -> None:
    refused_by_the_database(lambda: Invoice.objects.filter(pk=finalized.pk).update(**{field: value}))
    stored = Invoice.objects.get(pk=finalized.pk)
    assert (stored.total, stored.number, stored.status) == (
        Decimal("100.00"),
        "INV-2026-000001",
        InvoiceStatus.OPEN,
    )


def test_raw_sql_cannot_change_a_finalized_invoice_either(finalized: Invoice) -> None:
    def raw() -> None:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE invoicing_invoice SET total = 1 WHERE id = %s", [finalized.pk])

    refused_by_the_database(raw)


def test_payment_fields_and_status_still_move(finalized: Invoice) -> None:
    updated = Invoice.objects.filter(pk=finalized.pk).update(
        amount_paid=Decimal("100.00"), amount_due=Decimal("0.00"), status=InvoiceStatus.PAID, paid_at=AT
    )
    assert updated == 1
    stored = Invoice.objects.get(pk=finalized.pk)
    assert (stored.status, stored.amount_due, stored.paid_at) == (InvoiceStatus.PAID, Decimal("0.00"), AT)


def test_amount_credited_grows_after_finalization_but_never_shrinks(finalized: Invoice) -> None:
    finalized.amount_credited = Decimal("30.00")
    finalized.save(update_fields=["amount_credited"])  # the model lets it move, like amount_paid
    assert Invoice.objects.filter(pk=finalized.pk).update(amount_credited=Decimal("40.00")) == 1
    # a credit note is never taken back: the database refuses a smaller figure (PostgreSQL and SQLite)
    refused_by_the_database(
        lambda: Invoice.objects.filter(pk=finalized.pk).update(amount_credited=Decimal("10.00"))
    )
    assert Invoice.objects.get(pk=finalized.pk).amount_credited == Decimal("40.00")
    # the new guard still refuses the frozen figures
    refused_by_the_database(lambda: Invoice.objects.filter(pk=finalized.pk).update(total=Decimal("1.00")))


def test_a_finalized_invoice_and_its_lines_cannot_be_deleted_nor_lines_added(finalized: Invoice) -> None:
    line_id = finalized.lines.get().pk
    refused_by_the_database(lambda: Invoice.objects.filter(pk=finalized.pk)._raw_delete(connection.alias))
    refused_by_the_database(lambda: InvoiceLine.objects.filter(pk=line_id)._raw_delete(connection.alias))
    refused_by_the_database(lambda: InvoiceLine.objects.filter(pk=line_id).update(amount=Decimal("1.00")))
    refused_by_the_database(
        lambda: InvoiceLine.objects.bulk_create(
            [InvoiceLine(invoice=finalized, kind=LineKind.ONE_OFF, description="extra", amount=Decimal(5))]
        )
    )
    assert Invoice.objects.get(pk=finalized.pk).lines.count() == 1


def test_a_void_invoice_stays_void(finalized: Invoice) -> None:
    invoice_void(invoice_id=finalized.pk, at=AT)
    refused_by_the_database(lambda: Invoice.objects.filter(pk=finalized.pk).update(status=InvoiceStatus.OPEN))


def test_drafts_stay_editable() -> None:
    draft = make_draft(make_customer())
    assert Invoice.objects.filter(pk=draft.pk).update(total=Decimal("5.00"), memo="x") == 1
    line = draft.lines.get()
    line.description = "Renamed"
    line.save()
    line.delete()
    draft.refresh_from_db()
    draft.delete()
    assert not Invoice.objects.filter(pk=draft.pk).exists()
