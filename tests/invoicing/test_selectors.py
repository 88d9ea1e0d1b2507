"""Invoicing's selectors: past due is a function of the time asked, never of the wall clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from invoicing.selectors import invoice_is_past_due, invoices_past_due
from invoicing.services.finalization import invoice_finalize
from tests.invoicing.factories import MAR_1, make_customer, make_draft

pytestmark = pytest.mark.django_db


def test_an_open_invoice_is_past_due_only_after_its_due_date_and_both_selectors_agree() -> None:
    invoice = invoice_finalize(invoice_id=make_draft(make_customer(net_terms_days=30)).pk, at=MAR_1)
    due = MAR_1 + timedelta(days=30)
    assert invoice.due_at == due
    for at, expected in ((MAR_1, False), (due, False), (due + timedelta(microseconds=1), True)):
        assert invoice_is_past_due(invoice=invoice, at=at) is expected
        assert invoices_past_due(at=at).filter(pk=invoice.pk).exists() is expected


def test_a_draft_is_never_past_due() -> None:
    draft = make_draft()
    far = MAR_1 + timedelta(days=3650)
    assert invoice_is_past_due(invoice=draft, at=far) is False
    assert not invoices_past_due(at=far).filter(pk=draft.pk).exists()
