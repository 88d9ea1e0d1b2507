"""Migration 0004 fills ``amount_credited`` of existing invoices from their credit notes, and its guard
keeps a finalized invoice frozen (but lets the credited amount grow)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from invoicing.models import Invoice
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.finalization import invoice_finalize
from tests.invoicing.factories import make_customer, make_draft

BEFORE = [("invoicing", "0003_documents_email_outbox")]
AT = datetime(2026, 2, 3, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_existing_invoices_get_the_sum_of_their_credit_notes() -> None:
    credited = invoice_finalize(invoice_id=make_draft(make_customer()).pk, at=AT)
    credit_note_create(invoice_id=credited.pk, amount=Decimal("30.00"), reason="Outage", at=AT)
    credit_note_create(invoice_id=credited.pk, amount=Decimal("12.50"), reason="Goodwill", at=AT)
    untouched = invoice_finalize(invoice_id=make_draft(make_customer()).pk, at=AT)

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert Invoice.objects.get(pk=credited.pk).amount_credited == Decimal("42.50")
    assert Invoice.objects.get(pk=untouched.pk).amount_credited == Decimal("0")
    with pytest.raises(DatabaseError, match="finalized"), transaction.atomic():
        Invoice.objects.filter(pk=credited.pk).update(total=Decimal("1.00"))
    with pytest.raises(DatabaseError, match="finalized"), transaction.atomic():
        Invoice.objects.filter(pk=credited.pk).update(amount_credited=Decimal("1.00"))
