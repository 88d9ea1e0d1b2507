"""What moves money through Stripe, and what Ratecard keeps about it (DESIGN.md "How data flows" 4).

- ``StripeOutbox``: one row per call Ratecard owes Stripe (sync a customer, collect an invoice, refund a
  payment), written in the caller's transaction and delivered after commit. ``key`` is unique and is
  the Idempotency-Key of the call, derived from our ids (``invoice-<id>-payment-<attempt>``), so a
  rerun writes nothing and a retried call never charges twice. Backoff, the sweep and dead rows:
  ``invoicing.services.stripe_outbox``.
- ``StripeEvent``: the ledger of webhook events, unique by Stripe's event id: a redelivery is a no-op.
- ``Refund``: money given back on a payment, with the credit note that corrects the invoice.
- ``PaymentDispute``: a charge the card holder disputed: the invoice is flagged for finance.
- ``CustomerPaymentMethod``: the card a customer is charged with (brand and last 4, never the number).
- ``ReconciliationMismatch``: what the daily reconciliation found different between us and Stripe.

Imported by ``invoicing.models`` (Django finds the models there).
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from accounts.audit import history_user
from accounts.models import Customer
from invoicing.models import CreditNote, Invoice, Payment, amount_field


class StripeOutbox(models.Model):
    class Kind(models.TextChoices):
        CUSTOMER_SYNC = "customer_sync", "sync the customer"
        INVOICE_COLLECT = "invoice_collect", "collect the invoice"
        REFUND = "refund", "refund a payment"

    class Status(models.TextChoices):
        PENDING = "pending"  # not delivered yet, or a failed attempt retried at next_attempt_at
        DONE = "done"
        DEAD = "dead"  # gave up after RATECARD_STRIPE_OUTBOX_MAX_ATTEMPTS; finance retries it

    key = models.CharField(max_length=128, unique=True, help_text="Idempotency-Key sent to Stripe.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="stripe_outbox")
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="stripe_outbox"
    )
    refund = models.ForeignKey(
        "Refund", null=True, blank=True, on_delete=models.PROTECT, related_name="stripe_outbox"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    stripe_id = models.CharField(max_length=255, blank=True, help_text="What Stripe created, e.g. pi_...")
    outcome = models.CharField(max_length=255, blank=True, help_text="e.g. the PaymentIntent's status.")
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        verbose_name = "Stripe outbox row"
        indexes: ClassVar = [
            models.Index(fields=["status", "next_attempt_at"], name="stripeoutbox_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


class StripeEvent(models.Model):
    """A webhook event as Stripe sent it, stored once; applied by a task from the object's current state."""

    class Status(models.TextChoices):
        RECEIVED = "received"
        APPLIED = "applied"
        IGNORED = "ignored"  # a type Ratecard does not act on
        FAILED = "failed"  # the last attempt failed; the sweep tries again

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=64, db_index=True)
    object_id = models.CharField(max_length=255, blank=True, db_index=True)
    payload = models.JSONField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    stripe_created = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-received_at", "-id"]
        verbose_name = "Stripe webhook event"
        indexes: ClassVar = [
            # the few events still waiting, read on every /metrics scrape and by the sweep
            models.Index(
                fields=["stripe_created"],
                condition=models.Q(status__in=["received", "failed"]),
                name="stripeevent_waiting_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_id} {self.type} ({self.status})"


class Refund(models.Model):
    """Money given back on a payment; ``credit_note`` corrects the invoice by the same amount."""

    class Status(models.TextChoices):
        PENDING = "pending"  # the Stripe refund is in the outbox
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="refunds")
    credit_note = models.OneToOneField(CreditNote, on_delete=models.PROTECT, related_name="refund")
    currency = models.CharField(max_length=3)
    amount = amount_field()
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices)
    stripe_refund_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    refunded_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["-refunded_at", "-id"]

    def __str__(self) -> str:
        return f"refund {self.currency} {self.amount} of payment {self.payment_id} ({self.status})"


class PaymentDispute(models.Model):
    """A disputed charge: the invoice is flagged for finance until the dispute is closed."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="disputes")
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="disputes"
    )
    stripe_dispute_id = models.CharField(max_length=255, unique=True)
    currency = models.CharField(max_length=3)
    amount = amount_field()
    reason = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=32, help_text="Stripe's dispute status.")
    opened_at = models.DateTimeField()
    # the creation time of the newest event applied: an older event arriving late changes nothing
    last_event_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["-opened_at", "-id"]

    def __str__(self) -> str:
        return f"dispute {self.stripe_dispute_id} on invoice {self.invoice_id} ({self.status})"


class CustomerPaymentMethod(models.Model):
    """The customer's default card in Stripe: what the admin shows (brand, last 4), never the number."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="stripe_payment_method")
    stripe_payment_method_id = models.CharField(max_length=255)
    brand = models.CharField(max_length=32, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "default card"

    def __str__(self) -> str:
        return f"{self.brand} •••• {self.last4}".strip()


class ReconciliationMismatch(models.Model):
    """One difference the daily reconciliation found between an invoice and Stripe (open until fixed)."""

    class Kind(models.TextChoices):
        PAID_THERE_OPEN_HERE = "paid_there_open_here", "paid in Stripe, open here"
        AMOUNT_DIFFERS = "amount_differs", "amount differs"
        CHARGE_WITHOUT_INVOICE = "charge_without_invoice", "a charge with no invoice"
        REFUND_NOT_REFLECTED = "refund_not_reflected", "a refund not reflected here"
        FAILED_NOT_RECORDED = "failed_not_recorded", "a failed payment not recorded here"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="reconciliation_mismatches"
    )
    stripe_object_id = models.CharField(max_length=255)
    detail = models.TextField()
    resolved = models.BooleanField(
        default=False, help_text="Fixed by the run that found it (e.g. a missed webhook applied)."
    )
    found_at = models.DateTimeField()

    class Meta:
        ordering: ClassVar = ["-found_at", "-id"]
        verbose_name_plural = "reconciliation mismatches"
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["kind", "stripe_object_id"], name="reconciliationmismatch_unique_kind_object"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.stripe_object_id}"
