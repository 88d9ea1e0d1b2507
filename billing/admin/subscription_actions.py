"""Finance's money actions on subscriptions, each a form, a preview and a confirmation:

- create a subscription (``subscription_invoicing.subscription_create``): the preview is its first invoice;
- change plan or seats (``subscription_invoicing.subscription_change``): the preview is the proration lines the change makes;
- cancel now or at period end (``subscription_invoicing.subscription_cancel``): the preview is the final invoice, or the date.

The preview runs the real service inside a savepoint and rolls it back (its after-commit work is dropped
with it), so what is shown is what the billing code will write, not a second computation. Confirming
posts the same form with the preview's digest; a form changed since its preview is previewed again.

Who: users with ``billing.change_subscription`` (finance). Sales sells through contracts, which finance
approves (approval subscribes the customer), so sales and support see these subscriptions read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.html import format_html

from accounts.models import Customer
from billing.display import format_money, format_quantity, local_datetime, period_text, zone
from billing.models import PendingLine, Plan, PlanVersion, ProrationBehavior, Subscription, SubscriptionStatus
from billing.services.scheduled_changes import scheduled_change_create
from config.admin_kit import admin_page, admin_url, confirmation_page, form_digest, run_per_row
from config.errors import RatecardError
from invoicing.models import Invoice
from invoicing.services import subscription_invoicing

CHANGE_PERM = "billing.change_subscription"
TEMPLATE = "admin/billing/subscription/money_action.html"


@dataclass
class Preview:
    """What a money action writes, read back before the savepoint is rolled back."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)  # description, period, amount
    total: str = ""
    note: str = ""


def _line_rows(lines: Any, tz: Any, currency: str) -> list[tuple[str, str, str]]:
    return [
        (
            line.description,
            period_text(line.period_start, line.period_end, tz),
            format_money(line.amount, currency),
        )
        for line in lines
    ]


def dry_run(call: Callable[[], tuple[Subscription, Invoice | None]], *, customer: Customer) -> Preview:
    """Run ``call`` (a subscription_invoicing service), read what it wrote for the customer, then roll it all back."""
    tz = zone(customer.timezone)
    before = PendingLine.objects.filter(customer=customer).aggregate(m=Max("pk"))["m"] or 0
    preview = Preview()
    with transaction.atomic():
        point = transaction.savepoint()
        try:
            sub, invoice = call()
            if invoice is not None:
                invoice.refresh_from_db()
                preview.rows = _line_rows(invoice.lines.order_by("position", "pk"), tz, invoice.currency)
                preview.total = format_money(invoice.total, invoice.currency)
                preview.note = "An invoice is issued for these lines now (tax included in its total)."
            pending = PendingLine.objects.filter(customer=customer, pk__gt=before, invoiced_at__isnull=True)
            if pending:
                preview.rows += _line_rows(pending.order_by("pk"), tz, sub.currency)
                preview.note = "These lines go on the customer's next invoice."
                if not preview.total:
                    preview.total = format_money(sum((p.amount for p in pending), Decimal(0)), sub.currency)
            if not preview.rows:
                preview.note = "Nothing is billed now."
        finally:
            transaction.savepoint_rollback(point)
    return preview


# --- forms ------------------------------------------------------------------------------------------


def _utc_now() -> datetime:
    return timezone.now().replace(second=0, microsecond=0)


class CreateForm(forms.Form):
    customer = forms.CharField(help_text="The customer's external id (e.g. cus_acme).")
    plan = forms.ModelChoiceField(
        queryset=Plan.objects.filter(is_active=True).order_by("code"), to_field_name="code"
    )
    seats = forms.DecimalField(min_value=Decimal(1), max_digits=20, decimal_places=0, initial=1)
    start = forms.DateTimeField(initial=_utc_now, help_text="UTC, e.g. 2026-11-30 09:00.")
    coupon = forms.CharField(required=False, help_text="A coupon code, or empty.")

    def clean_customer(self) -> Customer:
        value = self.cleaned_data["customer"].strip()
        customer = Customer.objects.filter(external_id=value).first()
        if customer is None:
            raise forms.ValidationError(f"No customer has the external id {value!r}.")
        return customer


WHEN_CHOICES = (("now", "now (at the time below)"), ("period_end", "at the end of the current period"))


class ChangeForm(forms.Form):
    plan = forms.ModelChoiceField(
        queryset=Plan.objects.filter(is_active=True).order_by("code"), to_field_name="code"
    )
    seats = forms.DecimalField(min_value=Decimal(1), max_digits=20, decimal_places=0)
    when = forms.ChoiceField(choices=WHEN_CHOICES, initial="now", widget=forms.RadioSelect)
    at = forms.DateTimeField(initial=_utc_now, help_text="UTC; used with “now”.")
    proration = forms.ChoiceField(
        choices=ProrationBehavior.choices, initial=ProrationBehavior.CREATE_PRORATIONS
    )


