"""Reports have no tables of their own; this model only carries the permission to see them."""

from __future__ import annotations

from typing import ClassVar

from django.db import models


class FinanceReports(models.Model):
    class Meta:
        managed = False  # no table: reports read invoices and subscriptions
        default_permissions = ()
        permissions: ClassVar = [("see_finance_reports", "Can see MRR, revenue and receivables reports")]

    def __str__(self) -> str:
        return "Finance reports"


class AlertIncident(models.Model):
    """Something an alert rule found wrong, from the first evaluation that saw it until one that did not.

    One open incident per (rule, subject) at a time (a unique partial index): evaluating again while it
    is open only refreshes it, so finance is mailed once per incident. ``notified_at`` stays empty until
    the e-mail left; the row is the outbox of that e-mail (a lost task is retried by the next evaluation).
    """

    class Status(models.TextChoices):
        OPEN = "open"
        CLEARED = "cleared"

    rule = models.CharField(max_length=64, help_text="The alert rule's code (config.monitoring).")
    subject = models.CharField(max_length=200, help_text="What is wrong, e.g. run:12 or ingestion.")
    title = models.CharField(max_length=200)
    severity = models.CharField(max_length=8, default="error")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    message = models.TextField(help_text="What broke, as the rule saw it last.")
    customer_ids = models.JSONField(default=list, blank=True, help_text="The customers it touches.")
    url = models.CharField(max_length=500, blank=True, help_text="Where to look first.")
    runbook = models.CharField(max_length=64, help_text="The section of docs/runbook.md.")
    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    notify_attempts = models.PositiveSmallIntegerField(default=0)
    notify_error = models.TextField(blank=True)

    class Meta:
        ordering: ClassVar = ["-opened_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["rule", "subject"],
                condition=models.Q(status="open"),
                name="alertincident_one_open_per_rule_subject",
            ),
        ]
        indexes: ClassVar = [models.Index(fields=["status", "rule"], name="alertincident_status_rule")]

    def __str__(self) -> str:
        return f"{self.title} ({self.subject}): {self.status}"
