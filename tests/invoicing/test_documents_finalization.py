"""Finalization: gap-free numbers, snapshots, dates, credits, PDF; void, uncollectible, payments."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from config.errors import Conflict, ErrorCode, ValidationFailed
from invoicing.models import BalanceTransaction, Invoice, InvoiceStatus, LineKind, NumberSequence, Payment
from invoicing.selectors import customer_credit_balance
from invoicing.services.drafts import LineDraft
from invoicing.services.finalization import (
    invoice_finalize,
    invoice_mark_uncollectible,
    invoice_void,
)
from invoicing.services.payments import invoice_record_payment
from tests.invoicing.factories import (
    FEB_1,
    JAN_1,
    MAR_1,
    make_customer,
    make_draft,
    stored_pdf,
    subscription_line,
    usage_line,
)

pytestmark = pytest.mark.django_db

AT = datetime(2026, 2, 3, 9, 30, tzinfo=UTC)


def give_credit(customer: Any, amount: str) -> None:
    BalanceTransaction.objects.create(
        customer=customer, currency=customer.currency, amount=-Decimal(amount), description="goodwill"
    )


def proration_credit(amount: str) -> LineDraft:
    return LineDraft(
        kind=LineKind.PRORATION,
        description="Unused time on Pro",
        amount=Decimal(amount),
        quantity=Decimal(1),
        period_start=FEB_1,
        period_end=MAR_1,
    )


# --- numbers, dates, snapshots, PDF -----------------------------------------------------------------


def test_finalize_numbers_in_order_copies_the_billing_details_and_stores_the_pdf(
    django_capture_on_commit_callbacks: Any,
) -> None:
    customer = make_customer("cus_acme", tax_rate_percent=Decimal(19))
    first = make_draft(
        customer, lines=[subscription_line("100.00"), usage_line("107.00")], billing_date=FEB_1
    )
    second = make_draft(customer, billing_date=MAR_1)

    with django_capture_on_commit_callbacks(execute=True):  # the PDF is rendered after commit
        one = invoice_finalize(invoice_id=first.pk, at=AT)
        two = invoice_finalize(invoice_id=second.pk, at=AT + timedelta(hours=1))

    assert (one.number, two.number) == ("INV-2026-000001", "INV-2026-000002")
    one.refresh_from_db()
    assert one.status == InvoiceStatus.OPEN
    assert (one.subtotal, one.tax, one.total) == (Decimal("207.00"), Decimal("39.33"), Decimal("246.33"))
    assert (one.credits_applied, one.amount_due, one.amount_paid) == (
        Decimal(0),
        Decimal("246.33"),
        Decimal(0),
    )
    assert one.issued_at == AT
    assert one.due_at == AT + timedelta(days=30)
    assert one.customer_snapshot == {
        "name": "Acme GmbH",
        "email": "billing@acme.test",
        "address_line1": "Hauptstraße 5",
        "address_line2": "",
        "city": "Berlin",
        "postal_code": "10115",
        "state": "",
        "country": "DE",
        "tax_id": "DE123456789",
        "external_id": "cus_acme",
        "timezone": "Europe/Berlin",
    }
    assert one.seller_snapshot == settings.RATECARD_SELLER
    assert stored_pdf(one).startswith(b"%PDF")
    assert NumberSequence.objects.get(kind="INV", year=2026).last_value == 2


def test_the_snapshot_keeps_what_the_invoice_said_after_the_customer_moves() -> None:
    from accounts.services.customers import customer_update

    customer = make_customer()
    invoice = invoice_finalize(invoice_id=make_draft(customer).pk, at=AT)
    customer_update(customer=customer, name="Acme AG", city="Munich")
    invoice.refresh_from_db()
    assert (invoice.customer_snapshot["name"], invoice.customer_snapshot["city"]) == ("Acme GmbH", "Berlin")


def test_due_on_receipt_when_the_customer_has_no_net_terms() -> None:
    invoice = invoice_finalize(invoice_id=make_draft(make_customer(net_terms_days=0)).pk, at=AT)
    assert invoice.due_at == invoice.issued_at == AT


def test_numbers_restart_each_year() -> None:
    customer = make_customer()
    late = invoice_finalize(
        invoice_id=make_draft(customer, billing_date=JAN_1).pk, at=datetime(2026, 12, 31, 23, tzinfo=UTC)
    )
    early = invoice_finalize(
        invoice_id=make_draft(customer, billing_date=FEB_1).pk, at=datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert (late.number, early.number) == ("INV-2026-000001", "INV-2027-000001")


def test_finalizing_twice_is_a_no_op() -> None:
    draft = make_draft(make_customer())
    first = invoice_finalize(invoice_id=draft.pk, at=AT)
    again = invoice_finalize(invoice_id=draft.pk, at=AT + timedelta(days=1))
    assert (again.number, again.issued_at, again.status) == ("INV-2026-000001", AT, InvoiceStatus.OPEN)
    assert again.pk == first.pk
    assert NumberSequence.objects.get(kind="INV", year=2026).last_value == 1


def test_finalizing_a_void_invoice_is_a_409() -> None:
    invoice = invoice_finalize(invoice_id=make_draft(make_customer()).pk, at=AT)
    invoice_void(invoice_id=invoice.pk, at=AT)
    with pytest.raises(Conflict) as err:
        invoice_finalize(invoice_id=invoice.pk)
    assert err.value.code == ErrorCode.INVALID_STATE


def test_a_failed_finalization_writes_nothing_and_gives_its_number_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customer = make_customer()
    give_credit(customer, "30.00")
    draft = make_draft(customer)

    def broken_snapshot(*_: Any) -> dict[str, str]:
        raise RuntimeError("settings unreadable")

    # fails after the number was taken and the credits read: everything must roll back
    monkeypatch.setattr("invoicing.services.finalization.seller_snapshot", broken_snapshot)
    with pytest.raises(RuntimeError):
        invoice_finalize(invoice_id=draft.pk, at=AT)
    draft.refresh_from_db()
    assert (draft.status, draft.number, draft.issued_at) == (InvoiceStatus.DRAFT, None, None)
    assert BalanceTransaction.objects.filter(invoice=draft).count() == 0
    assert customer_credit_balance(customer_id=customer.pk, currency="USD") == Decimal("30.00")

    monkeypatch.undo()
    assert invoice_finalize(invoice_id=draft.pk, at=AT).number == "INV-2026-000001"


# --- credits ----------------------------------------------------------------------------------------


def test_the_credit_balance_is_applied_after_tax() -> None:
    customer = make_customer(tax_rate_percent=Decimal(10))
    give_credit(customer, "30.00")
    invoice = invoice_finalize(invoice_id=make_draft(customer).pk, at=AT)
    assert (invoice.total, invoice.credits_applied, invoice.amount_due) == (
        Decimal("110.00"),
        Decimal("30.00"),
        Decimal("80.00"),
    )
    assert invoice.status == InvoiceStatus.OPEN
    entry = BalanceTransaction.objects.get(invoice=invoice)
    assert entry.amount == Decimal("30.00")
    assert customer_credit_balance(customer_id=customer.pk, currency="USD") == Decimal(0)


def test_credits_that_cover_the_invoice_mark_it_paid_and_the_rest_stays() -> None:
    customer = make_customer()
    give_credit(customer, "150.00")
    invoice = invoice_finalize(invoice_id=make_draft(customer).pk, at=AT)
    assert (invoice.credits_applied, invoice.amount_due, invoice.status) == (
        Decimal("100.00"),
        Decimal("0.00"),
        InvoiceStatus.PAID,
    )
    assert invoice.paid_at == AT
    assert customer_credit_balance(customer_id=customer.pk, currency="USD") == Decimal("50.00")


def test_a_credit_invoice_moves_its_negative_total_to_the_balance() -> None:
    customer = make_customer()
    credit = make_draft(customer, lines=[usage_line("20.00", "200"), proration_credit("-50.00")])
    invoice = invoice_finalize(invoice_id=credit.pk, at=AT)
    assert (invoice.total, invoice.credits_applied, invoice.amount_due) == (
        Decimal("-30.00"),
        Decimal("-30.00"),
        Decimal("0.00"),
    )
    assert invoice.total - invoice.credits_applied - invoice.amount_paid == invoice.amount_due
    assert invoice.status == InvoiceStatus.PAID
    assert customer_credit_balance(customer_id=customer.pk, currency="USD") == Decimal("30.00")

    following = invoice_finalize(invoice_id=make_draft(customer, billing_date=MAR_1).pk, at=AT)
    assert (following.credits_applied, following.amount_due) == (Decimal("30.00"), Decimal("70.00"))
    assert customer_credit_balance(customer_id=customer.pk, currency="USD") == Decimal(0)


# --- void, uncollectible ----------------------------------------------------------------------------


def test_voiding_keeps_the_number_and_returns_the_credits() -> None:
    customer = make_customer()
    give_credit(customer, "30.00")
    invoice = invoice_finalize(invoice_id=make_draft(customer).pk, at=AT)
    voided = invoice_void(invoice_id=invoice.pk, at=AT + timedelta(days=2))
    voided.refresh_from_db()
    assert (voided.number, voided.status, voided.voided_at) == (
        "INV-2026-000001",
        InvoiceStatus.VOID,
        AT + timedelta(days=2),
    )
    assert voided.amount_due == 0
    assert voided.total == Decimal("100.00")  # what it said stays
    assert customer_credit_balance(customer_id=customer.pk, currency="USD") == Decimal("30.00")
    assert invoice_void(invoice_id=invoice.pk).voided_at == AT + timedelta(days=2)  # twice: no-op
    # the voided number is not reused
    assert (
        invoice_finalize(invoice_id=make_draft(customer, billing_date=MAR_1).pk, at=AT).number
        == "INV-2026-000002"
    )


def test_a_draft_or_a_paid_invoice_cannot_be_voided() -> None:
    customer = make_customer()
    draft = make_draft(customer)
    with pytest.raises(Conflict, match="Delete the draft or finalize it"):
        invoice_void(invoice_id=draft.pk)
    invoice = invoice_finalize(invoice_id=draft.pk, at=AT)
    invoice_record_payment(invoice_id=invoice.pk, amount=Decimal("100.00"), at=AT)
    with pytest.raises(Conflict, match="credit note"):
        invoice_void(invoice_id=invoice.pk)
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID


def test_an_uncollectible_invoice_can_still_be_voided() -> None:
    invoice = invoice_finalize(invoice_id=make_draft(make_customer()).pk, at=AT)
    marked = invoice_mark_uncollectible(invoice_id=invoice.pk, at=AT + timedelta(days=90))
    assert (marked.status, marked.marked_uncollectible_at) == (
        InvoiceStatus.UNCOLLECTIBLE,
        AT + timedelta(days=90),
    )
    assert invoice_void(invoice_id=invoice.pk).status == InvoiceStatus.VOID
    with pytest.raises(Conflict):
        invoice_mark_uncollectible(invoice_id=invoice.pk)


# --- payments ---------------------------------------------------------------------------------------


def test_recording_payments_marks_the_invoice_paid_when_nothing_is_left_due() -> None:
    invoice = invoice_finalize(invoice_id=make_draft(make_customer()).pk, at=AT)
    invoice_record_payment(invoice_id=invoice.pk, amount=Decimal("40.00"), at=AT, reference="wire-1")
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.amount_due, invoice.status) == (
        Decimal("40.00"),
        Decimal("60.00"),
        InvoiceStatus.OPEN,
    )
    paid_at = AT + timedelta(days=3)
    invoice_record_payment(invoice_id=invoice.pk, amount=Decimal("60.00"), at=paid_at, reference="wire-2")
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.amount_due, invoice.status, invoice.paid_at) == (
        Decimal("100.00"),
        Decimal("0.00"),
        InvoiceStatus.PAID,
        paid_at,
    )
    assert invoice.total - invoice.credits_applied - invoice.amount_paid == invoice.amount_due


def test_a_payment_with_a_known_reference_is_recorded_once() -> None:
    invoice = invoice_finalize(invoice_id=make_draft(make_customer()).pk, at=AT)
    first = invoice_record_payment(invoice_id=invoice.pk, amount=Decimal("40.00"), at=AT, reference="wire-1")
    again = invoice_record_payment(invoice_id=invoice.pk, amount=Decimal("40.00"), at=AT, reference="wire-1")
    assert first.pk == again.pk
    assert Payment.objects.count() == 1
    assert Invoice.objects.get(pk=invoice.pk).amount_paid == Decimal("40.00")


@pytest.mark.parametrize("amount", ["100.01", "0", "-5.00", "10.001"])
def test_a_payment_must_be_positive_rounded_and_not_above_what_is_due(amount: str) -> None:
    invoice = invoice_finalize(invoice_id=make_draft(make_customer()).pk, at=AT)
    with pytest.raises(ValidationFailed) as err:
        invoice_record_payment(invoice_id=invoice.pk, amount=Decimal(amount), at=AT)
    assert err.value.field == "amount"
    assert Payment.objects.count() == 0


def test_a_draft_cannot_be_paid() -> None:
    with pytest.raises(Conflict):
        invoice_record_payment(invoice_id=make_draft(make_customer()).pk, amount=Decimal("1.00"), at=AT)


# --- concurrency ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_numbers_have_no_gaps_under_concurrent_finalization() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; SQLite serializes every write")
    groups: list[list[int]] = []
    for worker in range(2):
        customer = make_customer(f"cus_worker_{worker}")
        drafts = [
            make_draft(
                customer,
                billing_date=JAN_1 + timedelta(days=day),
                lines=[subscription_line(f"{10 + day}.00")],
            )
            for day in range(10)
        ]
        groups.append([d.pk for d in drafts])
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(ids: list[int]) -> None:
        try:
            barrier.wait(timeout=30)
            for invoice_id in ids:
                invoice_finalize(invoice_id=invoice_id, at=AT)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(ids,)) for ids in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    numbers = sorted(str(n) for n in Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, 21)]
    assert NumberSequence.objects.get(kind="INV", year=2026).last_value == 20
    # each worker's invoices were numbered in its own order (interleaved with the other's)
    for ids in groups:
        mine = [str(Invoice.objects.get(pk=pk).number) for pk in ids]
        assert mine == sorted(mine)
