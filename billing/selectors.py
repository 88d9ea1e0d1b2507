"""Reads of billing's models that faces need (DESIGN.md: services write, selectors read).

Each returns what its face shows in a constant number of queries (related rows selected or prefetched).
"""

from __future__ import annotations

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from billing.models import (
    BillableMetric,
    Coupon,
    Entitlement,
    PlanVersion,
    Price,
    PriceTier,
    ScheduledChange,
    ScheduledChangeStatus,
    Subscription,
)


def plan_versions_with_details(queryset: QuerySet[PlanVersion]) -> QuerySet[PlanVersion]:
    """Plan versions with everything the plan shape shows, in a constant number of queries."""
    return queryset.select_related("plan", "plan__product").prefetch_related(
        Prefetch(
            "prices",
            queryset=Price.objects.select_related("metric").prefetch_related(
                Prefetch("tiers", queryset=PriceTier.objects.order_by("position"))
            ),
        ),
        Prefetch("entitlements", queryset=Entitlement.objects.select_related("feature")),
    )


def plans_newest_versions() -> QuerySet[PlanVersion]:
    """The newest version of every catalog plan, with its details, by plan code.

    A contract's private plan (its phases' prices, billing.services.contract_pricing) is not part of the
    catalog: its versions are left out.
    """
    newest = PlanVersion.objects.filter(plan=OuterRef("plan")).order_by("-version").values("id")[:1]
    versions = PlanVersion.objects.filter(id=Subquery(newest), contract_phase__isnull=True)
    return plan_versions_with_details(versions).order_by("plan__code")


def plan_version_with_details(*, version_id: int) -> PlanVersion:
    return plan_versions_with_details(PlanVersion.objects.filter(pk=version_id)).get()


def plan_versions_of(*, code: str) -> QuerySet[PlanVersion]:
    """Every version of the plan ``code``, with its details."""
    return plan_versions_with_details(PlanVersion.objects.filter(plan__code=code))


def plan_version_numbers(*, plan_id: int) -> list[int]:
    return list(
        PlanVersion.objects.filter(plan_id=plan_id).order_by("version").values_list("version", flat=True)
    )


def metrics_list() -> QuerySet[BillableMetric]:
    return BillableMetric.objects.order_by("code")


def metric_get(*, code: str) -> BillableMetric | None:
    return BillableMetric.objects.filter(code=code).first()


def coupons_list() -> QuerySet[Coupon]:
    return Coupon.objects.order_by("code")


def coupon_get(*, code: str) -> Coupon | None:
    return Coupon.objects.filter(code=code).first()


def subscriptions_for_api() -> QuerySet[Subscription]:
    """Subscriptions with what the subscription shape shows, their waiting scheduled changes included."""
    waiting = ScheduledChange.objects.filter(status=ScheduledChangeStatus.SCHEDULED).select_related(
        "new_plan_version__plan"
    )
    return Subscription.objects.select_related(
        "customer", "plan_version", "plan_version__plan", "coupon"
    ).prefetch_related(Prefetch("scheduled_changes", queryset=waiting, to_attr="waiting_changes"))


def subscription_exists(*, subscription_id: int) -> bool:
    return Subscription.objects.filter(pk=subscription_id).exists()