class CancelForm(forms.Form):
    when = forms.ChoiceField(choices=WHEN_CHOICES, initial="period_end", widget=forms.RadioSelect)
    at = forms.DateTimeField(
        initial=_utc_now,
        help_text="UTC; used with “now”: usage up to then is invoiced "
        "and the unused part of the fees credited.",
    )


class SubscriptionActionsMixin:
    """Mixed into ``SubscriptionAdmin``: the three money actions' pages."""

    model: type[Subscription]
    admin_site: admin.AdminSite
    message_user: Callable[..., None]

    def has_money_permission(self, request: HttpRequest, obj: Subscription | None = None) -> bool:
        return request.user.has_perm(CHANGE_PERM)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("new/", wrap(self.create_view), name="billing_subscription_new"),
            path(
                "<path:object_id>/change-plan/",
                wrap(self.change_plan_view),
                name="billing_subscription_change_plan",
            ),
            path("<path:object_id>/cancel/", wrap(self.cancel_view), name="billing_subscription_cancel"),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra = {**(extra_context or {}), "can_money": self.has_money_permission(request)}
        return super().changelist_view(request, extra)  # type: ignore[misc]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        extra = {**(extra_context or {}), "can_money": self.has_money_permission(request)}
        return super().change_view(request, object_id, form_url, extra)  # type: ignore[misc]

    @admin.action(description="Move to the plan's newest version at next period", permissions=["money"])
    def move_to_newest_version(self, request: HttpRequest, queryset: Any) -> HttpResponseBase | None:
        """A scheduled change (``scheduled_change_create``) to the newest version of each subscription's
        own plan, at the end of its current period: nothing is prorated, the next period bills the new
        version's prices."""
        subs = list(queryset.select_related("customer", "plan_version__plan").order_by("pk"))
        newest = {
            plan_id: version
            for plan_id, version in PlanVersion.objects.filter(
                plan_id__in={s.plan_version.plan_id for s in subs}
            )
            .order_by("plan_id", "-version")
            .distinct("plan_id")
            .values_list("plan_id", "version")
        }
        if request.POST.get("post") != "yes":
            rows = []
            for sub in subs:
                target = newest[sub.plan_version.plan_id]
                tz = zone(sub.timezone)
                if target == sub.plan_version.version:
                    outcome = "on the newest version already: nothing to do"
                else:
                    outcome = (
                        f"moves to v{target} at {local_datetime(sub.current_period_end, tz)} ({sub.timezone})"
                    )
                rows.append(
                    (
                        f"#{sub.pk}",
                        sub.customer.name,
                        f"{sub.plan_version.plan.code} v{sub.plan_version.version}",
                        outcome,
                    )
                )
            return confirmation_page(
                request,
                self,  # type: ignore[arg-type]
                title="Move to the newest version",
                question="These subscriptions move to their plan's newest version when their current period "
                "ends. The current period stays billed at today's prices; nothing is prorated.",
                columns=("Subscription", "Customer", "Plan", "Outcome"),
                rows=rows,
                confirm_label="Yes, move them at next period",
                action="move_to_newest_version",
                selected=[sub.pk for sub in subs],
            )
        run_per_row(
            request,
            self,  # type: ignore[arg-type]
            [s for s in subs if newest[s.plan_version.plan_id] != s.plan_version.version],
            lambda s: scheduled_change_create(
                subscription_id=s.pk,
                at=s.current_period_end,
                plan_code=s.plan_version.plan.code,
                proration=ProrationBehavior.NONE,
                user=request.user,
            ),
            done=lambda n: (
                f"{n} subscription{'s' if n != 1 else ''} will move to the newest version at next period."
            ),
            label=lambda s: f"#{s.pk} {s.customer.name}",
            refused="not moved. ",
        )
        return None

    def _money_page(
        self,
        request: HttpRequest,
        form: forms.Form,
        *,
        title: str,
        intro: str,
        customer: Customer | None,
        call: Callable[[forms.Form], tuple[Subscription, Invoice | None]],
        done: Callable[[Subscription, Invoice | None], str],
        confirm_label: str,
        original: Subscription | None = None,
    ) -> HttpResponseBase:
        """Form -> preview (the service in a savepoint) -> confirm (the service for real)."""
        if not self.has_money_permission(request):
            raise PermissionDenied
        preview: Preview | None = None
        digest = ""
        if request.method == "POST" and form.is_valid():
            customer = customer or form.cleaned_data.get("customer")
            assert customer is not None
            digest = form_digest(form.cleaned_data)
            try:
                if "confirm" in request.POST and request.POST.get("previewed") == digest:
                    with transaction.atomic():
                        sub, invoice = call(form)
                    self.message_user(request, done(sub, invoice), messages.SUCCESS)
                    return HttpResponseRedirect(admin_url(sub))
                if "confirm" in request.POST:
                    self.message_user(
                        request, "The form changed since its preview: check it again.", messages.WARNING
                    )
                preview = dry_run(lambda: call(form), customer=customer)
            except RatecardError as exc:
                for error in exc.errors:
                    name = error.field if error.field in form.fields else None
                    form.add_error(name, error.message)
                preview, digest = None, ""
        return admin_page(
            request,
            self,  # type: ignore[arg-type]
            TEMPLATE,
            title=title,
            intro=intro,
            form=form,
            preview=preview,
            digest=digest if preview is not None else "",
            confirm_label=confirm_label,
            original=original,
        )

    def create_view(self, request: HttpRequest) -> HttpResponseBase:
        form = CreateForm(request.POST or None)

        def call(f: forms.Form) -> tuple[Subscription, Invoice | None]:
            d = f.cleaned_data
            return subscription_invoicing.subscription_create(
                customer=d["customer"],
                plan_code=d["plan"].code,
                start=d["start"],
                quantity=d["seats"],
                coupon_code=d["coupon"] or None,
                user=request.user,
            )

        return self._money_page(
            request,
            form,
            title="New subscription",
            intro="Subscribes the customer to the plan's newest version from the start time, and invoices "
            "its first in-advance fees at once.",
            customer=None,
            call=call,
            done=lambda sub, inv: (
                f"Subscription #{sub.pk} created" + (f"; invoice {inv} issued." if inv else ".")
            ),
            confirm_label="Yes, create the subscription",
        )

    def _subscription(self, object_id: str) -> Subscription:
        return get_object_or_404(
            Subscription.objects.select_related("customer", "plan_version__plan"), pk=object_id
        )

    def change_plan_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        sub = self._subscription(object_id)
        form = ChangeForm(
            request.POST or None,
            initial={"plan": sub.plan_version.plan.code, "seats": format(sub.quantity.normalize(), "f")},
        )

        def call(f: forms.Form) -> tuple[Subscription, Invoice | None]:
            d = f.cleaned_data
            plan_code = d["plan"].code if d["plan"].code != sub.plan_version.plan.code else None
            return subscription_invoicing.subscription_change(
                subscription_id=sub.pk,
                at="period_end" if d["when"] == "period_end" else d["at"],
                proration=d["proration"],
                plan_code=plan_code,
                quantity=d["seats"] if d["seats"] != sub.quantity else None,
                user=request.user,
            )

        tz = zone(sub.timezone)
        return self._money_page(
            request,
            form,
            title=f"Change plan or seats of #{sub.pk}",
            intro=f"{sub.customer.name}: {sub.plan_version.plan.code} v{sub.plan_version.version}, "
            f"{format_quantity(sub.quantity)} seats, period {period_text(sub.current_period_start, sub.current_period_end, tz)} "
            f"({sub.timezone}). The preview lists the lines the change makes.",
            customer=sub.customer,
            call=call,
            done=lambda s, inv: (
                f"Subscription #{s.pk} changed" + (f"; invoice {inv} issued." if inv else ".")
            ),
            confirm_label="Yes, make this change",
            original=sub,
        )

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        sub = self._subscription(object_id)
        form = CancelForm(request.POST or None)
        tz = zone(sub.timezone)

        def call(f: forms.Form) -> tuple[Subscription, Invoice | None]:
            d = f.cleaned_data
            at: datetime | Literal["period_end"] = "period_end" if d["when"] == "period_end" else d["at"]
            return subscription_invoicing.subscription_cancel(
                subscription_id=sub.pk, at=at, user=request.user
            )

        def done(s: Subscription, inv: Invoice | None) -> str:
            if s.status == SubscriptionStatus.CANCELED:
                return f"Subscription #{s.pk} canceled" + (f"; final invoice {inv} issued." if inv else ".")
            return format_html(
                "Subscription #{} will end at {} ({}).",
                s.pk,
                local_datetime(s.current_period_end, tz),
                s.timezone,
            )

        return self._money_page(
            request,
            form,
            title=f"Cancel #{sub.pk}",
            intro=f"{sub.customer.name}: {sub.plan_version.plan.code} v{sub.plan_version.version}; the current "
            f"period ends {local_datetime(sub.current_period_end, tz)} ({sub.timezone}).",
            customer=sub.customer,
            call=call,
            done=done,
            confirm_label="Yes, cancel",
            original=sub,
        )
