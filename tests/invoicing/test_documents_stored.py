"""Stored PDFs: rendered after commit, once per (invoice, variant), the same bytes on demand; stamps."""

from __future__ import annotations

import shutil
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from invoicing.models import (
    BalanceTransaction,
    DocumentImmutableError,
    Invoice,
    InvoiceDocument,
    InvoiceStatus,
    NumberSequence,
)
from invoicing.services.finalization import (
    invoice_finalize,
    invoice_void,
    invoices_finalize,
)
from invoicing.services.payments import invoice_record_payment
from invoicing.services.pdf import invoice_html, invoice_pdf
from invoicing.tasks import render_invoice_documents
from tests.invoicing.factories import JAN_1, MAR_1, make_customer, make_draft, stored_pdf, subscription_line

pytestmark = pytest.mark.django_db

AT = datetime(2026, 2, 3, 9, 30, tzinfo=UTC)
PAID_AT = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)
VOID_AT = datetime(2026, 3, 5, 11, 0, tzinfo=UTC)


def documents(invoice: Invoice) -> list[tuple[str, str]]:
    return list(
        InvoiceDocument.objects.filter(invoice=invoice).order_by("id").values_list("variant", "sha256")
    )


def test_the_pdf_is_rendered_after_commit_and_only_once(django_capture_on_commit_callbacks: Any) -> None:
    draft = make_draft(make_customer())
    with django_capture_on_commit_callbacks() as callbacks:
        invoice = invoice_finalize(invoice_id=draft.pk, at=AT)
        assert documents(invoice) == []  # nothing is rendered inside the finalizing transaction
    assert len(callbacks) == 1
    callbacks[0]()  # the commit: the task renders and stores the document
    [(variant, sha)] = documents(invoice)
    assert variant == "invoice"

    with django_capture_on_commit_callbacks() as again:
        invoice_finalize(invoice_id=draft.pk, at=AT + timedelta(days=1))  # a second finalize: a no-op
    assert again == []
    assert render_invoice_documents(invoice_ids=[invoice.pk]) == 0  # a retried task renders nothing new
    assert documents(invoice) == [("invoice", sha)]


