"""The invoice and credit-note API (API.md "Invoices"): shapes, roles, PDF, resend, query counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import Contact
from invoicing.models import CreditNote, EmailOutbox, Invoice, InvoiceDocument, InvoiceStatus, LineKind
from invoicing.services.drafts import LineDraft
from invoicing.services.finalization import invoice_finalize
from invoicing.services.payments import invoice_record_payment
from tests.invoicing.factories import (
    FEB_1,
    JAN_1,
    MAR_1,
    document_no,
    make_customer,
    make_draft,
    stored_pdf,
    subscription_line,
    usage_line,
)

pytestmark = pytest.mark.django_db

AT = datetime(2026, 2, 3, tzinfo=UTC)


def seat_proration() -> LineDraft:
    return LineDraft(
        kind=LineKind.PRORATION,
        description="Remaining time on 5 seats",
        amount=Decimal("45.00"),
        quantity=Decimal("5"),
        unit_amount=Decimal("9.00"),
        period_start=FEB_1,
        period_end=MAR_1,
    )


def sub_cent_usage() -> LineDraft:
    return LineDraft(
        kind=LineKind.USAGE,
        description="Requests",
        amount=Decimal("493.83"),
        quantity=Decimal("1234567"),
        unit_amount=Decimal("0.0004"),
        period_start=JAN_1,
        period_end=FEB_1,
    )


@pytest.fixture
def draft() -> Invoice:
    customer = make_customer("cus_api", tax_rate_percent=Decimal(0))
    return make_draft(customer, lines=[subscription_line("100.00"), usage_line("107.00"), seat_proration()])


def test_a_draft_has_no_number_and_its_money_is_decimal_strings(api: APIClient, draft: Invoice) -> None:
    response = api.get(f"/api/v1/invoices/{draft.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["number"] is None
    assert body["status"] == "draft"
    assert body["customer"] == "cus_api"
    assert body["currency"] == "USD"
    assert body["past_due"] is False
    assert (body["subtotal"], body["discount"], body["tax"], body["total"]) == (
        "252.00",
        "0.00",
        "0.00",
        "252.00",
    )
    assert (body["credits_applied"], body["amount_paid"], body["amount_due"]) == ("0.00", "0.00", "252.00")
    assert body["issued_at"] is None and body["due_at"] is None
    assert body["period_start"] == "2026-01-01T00:00:00Z"
    assert body["period_end"] == "2026-03-01T00:00:00Z"
    assert [line["kind"] for line in body["lines"]] == ["subscription", "usage", "proration"]
    usage = body["lines"][1]
    assert usage == {
        "description": "API calls",
        "kind": "usage",
        "quantity": "1500",
        "unit_amount": None,
        "amount": "107.00",
        "tax": "0.00",
        "period_start": "2026-01-01T00:00:00Z",
        "period_end": "2026-02-01T00:00:00Z",
    }
    assert body["lines"][2]["quantity"] == "5"
    assert body["lines"][2]["unit_amount"] == "9.00"


def test_sub_cent_unit_prices_keep_their_places(api: APIClient) -> None:
    invoice = make_draft(make_customer(), lines=[sub_cent_usage()])
    line = api.get(f"/api/v1/invoices/{invoice.pk}").json()["lines"][0]
    assert (line["quantity"], line["unit_amount"], line["amount"]) == ("1234567", "0.0004", "493.83")


def test_finalize_returns_the_numbered_invoice(api: APIClient, draft: Invoice) -> None:
    response = api.post(
        f"/api/v1/invoices/{draft.pk}/finalize", {"at": "2026-02-03T00:00:00Z"}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["number"], body["status"]) == ("INV-2026-000001", "open")
    assert body["issued_at"] == "2026-02-03T00:00:00Z"
    assert body["due_at"] == "2026-03-05T00:00:00Z"  # net 30
    # past_due follows the wall clock: test_documents_wall_clock.py freezes it on both sides of the due date
    again = api.post(f"/api/v1/invoices/{draft.pk}/finalize", format="json")
    assert (again.status_code, again.json()["number"]) == (200, "INV-2026-000001")


def test_finalize_replays_with_the_same_idempotency_key(api: APIClient, draft: Invoice) -> None:
    headers = {"Idempotency-Key": "fin-1"}
    first = api.post(f"/api/v1/invoices/{draft.pk}/finalize", format="json", headers=headers)
    second = api.post(f"/api/v1/invoices/{draft.pk}/finalize", format="json", headers=headers)
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"


def test_void_keeps_the_number(api: APIClient, draft: Invoice) -> None:
    invoice_finalize(invoice_id=draft.pk, at=AT)
    body = api.post(f"/api/v1/invoices/{draft.pk}/void", format="json").json()
    assert (body["number"], body["status"], body["amount_due"]) == ("INV-2026-000001", "void", "0.00")


def test_voiding_a_draft_is_a_409(api: APIClient, draft: Invoice) -> None:
    response = api.post(f"/api/v1/invoices/{draft.pk}/void", format="json")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "invalid_state"


def test_there_is_no_way_to_edit_an_invoice(api: APIClient, admin_user: Any, draft: Invoice) -> None:
    from tests.conftest import client_for

    invoice_finalize(invoice_id=draft.pk, at=AT)
    for client in (api, client_for(admin_user)):
        for method in ("patch", "put", "delete"):
            response = getattr(client, method)(
                f"/api/v1/invoices/{draft.pk}", {"total": "1.00"}, format="json"
            )
            assert response.status_code == 405, (method, response.content)
    assert Invoice.objects.get(pk=draft.pk).total == Decimal("252.00")


def test_unknown_invoice_is_404(api: APIClient) -> None:
    assert api.get("/api/v1/invoices/999999").status_code == 404
    assert api.post("/api/v1/invoices/999999/finalize", format="json").status_code == 404


def test_the_list_filters_by_customer_and_status(api: APIClient) -> None:
    acme, other = make_customer("cus_acme"), make_customer("cus_other")
    open_one = invoice_finalize(invoice_id=make_draft(acme, billing_date=JAN_1).pk, at=AT)
    make_draft(acme, billing_date=FEB_1)
    make_draft(other, billing_date=FEB_1)

    body = api.get("/api/v1/invoices", {"customer": "cus_acme"}).json()
    assert set(body) == {"results", "next"}
    assert len(body["results"]) == 2
    only_open = api.get("/api/v1/invoices", {"customer": "cus_acme", "status": "open"}).json()["results"]
    assert [i["id"] for i in only_open] == [open_one.pk]
    assert api.get("/api/v1/invoices", {"status": "bogus"}).status_code == 400
    assert api.get("/api/v1/invoices", {"customer": "cus_nobody"}).json()["results"] == []


def test_the_list_runs_the_same_queries_for_3_invoices_as_for_30(api: APIClient) -> None:
    def add(count: int) -> None:
        for _ in range(count):
            customer = make_customer()
            invoice = make_draft(customer, lines=[subscription_line(), usage_line()])
            if customer.pk % 2:
                invoice_finalize(invoice_id=invoice.pk, at=AT)

    def queries() -> int:
        # the token's last_used_at is written once a minute, not per request: a request just before
        # the measured one writes it if due, however slow the machine is
        api.get("/api/v1/invoices")
        with CaptureQueriesContext(connection) as captured:
            response = api.get("/api/v1/invoices", {"limit": 100})
        assert response.status_code == 200
        return len(captured)

    add(3)
    with_3 = queries()
    add(27)
    assert len(api.get("/api/v1/invoices", {"limit": 100}).json()["results"]) == 30
    assert queries() == with_3


def test_the_pdf_of_a_finalized_invoice_is_the_stored_one(api: APIClient, draft: Invoice) -> None:
    invoice = invoice_finalize(invoice_id=draft.pk, at=AT)
    response = api.get(f"/api/v1/invoices/{invoice.pk}/pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content == stored_pdf(invoice)
    assert 'filename="INV-2026-000001.pdf"' in response["Content-Disposition"]


def test_the_pdf_of_a_draft_is_rendered_on_the_fly(api: APIClient, draft: Invoice) -> None:
    response = api.get(f"/api/v1/invoices/{draft.pk}/pdf")
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    assert not InvoiceDocument.objects.filter(invoice=draft).exists()


def test_credit_notes_through_the_api(api: APIClient) -> None:
    invoice = invoice_finalize(
        invoice_id=make_draft(make_customer("cus_cn"), lines=[subscription_line("120.00")]).pk, at=AT
    )
    created = api.post(
        "/api/v1/credit-notes", {"invoice": invoice.pk, "amount": "100.00", "reason": "Outage"}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    # issued now: numbered in the sequence of the year it was issued in
    assert {k: body[k] for k in ("number", "invoice", "amount", "currency", "reason")} == {
        "number": document_no("CN", body["issued_at"], 1),
        "invoice": invoice.pk,
        "amount": "100.00",
        "currency": "USD",
        "reason": "Outage",
    }
    too_much = api.post(
        "/api/v1/credit-notes", {"invoice": invoice.pk, "amount": "20.01", "reason": "More"}, format="json"
    )
    assert too_much.status_code == 400
    error = too_much.json()["errors"][0]
    assert error["field"] == "amount"
    assert "20.00" in error["message"]
    rest = api.post(
        "/api/v1/credit-notes", {"invoice": invoice.pk, "amount": "20.00", "reason": "Rest"}, format="json"
    ).json()
    assert rest["number"] == document_no("CN", rest["issued_at"], 2)
    assert api.get(f"/api/v1/invoices/{invoice.pk}").json()["amount_due"] == "0.00"
    listed = api.get("/api/v1/credit-notes", {"invoice": invoice.pk}).json()["results"]
    assert [n["number"] for n in listed] == [rest["number"], body["number"]]


def test_credit_note_input_errors_are_400_on_the_field(api: APIClient) -> None:
    invoice = invoice_finalize(invoice_id=make_draft(make_customer()).pk, at=AT)
    for body, field in (
        ({"invoice": invoice.pk, "amount": "1.001", "reason": "x"}, "amount"),
        ({"invoice": invoice.pk, "amount": "abc", "reason": "x"}, "amount"),
        ({"invoice": invoice.pk, "amount": "-1.00", "reason": "x"}, "amount"),
        ({"invoice": invoice.pk, "amount": "1.00"}, "reason"),
        ({"invoice": invoice.pk, "amount": "1.00", "reason": "x", "bogus": 1}, "bogus"),
    ):
        response = api.post("/api/v1/credit-notes", body, format="json")
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["field"] == field
    draft = make_draft(make_customer())
    response = api.post(
        "/api/v1/credit-notes", {"invoice": draft.pk, "amount": "1.00", "reason": "x"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "invoice"
    assert not CreditNote.objects.exists()


def test_support_may_read_and_resend_but_not_finalize_void_or_credit(
    support_api: APIClient, draft: Invoice, django_capture_on_commit_callbacks: Any
) -> None:
    assert support_api.get(f"/api/v1/invoices/{draft.pk}").status_code == 200
    assert support_api.post(f"/api/v1/invoices/{draft.pk}/finalize", format="json").status_code == 403
    invoice = invoice_finalize(invoice_id=draft.pk, at=AT)
    assert support_api.post(f"/api/v1/invoices/{invoice.pk}/void", format="json").status_code == 403
    credit = support_api.post(
        "/api/v1/credit-notes", {"invoice": invoice.pk, "amount": "1.00", "reason": "x"}, format="json"
    )
    assert credit.status_code == 403
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.OPEN
    assert not CreditNote.objects.exists()

    Contact.objects.create(customer=invoice.customer, name="Ada", email="ada@acme.test")
    Contact.objects.create(
        customer=invoice.customer, name="Bob", email="bob@acme.test", receives_invoices=False
    )
    with django_capture_on_commit_callbacks(execute=True):  # the e-mail leaves after commit
        response = support_api.post(f"/api/v1/invoices/{invoice.pk}/resend", format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["sent_to"] == ["billing@acme.test", "ada@acme.test"]
    assert body["email"]["status"] == "pending"  # as the request committed it
    assert EmailOutbox.objects.get(pk=body["email"]["id"]).status == "sent"
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["billing@acme.test", "ada@acme.test"]
    assert "INV-2026-000001" in sent.subject
    (name, content, mimetype) = sent.attachments[0]
    assert (name, mimetype) == ("INV-2026-000001.pdf", "application/pdf")
    assert content == stored_pdf(invoice)


def test_sales_cannot_finalize(sales_api: APIClient, draft: Invoice) -> None:
    assert sales_api.post(f"/api/v1/invoices/{draft.pk}/finalize", format="json").status_code == 403
    assert sales_api.post(f"/api/v1/invoices/{draft.pk}/resend", format="json").status_code == 403


def test_a_draft_cannot_be_resent(api: APIClient, draft: Invoice) -> None:
    response = api.post(f"/api/v1/invoices/{draft.pk}/resend", format="json")
    assert response.status_code == 409
    assert mail.outbox == []


def test_paid_invoices_show_what_was_paid(api: APIClient, draft: Invoice) -> None:
    invoice = invoice_finalize(invoice_id=draft.pk, at=AT)
    invoice_record_payment(invoice_id=invoice.pk, amount=Decimal("252.00"), at=AT + timedelta(days=1))
    body = api.get(f"/api/v1/invoices/{invoice.pk}").json()
    assert (body["status"], body["amount_paid"], body["amount_due"], body["past_due"]) == (
        "paid",
        "252.00",
        "0.00",
        False,
    )


def test_the_schema_lists_the_invoice_endpoints(client: Any) -> None:
    content = client.get("/api/schema/").content
    for path in (b"/api/v1/invoices", b"/api/v1/invoices/{invoice_id}/finalize", b"/api/v1/credit-notes"):
        assert path in content
