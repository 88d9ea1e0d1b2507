"""Finance records a transfer or check payment and voids with a reason, from the invoice's page: a form,
a review of exactly what will be written, then the service."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse

from invoicing.models import Invoice, InvoiceStatus, Payment
from invoicing.services.credit_note_pdf import TEMPLATE, credit_note_context
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.finalization import invoice_finalize
from tests.invoicing.factories import make_customer, make_draft, subscription_line

pytestmark = pytest.mark.django_db

AT = datetime(2026, 2, 3, tzinfo=UTC)
CHANGELIST = "/admin/invoicing/invoice/"


def finalized(amount: str = "1534.50") -> Invoice:
    return invoice_finalize(
        invoice_id=make_draft(make_customer(), lines=[subscription_line(amount)]).pk, at=AT
    )


def reviewed(html: str) -> str:
    found = re.search(r'name="previewed" value="([0-9a-f]+)"', html)
    assert found, "no review on the page"
    return found.group(1)


def pay(client: Client, invoice: Invoice, amount: str, reference: str = "WIRE-1") -> tuple[str, object]:
    url = reverse("admin:invoicing_invoice_payment", args=(invoice.pk,))
    data = {
        "amount": amount,
        "method": "bank_transfer",
        "reference": reference,
        "received_at": "2026-02-10 09:00",
    }
    review = client.post(url, {**data, "preview": "1"}).content.decode()
    if "previewed" not in review:
        return review, None
    return review, client.post(url, {**data, "confirm": "1", "previewed": reviewed(review)})


def test_finance_records_a_transfer_in_two_parts_and_the_invoice_turns_paid(
    client: Client, finance_user: User
) -> None:
    invoice = finalized()
    client.force_login(finance_user)
    review, _ = pay(client, invoice, "1000.00", "WIRE-1")
    assert "$1,000.00 by bank transfer, reference WIRE-1" in review and "$534.50" in review
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("1000.00") and invoice.status == InvoiceStatus.OPEN
    review, _ = pay(client, invoice, "534.50", "WIRE-2")
    assert "the invoice becomes paid" in review
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
        InvoiceStatus.PAID,
        Decimal("1534.50"),
        Decimal("0.00"),
    )
    assert invoice.paid_at == datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
    assert list(Payment.objects.order_by("pk").values_list("method", "reference", "amount")) == [
        ("bank_transfer", "WIRE-1", Decimal("1000.00")),
        ("bank_transfer", "WIRE-2", Decimal("534.50")),
    ]


def test_a_payment_above_the_amount_due_is_refused_on_the_form(client: Client, finance_user: User) -> None:
    invoice = finalized("100.00")
    client.force_login(finance_user)
    url = reverse("admin:invoicing_invoice_payment", args=(invoice.pk,))
    data = {"amount": "100.01", "method": "check", "reference": "CHK-7", "received_at": "2026-02-10 09:00"}
    review = client.post(url, {**data, "preview": "1"}).content.decode()
    page = client.post(url, {**data, "confirm": "1", "previewed": reviewed(review)}).content.decode()
    assert "100.01 is more than the 100.00 USD due" in page
    assert not Payment.objects.exists()
    assert Invoice.objects.get(pk=invoice.pk).amount_due == Decimal("100.00")


def test_voiding_keeps_the_reason_and_shows_it(client: Client, finance_user: User) -> None:
    invoice = finalized()
    client.force_login(finance_user)
    url = reverse("admin:invoicing_invoice_void", args=(invoice.pk,))
    assert "This field is required" in client.post(url, {"reason": "", "preview": "1"}).content.decode()
    review = client.post(url, {"reason": "Billed twice", "preview": "1"}).content.decode()
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.OPEN
    client.post(url, {"reason": "Billed twice", "confirm": "1", "previewed": reviewed(review)})
    invoice.refresh_from_db()
    assert (invoice.status, invoice.void_reason, invoice.amount_due) == (
        InvoiceStatus.VOID,
        "Billed twice",
        0,
    )
    page = client.get(reverse("admin:invoicing_invoice_change", args=(invoice.pk,))).content.decode()
    assert "Billed twice" in page


def test_bulk_void_asks_for_a_reason(client: Client, finance_user: User) -> None:
    invoice = finalized()
    client.force_login(finance_user)
    asked = {"action": "void_selected", "_selected_action": [invoice.pk], "post": "yes"}
    assert 'name="reason"' in client.post(CHANGELIST, {**asked, "reason": ""}).content.decode()
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.OPEN
    client.post(CHANGELIST, {**asked, "reason": "Duplicate"})
    assert Invoice.objects.get(pk=invoice.pk).void_reason == "Duplicate"


@pytest.mark.parametrize("role", ["sales_user", "support_user"])
def test_only_finance_records_payments(client: Client, request: pytest.FixtureRequest, role: str) -> None:
    invoice = finalized()
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("admin:invoicing_invoice_payment", args=(invoice.pk,))).status_code == 403
    page = client.get(reverse("admin:invoicing_invoice_change", args=(invoice.pk,))).content.decode()
    assert "Record payment" not in page


def test_a_credit_note_has_a_pdf_linked_from_its_invoice(client: Client, support_user: User) -> None:
    invoice = finalized("120.00")
    note = credit_note_create(invoice_id=invoice.pk, amount=Decimal("20.00"), reason="Outage on Feb 2")
    client.force_login(support_user)
    page = client.get(reverse("admin:invoicing_invoice_change", args=(invoice.pk,))).content.decode()
    url = reverse("admin:invoicing_creditnote_pdf", args=(note.pk,))
    assert url in page  # the note and its PDF show on the invoice
    response = client.get(url)
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{note.number}.pdf"'
    assert response.content.startswith(b"%PDF-")
    context = credit_note_context(note=note)
    assert context["amount"] == "20,00\xa0US$"  # the customer's locale (DE), as on its invoice's PDF
    html = render_to_string(TEMPLATE, context)  # what the PDF draws
    assert "CREDIT NOTE" in html and note.number in html and f"{invoice.number} of " in html
    assert "20,00\xa0US$ credited" in html and "Outage on Feb 2" in html
