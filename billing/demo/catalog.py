"""The Meshwork catalog: one product, three billable metrics, five plans in USD and EUR, a few coupons.

- metrics: ``active_users`` (unique count of ``user_id``), ``devices`` (max of ``devices``), ``relay_gb``
  (sum of ``gb``);
- plans, each in USD (``starter``) and EUR (``starter-eur``), since a plan version has one currency:
  Personal (free: 3 users, 100 devices), Personal Plus, Starter (6.00 per active user per month),
  Premium (18.00 per active user per month, SSO) and Enterprise (priced by contract).

Written through ``billing.services.catalog`` (the product has no service); each object is created only
when its code does not exist yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billing.models import (
    Aggregation,
    BillableMetric,
    BillingTiming,
    Coupon,
    CouponDuration,
    Plan,
    PriceModel,
    Product,
)
from billing.services.catalog import (
    PlanDraft,
    PriceDraft,
    TierDraft,
    coupon_create,
    feature_measure,
    metric_create,
    plan_create,
)

PRODUCT_CODE = "meshwork"

D = Decimal


@dataclass(frozen=True)
class MetricSpec:
    code: str
    name: str
    aggregation: str
    field_name: str
    description: str = ""


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "active_users", "Active users", Aggregation.UNIQUE_COUNT, "user_id", "Distinct users who connected."
    ),
    MetricSpec("devices", "Devices", Aggregation.MAX, "devices", "Peak number of enrolled devices."),
    MetricSpec("relay_gb", "Relay traffic (GB)", Aggregation.SUM, "gb", "Traffic through Meshwork's relays."),
)


@dataclass(frozen=True)
class CouponSpec:
    code: str
    name: str
    duration: str
    percent_off: Decimal | None = None
    amount_off: Decimal | None = None
    currency: str = ""
    duration_in_months: int | None = None


COUPONS: tuple[CouponSpec, ...] = (
    CouponSpec(
        "launch20", "Launch: 20% off for 3 months", CouponDuration.REPEATING, D("20"), duration_in_months=3
    ),
    CouponSpec(
        "welcome10", "Welcome: 10.00 USD off once", CouponDuration.ONCE, amount_off=D("10.00"), currency="USD"
    ),
    CouponSpec(
        "welcome10-eur",
        "Welcome: 10.00 EUR off once",
        CouponDuration.ONCE,
        amount_off=D("10.00"),
        currency="EUR",
    ),
)


@dataclass(frozen=True)
class _PlanPrices:
    """What differs between the USD and the EUR edition of the catalog."""

    currency: str
    suffix: str
    personal_plus: Decimal
    starter_seat: Decimal
    starter_relay_gb: Decimal
    premium_seat: Decimal
    premium_relay_gb: Decimal
    enterprise_device: Decimal


_EDITIONS = (
    _PlanPrices("USD", "", D("5.00"), D("6.00"), D("0.05"), D("18.00"), D("0.04"), D("0.50")),
    _PlanPrices("EUR", "-eur", D("4.50"), D("5.50"), D("0.05"), D("16.50"), D("0.04"), D("0.45")),
)


def _relay(per_gb: Decimal, free_gb: int) -> PriceDraft:
    return PriceDraft(
        code="relay",
        model=PriceModel.GRADUATED,
        billing=BillingTiming.IN_ARREARS,
        description=f"Relay traffic: first {free_gb} GB included, then per GB",
        metric="relay_gb",
        tiers=(TierDraft(up_to=D(free_gb), unit_amount=D(0)), TierDraft(up_to=None, unit_amount=per_gb)),
    )


def _seats(unit_amount: Decimal) -> PriceDraft:
    return PriceDraft(
        code="seats",
        model=PriceModel.PER_UNIT,
        billing=BillingTiming.IN_ADVANCE,
        description="Per active user per month (quantity = seats)",
        unit_amount=unit_amount,
    )


def _flat(amount: Decimal, description: str) -> PriceDraft:
    return PriceDraft(
        code="platform",
        model=PriceModel.FLAT,
        billing=BillingTiming.IN_ADVANCE,
        description=description,
        amount=amount,
    )


def plan_drafts() -> tuple[PlanDraft, ...]:
    """The Meshwork catalog: five plans, in USD and in EUR."""
    drafts: list[PlanDraft] = []
    for e in _EDITIONS:
        label = "" if e.currency == "USD" else f" ({e.currency})"
        drafts += [
            PlanDraft(
                code=f"personal{e.suffix}",
                name=f"Personal{label}",
                currency=e.currency,
                product=PRODUCT_CODE,
                description="Free for personal use: up to 3 users and 100 devices.",
                prices=(_flat(D("0.00"), "Free"),),
                features={"max_users": 3, "max_devices": 100, "sso": False},
            ),
            PlanDraft(
                code=f"personal-plus{e.suffix}",
                name=f"Personal Plus{label}",
                currency=e.currency,
                product=PRODUCT_CODE,
                description="For families and home labs: up to 6 users and 200 devices.",
                prices=(_flat(e.personal_plus, "Personal Plus, monthly"),),
                features={"max_users": 6, "max_devices": 200, "sso": False},
            ),
            PlanDraft(
                code=f"starter{e.suffix}",
                name=f"Starter{label}",
                currency=e.currency,
                product=PRODUCT_CODE,
                trial_days=14,
                description="For small teams: billed per active user, 100 GB of relay traffic included.",
                prices=(_seats(e.starter_seat), _relay(e.starter_relay_gb, 100)),
                features={"max_users": None, "max_devices": 1000, "sso": False},
            ),
            PlanDraft(
                code=f"premium{e.suffix}",
                name=f"Premium{label}",
                currency=e.currency,
                product=PRODUCT_CODE,
                trial_days=14,
                description="SSO and unlimited devices; 500 GB of relay traffic included.",
                prices=(_seats(e.premium_seat), _relay(e.premium_relay_gb, 500)),
                features={"max_users": None, "max_devices": None, "sso": True},
            ),
            PlanDraft(
                code=f"enterprise{e.suffix}",
                name=f"Enterprise{label}",
                currency=e.currency,
                product=PRODUCT_CODE,
                description="Priced by contract: its platform fee is a placeholder a contract overrides.",
                prices=(
                    _flat(D("0.00"), "Platform fee (set by contract)"),
                    PriceDraft(
                        code="devices",
                        model=PriceModel.PER_UNIT,
                        billing=BillingTiming.IN_ARREARS,
                        description="Per device (peak in the period)",
                        metric="devices",
                        unit_amount=e.enterprise_device,
                    ),
                ),
                features={"max_users": None, "max_devices": None, "sso": True},
            ),
        ]
    return tuple(drafts)


# --- the seed steps ---------------------------------------------------------------------------------


def seed_product() -> int:
    _, created = Product.objects.get_or_create(
        code=PRODUCT_CODE,
        defaults={
            "name": "Meshwork",
            "description": "A mesh VPN for teams: devices, users and relayed traffic.",
        },
    )
    return int(created)


def seed_metrics() -> int:
    existing = set(BillableMetric.objects.values_list("code", flat=True))
    created = 0
    for m in METRICS:
        if m.code not in existing:
            metric_create(code=m.code, name=m.name, aggregation=m.aggregation, field_name=m.field_name)
            created += 1
    return created


# which metric measures each limit, so entitlements show usage beside the limit
MEASURED_LIMITS = {"max_users": "active_users", "max_devices": "devices"}


def seed_plans() -> int:
    existing = set(Plan.objects.values_list("code", flat=True))
    created = 0
    for draft in plan_drafts():
        if draft.code not in existing:
            plan_create(draft=draft)
            created += 1
    for key, metric_code in MEASURED_LIMITS.items():
        feature_measure(key=key, metric_code=metric_code)
    return created


def seed_coupons() -> int:
    existing = set(Coupon.objects.values_list("code", flat=True))
    created = 0
    for c in COUPONS:
        if c.code not in existing:
            coupon_create(
                code=c.code,
                name=c.name,
                percent_off=c.percent_off,
                amount_off=c.amount_off,
                currency=c.currency,
                duration=c.duration,
                duration_in_months=c.duration_in_months,
            )
            created += 1
    return created
