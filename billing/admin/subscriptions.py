"""Subscriptions and the pending lines they owe, for finance, sales and support.

Everything here is read-only for everyone, superusers included: a subscription moves through the API or
the services (``invoicing.services.lifecycle``: subscribe, change, cancel), never by editing a row. A
subscription's page shows its timeline (``billing.admin.timeline``), its items and its pending lines.

The one write is the action "Cancel at period end", for users with ``billing.change_subscription``
(finance): it asks for confirmation, calls ``subscription_invoicing.subscription_cancel(at="period_end")`` once per subscription
and reports each row's outcome.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.admin import HistoryAdmin
from billing.admin.timeline import timeline_html
from billing.display import (
    EMPTY,
    format_money,
    format_quantity,
    local_datetime,
    period_text,
    price_charge,
    zone,
)
from billing.models import PendingLine, Subscription, SubscriptionItem, SubscriptionStatus
from config.admin_kit import (
    ReadOnlyAdminMixin,
    admin_change_url,
    badge,
    confirmation_page,
    linked,
    run_per_row,
)
from invoicing.selectors import subscription_timeline
from invoicing.services import subscription_invoicing

log = structlog.get_logger(__name__)

CHANGE_PERM = "billing.change_subscription"
CANCEL_TEMPLATE = "admin/billing/subscription/cancel_at_period_end.html"

STATUS_COLORS = {
    SubscriptionStatus.TRIALING: "#2b6cb0",
    SubscriptionStatus.ACTIVE: "#2f855a",
    SubscriptionStatus.PAST_DUE: "#c05621",
    SubscriptionStatus.CANCELED: "#718096",
}


def status_badge(subscription: Subscription) -> SafeString:
    """The status as a colored badge; "cancels at period end" next to it when that is scheduled."""
    status = SubscriptionStatus(subscription.status)
    shown = badge(status.label, STATUS_COLORS.get(status, "#4a5568"))
    if subscription.cancel_at_period_end and subscription.ended_at is None:
        return format_html("{} <small>cancels at period end</small>", shown)
    return shown


def customer_text(subscription: Subscription) -> str:
    customer = subscription.customer
    return f"{customer.name} ({customer.external_id})"


def label(subscription: Subscription) -> str:
    """A subscription as an action's messages name it: ``#12 Acme (cus_acme)``."""
    return f"#{subscription.pk} {customer_text(subscription)}"


def plan_text(subscription: Subscription) -> str:
    version = subscription.plan_version
    return f"{version.plan.code} v{version.version}"


def current_period(subscription: Subscription) -> str:
    tz = zone(subscription.timezone)
    return period_text(subscription.current_period_start, subscription.current_period_end, tz)


def local_field(name: str, description: str) -> Any:
    """A read-only field showing the datetime ``name`` in the subscription's time zone."""

    @admin.display(description=description, ordering=name)
    def show(self: Any, obj: Subscription) -> str:
        return local_datetime(getattr(obj, name), zone(obj.timezone))

    return show


# --- inlines ----------------------------------------------------------------------------------------


class SubscriptionItemInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SubscriptionItem
    extra = 0
    fields = ("price", "description", "billing", "charge", "units")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[SubscriptionItem]:
        return super().get_queryset(request).select_related("price__plan_version__plan", "price__metric")

    @admin.display(description="description")
    def description(self, obj: SubscriptionItem) -> str:
        return obj.price.description or EMPTY

    @admin.display(description="billed")
    def billing(self, obj: SubscriptionItem) -> str:
        return obj.price.get_billing_display()

    @admin.display(description="charge")
    def charge(self, obj: SubscriptionItem) -> str:
        return price_charge(obj.price)

    @admin.display(description="quantity")
    def units(self, obj: SubscriptionItem) -> str:
        return "metered" if obj.price.metric_id is not None else format_quantity(obj.quantity)


class PendingLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PendingLine
    fk_name = "subscription"
    extra = 0
    verbose_name_plural = "pending lines (prorations and one-off charges waiting for an invoice)"
    fields = ("kind", "description", "amount_text", "period", "invoice_now", "invoiced_at", "created_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[PendingLine]:
        return super().get_queryset(request).select_related("subscription").order_by("created_at", "id")

    @admin.display(description="amount")
    def amount_text(self, obj: PendingLine) -> str:
        return format_money(obj.amount, obj.currency)

    @admin.display(description="period")
    def period(self, obj: PendingLine) -> str:
        if obj.period_start is None:
            return EMPTY
        tz = zone(obj.subscription.timezone) if obj.subscription is not None else zone("UTC")
        return period_text(obj.period_start, obj.period_end, tz)


# --- subscriptions ----------------------------------------------------------------------------------


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdminMixin, HistoryAdmin):
    """Support finds a subscription by its customer (name, external id, e-mail) or its id."""

    list_display = ("id", "customer_link", "plan", "status_badge", "seats", "current_period")
    list_display_links = ("id",)
    list_filter = ("status", "plan_version__plan", "billing_anchor", "currency")
    list_select_related = ("customer", "plan_version__plan")
    search_fields = ("customer__name", "customer__external_id", "customer__email")
    search_help_text = "Customer name, external id or e-mail, or the subscription's id (12 or #12)."
    list_per_page = 50
    actions = ("cancel_at_period_end",)
    inlines = (SubscriptionItemInline, PendingLineInline)
    fieldsets = (
        (None, {"fields": ("customer_link", "plan", "status_badge", "seats", "currency", "coupon")}),
        (
            "Periods",
            {
                "fields": (
                    "timezone",
                    "billing_anchor",
                    "started",
                    "trial_ends",
                    "anchor",
                    "current_period",
                    "period_index",
                ),
                "description": "Instants are shown in the subscription's time zone.",
            },
        ),
        ("Cancellation", {"fields": ("cancel_at_period_end", "cancels", "canceled", "ended", "past_due")}),
        ("Timeline", {"fields": ("timeline",)}),
    )
    readonly_fields = (
        "customer_link",
        "plan",
        "status_badge",
        "seats",
        "currency",
        "coupon",
        "timezone",
        "billing_anchor",
        "started",
        "trial_ends",
        "anchor",
        "current_period",
        "period_index",
        "cancel_at_period_end",
        "cancels",
        "canceled",
        "ended",
        "past_due",
        "timeline",
    )

    started = local_field("started_at", "started")
    trial_ends = local_field("trial_end", "trial ends")
    anchor = local_field("anchor_at", "anchor")
    cancels = local_field("cancel_at", "cancels at")
    canceled = local_field("canceled_at", "canceled at")
    ended = local_field("ended_at", "ended at")
    past_due = local_field("past_due_since", "past due since")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscription]:
        return super().get_queryset(request).select_related("customer", "plan_version__plan", "coupon")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Subscription], search_term: str
    ) -> tuple[QuerySet[Subscription], bool]:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().removeprefix("#")
        if term.isdigit():
            found = found | queryset.filter(Q(pk=int(term)))
        return found, may_have_duplicates

    # read-only: a subscription changes through the API or the services (the action below)
    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CHANGE_PERM)

    @admin.display(description="customer", ordering="customer__name")
    def customer_link(self, obj: Subscription) -> str:
        return linked(customer_text(obj), admin_change_url("accounts", "customer", obj.customer_id))

    @admin.display(description="plan", ordering="plan_version__plan__code")
    def plan(self, obj: Subscription) -> str:
        return linked(plan_text(obj), admin_change_url("billing", "planversion", obj.plan_version_id))

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Subscription) -> str:
        return status_badge(obj)

    @admin.display(description="seats", ordering="quantity")
    def seats(self, obj: Subscription) -> str:
        return format_quantity(obj.quantity)

    @admin.display(description="current period", ordering="current_period_end")
    def current_period(self, obj: Subscription) -> str:
        return current_period(obj)

    @admin.display(description="timeline")
    def timeline(self, obj: Subscription) -> str:
        return timeline_html(obj, subscription_timeline(subscription=obj))

    @admin.action(description="Cancel at period end", permissions=["cancel"])
    def cancel_at_period_end(
        self, request: HttpRequest, queryset: QuerySet[Subscription]
    ) -> HttpResponse | None:
        subscriptions = list(queryset.select_related("customer", "plan_version__plan").order_by("pk"))
        if request.POST.get("post") != "yes":
            return self.cancel_confirmation(request, subscriptions)
        for sub in subscriptions:
            if sub.cancel_at_period_end:
                self.message_user(request, f"{label(sub)}: cancels at period end already.", messages.WARNING)
        run_per_row(
            request,
            self,
            [sub for sub in subscriptions if not sub.cancel_at_period_end],
            lambda sub: subscription_invoicing.subscription_cancel(
                subscription_id=sub.pk, at="period_end", user=request.user
            ),
            done=lambda n: (
                f"{n} subscription{'s' if n != 1 else ''} will cancel at the end of the current period."
            ),
            label=label,
            refused="not canceled. ",
        )
        return None

    def cancel_confirmation(
        self, request: HttpRequest, subscriptions: list[Subscription]
    ) -> TemplateResponse:
        """What "Cancel at period end" will do to each selected subscription, then "Yes" or back."""
        rows = []
        for sub in subscriptions:
            if sub.status == SubscriptionStatus.CANCELED:
                outcome = "canceled already: nothing to do"
            elif sub.cancel_at_period_end:
                outcome = "cancels at period end already: nothing to do"
            else:
                tz = zone(sub.timezone)
                outcome = f"ends at {local_datetime(sub.current_period_end, tz)} ({sub.timezone})"
            rows.append((f"#{sub.pk}", customer_text(sub), plan_text(sub), current_period(sub), outcome))
        return confirmation_page(
            request,
            self,
            title="Cancel at period end",
            question="These subscriptions will end when their current period ends: that period stays "
            "billed, no later period is billed, and the customer keeps access until then. Nothing is "
            "invoiced now.",
            columns=("Subscription", "Customer", "Plan", "Current period", "Outcome"),
            rows=rows,
            confirm_label="Yes, cancel at period end",
            action="cancel_at_period_end",
            selected=[sub.pk for sub in subscriptions],
        )


