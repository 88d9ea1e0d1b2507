"""Invoice state changes: finalize (number, snapshot; the PDF after commit), void, mark uncollectible.

Recording a payment lives in ``payments``.

Every function here runs in ``transaction.atomic()``, locks the invoice row first (then, where the
credit balance moves, the customer row: always in that order, so two of these never deadlock) and
re-checks the state after locking.

Finalization (DESIGN.md "How data flows" step 3), all in one transaction:

1. the draft's usage is re-rated when late usage changed it (``late_usage.refresh_draft_usage``) and
   its totals are recomputed from its lines (``draft_totals_apply``);
2. the customer's credit balance is applied after tax: ``credits_applied = min(balance, total)``,
   recorded as a ``BalanceTransaction`` of ``+credits_applied`` (credit consumed);
3. a **credit invoice** (``total < 0``, e.g. a cancellation credit bigger than the usage) moves its
   negative total to the customer's credit balance: ``credits_applied = total`` (a *negative* figure,
   "credited to the balance"), a ``BalanceTransaction`` of ``total`` (negative = credit owed to the
   customer), ``amount_due = 0``. So ``credits_applied`` is signed — positive: taken from the balance,
   negative: given to it — and ``amount_due = total - credits_applied - amount_paid`` holds exactly
   for every invoice at finalization (``amount_credited`` is 0 until a credit note is issued);
4. a gap-free number ``INV-<year>-000001`` from the locked ``NumberSequence`` row of the issue year;
5. ``issued_at`` (``at`` or now), ``due_at = issued_at + net_terms_days``, status ``open`` — or
   ``paid`` at once when nothing is due (credits covered it, or a zero/credit invoice);
6. the customer's billing details and the seller (``settings.RATECARD_SELLER``) copied onto it.

The PDF is not rendered here: after the transaction commits, a task renders it from those snapshots
and stores it (``invoice_documents``), so the number sequence stays locked for milliseconds, not for a
WeasyPrint render. A payment that makes the invoice paid, or a void, queues its stamped PDF the same way.
The invoice of a ``send_invoice`` customer with something due is e-mailed with that PDF once, after
commit (``invoice_sending.invoices_email_on_finalize``); a ``charge_automatically`` one is collected by
Stripe (``stripe_sync.invoice_collect_queue``).
``invoices_finalize`` does the same for a batch of drafts (billing runs) with set-based reads and writes.

Finalizing an invoice that is already finalized (open, paid, uncollectible) returns it unchanged, so
a retried task or a double click is harmless; a void invoice is a 409.

Voiding: ``open`` / ``uncollectible`` -> ``void``; the number stays (it is never reused). A draft
cannot be voided (409: delete it or finalize it first — a void document must have been issued); a
paid or partly paid invoice, or one with credit notes, cannot be voided either (409: issue a credit
note for what is left). Credits the invoice consumed go back to the customer's balance.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Customer
from billing.pricing.money import round_amount
from config.errors import Conflict, ErrorCode, NotFound
from config.monitoring import count_after_commit
from invoicing.models import BalanceTransaction, Invoice, InvoiceLine, InvoiceStatus
from invoicing.monitoring import AMOUNT_INVOICED, INVOICES_FINALIZED
from invoicing.services.credit_ledger import CreditBook, invoice_draws_return
from invoicing.services.documents import (
    INVOICE_PREFIX,
    customer_snapshot,
    document_numbers,
    document_year,
    seller_snapshot,
)
from invoicing.services.drafts import draft_totals_apply
from invoicing.services.invoice_documents import invoice_documents_queue
from invoicing.services.invoice_sending import invoices_email_on_finalize
from invoicing.services.late_usage import drafts_with_stale_usage, refresh_draft_usage
from invoicing.services.stripe_sync import invoice_collect_queue

log = structlog.get_logger(__name__)

ZERO = Decimal(0)
FINALIZED = (InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE)
# what finalization writes on a draft, in one bulk update (totals included: credits change them)
FINALIZED_FIELDS = [
    "number",
    "status",
    "voided_at",
    "void_reason",
    "issued_at",
    "due_at",
    "paid_at",
    "customer_snapshot",
    "seller_snapshot",
    "subtotal",
    "discount",
    "tax",
    "total",
    "credits_applied",
    "amount_due",
    "updated_at",
]


def invoice_lock(invoice_id: int) -> Invoice:
    invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFound(f"No invoice with id {invoice_id}.", field="invoice")
    return invoice


def invoice_state_error(invoice: Invoice, action: str, hint: str = "") -> Conflict:
    name = invoice.number or f"draft #{invoice.pk}"
    return Conflict(
        f"Invoice {name} is {invoice.status}: it cannot be {action}.{(' ' + hint) if hint else ''}",
        field="invoice",
        code=ErrorCode.INVALID_STATE,
    )


def invoice_finalize(*, invoice_id: int, at: datetime | None = None, user: Any = None) -> Invoice:
    """Finalize a draft: credits, number, dates and snapshots in one transaction (module docs); its PDF
    is rendered after commit.

    Idempotent for an invoice that is already finalized; ``Conflict`` (409) for a void one.
    """
    with transaction.atomic():
        invoice = invoice_lock(invoice_id)
        if invoice.status in FINALIZED:
            return invoice
        if invoice.status != InvoiceStatus.DRAFT:
            raise invoice_state_error(invoice, "finalized")
        return _finalize_locked([invoice], at=at or timezone.now(), user=user)[0]


def invoices_finalize(*, invoice_ids: list[int], at: datetime | None = None, user: Any = None) -> list[int]:
    """Finalize many drafts in one transaction (a billing run's): what ``invoice_finalize`` does, with
    set-based reads and writes and one lock of the number sequence for the whole batch, so numbers stay
    gap-free and in invoice id order. Ids that are no longer drafts are skipped; returns the ids finalized.
    All or nothing: a failure rolls the whole batch back (the caller may retry the ids one by one).
    """
    with transaction.atomic():
        drafts = list(
            Invoice.objects.select_for_update()
            .filter(pk__in=invoice_ids, status=InvoiceStatus.DRAFT)
            .order_by("pk")
        )
        return [invoice.pk for invoice in _finalize_locked(drafts, at=at or timezone.now(), user=user)]


def _save_finalized(invoices: list[Invoice]) -> None:
    """Write ``FINALIZED_FIELDS`` of each invoice with one prepared UPDATE run for the whole batch
    (psycopg pipelines ``executemany``). Django's ``bulk_update`` builds a CASE per field and row, which
    cost more than the rest of finalization. Drafts only: the finalized-invoice trigger still applies."""
    meta = Invoice._meta
    quote = connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if field.name in FINALIZED_FIELDS]
    assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in fields)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote('id')} = %s"
    params = [
        [field.get_db_prep_save(getattr(invoice, field.attname), connection) for field in fields]
        + [invoice.pk]
        for invoice in invoices
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _record_history(invoices: list[Invoice], *, user: Any) -> None:
    """The audit rows of a finalization (django-simple-history's, as ``save()`` would write them), copied
    from the updated rows by one INSERT ... SELECT: building them in Python took half of the batch."""
    history = Invoice.history.model  # type: ignore[attr-defined]
    quote = connection.ops.quote_name
    copied = [
        quote(str(field.column))
        for field in history._meta.concrete_fields
        if not field.name.startswith("history_")
    ]
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    sql = (
        f"INSERT INTO {quote(history._meta.db_table)} ({', '.join(copied)}, history_date, history_type, "
        f"history_change_reason, history_user_id) SELECT {', '.join(copied)}, %s, '~', NULL, %s "
        f"FROM {quote(Invoice._meta.db_table)} WHERE id IN ({', '.join(['%s'] * len(invoices))}) ORDER BY id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [timezone.now(), user_id, *[invoice.pk for invoice in invoices]])


def _finalize_locked(invoices: list[Invoice], *, at: datetime, user: Any) -> list[Invoice]:
    """Finalize these drafts, locked by the caller in id order (module docs, steps 1-6)."""
    if not invoices:
        return []
    # late usage that arrived inside the grace window lands on the draft before it is frozen
    stale = drafts_with_stale_usage(invoice_ids=[invoice.pk for invoice in invoices])
    for invoice in invoices:
        if invoice.pk in stale:
            refresh_draft_usage(invoice_id=invoice.pk)
            invoice.refresh_from_db()
    customers = Customer.objects.select_for_update().in_bulk({inv.customer_id for inv in invoices})
    # credit drawable at ``at``: grants by priority then expiry (expired never), then the account balance
    book = CreditBook.load(customer_ids=list(customers), at=at)
    balances = book.balances()
    seller = seller_snapshot()
    now = timezone.now()
    lines: dict[int, list[tuple[Decimal, Decimal, str]]] = {invoice.pk: [] for invoice in invoices}
    for invoice_id, amount, tax, kind in InvoiceLine.objects.filter(invoice__in=invoices).values_list(
        "invoice_id", "amount", "tax", "kind"
    ):
        lines[invoice_id].append((amount, tax, kind))
    for invoice in invoices:
        customer = customers[invoice.customer_id]
        currency = invoice.currency
        key = (customer.pk, currency)
        balance = round_amount(balances.get(key, ZERO), currency)
        draft_totals_apply(invoice=invoice, lines=lines[invoice.pk], credits_available=balance)
        total = Decimal(invoice.total)
        if total < 0:
            # a credit invoice: its negative total becomes credit on the customer's balance
            invoice.credits_applied = total
            invoice.amount_due = round_amount(total - total - Decimal(invoice.amount_paid), currency)
        balances[key] = balance - Decimal(invoice.credits_applied)  # the next invoice sees what is left
        invoice.customer = customer
        invoice.updated_at = now  # auto_now does not apply to bulk updates
        invoice.issued_at = at
        invoice.due_at = at + timedelta(days=invoice.net_terms_days)
        invoice.customer_snapshot = customer_snapshot(customer)
        invoice.seller_snapshot = seller
        if invoice.amount_due <= 0:
            invoice.status = InvoiceStatus.PAID
            invoice.paid_at = at
        else:
            invoice.status = InvoiceStatus.OPEN
    closed = _close_zero_invoices(invoices, at=at)
    issued = [invoice for invoice in invoices if invoice.pk not in closed]
    # the numbers last: the sequence row stays locked from here to the commit, so only the writes below
    # (a few statements for the whole batch) wait on it
    numbers = document_numbers(kind=INVOICE_PREFIX, year=document_year(at), count=len(issued))
    entries: list[BalanceTransaction] = []
    for invoice, number in zip(issued, numbers, strict=True):
        invoice.number = number
        credits_applied = Decimal(invoice.credits_applied)
        if credits_applied:
            entries += book.entries(invoice=invoice, amount=credits_applied, number=number)
        log.info(
            "invoice.finalized",
            invoice_id=invoice.pk,
            customer_id=invoice.customer_id,
            number=number,
            total=str(invoice.total),
            credits_applied=str(credits_applied),
            amount_due=str(invoice.amount_due),
            status=invoice.status,
            user_id=getattr(user, "pk", None),
        )
    BalanceTransaction.objects.bulk_create(entries)
    _save_finalized(invoices)
    _record_history(invoices, user=user)
    invoice_documents_queue(invoice_ids=[invoice.pk for invoice in issued])
    # send_invoice customers get the invoice by e-mail, once, after commit (its PDF attached when sent)
    invoices_email_on_finalize(invoices=issued, user=user)
    for currency in sorted({invoice.currency for invoice in issued}):
        mine = [invoice for invoice in issued if invoice.currency == currency]
        count_after_commit(INVOICES_FINALIZED, len(mine), currency=currency)
        charged = sum((i.total for i in mine if i.total > 0), ZERO)
        credited = -sum((i.total for i in mine if i.total < 0), ZERO)
        if charged:
            count_after_commit(AMOUNT_INVOICED, charged, currency=currency, kind="charge")
        if credited:
            count_after_commit(AMOUNT_INVOICED, credited, currency=currency, kind="credit")
    # Stripe (issue #10): the outbox rows that collect them, in this transaction
    invoice_collect_queue(invoices=issued)
    return invoices


ZERO_NOT_ISSUED = "0.00: not issued (RATECARD_FINALIZE_ZERO_INVOICES is off)"


def _close_zero_invoices(invoices: list[Invoice], *, at: datetime) -> set[int]:
    """With ``RATECARD_FINALIZE_ZERO_INVOICES`` off, the drafts whose total is 0.00 are closed instead of
    issued: void, no number (so the number sequence stays gap-free over issued documents), no PDF, no
    e-mail. Their lines stay (the billed period is recorded, so nothing bills it again) and every figure
    is 0, so revenue, MRR and aging are unchanged. Returns their ids."""
    if settings.RATECARD_FINALIZE_ZERO_INVOICES:
        return set()
    closed = set()
    for invoice in invoices:
        if Decimal(invoice.total) == 0 and Decimal(invoice.credits_applied) == 0:
            invoice.status = InvoiceStatus.VOID
            invoice.paid_at = None
            invoice.voided_at = at
            invoice.void_reason = ZERO_NOT_ISSUED
            invoice.amount_due = ZERO
            closed.add(invoice.pk)
            log.info("invoice.zero_closed", invoice_id=invoice.pk, customer_id=invoice.customer_id)
    return closed


def invoice_void(
    *, invoice_id: int, at: datetime | None = None, user: Any = None, reason: str = ""
) -> Invoice:
    """Void an open or uncollectible invoice; it keeps its number and ``reason`` (the admin asks for
    one). Idempotent for a void invoice."""
    with transaction.atomic():
        invoice = invoice_lock(invoice_id)
        if invoice.status == InvoiceStatus.VOID:
            return invoice
        if invoice.status == InvoiceStatus.DRAFT:
            raise invoice_state_error(invoice, "voided", "Delete the draft or finalize it first.")
        if invoice.status == InvoiceStatus.PAID:
            raise invoice_state_error(invoice, "voided", "Issue a credit note instead.")
        if invoice.amount_paid > 0:
            raise invoice_state_error(invoice, "voided", "It is partly paid: issue a credit note instead.")
        if invoice.credit_notes.exists():
            raise invoice_state_error(invoice, "voided", "It has credit notes: credit what is left instead.")
        credits_applied = Decimal(invoice.credits_applied)
        if credits_applied:
            Customer.objects.select_for_update().get(pk=invoice.customer_id)
            invoice_draws_return(invoice=invoice)  # to the grants (or account balance) it drew from
        invoice.status = InvoiceStatus.VOID
        invoice.voided_at = at or timezone.now()
        invoice.amount_due = ZERO
        invoice.void_reason = reason.strip()
        invoice.save(update_fields=["status", "voided_at", "void_reason", "amount_due", "updated_at"])
        invoice_documents_queue(invoice_ids=[invoice.pk])  # the VOID-stamped PDF, after commit
        log.info(
            "invoice.voided",
            invoice_id=invoice.pk,
            customer_id=invoice.customer_id,
            number=invoice.number,
            credits_returned=str(credits_applied),
            reason=invoice.void_reason,
            user_id=getattr(user, "pk", None),
        )
        return invoice


def invoice_mark_uncollectible(*, invoice_id: int, at: datetime | None = None, user: Any = None) -> Invoice:
    """An open invoice nobody expects to be paid: ``uncollectible`` (it can still be paid or voided)."""
    with transaction.atomic():
        invoice = invoice_lock(invoice_id)
        if invoice.status == InvoiceStatus.UNCOLLECTIBLE:
            return invoice
        if invoice.status != InvoiceStatus.OPEN:
            raise invoice_state_error(invoice, "marked uncollectible")
        invoice.status = InvoiceStatus.UNCOLLECTIBLE
        invoice.marked_uncollectible_at = at or timezone.now()
        invoice.save(update_fields=["status", "marked_uncollectible_at", "updated_at"])
        log.info(
            "invoice.marked_uncollectible",
            invoice_id=invoice.pk,
            customer_id=invoice.customer_id,
            number=invoice.number,
            amount_due=str(invoice.amount_due),
            user_id=getattr(user, "pk", None),
        )
        return invoice
