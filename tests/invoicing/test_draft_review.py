"""Finance adds and removes one-off lines on a draft during its review window; totals recompute through
the production draft writer; billing's own lines and finalized invoices refuse."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from config.errors import Conflict
from invoicing.models import Invoice, InvoiceLine
from invoicing.services.draft_review import draft_line_add, draft_line_remove
from invoicing.services.finalization import invoice_finalize
from tests.invoicing.factories import make_customer, make_draft, subscription_line

pytestmark = pytest.mark.django_db

AT = datetime(2026, 2, 3, tzinfo=UTC)


def totals(invoice: Invoice) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    invoice.refresh_from_db()
    return invoice.subtotal, invoice.tax, invoice.total, invoice.amount_due


def test_a_line_added_and_removed_in_review_moves_the_totals_exactly() -> None:
    draft = make_draft(make_customer(tax_rate_percent=Decimal("10")), lines=[subscription_line("100.00")])
    assert totals(draft) == (Decimal("100.00"), Decimal("10.00"), Decimal("110.00"), Decimal("110.00"))
    line = draft_line_add(
        invoice_id=draft.pk,
        description="Onboarding workshop",
        unit_amount=Decimal("0.125"),
        quantity=Decimal(301),
    )
    assert (line.amount, line.tax, line.kind) == (
        Decimal("37.63"),
        Decimal("3.76"),
        "one_off",
    )  # 37.625 rounds once
    assert totals(draft) == (Decimal("137.63"), Decimal("13.76"), Decimal("151.39"), Decimal("151.39"))
    draft_line_remove(line_id=line.pk)
    assert totals(draft) == (Decimal("100.00"), Decimal("10.00"), Decimal("110.00"), Decimal("110.00"))


def test_billings_own_lines_and_finalized_invoices_refuse() -> None:
    draft = make_draft(lines=[subscription_line("100.00")])
    billed = InvoiceLine.objects.get(invoice=draft)
    with pytest.raises(Conflict):
        draft_line_remove(line_id=billed.pk)
    invoice_finalize(invoice_id=draft.pk, at=AT)
    with pytest.raises(Conflict):
        draft_line_add(invoice_id=draft.pk, description="Late fee", unit_amount=Decimal("5.00"))
    assert InvoiceLine.objects.filter(invoice=draft).count() == 1


def test_finance_adds_and_removes_a_line_from_the_admin(client: Client, finance_user: User) -> None:
    draft = make_draft(lines=[subscription_line("100.00")])
    url = reverse("admin:invoicing_invoice_lines", args=(draft.pk,))
    client.force_login(finance_user)
    client.post(url, {"description": "Goodwill credit", "unit_amount": "-15.00", "quantity": "1"})
    line = InvoiceLine.objects.get(invoice=draft, description="Goodwill credit")
    assert totals(draft)[2] == Decimal("85.00")
    confirm = client.post(url, {"remove": str(line.pk)}).content.decode()
    assert "Yes, remove it" in confirm and InvoiceLine.objects.filter(pk=line.pk).exists()
    client.post(url, {"remove": str(line.pk), "post": "yes"})
    assert not InvoiceLine.objects.filter(pk=line.pk).exists()
    assert totals(draft)[2] == Decimal("100.00")


def test_support_cannot_open_the_review_page(client: Client, support_user: User) -> None:
    draft = make_draft()
    client.force_login(support_user)
    assert client.get(reverse("admin:invoicing_invoice_lines", args=(draft.pk,))).status_code == 403
