"""The invoice admin: read-only documents, confirmed actions by role, credit notes, billing runs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from invoicing.models import BillingRun, BillingRunFailure, CreditNote, Invoice, InvoiceStatus, Payment
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.finalization import invoice_finalize
from invoicing.services.payments import invoice_record_payment
from tests.invoicing.factories import (
    FEB_1,
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
CHANGELIST = "/admin/invoicing/invoice/"


def logged_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def change_url(obj: Any) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=(obj.pk,))


def finalized(amount: str = "120.00") -> Invoice:
    return invoice_finalize(
        invoice_id=make_draft(make_customer(), lines=[subscription_line(amount)]).pk, at=AT
    )


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_nobody_changes_a_finalized_invoice_in_the_admin(
    client: Client, finance_user: User, support_user: User, admin_user: User
) -> None:
    invoice = finalized()
    for user in (support_user, finance_user, admin_user):
        c = logged_in(client, user)
        page = c.get(change_url(invoice))
        assert page.status_code == 200
        assert 'name="_save"' not in page.content.decode()
        response = c.post(
            change_url(invoice), {"total": "1.00", "number": "X", "status": "draft", "memo": "x"}
        )
        assert response.status_code == 403
        assert c.get(reverse("admin:invoicing_invoice_delete", args=(invoice.pk,))).status_code == 403
    stored = Invoice.objects.get(pk=invoice.pk)
    assert (stored.total, stored.number, stored.status, stored.memo) == (
        Decimal("120.00"),
        "INV-2026-000001",
        InvoiceStatus.OPEN,
        "",
    )


def test_the_invoice_page_shows_lines_totals_and_the_buttons_finance_may_use(
    client: Client, finance_user: User, support_user: User
) -> None:
    invoice = finalized()
    content = logged_in(client, finance_user).get(change_url(invoice)).content.decode()
    for text in (
        "INV-2026-000001",
        "Pro plan",
        "$120.00",
        "Download PDF",
        "Void",
        "Create credit note",
        "Resend",
    ):
        assert text in content, text
    support_page = logged_in(client, support_user).get(change_url(invoice)).content.decode()
    assert "Download PDF" in support_page and "Resend to customer" in support_page
    assert reverse("admin:invoicing_invoice_void", args=(invoice.pk,)) not in support_page
    assert reverse("admin:invoicing_invoice_credit", args=(invoice.pk,)) not in support_page


def test_the_pdf_download(client: Client, support_user: User) -> None:
    invoice = finalized()
    response = logged_in(client, support_user).get(reverse("admin:invoicing_invoice_pdf", args=(invoice.pk,)))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content == stored_pdf(invoice)


def test_finalize_selected_asks_first_then_reports_each_row(client: Client, finance_user: User) -> None:
    customer = make_customer()
    drafts = [make_draft(customer, billing_date=d) for d in (FEB_1, MAR_1)]
    # finalized now, as the action finalizes the drafts: all three numbers are of the same year
    void_one = invoice_finalize(
        invoice_id=make_draft(make_customer(), lines=[subscription_line("120.00")]).pk
    )
    from invoicing.services.finalization import invoice_void

    invoice_void(invoice_id=void_one.pk)
    c = logged_in(client, finance_user)
    ids = [str(d.pk) for d in drafts] + [str(void_one.pk)]
    confirm = c.post(CHANGELIST, {"action": "finalize_selected", "_selected_action": ids})
    assert confirm.status_code == 200
    assert "Yes, finalize them" in confirm.content.decode()
    assert Invoice.objects.filter(status=InvoiceStatus.DRAFT).count() == 2  # nothing happened yet

    done = c.post(
        CHANGELIST, {"action": "finalize_selected", "_selected_action": ids, "post": "yes"}, follow=True
    )
    notes = messages_of(done)
    assert "Finalized 2 invoice(s)." in notes
    assert any(str(void_one.number) in n and "void" in n for n in notes)  # the void one failed, named
    assert sorted(
        str(n) for n in Invoice.objects.exclude(pk=void_one.pk).values_list("number", flat=True)
    ) == [document_no("INV", void_one.issued_at, n) for n in (2, 3)]
    assert void_one.number == document_no("INV", void_one.issued_at, 1)


def test_support_has_no_money_actions(client: Client, support_user: User) -> None:
    draft = make_draft(make_customer())
    c = logged_in(client, support_user)
    page = c.get(CHANGELIST).content.decode()
    assert "resend_selected" in page
    for action in ("finalize_selected", "void_selected", "create_credit_note"):
        assert action not in page
    c.post(CHANGELIST, {"action": "finalize_selected", "_selected_action": [draft.pk], "post": "yes"})
    assert c.get(reverse("admin:invoicing_invoice_finalize", args=(draft.pk,))).status_code == 403
    assert (
        c.post(reverse("admin:invoicing_invoice_finalize", args=(draft.pk,)), {"post": "yes"}).status_code
        == 403
    )
    assert c.get(reverse("admin:invoicing_invoice_credit", args=(draft.pk,))).status_code == 403
    assert Invoice.objects.get(pk=draft.pk).status == InvoiceStatus.DRAFT


def test_support_resends_an_invoice(
    client: Client, support_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    invoice = finalized()
    c = logged_in(client, support_user)
    url = reverse("admin:invoicing_invoice_resend", args=(invoice.pk,))
    assert "Yes, send it" in c.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # the e-mail leaves after commit
        response = c.post(url, {"post": "yes"}, follow=True)
    assert "Queued 1 e-mail(s)" in " ".join(messages_of(response))
    assert mail.outbox[0].to == ["billing@acme.test"]


def test_void_from_the_invoice_page_keeps_the_number(client: Client, finance_user: User) -> None:
    invoice = finalized()
    c = logged_in(client, finance_user)
    url = reverse("admin:invoicing_invoice_void", args=(invoice.pk,))
    assert c.get(url).status_code == 200
    c.post(url, {"post": "yes"})
    stored = Invoice.objects.get(pk=invoice.pk)
    assert (stored.status, stored.number) == (InvoiceStatus.VOID, "INV-2026-000001")


def test_the_credit_note_form_shows_the_service_error_and_creates_the_note(
    client: Client, finance_user: User
) -> None:
    invoice = finalized("120.00")
    c = logged_in(client, finance_user)
    url = reverse("admin:invoicing_invoice_credit", args=(invoice.pk,))
    page = c.get(url).content.decode()
    assert "Left creditable: $120.00" in page

    too_much = c.post(url, {"amount": "120.01", "reason": "Outage"})
    assert too_much.status_code == 200
    assert "left creditable" in too_much.content.decode()
    assert not CreditNote.objects.exists()

    done = c.post(url, {"amount": "100.00", "reason": "Outage"}, follow=True)
    note = CreditNote.objects.get()  # issued now: numbered in this year's sequence
    assert note.number == document_no("CN", note.issued_at, 1)
    assert any(note.number in n for n in messages_of(done))
    assert Invoice.objects.get(pk=invoice.pk).amount_due == Decimal("20.00")
    # the invoice page's figures: 120.00 - 100.00 credited = 20.00 due
    figures = c.get(change_url(invoice)).content.decode()
    assert '<td>Credit notes</td><td style="text-align:right">$100.00</td>' in figures
    assert '<td>Amount due</td><td style="text-align:right">$20.00</td>' in figures

    # the action on the list sends finance to the same form
    redirect = c.post(CHANGELIST, {"action": "create_credit_note", "_selected_action": [invoice.pk]})
    assert redirect.status_code == 302 and redirect["Location"] == url


def test_credit_notes_and_payments_are_read_only(client: Client, finance_user: User) -> None:
    invoice = finalized()
    note = credit_note_create(invoice_id=invoice.pk, amount=Decimal("10.00"), reason="x", at=AT)
    payment = invoice_record_payment(invoice_id=invoice.pk, amount=Decimal("10.00"), at=AT)
    c = logged_in(client, finance_user)
    for obj, data in ((note, {"amount": "99.00", "reason": "y"}), (payment, {"amount": "99.00"})):
        assert c.get(change_url(obj)).status_code == 200
        assert c.post(change_url(obj), data).status_code == 403
    assert c.get(reverse("admin:invoicing_creditnote_add")).status_code == 403
    assert CreditNote.objects.get().amount == Decimal("10.00")
    assert Payment.objects.get().amount == Decimal("10.00")
    assert c.get(reverse("admin:invoicing_creditnote_history", args=(note.pk,))).status_code == 200


def test_the_invoice_list_runs_the_same_queries_for_3_rows_as_for_30(
    client: Client, finance_user: User
) -> None:
    c = logged_in(client, finance_user)

    def add(count: int) -> None:
        for _ in range(count):
            draft = make_draft(make_customer(), lines=[subscription_line(), usage_line()])
            if draft.pk % 2:
                invoice_finalize(invoice_id=draft.pk, at=AT)

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert c.get(url).status_code == 200
        return len(captured)

    add(3)
    invoices, credit_notes = queries(CHANGELIST), queries("/admin/invoicing/creditnote/")
    add(27)
    assert queries(CHANGELIST) == invoices
    assert queries("/admin/invoicing/creditnote/") == credit_notes


def test_search_by_number_and_customer(client: Client, support_user: User) -> None:
    invoice = finalized()
    c = logged_in(client, support_user)
    assert "INV-2026-000001" in c.get(CHANGELIST, {"q": "INV-2026-000001"}).content.decode()
    assert "INV-2026-000001" in c.get(CHANGELIST, {"q": invoice.customer.external_id}).content.decode()
    assert c.get(CHANGELIST, {"status__exact": "open", "past_due": "yes"}).status_code == 200


# --- billing runs -----------------------------------------------------------------------------------


@pytest.fixture
def run_with_drafts() -> tuple[BillingRun, list[Invoice]]:
    run = BillingRun.objects.create(
        as_of=MAR_1, status=BillingRun.Status.COMPLETED_WITH_FAILURES, failures_count=1
    )
    drafts = []
    for _ in range(2):
        customer = make_customer()
        drafts.append(make_draft(customer, lines=[subscription_line()], billing_date=MAR_1, run=run))
    BillingRunFailure.objects.create(run=run, customer=drafts[0].customer, error="ValueError: no price")
    return run, drafts


def test_the_billing_run_screen_shows_counts_and_failures(
    client: Client, support_user: User, run_with_drafts: tuple[BillingRun, list[Invoice]]
) -> None:
    run, _ = run_with_drafts
    c = logged_in(client, support_user)
    listing = c.get("/admin/invoicing/billingrun/")
    assert listing.status_code == 200
    page = c.get(change_url(run)).content.decode()
    assert "ValueError: no price" in page
    assert "Finalize all drafts of this run" not in page  # support may not
    assert c.get(reverse("admin:invoicing_billingrun_finalize_drafts", args=(run.pk,))).status_code == 403


def test_finance_finalizes_all_drafts_of_a_run_after_confirming(
    client: Client, finance_user: User, run_with_drafts: tuple[BillingRun, list[Invoice]]
) -> None:
    run, drafts = run_with_drafts
    other_draft = make_draft(make_customer())  # not of this run
    c = logged_in(client, finance_user)
    assert "Finalize all drafts of this run" in c.get(change_url(run)).content.decode()
    url = reverse("admin:invoicing_billingrun_finalize_drafts", args=(run.pk,))
    confirm = c.get(url)
    assert "Finalize these 2 draft invoice(s)?" in confirm.content.decode()
    assert Invoice.objects.filter(status=InvoiceStatus.DRAFT).count() == 3

    done = c.post(url, {"post": "yes"}, follow=True)
    assert any("finalized 2 invoice(s)" in n for n in messages_of(done))
    assert set(Invoice.objects.filter(pk__in=[d.pk for d in drafts]).values_list("status", flat=True)) == {
        "open"
    }
    assert Invoice.objects.get(pk=other_draft.pk).status == InvoiceStatus.DRAFT

    # the list action does the same, with its own confirmation
    again = c.post(
        "/admin/invoicing/billingrun/", {"action": "finalize_run_drafts", "_selected_action": [run.pk]}
    )
    assert "There is no draft to finalize." in again.content.decode()