# --- pending lines ----------------------------------------------------------------------------------


class InvoicedFilter(admin.SimpleListFilter):
    title = "invoiced"
    parameter_name = "invoiced"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Waiting for an invoice"), ("yes", "Invoiced")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PendingLine]) -> QuerySet[PendingLine]:
        if self.value() == "no":
            return queryset.filter(invoiced_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(invoiced_at__isnull=False)
        return queryset


@admin.register(PendingLine)
class PendingLineAdmin(ReadOnlyAdminMixin, HistoryAdmin):
    """Prorations and one-off charges waiting for the customer's next invoice (and those invoiced)."""

    list_display = (
        "id",
        "customer_link",
        "subscription_link",
        "kind",
        "description",
        "amount_text",
        "invoice_now",
        "invoiced_at",
        "created_at",
    )
    list_filter = (InvoicedFilter, "kind", "invoice_now", "currency", "created_at")
    list_select_related = ("customer",)
    search_fields = ("customer__name", "customer__external_id", "description")
    search_help_text = "Customer name or external id, or the line's description."
    fields = (
        "customer_link",
        "subscription_link",
        "change",
        "kind",
        "description",
        "quantity_text",
        "unit_amount_text",
        "amount_text",
        "period_start",
        "period_end",
        "invoice_now",
        "invoiced_at",
        "created_at",
        "created_by",
    )
    readonly_fields = fields

    @admin.display(description="customer", ordering="customer__name")
    def customer_link(self, obj: PendingLine) -> str:
        customer = obj.customer
        return linked(
            f"{customer.name} ({customer.external_id})",
            admin_change_url("accounts", "customer", obj.customer_id),
        )

    @admin.display(description="subscription", ordering="subscription_id")
    def subscription_link(self, obj: PendingLine) -> str:
        if obj.subscription_id is None:
            return EMPTY
        return linked(
            f"#{obj.subscription_id}", admin_change_url("billing", "subscription", obj.subscription_id)
        )

    @admin.display(description="quantity")
    def quantity_text(self, obj: PendingLine) -> str:
        return format_quantity(obj.quantity)

    @admin.display(description="unit price")
    def unit_amount_text(self, obj: PendingLine) -> str:
        return format_money(obj.unit_amount, obj.currency)

    @admin.display(description="amount", ordering="amount")
    def amount_text(self, obj: PendingLine) -> str:
        return format_money(obj.amount, obj.currency)
