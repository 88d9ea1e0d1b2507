"""Credit notes: never more than what is creditable, their own gap-free numbers, where the credit goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from config.errors import Conflict, NotFound, ValidationFailed
from invoicing.models import BalanceTransaction, CreditNote, Invoice, InvoiceStatus
from invoicing.selectors import customer_credit_balance
from invoicing.services.credit_notes import credit_note_create, invoice_creditable
from invoicing.services.finalization import invoice_finalize, invoice_void
from invoicing.services.payments import invoice_record_payment
from tests.invoicing.factories import MAR_1, make_customer, make_draft, subscription_line

pytestmark = pytest.mark.django_db

AT = datetime(2026, 2, 3, tzinfo=UTC)


def finalized(amount: str = "120.00", **customer_fields: object) -> Invoice:
    customer = make_customer(**customer_fields)  # type: ignore[arg-type]
    return invoice_finalize(invoice_id=make_draft(customer, lines=[subscription_line(amount)]).pk, at=AT)


def test_credit_notes_never_exceed_what_is_creditable() -> None:
    invoice = finalized("120.00")
    first = credit_note_create(
        invoice_id=invoice.pk, amount=Decimal("100.00"), reason="Outage in February", at=AT
    )
    assert (first.number, first.amount, first.currency) == ("CN-2026-000001", Decimal("100.00"), "USD")
    assert invoice_creditable(invoice=invoice) == Decimal("20.00")

    with pytest.raises(ValidationFailed) as err:
        credit_note_create(invoice_id=invoice.pk, amount=Decimal("20.01"), reason="More", at=AT)
    assert err.value.field == "amount"
    assert "20.00" in err.value.message

    second = credit_note_create(invoice_id=invoice.pk, amount=Decimal("20.00"), reason="The rest", at=AT)
    assert second.number == "CN-2026-000002"
    assert invoice_creditable(invoice=invoice) == Decimal(0)
    with pytest.raises(ValidationFailed):
        credit_note_create(invoice_id=invoice.pk, amount=Decimal("0.01"), reason="Nothing left", at=AT)
    assert CreditNote.objects.count() == 2


def test_credit_note_numbers_are_their_own_sequence() -> None:
    one = finalized("50.00")
    two = invoice_finalize(invoice_id=make_draft(one.customer, billing_date=MAR_1).pk, at=AT)
    assert two.number == "INV-2026-000002"
    note = credit_note_create(invoice_id=two.pk, amount=Decimal("10.00"), reason="x", at=AT)
    assert note.number == "CN-2026-000001"


@pytest.mark.parametrize(("amount", "field"), [("0", "amount"), ("-1.00", "amount"), ("10.001", "amount")])
def test_the_amount_must_be_positive_and_rounded_to_the_currency(amount: str, field: str) -> None:
    invoice = finalized()
    with pytest.raises(ValidationFailed) as err:
        credit_note_create(invoice_id=invoice.pk, amount=Decimal(amount), reason="x", at=AT)
    assert err.value.field == field
    assert not CreditNote.objects.exists()


def test_a_reason_is_required() -> None:
    with pytest.raises(ValidationFailed) as err:
        credit_note_create(invoice_id=finalized().pk, amount=Decimal("1.00"), reason="  ")
    assert err.value.field == "reason"


def test_a_draft_or_a_void_invoice_cannot_be_credited() -> None:
    draft = make_draft(make_customer())
    with pytest.raises(Conflict) as err:
        credit_note_create(invoice_id=draft.pk, amount=Decimal("1.00"), reason="x")
    assert err.value.field == "invoice"
    assert "invoice" in err.value.message.lower()
    invoice = invoice_finalize(invoice_id=draft.pk, at=AT)
    invoice_void(invoice_id=invoice.pk)
    with pytest.raises(Conflict, match="void"):
        credit_note_create(invoice_id=invoice.pk, amount=Decimal("1.00"), reason="x")
    with pytest.raises(NotFound):
        credit_note_create(invoice_id=invoice.pk + 1000, amount=Decimal("1.00"), reason="x")
    assert not CreditNote.objects.exists()


def test_a_credit_on_an_open_invoice_reduces_what_is_due_then_goes_to_the_balance() -> None:
    invoice = finalized("120.00")
    credit_note_create(invoice_id=invoice.pk, amount=Decimal("20.00"), reason="Discount promised", at=AT)
    invoice.refresh_from_db()
    assert (invoice.total, invoice.amount_due, invoice.status) == (
        Decimal("120.00"),
        Decimal("100.00"),
        InvoiceStatus.OPEN,
    )
    invoice_record_payment(invoice_id=invoice.pk, amount=Decimal("60.00"), at=AT)
    # 40.00 is left due: a credit of 50.00 settles it and puts 10.00 on the balance
    credit_note_create(
        invoice_id=invoice.pk, amount=Decimal("50.00"), reason="Outage", at=AT + timedelta(days=1)
    )
    invoice.refresh_from_db()
    assert (invoice.amount_due, invoice.status, invoice.paid_at) == (
        Decimal("0.00"),
        InvoiceStatus.PAID,
        AT + timedelta(days=1),
    )
    assert customer_credit_balance(customer_id=invoice.customer_id, currency="USD") == Decimal("10.00")


def test_a_credit_on_a_paid_invoice_goes_to_the_balance_and_the_next_invoice_uses_it() -> None:
    invoice = finalized("120.00")
    invoice_record_payment(invoice_id=invoice.pk, amount=Decimal("120.00"), at=AT)
    note = credit_note_create(
        invoice_id=invoice.pk, amount=Decimal("45.00"), reason="Overcharged seats", at=AT
    )
    invoice.refresh_from_db()
    assert (invoice.amount_due, invoice.amount_paid, invoice.status) == (
        Decimal("0.00"),
        Decimal("120.00"),
        InvoiceStatus.PAID,
    )
    entry = BalanceTransaction.objects.get(credit_note=note)
    assert entry.amount == Decimal("-45.00")
    assert customer_credit_balance(customer_id=invoice.customer_id, currency="USD") == Decimal("45.00")

    following = invoice_finalize(
        invoice_id=make_draft(invoice.customer, billing_date=MAR_1, lines=[subscription_line("100.00")]).pk,
        at=AT + timedelta(days=28),
    )
    assert (following.total, following.credits_applied, following.amount_due) == (
        Decimal("100.00"),
        Decimal("45.00"),
        Decimal("55.00"),
    )
    assert customer_credit_balance(customer_id=invoice.customer_id, currency="USD") == Decimal(0)


def test_credit_notes_keep_a_history() -> None:
    note = credit_note_create(invoice_id=finalized().pk, amount=Decimal("5.00"), reason="x", at=AT)
    assert note.history.count() == 1  # type: ignore[attr-defined]


def test_an_invoice_with_credit_notes_cannot_be_voided() -> None:
    invoice = finalized()
    credit_note_create(invoice_id=invoice.pk, amount=Decimal("5.00"), reason="x", at=AT)
    with pytest.raises(Conflict, match="credit notes"):
        invoice_void(invoice_id=invoice.pk)


def test_zero_decimal_currencies_credit_whole_units() -> None:
    invoice = finalized("1200", currency="JPY")
    with pytest.raises(ValidationFailed):
        credit_note_create(invoice_id=invoice.pk, amount=Decimal("10.5"), reason="x", at=AT)
    assert credit_note_create(invoice_id=invoice.pk, amount=Decimal("200"), reason="x", at=AT).amount == 200
