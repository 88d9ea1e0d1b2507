"""Billing runs: one pass of the billing pipeline, its chunks (the work queue, kept in the database) and
the subscriptions or drafts it could not bill.

Imported by ``invoicing.models`` (Django finds the models there).
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from accounts.models import Customer
from billing.models import Subscription


class BillingRun(models.Model):
    """One pass of the billing pipeline at ``as_of``: counts, failures and duration."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        COMPLETED = "completed"
        COMPLETED_WITH_FAILURES = "completed_with_failures"
        FAILED = "failed"

    as_of = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING)
    subscriptions_due = models.PositiveIntegerField(default=0)
    subscriptions_billed = models.PositiveIntegerField(default=0)
    invoices_created = models.PositiveIntegerField(default=0)
    failures_count = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    deferred = models.PositiveIntegerField(
        default=0, help_text="Due subscriptions a concurrent change kept locked: the next run bills them."
    )
    reason = models.TextField(blank=True, help_text="Why the run failed or what it left undone.")
    closing_until = models.DateTimeField(
        null=True, blank=True, help_text="A process is closing the run (finalizing drafts) until then."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering: ClassVar = ["-created_at"]

    def __str__(self) -> str:
        return f"Billing run #{self.pk} as of {self.as_of:%Y-%m-%d %H:%M}"


class BillingRunChunk(models.Model):
    """A slice of a run's due subscriptions: its state lives here, in the database, not in the broker.

    A worker takes a chunk by setting it ``running`` with a lease; the chunk turns ``done`` in the same
    transaction as its subscriptions' writes, so a chunk is counted exactly once. A chunk whose lease
    expired (its worker died, its message was lost) is queued again by the sweep; after
    ``RATECARD_BILLING_CHUNK_MAX_ATTEMPTS`` attempts it is ``failed`` with its last error.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    run = models.ForeignKey(BillingRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    subscription_ids = models.JSONField(default=list)
    # 0 for the run's own chunks; n for the n-th retry of subscriptions a concurrent change held locked
    retry_round = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="host:pid of the last taker")
    last_error = models.TextField(blank=True)
    billed = models.PositiveIntegerField(default=0)
    deferred = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["run", "index"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["run", "index"], name="billingrunchunk_unique_run_index"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["status", "lease_expires_at"], name="billingrunchunk_status_lease"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} chunk {self.index}: {self.status}"


class BillingRunFailure(models.Model):
    """A subscription a run could not bill, or a draft it could not finalize, with the error."""

    run = models.ForeignKey(BillingRun, on_delete=models.CASCADE, related_name="failures")
    subscription = models.ForeignKey(Subscription, null=True, on_delete=models.SET_NULL, related_name="+")
    customer = models.ForeignKey(Customer, null=True, on_delete=models.SET_NULL, related_name="+")
    invoice = models.ForeignKey(
        "Invoice", null=True, blank=True, on_delete=models.SET_NULL, related_name="billing_run_failures"
    )
    error = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["run", "id"]
        constraints: ClassVar = [
            # a draft that fails to finalize is recorded once per run, however often the run is closed
            models.UniqueConstraint(
                fields=["run", "invoice"],
                condition=models.Q(invoice__isnull=False),
                name="billingrunfailure_unique_run_invoice",
            ),
        ]

    def __str__(self) -> str:
        what = f"invoice {self.invoice_id}" if self.invoice_id else f"subscription {self.subscription_id}"
        return f"run {self.run_id}: {what}: {self.error[:60]}"
