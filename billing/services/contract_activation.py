"""What approving a contract does on billing's side: price each phase as a private plan version, put
the subscription on the phase in effect, schedule the later phases (ramps) as plan changes at their
starts, and record the one-off fees as pending lines. Invoicing bills them
(``invoicing.services.contract_activation``), in the same transaction as the approval.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from billing.contract_selectors import phase_at
from billing.models import (
    ChangeKind,
    Contract,
    ContractPhase,
    ContractStatus,
    CreditGrant,
    PendingLine,
    PendingLineKind,
    PlanVersion,
    ProrationBehavior,
    Subscription,
    SubscriptionChange,
)
from billing.pricing.money import round_amount
from billing.services.contract_pricing import phase_version_create
from billing.services.subscription_charges import prices_of
from billing.services.subscriptions import subscription_items_sync

PHASE_NOTE = "contract phase"


def contract_phases_price(*, contract: Contract) -> list[ContractPhase]:
    """Materialise every phase of ``contract`` (approval; idempotent: a priced phase is kept)."""
    phases = list(contract.phases.select_related("plan_version").order_by("position"))
    for phase in phases:
        if phase.plan_version_id is None:
            phase_version_create(contract=contract, phase=phase)
    return phases


def _schedule_phases(
    *, sub: Subscription, phases: list[ContractPhase], after: datetime, previous: PlanVersion, user: object
) -> None:
    """Each later phase becomes a plan change at its start (applied at the period boundary it falls on)."""
    for phase in phases:
        if phase.start <= after:
            continue
        assert phase.plan_version is not None
        SubscriptionChange.objects.create(
            subscription=sub,
            kind=ChangeKind.PLAN,
            effective_at=phase.start,
            proration=ProrationBehavior.NONE,
            old_plan_version=previous,
            new_plan_version=phase.plan_version,
            applied=False,
            note=f"{PHASE_NOTE} {phase.position + 1} of contract #{phase.contract.family_id}",
        )
        previous = phase.plan_version


def contract_subscription_attach(
    *, contract: Contract, sub: Subscription, user: object = None
) -> Subscription:
    """Put a new subscription (created at list prices, not yet billed) on the contract's phase prices."""
    phases = contract_phases_price(contract=contract)
    first = phase_at(phases, sub.started_at)
    assert first.plan_version is not None
    sub.plan_version = first.plan_version
    sub.save(update_fields=["plan_version", "updated_at"])
    subscription_items_sync(sub, prices_of(first.plan_version))
    SubscriptionChange.objects.filter(subscription=sub, kind=ChangeKind.CREATE).update(
        new_plan_version=first.plan_version, note=f"contract #{contract.family_id}"
    )
    _schedule_phases(sub=sub, phases=phases, after=sub.started_at, previous=first.plan_version, user=user)
    contract.subscription = sub
    contract.save(update_fields=["subscription", "updated_at"])
    return sub


def contract_one_offs_record(*, contract: Contract, sub: Subscription) -> list[PendingLine]:
    """The contract's one-off fees as pending lines of its subscription (billed once)."""
    lines = [
        PendingLine(
            customer=contract.customer,
            subscription=sub,
            kind=PendingLineKind.ONE_OFF,
            description=fee["description"],
            currency=contract.currency,
            quantity=Decimal(1),
            unit_amount=Decimal(str(fee["amount"])),
            amount=round_amount(Decimal(str(fee["amount"])), contract.currency),
            created_by=contract.created_by,
        )
        for fee in contract.one_off_fees
    ]
    return PendingLine.objects.bulk_create(lines)


def contract_grants_mark(*, contract: Contract, at: datetime) -> list[CreditGrant]:
    grants = list(CreditGrant.objects.filter(contract=contract, granted_at__isnull=True).order_by("id"))
    for grant in grants:
        grant.granted_at = at
        grant.save(update_fields=["granted_at"])
    return grants


def contract_amendment_prepare(*, contract: Contract, sub: Subscription) -> PlanVersion:
    """Price the amendment's phases and replace the earlier version's phase changes not yet applied.

    Returns the plan version in effect at ``effective_at``; the caller changes the subscription to it
    (prorated) and this schedules the amendment's later phases.
    """
    assert contract.effective_at is not None
    phases = contract_phases_price(contract=contract)
    SubscriptionChange.objects.filter(
        subscription=sub, applied=False, note__startswith=PHASE_NOTE
    ).delete()  # they never took effect: the amendment's phases replace them
    current = phase_at(phases, contract.effective_at)
    assert current.plan_version is not None
    _schedule_phases(
        sub=sub, phases=phases, after=contract.effective_at, previous=current.plan_version, user=None
    )
    Contract.objects.filter(family_id=contract.family_id, status=ContractStatus.ACTIVE).exclude(
        pk=contract.pk
    ).update(status=ContractStatus.AMENDED, updated_at=timezone.now())
    return current.plan_version


def contract_change_schedule(
    *, sub: Subscription, version: PlanVersion, at: datetime, quantity: Decimal | None
) -> SubscriptionChange:
    """An amendment that starts in a later period: a plan change applied at the boundary it falls on."""
    return SubscriptionChange.objects.create(
        subscription=sub,
        kind=ChangeKind.PLAN if quantity is None else ChangeKind.PLAN_AND_QUANTITY,
        effective_at=at,
        proration=ProrationBehavior.NONE,
        old_plan_version=sub.plan_version,
        new_plan_version=version,
        new_quantity=quantity,
        applied=False,
        note=f"{PHASE_NOTE}: amendment",
    )
