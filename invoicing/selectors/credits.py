"""Reads of the customer's credit ledger (``BalanceTransaction``; negative = credit the customer holds).

What can be drawn at a business time, pool by pool (``credit_pools``: each grant by lowest
``priority``, then soonest ``expires_at``, then the account balance; an expired grant is left out), the
balance an upcoming invoice could draw (``credit_balance_at``) and every grant with what is left of it
(``customer_credits``: the API's ``GET /customers/{id}/credits`` and the customer page). The writes —
posting grants, drawing at finalization, returning a voided invoice's draws — are in
``invoicing.services.credit_ledger``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Sum

from billing.models import CreditGrant
from invoicing.models import BalanceTransaction

ZERO = Decimal(0)
NEVER = datetime.max.replace(year=9999).isoformat()


@dataclass
class Pool:
    """Credit that can be drawn: one grant, or the account balance (``grant_id`` None)."""

    grant_id: int | None
    remaining: Decimal
    priority: int
    expires_at: datetime | None

    def order(self) -> tuple[int, str, int]:
        # account balance: no expiry, after every grant of its priority
        return (
            self.priority,
            self.expires_at.isoformat() if self.expires_at else NEVER,
            self.grant_id if self.grant_id is not None else 2**62,
        )


def credit_pools(*, customer_ids: Iterable[int], at: datetime) -> dict[tuple[int, str], list[Pool]]:
    """Per (customer, currency): the pools that can be drawn at ``at``, in drawing order."""
    ids = list(customer_ids)
    sums = (
        BalanceTransaction.objects.filter(customer_id__in=ids)
        .values("customer_id", "currency", "grant_id")
        .annotate(total=Sum("amount"))
    )
    grants = CreditGrant.objects.in_bulk({row["grant_id"] for row in sums if row["grant_id"]})
    pools: dict[tuple[int, str], list[Pool]] = defaultdict(list)
    for row in sums:
        remaining = max(-Decimal(row["total"]), ZERO)
        grant = grants.get(row["grant_id"]) if row["grant_id"] else None
        if not remaining or (grant is not None and grant.expires_at is not None and grant.expires_at <= at):
            continue  # spent, or expired: an expired grant is never drawn
        pools[(row["customer_id"], row["currency"])].append(
            Pool(
                grant_id=grant.pk if grant else None,
                remaining=remaining,
                priority=grant.priority if grant else 1,
                expires_at=grant.expires_at if grant else None,
            )
        )
    for key in pools:
        pools[key].sort(key=Pool.order)
    return pools


@dataclass(frozen=True)
class GrantBalance:
    grant: CreditGrant
    remaining: Decimal
    expired: bool


def customer_credits(*, customer_id: int, currency: str, at: datetime) -> tuple[Decimal, list[GrantBalance]]:
    """The balance drawable at ``at`` and every granted grant with what is left of it (a read)."""
    pools = credit_pools(customer_ids=[customer_id], at=at).get((customer_id, currency), [])
    balance = sum((p.remaining for p in pools), ZERO)
    left = dict(
        BalanceTransaction.objects.filter(customer_id=customer_id, grant__isnull=False)
        .values("grant_id")
        .annotate(total=Sum("amount"))
        .values_list("grant_id", "total")
    )
    out = [
        GrantBalance(
            grant=g,
            remaining=max(-Decimal(left.get(g.pk, ZERO)), ZERO),
            expired=g.expires_at is not None and g.expires_at <= at,
        )
        for g in CreditGrant.objects.filter(
            customer_id=customer_id, currency=currency, granted_at__isnull=False
        ).order_by("priority", "expires_at", "id")
    ]
    return balance, out


def credit_balance_at(*, customer_id: int, currency: str, at: datetime) -> Decimal:
    """What the customer's next invoice could draw at ``at`` (expired grants left out)."""
    pools = credit_pools(customer_ids=[customer_id], at=at).get((customer_id, currency), [])
    return sum((p.remaining for p in pools), ZERO)