def test_a_download_before_the_task_gets_the_bytes_the_task_stores(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    first = make_draft(make_customer("cus_early"), lines=[subscription_line("49.00")])
    second = make_draft(make_customer("cus_late"), lines=[subscription_line("49.00")])
    with django_capture_on_commit_callbacks(execute=False):
        early = invoice_finalize(invoice_id=first.pk, at=AT)
    response = api.get(f"/api/v1/invoices/{early.pk}/pdf")  # before any task ran: rendered on demand
    assert response.status_code == 200
    assert response.content == stored_pdf(early)  # ... and stored
    # the same invoice rendered again (as the task would) gives the very same bytes
    assert invoice_pdf(invoice=Invoice.objects.get(pk=early.pk)) == response.content

    with django_capture_on_commit_callbacks(execute=True):
        late = invoice_finalize(invoice_id=second.pk, at=AT)
    by_task = stored_pdf(late)
    assert invoice_pdf(invoice=Invoice.objects.get(pk=late.pk)) == by_task
    assert api.get(f"/api/v1/invoices/{late.pk}/pdf").content == by_task


def test_paid_and_void_pdfs_carry_a_stamp_with_the_date_and_the_issued_figures(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    customer = make_customer(tax_rate_percent=Decimal(0))
    with django_capture_on_commit_callbacks(execute=True):
        paid = invoice_finalize(invoice_id=make_draft(customer).pk, at=AT)
        voided = invoice_finalize(invoice_id=make_draft(customer, billing_date=MAR_1).pk, at=AT)
    with django_capture_on_commit_callbacks(execute=True):  # each stamped PDF after its own commit
        invoice_record_payment(invoice_id=paid.pk, amount=Decimal("100.00"), at=PAID_AT)
        invoice_void(invoice_id=voided.pk, at=VOID_AT)
    paid.refresh_from_db()
    voided.refresh_from_db()
    assert [v for v, _ in documents(paid)] == ["invoice", "paid"]
    assert [v for v, _ in documents(voided)] == ["invoice", "void"]

    issued = invoice_html(invoice=paid, variant="invoice")
    stamped = invoice_html(invoice=paid, variant="paid")
    assert "PAID 2026-03-04" in stamped and "PAID 2026-03-04" not in issued
    due = "100,00\xa0US$ due Mar 5, 2026"  # the factory's customer is in Germany: en_DE (docs/money.md)
    for html in (issued, stamped):  # the figures stay those issued: 100.00 due, nothing paid yet
        assert due in html
        assert "Amount paid" not in html
    void_html = invoice_html(invoice=voided, variant="void")
    assert "VOID 2026-03-05" in void_html and due in void_html

    # the API serves the document for the invoice's state now: the stamped one
    assert api.get(f"/api/v1/invoices/{paid.pk}/pdf").content == stored_pdf(paid, "paid")
    assert api.get(f"/api/v1/invoices/{voided.pk}/pdf").content == stored_pdf(voided, "void")
    assert stored_pdf(paid, "paid") != stored_pdf(paid, "invoice")
    if shutil.which("pdftotext"):  # the stamp is text in the PDF itself, not only in its HTML
        text = subprocess.run(
            ["pdftotext", "-", "-"], input=stored_pdf(paid, "paid"), capture_output=True, check=True
        ).stdout.decode()
        assert "PAID 2026-03-04" in text


def test_a_stored_document_never_changes() -> None:
    invoice = invoice_finalize(invoice_id=make_draft(make_customer()).pk, at=AT)
    api_bytes = invoice_pdf(invoice=invoice)
    from invoicing.services.invoice_documents import invoice_document_get

    document = invoice_document_get(invoice_id=invoice.pk)
    assert bytes(document.content) == api_bytes
    document.content = b"%PDF forged"
    with pytest.raises(DocumentImmutableError):
        document.save()
    with pytest.raises(DocumentImmutableError):
        document.delete()
    with pytest.raises(DatabaseError, match="never changes"), transaction.atomic():
        InvoiceDocument.objects.filter(pk=document.pk).update(sha256="0" * 64)
    assert stored_pdf(invoice) == api_bytes


def test_a_batch_is_numbered_in_id_order_and_draws_the_credit_balance_in_turn() -> None:
    rich = make_customer("cus_rich")
    BalanceTransaction.objects.create(
        customer=rich, currency="USD", amount=Decimal("-150.00"), description="x"
    )
    one = make_draft(rich, billing_date=JAN_1)
    other = make_draft(make_customer("cus_other"), lines=[subscription_line("30.05")])
    two = make_draft(rich, billing_date=MAR_1)
    already = invoice_finalize(invoice_id=make_draft(make_customer()).pk, at=AT)

    done = invoices_finalize(invoice_ids=[two.pk, already.pk, other.pk, one.pk], at=AT)
    assert done == sorted([one.pk, other.pk, two.pk])  # the finalized one is skipped
    got = {
        inv.pk: (inv.number, inv.status, inv.total, inv.credits_applied, inv.amount_due)
        for inv in Invoice.objects.filter(pk__in=done)
    }
    assert got[one.pk] == ("INV-2026-000002", InvoiceStatus.PAID, Decimal("100.00"), Decimal("100.00"), 0)
    assert got[other.pk] == ("INV-2026-000003", InvoiceStatus.OPEN, Decimal("30.05"), 0, Decimal("30.05"))
    assert got[two.pk] == (
        "INV-2026-000004",
        InvoiceStatus.OPEN,
        Decimal("100.00"),
        Decimal("50.00"),
        Decimal("50.00"),
    )
    assert sorted(BalanceTransaction.objects.filter(invoice__in=done).values_list("amount", flat=True)) == [
        Decimal("50.00"),
        Decimal("100.00"),
    ]
    assert NumberSequence.objects.get(kind="INV", year=2026).last_value == 4
    assert Invoice.history.filter(id=one.pk, number="INV-2026-000002").exists()  # audited like one by one


@pytest.mark.django_db(transaction=True)
def test_batches_and_single_finalizations_at_once_leave_no_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; SQLite serializes every write")
    # the PDFs (rendered after each commit, eagerly here) are not what this test is about
    monkeypatch.setattr("invoicing.services.invoice_documents.invoice_pdf", lambda **kwargs: b"%PDF-1.7 x")
    customers = [make_customer(f"cus_worker_{w}") for w in range(3)]
    groups = [[make_draft(c, billing_date=JAN_1 + timedelta(days=d)).pk for d in range(8)] for c in customers]
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def work(index: int, ids: list[int]) -> None:
        try:
            barrier.wait(timeout=30)
            if index < 2:
                invoices_finalize(invoice_ids=ids, at=AT)
            else:
                for invoice_id in ids:
                    invoice_finalize(invoice_id=invoice_id, at=AT)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, ids)) for i, ids in enumerate(groups)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    numbers = sorted(str(n) for n in Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, 25)]
    for ids in groups[:2]:  # a batch takes a contiguous run of numbers, in id order
        values = [int(str(Invoice.objects.get(pk=pk).number)[-6:]) for pk in ids]
        assert values == list(range(values[0], values[0] + 8))
    assert InvoiceDocument.objects.count() == 24  # each rendered once, after its commit
