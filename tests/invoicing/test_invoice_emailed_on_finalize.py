"""A ``send_invoice`` customer gets its invoice by e-mail when it is finalized: once, after commit, with the
stored PDF attached; nothing for a ``charge_automatically`` customer or an invoice with nothing to pay;
a billing run's batch writes them with a constant number of queries."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import Contact
from invoicing.models import BalanceTransaction, EmailOutbox, Invoice, StripeOutbox
from invoicing.services.finalization import invoice_finalize, invoices_finalize
from invoicing.tasks import render_invoice_documents
from tests.invoicing.factories import document_no, make_customer, make_draft, stored_pdf, subscription_line

pytestmark = pytest.mark.django_db

AT = datetime(2026, 2, 3, 9, 30, tzinfo=UTC)


class Boom(Exception):
    pass


def transfer_customer(external_id: str, **fields: Any) -> Any:
    customer = make_customer(external_id, collection_method="send_invoice", **fields)
    Contact.objects.create(customer=customer, name="Ada", email=f"ada@{external_id}.test")
    return customer


def test_a_billing_runs_batch_e_mails_each_send_invoice_customer_its_invoice_with_the_pdf_once(
    django_capture_on_commit_callbacks: Any,
) -> None:
    acme = make_draft(transfer_customer("acme"), lines=[subscription_line("180.00")])
    card = make_draft(make_customer("card", collection_method="charge_automatically"))
    globex = make_draft(
        transfer_customer("globex", email="ap@globex.test"), lines=[subscription_line("49.50")]
    )
    with django_capture_on_commit_callbacks(execute=True):
        invoices_finalize(invoice_ids=[acme.pk, card.pk, globex.pk], at=AT)

    acme = Invoice.objects.get(pk=acme.pk)
    number = document_no("INV", AT, 1)
    assert (acme.number, acme.amount_due) == (number, Decimal("180.00"))
    # the card customer is charged by Stripe, not asked to pay by e-mail
    sent, to_globex = sorted(mail.outbox, key=lambda message: message.subject)
    assert (to_globex.to, to_globex.subject) == (
        ["ap@globex.test", "ada@globex.test"],
        f"Invoice {document_no('INV', AT, 3)} from Meshwork Networks, Inc.",
    )
    assert ": 49,50\xa0US$ due on 2026-03-05." in to_globex.body
    assert sent.to == ["billing@acme.test", "ada@acme.test"]
    assert sent.subject == f"Invoice {number} from Meshwork Networks, Inc."
    # the amount as its PDF shows it, in the customer's (German) conventions; due after its 30-day terms
    assert f"Please find attached invoice {number}: 180,00\xa0US$ due on 2026-03-05." in sent.body
    (name, content, mimetype) = sent.attachments[0]
    assert (name, mimetype) == (f"{number}.pdf", "application/pdf")
    assert content.startswith(b"%PDF") and content == stored_pdf(acme)
    rows = EmailOutbox.objects.order_by("id").values_list("invoice_id", "kind", "step", "status")
    assert list(rows) == [(acme.pk, "invoice", 1, "sent"), (globex.pk, "invoice", 1, "sent")]

    # finalizing again (a double click, a retried task or run) sends nothing more
    with django_capture_on_commit_callbacks(execute=True):
        invoice_finalize(invoice_id=acme.pk, at=AT)
        assert invoices_finalize(invoice_ids=[acme.pk, card.pk, globex.pk], at=AT) == []
    assert len(mail.outbox) == 2 and EmailOutbox.objects.count() == 2


def test_a_rolled_back_finalization_e_mails_nothing(django_capture_on_commit_callbacks: Any) -> None:
    draft = make_draft(transfer_customer("acme"))
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Boom), transaction.atomic():
        invoice_finalize(invoice_id=draft.pk, at=AT)
        raise Boom
    assert mail.outbox == [] and not EmailOutbox.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        invoice_finalize(invoice_id=draft.pk, at=AT)
    assert len(mail.outbox) == 1


def test_the_e_mail_sent_before_the_render_task_ran_still_carries_the_pdf(
    django_capture_on_commit_callbacks: Any,
) -> None:
    draft = make_draft(transfer_customer("acme"))
    with django_capture_on_commit_callbacks() as callbacks:
        invoice = invoice_finalize(invoice_id=draft.pk, at=AT)
    [send] = [c for c in callbacks if "_send_after_commit" in c.__qualname__]
    send()  # a worker takes the e-mail before the render task: it renders and stores the PDF itself
    (_, content, _) = mail.outbox[0].attachments[0]
    assert content.startswith(b"%PDF") and content == stored_pdf(invoice)
    assert render_invoice_documents(invoice_ids=[invoice.pk]) == 0  # the render task finds it stored


def test_an_invoice_with_nothing_to_pay_is_not_e_mailed() -> None:
    free = make_draft(transfer_customer("free"), lines=[subscription_line("0.00", "Free plan")])
    credit = make_draft(transfer_customer("credit"), lines=[subscription_line("-20.00", "Downgrade credit")])
    covered_customer = transfer_customer("covered")
    BalanceTransaction.objects.create(
        customer=covered_customer, currency="USD", amount=Decimal("-100.00"), description="Goodwill"
    )
    covered = make_draft(covered_customer, lines=[subscription_line("100.00")])
    nobody = make_draft(make_customer("nobody", collection_method="send_invoice", email=""))
    invoices_finalize(invoice_ids=[free.pk, credit.pk, covered.pk, nobody.pk], at=AT)
    figures = {
        invoice.customer.external_id: (invoice.status, invoice.total, invoice.amount_due)
        for invoice in Invoice.objects.select_related("customer")
    }
    assert figures == {
        "free": ("paid", Decimal("0.00"), Decimal("0.00")),
        "credit": ("paid", Decimal("-20.00"), Decimal("0.00")),
        "covered": ("paid", Decimal("100.00"), Decimal("0.00")),  # the balance paid it
        "nobody": ("open", Decimal("100.00"), Decimal("100.00")),  # no address: logged, finance sends it
    }
    assert not EmailOutbox.objects.exists()  # no row: nothing is sent after commit


def queries_to_finalize(drafts: list[Invoice]) -> int:
    with CaptureQueriesContext(connection) as captured:
        invoices_finalize(invoice_ids=[draft.pk for draft in drafts], at=AT)
    return len(captured)


def test_finalizing_a_batch_costs_the_same_queries_for_2_or_8_invoices(settings: Any) -> None:
    settings.STRIPE_API_KEY = "sk_test_queries_only"  # card invoices queue their collection too (not sent)

    def batch(prefix: str, size: int) -> list[Invoice]:
        drafts = []
        for n in range(size):
            if n % 2:
                customer = make_customer(f"{prefix}-card-{n}", collection_method="charge_automatically")
            else:
                customer = transfer_customer(f"{prefix}-transfer-{n}")
            drafts.append(make_draft(customer, lines=[subscription_line(f"{10 + n}.00")]))
        return drafts

    queries_to_finalize(batch("first", 2))  # the year's number sequence row is created once
    few, many = queries_to_finalize(batch("few", 2)), queries_to_finalize(batch("many", 8))
    assert few == many
    kinds = set(EmailOutbox.objects.values_list("kind", "step"))
    assert (EmailOutbox.objects.count(), kinds) == (6, {("invoice", 1)})  # one per transfer customer
    assert sorted(StripeOutbox.objects.values_list("key", flat=True)) == sorted(
        f"invoice-{i.pk}-payment-1" for i in Invoice.objects.filter(customer__external_id__contains="-card-")
    )
