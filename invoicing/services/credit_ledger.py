"""The customer's credit ledger: grants in, draws out, every row kept, balance = sum, never negative.

One ledger, ``BalanceTransaction`` (negative = credit the customer holds): a contract's prepaid grant
enters as one row pointing at its ``CreditGrant``; the balance a cancellation or a credit note leaves
enters as a row without a grant (the "account balance"). At finalization the invoice's
``credits_applied`` (after tax) is drawn pool by pool: grants by lowest ``priority`` first, then the
soonest ``expires_at``, then the account balance; each draw is a row naming its grant and the invoice.
A grant that has expired at the finalization's business time is never drawn. Why here and not in
billing: draws point at invoices, and billing never imports invoicing (docs/contracts.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Sum

from billing.models import CreditGrant
from invoicing.models import BalanceTransaction, Invoice

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


def grants_post(*, grants: Iterable[CreditGrant]) -> list[BalanceTransaction]:
    """Put granted credit in the ledger (one row per grant; a grant already posted is skipped)."""
    grants = [g for g in grants if not g.ledger_entries.exists()]
    return BalanceTransaction.objects.bulk_create(
        BalanceTransaction(
            customer_id=g.customer_id,
            currency=g.currency,
            amount=-Decimal(g.amount),
            grant=g,
            description=g.description or "Prepaid credit grant",
        )
        for g in grants
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


class CreditBook:
    """The pools of a batch of invoices being finalized: what each may draw, and the draw rows."""

    def __init__(self, pools: dict[tuple[int, str], list[Pool]]) -> None:
        self.pools = pools

    @classmethod
    def load(cls, *, customer_ids: Iterable[int], at: datetime) -> CreditBook:
        return cls(credit_pools(customer_ids=customer_ids, at=at))

    def balances(self) -> dict[tuple[int, str], Decimal]:
        return {key: sum((p.remaining for p in pools), ZERO) for key, pools in self.pools.items()}

    def entries(self, *, invoice: Invoice, amount: Decimal, number: str) -> list[BalanceTransaction]:
        """Ledger rows for ``amount`` of credit applied to ``invoice`` (negative: credit it gives)."""
        if amount < 0:
            return [
                BalanceTransaction(
                    customer=invoice.customer,
                    currency=invoice.currency,
                    amount=amount,
                    invoice=invoice,
                    description=f"Credit from invoice {number}",
                )
            ]
        rows: list[BalanceTransaction] = []
        left = amount
        for pool in self.pools.get((invoice.customer_id, invoice.currency), []):
            if left <= 0:
                break
            take = min(left, pool.remaining)
            if take <= 0:
                continue
            pool.remaining -= take
            left -= take
            rows.append(
                BalanceTransaction(
                    customer=invoice.customer,
                    currency=invoice.currency,
                    amount=take,
                    invoice=invoice,
                    grant_id=pool.grant_id,
                    description=f"Applied to invoice {number}",
                )
            )
        assert left == 0, "credits_applied exceeds the credit available"  # balance never negative
        return rows


def invoice_draws_return(*, invoice: Invoice) -> list[BalanceTransaction]:
    """A voided invoice gives back what it drew, to the pools it drew from (or takes back what it gave)."""
    drawn = (
        BalanceTransaction.objects.filter(invoice=invoice)
        .values("grant_id", "customer_id", "currency")
        .annotate(total=Sum("amount"))
    )
    return BalanceTransaction.objects.bulk_create(
        BalanceTransaction(
            customer_id=row["customer_id"],
            currency=row["currency"],
            amount=-row["total"],
            invoice=invoice,
            grant_id=row["grant_id"],
            description=f"Returned from voided invoice {invoice.number}",
        )
        for row in drawn
        if row["total"]
    )


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
