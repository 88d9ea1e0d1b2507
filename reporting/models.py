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
