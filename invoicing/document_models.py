"""What leaves after an invoice commits: its stored PDF documents and the e-mails queued about it.

Both are written in the caller's transaction and acted on after commit (DESIGN.md: side effects leave
after commit, once):

- ``InvoiceDocument``: a rendered PDF, immutable, unique per (invoice, variant). ``invoice`` is the
  document as issued; ``paid`` and ``void`` are the same figures with a stamp and its date, rendered
  after the payment or the void commits. A rerun finds the row and renders nothing.
- ``EmailOutbox``: one row per e-mail, unique per (invoice, kind, step), sent by a task after commit; a
  rollback takes the row (and so the e-mail) with it, a rerun finds the row and queues nothing.

Imported by ``invoicing.models`` (Django finds the models there).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models

from invoicing.models import Invoice


class DocumentImmutableError(Exception):
    """Raised when code tries to change or delete a stored invoice document."""


class InvoiceDocument(models.Model):
    class Variant(models.TextChoices):
        INVOICE = "invoice", "as issued"
        PAID = "paid", "stamped paid"
        VOID = "void", "stamped void"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="documents")
    variant = models.CharField(max_length=16, choices=Variant.choices)
    content = models.BinaryField(editable=False)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["invoice", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["invoice", "variant"], name="invoicedocument_unique_variant"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id} {self.variant} ({self.size} bytes)"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise DocumentImmutableError("A stored invoice document never changes.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise DocumentImmutableError("A stored invoice document is never deleted.")


class EmailOutbox(models.Model):
    class Kind(models.TextChoices):
        INVOICE = "invoice"  # the invoice with its PDF; step = 1 for the first send, 2, 3... for resends
        DUNNING = "dunning"  # a payment reminder; step = the dunning step

    class Status(models.TextChoices):
        PENDING = "pending"  # not sent yet, or a failed attempt that will be retried at next_attempt_at
        SENT = "sent"
        FAILED = "failed"  # gave up after the last attempt; last_error says why

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="emails")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    step = models.PositiveIntegerField()
    recipients = models.JSONField(default=list)
    from_email = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=255)
    body = models.TextField()
    attach_variant = models.CharField(
        max_length=16, blank=True, help_text="The invoice document attached (invoice/paid/void), or none."
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        verbose_name = "e-mail"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["invoice", "kind", "step"], name="emailoutbox_unique_step"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["status", "next_attempt_at"], name="emailoutbox_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.step} of invoice {self.invoice_id} ({self.status})"
