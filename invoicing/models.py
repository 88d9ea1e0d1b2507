"""Invoices, their lines, billing records, credit notes, payments and number sequences.

Billing runs live in ``invoicing.run_models``, stored documents and e-mails in ``invoicing.document_models``.

A finalized invoice never changes: after finalization only status, payment fields and voiding move
(enforced in ``Invoice.save``/``InvoiceLine.save`` and by database triggers, see migrations).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from accounts.audit import history_user
from accounts.models import Customer
from billing.display import format_money
from billing.models import PendingLine, Price, Subscription

# billing runs live in their own module (imported here so Django and callers find them)
from invoicing.run_models import BillingRun, BillingRunChunk, BillingRunFailure  # noqa: F401


def amount_field(**kwargs: Any) -> models.DecimalField:
    """An invoice amount: rounded to the currency before it is stored (4 places leave room for KWD)."""
    return models.DecimalField(max_digits=20, decimal_places=4, **kwargs)


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class LineKind(models.TextChoices):
    SUBSCRIPTION = "subscription"
    USAGE = "usage"
    PRORATION = "proration"
    DISCOUNT = "discount"
    COMMITMENT = "commitment"
    ONE_OFF = "one_off"
    ADJUSTMENT = "adjustment"


class FinalizedInvoiceError(Exception):
    """Raised when code tries to change what a finalized invoice says."""


# Fields of a finalized invoice that may still change (payment state and links).
MUTABLE_AFTER_FINALIZE = frozenset(
    {
        "status",
        "amount_paid",
        "amount_credited",
        "amount_due",
        "paid_at",
        "voided_at",
        "void_reason",
        "marked_uncollectible_at",
        "stripe_payment_intent_id",
        "payment_failed_at",
        "dunning_step",
        "next_dunning_at",
        "updated_at",
    }
)


class Invoice(models.Model):
    """An invoice: draft while it gathers lines, then finalized (numbered, frozen), then paid or void."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    billing_run = models.ForeignKey(
        BillingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="invoices"
    )
    number = models.CharField(max_length=32, null=True, blank=True, unique=True)
    status = models.CharField(
        max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT, db_index=True
    )
    currency = models.CharField(max_length=3)
    billing_date = models.DateTimeField(
        help_text="The instant this invoice bills for; one draft per customer per date."
    )
    group_key = models.CharField(max_length=64, default="", blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    subtotal = amount_field(default=0)
    discount = amount_field(default=0)
    tax = amount_field(default=0)
    total = amount_field(default=0)
    credits_applied = amount_field(default=0)
    amount_paid = amount_field(default=0)
    # the credit notes issued against this invoice (grows after finalization, never shrinks)
    amount_credited = amount_field(default=0)
    amount_due = amount_field(default=0)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True, help_text="Why finance voided the invoice (kept, shown).")
    marked_uncollectible_at = models.DateTimeField(null=True, blank=True)
    payment_failed_at = models.DateTimeField(null=True, blank=True)
    dunning_step = models.PositiveSmallIntegerField(default=0)
    next_dunning_at = models.DateTimeField(null=True, blank=True)
    customer_snapshot = models.JSONField(default=dict, blank=True, help_text="Billing details as issued.")
    seller_snapshot = models.JSONField(default=dict, blank=True)
    net_terms_days = models.PositiveIntegerField(default=0)
    # Legacy: PDFs are InvoiceDocument rows now (0003 copied these bytes there). The column stays because
    # 0002's frozen-invoice trigger guards it; nothing writes it any more.
    pdf = models.BinaryField(null=True, blank=True, editable=False)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    memo = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["pdf"], get_user=history_user)

    class Meta:
        ordering: ClassVar = ["-billing_date", "-id"]
        permissions: ClassVar = [
            ("finalize_invoice", "Can finalize, void and credit invoices"),
            ("resend_invoice", "Can resend an invoice to the customer"),
        ]
        constraints: ClassVar = [
            # one draft per customer, billing date and group: a second run or worker finds it, never a twin
            models.UniqueConstraint(
                fields=["customer", "billing_date", "group_key"],
                condition=models.Q(status="draft"),
                name="invoice_one_draft_per_customer_date_group",
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["customer", "status"], name="invoice_customer_status_idx"),
            models.Index(fields=["status", "due_at"], name="invoice_status_due_idx"),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft #{self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Below the admin and the API: a finalized invoice's figures never change.
        if self.pk is not None:
            stored = (
                Invoice.objects.filter(pk=self.pk)
                .values(*[f.attname for f in self._meta.concrete_fields if f.attname != "pdf"])
                .first()
            )
            if stored and stored["status"] != InvoiceStatus.DRAFT:
                changed = [
                    name
                    for name, old in stored.items()
                    if name not in MUTABLE_AFTER_FINALIZE and getattr(self, name) != old
                ]
                if changed:
                    raise FinalizedInvoiceError(
                        f"Invoice {stored['number']} is finalized; cannot change {', '.join(sorted(changed))}."
                    )
        super().save(*args, **kwargs)

    @property
    def is_finalized(self) -> bool:
        return self.status != InvoiceStatus.DRAFT


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=LineKind.choices)
    description = models.CharField(max_length=500)
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    price = models.ForeignKey(Price, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    pending_line = models.OneToOneField(
        PendingLine, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_line"
    )
    quantity = models.DecimalField(max_digits=28, decimal_places=12, default=1)
    unit_amount = models.DecimalField(max_digits=28, decimal_places=12, null=True, blank=True)
    amount = amount_field()
    tax = amount_field(default=0)
    tax_rate_percent = models.DecimalField(max_digits=7, decimal_places=4, default=0)
    # DESIGN.md: tax is computed on ``amount + discount_share``, the line's share of the coupon discount
    # lines covering it; a coupon line itself is ``tax_in_covered_lines`` and carries no tax of its own
    discount_share = amount_field(default=0, help_text="This line's share of the discounts covering it.")
    tax_in_covered_lines = models.BooleanField(
        default=False, help_text="A discount split over the lines it covers: its tax is in theirs."
    )
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True, help_text="e.g. tier slices, the billed quantity")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["invoice", "position", "id"]
        indexes: ClassVar = [
            models.Index(fields=["subscription", "kind", "period_start"], name="invoiceline_sub_kind_idx"),
        ]

    def __str__(self) -> str:
        # people read these (admin inlines, breadcrumbs, history): the one formatter, never "120.0000"
        return f"{self.description}: {format_money(self.amount, self.invoice.currency)}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        status = Invoice.objects.filter(pk=self.invoice_id).values_list("status", flat=True).first()
        if status is not None and status != InvoiceStatus.DRAFT:
            raise FinalizedInvoiceError("Lines of a finalized invoice cannot be added or changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        status = Invoice.objects.filter(pk=self.invoice_id).values_list("status", flat=True).first()
        if status is not None and status != InvoiceStatus.DRAFT:
            raise FinalizedInvoiceError("Lines of a finalized invoice cannot be removed.")
        return super().delete(*args, **kwargs)


class BilledPeriod(models.Model):
    """The record that a subscription's period was billed for a reason; unique, so nothing bills twice.

    ``reason``: ``initial`` (first in-advance fees), ``period`` (the boundary at the end of the period
    starting ``period_start``: its usage in arrears and the next period's fees), ``cancel``,
    ``change:<id>`` (an always_invoice proration).
    """

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="billed_periods")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    reason = models.CharField(max_length=64)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="billed_periods")
    billing_run = models.ForeignKey(
        BillingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["subscription", "period_start"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["subscription", "period_start", "reason"],
                name="billedperiod_unique_sub_period_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.subscription_id} {self.period_start:%Y-%m-%d} {self.reason}"


class NumberSequence(models.Model):
    """A gap-free counter per document kind and year, taken under a row lock at finalization."""

    kind = models.CharField(max_length=8)  # INV, CN
    year = models.PositiveIntegerField()
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["kind", "year"], name="numbersequence_unique_kind_year"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}-{self.year}: {self.last_value}"


class CreditNote(models.Model):
    """A correction of a finalized invoice; never more than what is left creditable on it."""

    number = models.CharField(max_length=32, unique=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_notes")
    currency = models.CharField(max_length=3)
    amount = amount_field()
    reason = models.TextField()
    issued_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["-issued_at", "-id"]

    def __str__(self) -> str:
        return self.number


class BalanceTransaction(models.Model):
    """The customer's credit balance ledger: negative amounts are credit owed to the customer."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="balance_transactions")
    currency = models.CharField(max_length=3)
    amount = amount_field()
    description = models.CharField(max_length=255)
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="balance_transactions"
    )
    credit_note = models.ForeignKey(
        CreditNote, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # the contract credit grant this row puts in (negative) or draws from (positive); none for the
    # balance cancellations and credit notes leave (invoicing.services.credit_ledger)
    grant = models.ForeignKey(
        "billing.CreditGrant", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["customer", "id"]

    def __str__(self) -> str:
        return f"{self.customer_id}: {format_money(self.amount, self.currency)} ({self.description})"


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        REFUNDED = "refunded"  # refunded in full (a partial refund keeps ``succeeded``: see amount_refunded)

    class Method(models.TextChoices):
        STRIPE = "stripe", "card (Stripe)"
        BANK_TRANSFER = "bank_transfer", "bank transfer"
        CHECK = "check"
        OTHER = "other"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    currency = models.CharField(max_length=3)
    amount = amount_field()
    # what refunds gave back of it (invoicing.payment_models.Refund); amount_paid on the invoice is net
    amount_refunded = amount_field(default=0)
    status = models.CharField(max_length=12, choices=Status.choices)
    method = models.CharField(max_length=32, choices=Method.choices, default=Method.OTHER)
    reference = models.CharField(max_length=255, blank=True, help_text="e.g. a Stripe PaymentIntent id")
    stripe_payment_intent = models.CharField(max_length=255, blank=True, db_index=True)
    failure_reason = models.CharField("failure message", max_length=255, blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["-occurred_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["method", "reference", "status"],
                condition=~models.Q(reference=""),
                name="payment_unique_reference_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{format_money(self.amount, self.currency)} {self.status}"


# the documents and e-mails of an invoice live in their own module (imported here so Django finds them)
from invoicing.document_models import DocumentImmutableError, EmailOutbox, InvoiceDocument  # noqa: E402, F401

# what moves money through Stripe (outbox, webhook events, refunds, disputes, cards, reconciliation)
from invoicing.payment_models import (  # noqa: E402, F401
    CustomerPaymentMethod,
    PaymentDispute,
    ReconciliationMismatch,
    Refund,
    StripeEvent,
    StripeOutbox,
)
