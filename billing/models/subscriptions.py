"""Subscriptions and what they owe: items (a seat price plus usage prices), append-only changes, one-off
charges. Periods are half-open ``[start, end)`` in the customer's time zone (billing.pricing.periods)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from accounts.audit import history_user
from accounts.models import BillingAnchor, Customer
from billing.display import format_money
from billing.models.catalog import Coupon, PlanVersion, Price, unit_amount_field


class SubscriptionStatus(models.TextChoices):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


class ProrationBehavior(models.TextChoices):
    CREATE_PRORATIONS = "create_prorations", "Prorate on the next invoice"
    ALWAYS_INVOICE = "always_invoice", "Prorate on an invoice now"
    NONE = "none", "No proration"


class Subscription(models.Model):
    """A customer on one plan version, billed period by period from its anchor.

    Only billing runs advance ``current_period_*``; business time comes from the request (``start``,
    ``at``, ``as_of``), never from the wall clock.
    """

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions")
    plan_version = models.ForeignKey(PlanVersion, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(
        max_length=10, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE, db_index=True
    )
    quantity = models.DecimalField(max_digits=20, decimal_places=6, default=1, help_text="Seats.")
    currency = models.CharField(max_length=3)
    started_at = models.DateTimeField()
    trial_end = models.DateTimeField(null=True, blank=True)
    billing_anchor = models.CharField(max_length=16, choices=BillingAnchor.choices)
    anchor_at = models.DateTimeField(help_text="Anniversary periods are counted from this instant.")
    timezone = models.CharField(max_length=64, help_text="The time zone periods are computed in.")
    period_index = models.PositiveIntegerField(default=0)
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField(db_index=True)
    cancel_at_period_end = models.BooleanField(default=False)
    cancel_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    past_due_since = models.DateTimeField(null=True, blank=True)
    coupon = models.ForeignKey(
        Coupon, null=True, blank=True, on_delete=models.PROTECT, related_name="subscriptions"
    )
    coupon_redeemed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["id"]
        indexes: ClassVar = [
            models.Index(fields=["status", "current_period_end", "id"], name="subscription_due_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer.external_id} on {self.plan_version}"

    @property
    def is_trialing(self) -> bool:
        return self.status == SubscriptionStatus.TRIALING


class SubscriptionItem(models.Model):
    """One price of the subscription's plan version; ``quantity`` for licensed (non-usage) prices."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="items")
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(max_digits=20, decimal_places=6, default=1)

    class Meta:
        ordering: ClassVar = ["subscription", "price__position"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["subscription", "price"], name="subscriptionitem_unique_price"),
        ]

    def __str__(self) -> str:
        return f"{self.price.code} x {self.quantity}"


class ChangeKind(models.TextChoices):
    CREATE = "create"
    PLAN = "plan"
    QUANTITY = "quantity"
    PLAN_AND_QUANTITY = "plan_quantity"
    CANCEL = "cancel"
    REACTIVATE = "reactivate"
    STATUS = "status"


class SubscriptionChange(models.Model):
    """An append-only record of every change: what, when it takes effect, how it is prorated.

    A change ``at="period_end"`` waits (``applied=False``) until the billing run reaches that boundary.
    """

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=16, choices=ChangeKind.choices)
    effective_at = models.DateTimeField()
    proration = models.CharField(
        max_length=20, choices=ProrationBehavior.choices, default=ProrationBehavior.NONE
    )
    old_plan_version = models.ForeignKey(
        PlanVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    new_plan_version = models.ForeignKey(
        PlanVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    old_quantity = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    new_quantity = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    applied = models.BooleanField(default=True)
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering: ClassVar = ["subscription", "effective_at", "id"]
        indexes: ClassVar = [
            models.Index(fields=["subscription", "applied", "effective_at"], name="subchange_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of #{self.subscription_id} at {self.effective_at:%Y-%m-%d}"


class PendingLineKind(models.TextChoices):
    PRORATION = "proration"
    ONE_OFF = "one_off"


class PendingLine(models.Model):
    """An amount owed that waits for the customer's next invoice: a proration or a one-off charge.

    Rounded once when created (the pricing engine's rule). ``invoiced_at`` is set by invoicing when a
    line lands on an invoice; the invoice line points back to it, so it is billed exactly once.
    """

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="pending_lines")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="pending_lines"
    )
    change = models.ForeignKey(
        SubscriptionChange, null=True, blank=True, on_delete=models.PROTECT, related_name="pending_lines"
    )
    kind = models.CharField(max_length=12, choices=PendingLineKind.choices)
    description = models.CharField(max_length=500)
    currency = models.CharField(max_length=3)
    quantity = models.DecimalField(max_digits=28, decimal_places=12, default=1)
    unit_amount = unit_amount_field(null=True, blank=True)
    amount = models.DecimalField(max_digits=20, decimal_places=4)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    invoice_now = models.BooleanField(default=False)
    invoiced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["customer", "created_at", "id"]
        indexes: ClassVar = [
            models.Index(fields=["customer", "invoiced_at"], name="pendingline_open_idx"),
        ]

    def __str__(self) -> str:
        # people read this (admin breadcrumbs, history): the one formatter, never "USD 120.0000"
        return f"{self.kind}: {self.description} {format_money(self.amount, self.currency)}"


class ScheduledChangeKind(models.TextChoices):
    CHANGE = "change"
    CANCEL = "cancel"


class ScheduledChangeStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    APPLIED = "applied"
    CANCELED = "canceled"


class ScheduledChange(models.Model):
    """A change or cancel asked for a time after the subscription's current period (API.md).

    Nothing is billed for it when it is asked: the billing run whose ``as_of`` reaches ``effective_at``
    bills the subscription up to then, applies it exactly as an immediate change or cancel at that time
    would be, and records the ``SubscriptionChange`` it became. At most one of each kind waits per
    subscription (a new one replaces the old, which is kept as ``canceled``).
    """

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="scheduled_changes")
    kind = models.CharField(max_length=8, choices=ScheduledChangeKind.choices)
    status = models.CharField(
        max_length=10, choices=ScheduledChangeStatus.choices, default=ScheduledChangeStatus.SCHEDULED
    )
    effective_at = models.DateTimeField()
    new_plan_version = models.ForeignKey(
        PlanVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    new_quantity = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    proration = models.CharField(
        max_length=20, choices=ProrationBehavior.choices, default=ProrationBehavior.CREATE_PRORATIONS
    )
    applied_change = models.ForeignKey(
        SubscriptionChange, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering: ClassVar = ["subscription", "effective_at", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["subscription", "kind"],
                condition=models.Q(status="scheduled"),
                name="scheduledchange_one_waiting_per_kind",
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["status", "effective_at"], name="scheduledchange_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of #{self.subscription_id} at {self.effective_at:%Y-%m-%d} ({self.status})"
