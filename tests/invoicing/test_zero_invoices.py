"""``RATECARD_FINALIZE_ZERO_INVOICES``: on (the default, as Stripe), a 0.00 draft is issued with a number;
off (the demo), it is closed as void without a number, PDF or e-mail, and the numbers of the invoices
issued stay gap-free."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import override_settings

from invoicing.models import Invoice, InvoiceDocument, InvoiceStatus
from invoicing.services.finalization import ZERO_NOT_ISSUED, invoice_finalize, invoices_finalize
from tests.invoicing.factories import FEB_1, document_no, make_customer, make_draft, subscription_line

pytestmark = pytest.mark.django_db

AT = datetime(2026, 2, 3, tzinfo=UTC)


def test_by_default_a_zero_invoice_is_issued_with_a_number() -> None:
    free = invoice_finalize(invoice_id=make_draft(lines=[subscription_line("0.00", "Free plan")]).pk, at=AT)
    assert (free.status, free.number, free.total) == (InvoiceStatus.PAID, document_no("INV", AT, 1), 0)


@override_settings(RATECARD_FINALIZE_ZERO_INVOICES=False)
def test_with_the_setting_off_a_zero_invoice_is_closed_without_a_number(
    django_capture_on_commit_callbacks: object,
) -> None:
    free = make_draft(make_customer("cus_free"), lines=[subscription_line("0.00", "Free plan")])
    paying = make_draft(make_customer("cus_pay"), lines=[subscription_line("49.00")], billing_date=FEB_1)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        done = invoices_finalize(invoice_ids=[free.pk, paying.pk], at=AT)
    assert sorted(done) == sorted([free.pk, paying.pk])
    free, paying = Invoice.objects.get(pk=free.pk), Invoice.objects.get(pk=paying.pk)
    assert (free.status, free.number, free.void_reason, free.voided_at) == (
        InvoiceStatus.VOID,
        None,
        ZERO_NOT_ISSUED,
        AT,
    )
    assert (free.total, free.amount_due, free.lines.count()) == (Decimal("0.00"), Decimal("0.00"), 1)
    assert (paying.status, paying.number) == (InvoiceStatus.OPEN, document_no("INV", AT, 1))  # no gap
    assert not InvoiceDocument.objects.filter(invoice=free).exists()


@override_settings(RATECARD_FINALIZE_ZERO_INVOICES=False)
def test_with_the_setting_off_a_discounted_to_zero_invoice_with_lines_is_closed_too() -> None:
    draft = make_draft(lines=[subscription_line("10.00"), subscription_line("-10.00", "Goodwill")])
    closed = invoice_finalize(invoice_id=draft.pk, at=AT)
    assert (closed.status, closed.number, closed.lines.count()) == (InvoiceStatus.VOID, None, 2)
