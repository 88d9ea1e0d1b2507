"""Custom contracts (DESIGN.md "How data flows" 5): a negotiated deal for one customer and one plan.

A contract is versioned: an amendment is a new ``Contract`` row of the same ``family`` with
``version + 1`` and an ``effective_at``; each version goes through draft -> pending approval -> active
on its own. Its terms: phases (ramps) with price overrides and fees, a minimum commitment per billing
period, prepaid credit grants, entitlement overrides, one-off fees and a note for finance.

Approval materialises each phase as a private plan version (``ContractPhase.plan_version``: the plan's
prices with the phase's overrides, plus its fees as flat in-advance prices), so every billing path —
runs, previews, the timeline, prorations, cancellations — rates the contract with the same code as a
list-price subscription.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from accounts.audit import history_user
from accounts.models import Customer
from billing.models.catalog import Plan, PlanVersion, unit_amount_field
from billing.models.subscriptions import Subscription


class ContractStatus(models.TextChoices):
    DRAFT = "draft", "Draft (sales edits)"
    PENDING_APPROVAL = "pending_approval", "Waiting for finance"
    ACTIVE = "active", "Active"
    AMENDED = "amended", "Replaced by a later version"
    ENDED = "ended", "Ended"


class Contract(models.Model):
    """One version of a deal. ``family`` is the first version's id (itself for version 1)."""

    family = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="family_versions"
    )
    version = models.PositiveIntegerField(default=1)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="contracts")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="contracts")
    plan_version = models.ForeignKey(
        PlanVersion,
        on_delete=models.PROTECT,
        related_name="contracts",
        help_text="The list prices the overrides apply to.",
    )
    status = models.CharField(
        max_length=20, choices=ContractStatus.choices, default=ContractStatus.DRAFT, db_index=True
    )
    currency = models.CharField(max_length=3)
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)
    effective_at = models.DateTimeField(
        null=True, blank=True, help_text="An amendment applies from this time (version 1: the start)."
    )
    quantity = models.DecimalField(max_digits=20, decimal_places=6, default=1, help_text="Seats.")
    net_terms_days = models.PositiveSmallIntegerField(null=True, blank=True)
    commitment_amount = models.DecimalField(
        max_digits=20,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Minimum spend per billing period (in-advance fees + usage, after discounts, before tax).",
    )
    one_off_fees = models.JSONField(default=list, blank=True, help_text='[{"description", "amount"}]')
    entitlements = models.JSONField(default=dict, blank=True, help_text='{"max_users": 500, "sso": true}')
    notes = models.TextField(blank=True, help_text="For finance: why this deal looks the way it does.")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="contracts"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["-id"]
        permissions: ClassVar = [("approve_contract", "Approve or reject a contract")]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["family", "version"], name="contract_unique_family_version"),
        ]

    def __str__(self) -> str:
        return f"Contract #{self.family_id or self.pk} v{self.version} — {self.customer.name}"

    @property
    def applies_from(self) -> datetime:
        """When this version's terms start to apply: the amendment's date, or the contract's start."""
        return self.effective_at or self.start


class ContractPhase(models.Model):
    """A ramp step: from ``start`` until the next phase starts. ``fees``: [{code, description, amount}]."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="phases")
    position = models.PositiveSmallIntegerField()
    start = models.DateTimeField()
    fees = models.JSONField(default=list, blank=True)
    plan_version = models.OneToOneField(
        PlanVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="contract_phase",
        help_text="The private plan version approval priced this phase as.",
    )

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["contract", "position"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["contract", "position"], name="contractphase_unique_position"),
        ]

    def __str__(self) -> str:
        return f"phase {self.position + 1} from {self.start:%Y-%m-%d}"


class ContractPriceOverride(models.Model):
    """The phase's price for one of the plan's price codes: a unit amount, tiers, or a percent off list."""

    phase = models.ForeignKey(ContractPhase, on_delete=models.CASCADE, related_name="overrides")
    price_code = models.SlugField(max_length=100)
    unit_amount = unit_amount_field(null=True, blank=True)
    tiers = models.JSONField(null=True, blank=True, help_text='[{"up_to", "unit_amount", "flat_amount"}]')
    percent_off = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["phase", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["phase", "price_code"], name="contractoverride_unique_price"),
        ]

    def __str__(self) -> str:
        return f"{self.price_code} override"


class CreditGrant(models.Model):
    """Prepaid credit in a contract's terms. Once the contract is approved (``granted_at``) it enters the
    customer's credit ledger (invoicing's ``BalanceTransaction`` rows that point here)."""

    contract = models.ForeignKey(
        Contract, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_grants"
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_grants")
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(max_digits=20, decimal_places=4)
    priority = models.PositiveSmallIntegerField(default=1, help_text="Lower numbers are drawn first.")
    expires_at = models.DateTimeField(null=True, blank=True)
    description = models.CharField(max_length=255, blank=True)
    granted_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["customer", "priority", "expires_at", "id"]

    def __str__(self) -> str:
        return f"{self.currency} {self.amount} credit (priority {self.priority})"


class ApprovalAction(models.TextChoices):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    AMENDED = "amended"


class ContractApprovalStep(models.Model):
    """Who did what to a contract version, when, with what comment (append-only)."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="approval_steps")
    action = models.CharField(max_length=12, choices=ApprovalAction.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    comment = models.TextField(blank=True)

    class Meta:
        ordering: ClassVar = ["contract", "id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.user} at {self.at:%Y-%m-%d %H:%M}"
