"""The demo's Enterprise customers are on real contracts: sales drafts each deal, finance approves it,
and approval subscribes the customer (``invoicing.services.contract_activation``), so six months of
history bill the contract's ramp, overrides, commitment true-ups and credit draws.

Each deal: the plan's placeholder platform fee set by contract and 10% off the per-device price for
three months, then a ramp (a higher platform fee, 15% off devices, a support fee); a minimum spend per
month; a prepaid credit that never expires and a welcome credit that expires after 60 days (drawn first);
500 users and SSO.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import User

from accounts.models import Customer
from billing.demo.staff import seed_staff
from billing.demo.stories import Story
from billing.pricing import Period
from billing.services.contract_terms import (
    ContractDraft,
    CreditDraft,
    FeeDraft,
    OverrideDraft,
    PhaseDraft,
)
from billing.services.contracts import contract_create, contract_submit
from billing.services.subscription_periods import Schedule, period_at_index
from invoicing.services.contract_activation import contract_activate

RAMP_AFTER_PERIODS = 3
# per currency: phase 1 and 2 platform fee, the support fee of phase 2, the commitment, the credits
TERMS = {
    "USD": (
        Decimal("1500.00"),
        Decimal("2000.00"),
        Decimal("250.00"),
        Decimal("2500.00"),
        Decimal("3000.00"),
        Decimal("500.00"),
    ),
    "EUR": (
        Decimal("1400.00"),
        Decimal("1850.00"),
        Decimal("230.00"),
        Decimal("2300.00"),
        Decimal("2800.00"),
        Decimal("450.00"),
    ),
}


def _ramp_start(customer: Customer, start: datetime) -> datetime:
    """The billing date ``RAMP_AFTER_PERIODS`` months in: phases change exactly on a boundary."""
    schedule = Schedule(
        anchor_kind=customer.billing_anchor,
        anchor_at=start,
        timezone=customer.timezone,
        interval="month",
        interval_count=1,
    )
    period: Period = period_at_index(schedule, RAMP_AFTER_PERIODS)
    return period.start


def enterprise_draft(story: Story, customer: Customer) -> ContractDraft:
    platform, ramped, support, commitment, prepaid, welcome = TERMS[story.currency]
    return ContractDraft(
        customer=story.external_id,
        plan=story.plan_code,
        start=story.start,
        quantity=story.seats,
        net_terms_days=30,  # enterprise deals pay by bank transfer, 30 days net
        phases=(
            PhaseDraft(
                start=story.start,
                overrides=(
                    OverrideDraft(price="platform", unit_amount=platform),
                    OverrideDraft(price="devices", percent_off=Decimal(10)),
                ),
            ),
            PhaseDraft(
                start=_ramp_start(customer, story.start),
                overrides=(
                    OverrideDraft(price="platform", unit_amount=ramped),
                    OverrideDraft(price="devices", percent_off=Decimal(15)),
                ),
                fees=(FeeDraft(code="support", amount=support, description="Premium support"),),
            ),
        ),
        commitment=commitment,
        credits=(
            CreditDraft(amount=prepaid, priority=2),
            CreditDraft(amount=welcome, priority=1, expires_at=story.start + timedelta(days=60)),
        ),
        entitlements={"max_users": 500, "sso": True},
        notes="Two-phase ramp agreed with procurement; the welcome credit replaces a launch discount.",
    )


def enterprise_contract_open(story: Story, customer: Customer, when: datetime) -> tuple[int, int]:
    """Sales drafts and submits the deal, finance approves it at ``when``: the subscription's id and the
    customer's payment terms (the contract's, once approved)."""
    if User.objects.filter(username__in=("sales", "finance")).count() != 2:
        seed_staff()  # the history alone (tests) runs without the rest of the seed
    sales = User.objects.get(username="sales")
    finance = User.objects.get(username="finance")
    contract = contract_create(draft=enterprise_draft(story, customer), user=sales)
    contract_submit(contract_id=contract.pk, user=sales, at=when - timedelta(days=2))
    contract, _ = contract_activate(
        contract_id=contract.pk, user=finance, at=when, comment="Within the enterprise discount policy."
    )
    assert contract.subscription_id is not None
    return contract.subscription_id, contract.customer.net_terms_days
