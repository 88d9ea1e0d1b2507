"""Finance edits a draft during its review window (before it is finalized): one-off lines in and out.

A line added here is a ``one_off`` line marked ``{"added_in_review": true}`` in its detail; only such
lines can be removed again. Lines the billing code wrote (fees, usage, prorations, one-off charges from
pending lines) stay: removing them would leave a billed period without its line. Both go through the
one draft writer: an added line is an ``InvoicePlan`` for the draft's own (customer, billing date, group)
written by ``write_invoice_plans``, a removal recomputes with ``recalculate_drafts``, so the lines' tax
and the totals come from the same arithmetic as a billing run's. A finalized invoice refuses both (409): corrections are credit notes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import structlog
from django.db import transaction

from billing.pricing.money import round_amount
from config.errors import Conflict, ErrorCode, NotFound, ValidationFailed
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus, LineKind
from invoicing.services.drafts import InvoicePlan, LineDraft, recalculate_drafts, write_invoice_plans

log = structlog.get_logger(__name__)

ADDED_IN_REVIEW = "added_in_review"


def _locked_draft(invoice_id: int) -> Invoice:
    invoice = Invoice.objects.select_for_update().select_related("customer").filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFound(f"No invoice with id {invoice_id}.", field="invoice")
    if invoice.status != InvoiceStatus.DRAFT:
        raise Conflict(
            f"Invoice {invoice.number or invoice.pk} is {invoice.status}: only a draft's lines change; "
            "issue a credit note instead.",
            field="invoice",
            code=ErrorCode.INVALID_STATE,
        )
    return invoice


def draft_line_add(
    *,
    invoice_id: int,
    description: str,
    unit_amount: Decimal,
    quantity: Decimal = Decimal(1),
    user: Any = None,
) -> InvoiceLine:
    """Add a one-off line (``quantity`` x ``unit_amount``, rounded once) to a draft; totals recompute."""
    description = description.strip()
    if not description:
        raise ValidationFailed("Say what the line is for.", field="description")
    if quantity <= 0:
        raise ValidationFailed("A quantity must be positive.", field="quantity")
    with transaction.atomic():
        invoice = _locked_draft(invoice_id)
        amount = round_amount(unit_amount * quantity, invoice.currency)
        draft = LineDraft(
            kind=LineKind.ONE_OFF,
            description=description,
            amount=amount,
            quantity=quantity,
            unit_amount=unit_amount,
            detail={ADDED_IN_REVIEW: True, "by": getattr(user, "pk", None)},
        )
        plan = InvoicePlan(
            customer_id=invoice.customer_id,
            billing_date=invoice.billing_date,
            group_key=invoice.group_key,
            subscription_id=invoice.subscription_id,
            tax_rate=Decimal(invoice.customer.tax_rate_percent),
            currency=invoice.currency,
            net_terms_days=invoice.net_terms_days,
            lines=[draft],
        )
        # the draft is locked and found by its key, so the writer appends to it (it never makes another)
        write_invoice_plans(plans=[plan], run=None)
        line = InvoiceLine.objects.filter(invoice=invoice).latest("position", "pk")
        log.info(
            "invoice.draft_line_added",
            invoice_id=invoice.pk,
            customer_id=invoice.customer_id,
            line_id=line.pk,
            amount=str(amount),
            user_id=getattr(user, "pk", None),
        )
        return line


def draft_line_remove(*, line_id: int, user: Any = None) -> Invoice:
    """Remove a line added in review from its draft; totals recompute. Returns the draft."""
    line = InvoiceLine.objects.filter(pk=line_id).only("invoice_id").first()
    if line is None:
        raise NotFound(f"No invoice line with id {line_id}.", field="line")
    with transaction.atomic():
        invoice = _locked_draft(line.invoice_id)
        line = InvoiceLine.objects.select_for_update().get(pk=line_id)
        if not (line.detail or {}).get(ADDED_IN_REVIEW):
            raise Conflict(
                "Only a line added in review can be removed: the billing code wrote this one.",
                field="line",
                code=ErrorCode.INVALID_STATE,
            )
        amount = line.amount
        line.delete()  # audited: InvoiceLine keeps a history row of the deletion
        recalculate_drafts([invoice.pk])
        invoice.refresh_from_db()
        log.info(
            "invoice.draft_line_removed",
            invoice_id=invoice.pk,
            customer_id=invoice.customer_id,
            line_id=line_id,
            amount=str(amount),
            user_id=getattr(user, "pk", None),
        )
        return invoice
