"""Reads of contracts that billing, invoicing and the faces need (no writes here)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch, QuerySet

from billing.models import Contract, ContractApprovalStep, ContractPhase, ContractStatus, CreditGrant

BILLED_STATUSES = (ContractStatus.ACTIVE, ContractStatus.AMENDED, ContractStatus.ENDED)


def commitments_for(sub_ids: list[int]) -> dict[int, list[tuple[datetime, Decimal | None]]]:
    """Per subscription: each approved contract version's (applies from, commitment), oldest first."""
    out: dict[int, list[tuple[datetime, Decimal | None]]] = defaultdict(list)
    if not sub_ids:
        return out
    rows = (
        Contract.objects.filter(subscription_id__in=sub_ids, status__in=BILLED_STATUSES)
        .order_by("version")
        .values_list("subscription_id", "start", "effective_at", "commitment_amount")
    )
    for sub_id, start, effective_at, amount in rows:
        out[sub_id].append((effective_at or start, amount))
    return out


def contracts_queryset() -> QuerySet[Contract]:
    return Contract.objects.select_related(
        "customer", "plan", "plan_version", "subscription", "created_by"
    ).prefetch_related(
        Prefetch("phases", queryset=ContractPhase.objects.prefetch_related("overrides").order_by("position")),
        Prefetch("credit_grants", queryset=CreditGrant.objects.order_by("priority", "expires_at", "id")),
        Prefetch("approval_steps", queryset=ContractApprovalStep.objects.select_related("user")),
    )


def contract_versions(contract: Contract) -> list[Contract]:
    """Every version of the contract's family, oldest first."""
    return list(
        Contract.objects.filter(family_id=contract.family_id)
        .prefetch_related(
            Prefetch("approval_steps", queryset=ContractApprovalStep.objects.select_related("user"))
        )
        .order_by("version")
    )


def previous_version(contract: Contract) -> Contract | None:
    return (
        contracts_queryset()
        .filter(family_id=contract.family_id, version__lt=contract.version)
        .order_by("-version")
        .first()
    )


def customer_contract_entitlements(customer_id: int) -> dict[str, object]:
    """Entitlement overrides of the customer's active contracts (already in their phase versions)."""
    out: dict[str, object] = {}
    for values in Contract.objects.filter(customer_id=customer_id, status=ContractStatus.ACTIVE).values_list(
        "entitlements", flat=True
    ):
        out.update(values or {})
    return out


def phase_at(phases: Sequence[ContractPhase], at: datetime) -> ContractPhase:
    """The phase in effect at ``at`` (the first one before the contract starts)."""
    current = phases[0]
    for phase in phases:
        if phase.start <= at:
            current = phase
    return current


def customer_contracts_current(*, customer_id: int) -> tuple[list[Contract], list[Contract]]:
    """The customer's active contracts (one per plan) and the versions waiting for finance, with their
    phases, grants and approval steps: four queries."""
    contracts = list(
        contracts_queryset()
        .filter(
            customer_id=customer_id,
            status__in=(ContractStatus.ACTIVE, ContractStatus.PENDING_APPROVAL),
        )
        .order_by("plan__code", "version")
    )
    active = [c for c in contracts if c.status == ContractStatus.ACTIVE]
    return active, [c for c in contracts if c.status == ContractStatus.PENDING_APPROVAL]


def customer_has_credit_grants(*, customer_id: int) -> bool:
    return CreditGrant.objects.filter(customer_id=customer_id, granted_at__isnull=False).exists()
