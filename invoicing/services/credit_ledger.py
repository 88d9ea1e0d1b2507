"""The customer's credit ledger: grants in, draws out, every row kept, balance = sum, never negative.

One ledger, ``BalanceTransaction`` (negative = credit the customer holds): a contract's prepaid grant
enters as one row pointing at its ``CreditGrant``; the balance a cancellation or a credit note leaves
enters as a row without a grant (the "account balance"). At finalization the invoice's
``credits_applied`` (after tax) is drawn pool by pool: grants by lowest ``priority`` first, then the
soonest ``expires_at``, then the account balance; each draw is a row naming its grant and the invoice.
A grant that has expired at the finalization's business time is never drawn. Why here and not in
billing: draws point at invoices, and billing never imports invoicing (docs/contracts.md). The reads
(what can be drawn at a time, a customer's grants) are in ``invoicing.selectors.credits``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db.models import Sum

from billing.models import CreditGrant
from invoicing.models import BalanceTransaction, Invoice
from invoicing.selectors.credits import ZERO, Pool, credit_pools


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
