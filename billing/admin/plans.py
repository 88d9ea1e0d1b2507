"""Finance's plan screens: plans with their versions, prices (graduated and volume tiers shown as a
table) and entitlements.

A plan version is what subscribers signed up for, so a version, its prices, tiers and entitlements are
read-only here for everyone, superusers included. To change a price, finance makes version N+1 with the
plan action "Create a new version from the newest" (``plan_version_copy_newest``), which goes through
``billing.services.catalog``. Sales and support see these screens read-only (the role groups' model
permissions, ``accounts/roles.py``).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Max, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from accounts.admin import HistoryAdmin
from billing.display import (
    EMPTY,
    entitlement_text,
    format_money,
    format_quantity,
    interval_text,
    price_charge,
    tiers_table,
)
from billing.models import Entitlement, Plan, PlanVersion, Price, PriceTier
from billing.services.catalog import PlanDraft, PriceDraft, TierDraft, plan_create
from config.admin_kit import ReadOnlyAdminMixin
from config.errors import ValidationFailed

# --- new plan versions ------------------------------------------------------------------------------


def plan_version_draft(version: PlanVersion) -> PlanDraft:
    """A draft that reproduces ``version`` exactly: its terms, prices with their tiers, entitlements."""
    prices = version.prices.select_related("metric").prefetch_related("tiers").order_by("position", "pk")
    entitlements = version.entitlements.select_related("feature")
    plan = version.plan
    return PlanDraft(
        code=plan.code,
        name=version.name,
        currency=version.currency,
        interval=version.interval,
        interval_count=version.interval_count,
        trial_days=version.trial_days,
        product=plan.product.code if plan.product is not None else None,
        prices=tuple(
            PriceDraft(
                code=p.code,
                model=p.model,
                billing=p.billing,
                description=p.description,
                metric=p.metric.code if p.metric is not None else None,
                amount=p.amount,
                unit_amount=p.unit_amount,
                tiers=tuple(TierDraft(t.up_to, t.unit_amount, t.flat_amount) for t in p.tiers.all()),
                package_size=p.package_size,
                package_amount=p.package_amount,
                percent=p.percent,
                minimum_amount=p.minimum_amount,
                maximum_amount=p.maximum_amount,
            )
            for p in prices
        ),
        features={e.feature.key: e.value for e in entitlements},
    )


def plan_version_copy_newest(*, plan: Plan, user: AbstractBaseUser | AnonymousUser | None) -> PlanVersion:
    """Make version N+1 of ``plan``, identical to version N, through ``plan_create`` (which locks the
    plan, so two copies at once make N+1 and N+2). Raises ``ValidationFailed``; writes nothing then."""
    newest = plan.versions.select_related("plan__product").order_by("-version").first()
    if newest is None:
        raise ValidationFailed(f"Plan {plan.code!r} has no version to copy.", field="plan")
    return plan_create(draft=plan_version_draft(newest), user=user)


# --- read-only pieces of a plan version --------------------------------------------------------------


class PriceInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Price
    extra = 0
    show_change_link = True
    fields = ("code", "description", "model", "billing", "metric", "charge", "tiers")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Price]:
        return (
            super().get_queryset(request).select_related("plan_version", "metric").prefetch_related("tiers")
        )

    @admin.display(description="charge")
    def charge(self, obj: Price) -> str:
        return price_charge(obj)

    @admin.display(description="tiers")
    def tiers(self, obj: Price) -> str:
        return tiers_table(obj)


class EntitlementInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Entitlement
    extra = 0
    fields = ("feature", "kind", "grants")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Entitlement]:
        return super().get_queryset(request).select_related("feature")

    @admin.display(description="kind")
    def kind(self, obj: Entitlement) -> str:
        return obj.feature.get_kind_display()

    @admin.display(description="grants")
    def grants(self, obj: Entitlement) -> str:
        return entitlement_text(obj.value)


# --- plans ------------------------------------------------------------------------------------------


@admin.register(Plan)
class PlanAdmin(HistoryAdmin):
    """A plan's identity. Plans are created (version 1) through the API or the seed; finance may
    deactivate one, describe it or attach it to a product here, and make its next version."""

    list_display = ("code", "name", "product", "newest_version", "version_count", "is_active", "created_at")
    list_filter = ("is_active", "product")
    list_select_related = ("product",)
    search_fields = ("code", "name")
    fields = ("code", "name", "product", "description", "is_active", "created_at", "versions")
    readonly_fields = ("code", "name", "created_at", "versions")
    actions = ("create_new_version",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Plan]:
        newest = PlanVersion.objects.filter(plan=OuterRef("pk")).order_by("-version").values("pk")[:1]
        return (  # type: ignore[no-any-return]
            super()
            .get_queryset(request)
            .annotate(
                version_count=Count("versions", distinct=True),
                newest_number=Max("versions__version"),
                newest_id=Subquery(newest),
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Plan | None = None) -> bool:
        return False  # versions are PROTECTed: subscribers' plans are deactivated, never deleted

    def has_new_version_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perms(
            [
                "billing.add_planversion",
                "billing.add_price",
                "billing.add_pricetier",
                "billing.add_entitlement",
            ]
        )

    @admin.display(description="newest version", ordering="newest_number")
    def newest_version(self, obj: Plan) -> str:
        newest_id = getattr(obj, "newest_id", None)
        if newest_id is None:
            return EMPTY
        url = reverse("admin:billing_planversion_change", args=(newest_id,))
        return format_html('<a href="{}">v{}</a>', url, getattr(obj, "newest_number", "?"))

    @admin.display(description="versions", ordering="version_count")
    def version_count(self, obj: Plan) -> int:
        return getattr(obj, "version_count", 0)

    @admin.display(description="all versions")
    def versions(self, obj: Plan) -> str:
        rows = [
            (
                reverse("admin:billing_planversion_change", args=(v.pk,)),
                f"v{v.version}",
                v.name,
                v.currency,
                interval_text(v),
                v.price_count,  # type: ignore[attr-defined]
                f"{v.created_at:%Y-%m-%d %H:%M}",
            )
            for v in obj.versions.annotate(price_count=Count("prices")).order_by("-version")
        ]
        if not rows:
            return EMPTY
        return format_html(
            "<table><thead><tr><th>Version</th><th>Name</th><th>Currency</th><th>Every</th><th>Prices</th>"
            "<th>Created</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
                rows,
            ),
        )

    @admin.action(description="Create a new version from the newest", permissions=["new_version"])
    def create_new_version(self, request: HttpRequest, queryset: QuerySet[Plan]) -> HttpResponse | None:
        created: list[PlanVersion] = []
        for plan in queryset.order_by("pk"):
            try:
                version = plan_version_copy_newest(plan=plan, user=request.user)
            except ValidationFailed as exc:
                self.message_user(request, f"{plan.code}: no new version. {exc.message}", messages.ERROR)
                continue
            created.append(version)
        for version in created:
            url = reverse("admin:billing_planversion_change", args=(version.pk,))
            self.message_user(
                request,
                format_html(
                    'Created <a href="{}">{}</a>, a copy of version {}.', url, version, version.version - 1
                ),
                messages.SUCCESS,
            )
        if len(created) == 1 and queryset.count() == 1:  # one plan: go and see its new version
            return HttpResponseRedirect(reverse("admin:billing_planversion_change", args=(created[0].pk,)))
        return None


@admin.register(PlanVersion)
class PlanVersionAdmin(ReadOnlyAdminMixin, HistoryAdmin):
    list_display = (
        "__str__",
        "name",
        "currency",
        "every",
        "trial_days",
        "price_count",
        "created_at",
        "created_by",
    )
    list_filter = ("currency", "interval", "plan")
    list_select_related = ("plan", "created_by")
    search_fields = ("plan__code", "name")
    fields = ("plan", "version", "name", "currency", "every", "trial_days", "created_at", "created_by")
    readonly_fields = fields
    inlines = (PriceInline, EntitlementInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlanVersion]:
        return super().get_queryset(request).annotate(price_count=Count("prices", distinct=True))  # type: ignore[no-any-return]

    @admin.display(description="billed every")
    def every(self, obj: PlanVersion) -> str:
        return interval_text(obj)

    @admin.display(description="prices", ordering="price_count")
    def price_count(self, obj: PlanVersion) -> int:
        return getattr(obj, "price_count", 0)


@admin.register(Price)
class PriceAdmin(ReadOnlyAdminMixin, HistoryAdmin):
    list_display = ("code", "plan_version", "model", "billing", "metric", "charge")
    list_filter = ("model", "billing", "plan_version__currency")
    list_select_related = ("plan_version__plan", "metric")
    search_fields = ("code", "plan_version__plan__code")
    fields = (
        "plan_version",
        "code",
        "description",
        "position",
        "model",
        "billing",
        "metric",
        "charge",
        "tiers",
    )
    readonly_fields = fields

    @admin.display(description="charge")
    def charge(self, obj: Price) -> str:
        return price_charge(obj)

    @admin.display(description="tiers")
    def tiers(self, obj: Price) -> str:
        return tiers_table(obj)


@admin.register(PriceTier)
class PriceTierAdmin(ReadOnlyAdminMixin, HistoryAdmin):
    """Reached from a price (its tiers table) or by URL; kept for the history page."""

    list_display = ("price", "position", "units", "unit_price", "flat_fee")
    list_select_related = ("price__plan_version__plan",)
    fields = ("price", "position", "units", "unit_price", "flat_fee")
    readonly_fields = fields

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        return {"add": False, "change": False, "delete": False, "view": False}  # not listed on the index

    @admin.display(description="up to (units)")
    def units(self, obj: PriceTier) -> str:
        return "no limit" if obj.up_to is None else format_quantity(obj.up_to)

    @admin.display(description="unit price")
    def unit_price(self, obj: PriceTier) -> str:
        return format_money(obj.unit_amount, obj.price.plan_version.currency)

    @admin.display(description="flat fee")
    def flat_fee(self, obj: PriceTier) -> str:
        return format_money(obj.flat_amount, obj.price.plan_version.currency)


@admin.register(Entitlement)
class EntitlementAdmin(ReadOnlyAdminMixin, HistoryAdmin):
    list_display = ("plan_version", "feature", "grants")
    list_filter = ("feature",)
    list_select_related = ("plan_version__plan", "feature")
    search_fields = ("feature__key", "plan_version__plan__code")
    fields = ("plan_version", "feature", "grants")
    readonly_fields = fields

    @admin.display(description="grants")
    def grants(self, obj: Entitlement) -> str:
        return entitlement_text(obj.value)
