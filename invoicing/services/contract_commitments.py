"""The minimum commitment true-up of contract subscriptions (API.md, Contracts: ``commitment``).

A period's spend is its in-advance fees plus its usage in arrears (and prorations inside it), after
discounts, before tax and credits; one-off fees do not count. A shortfall under the contract's
commitment is one ``commitment`` line on the invoice that carries the period's usage. Fees billed
earlier are read from the invoices (one query per billing call); fees computed earlier in the same call
are passed in, so a run that crosses several periods at once counts each exactly once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from billing.contract_selectors import commitments_for
from billing.models import Subscription
from billing.pricing import Period, commitment_true_up, plain_amount
from invoicing.models import InvoiceLine, InvoiceStatus, LineKind
from invoicing.services.drafts import LineDraft

SPEND_KINDS = (LineKind.SUBSCRIPTION, LineKind.USAGE, LineKind.PRORATION)
ZERO = Decimal(0)


@dataclass
class CommitmentBook:
    terms: dict[int, list[tuple[datetime, Decimal | None]]] = field(default_factory=dict)
    billed: dict[int, list[tuple[datetime, datetime, Decimal]]] = field(default_factory=dict)

    @classmethod
    def load(cls, *, sub_ids: list[int], since: datetime | None) -> CommitmentBook:
        terms = {k: v for k, v in commitments_for(sub_ids).items() if any(a is not None for _, a in v)}
        if not terms or since is None:
            return cls(terms=terms)
        billed: dict[int, list[tuple[datetime, datetime, Decimal]]] = defaultdict(list)
        rows = (
            InvoiceLine.objects.filter(
                subscription_id__in=list(terms), kind__in=SPEND_KINDS, period_end__gt=since
            )
            .exclude(invoice__status=InvoiceStatus.VOID)
            .values_list("subscription_id", "period_start", "period_end", "amount", "discount_share")
        )
        for sub_id, start, end, amount, share in rows:
            if start is not None and end is not None:
                billed[sub_id].append((start, end, Decimal(amount) + Decimal(share)))
        return cls(terms=terms, billed=billed)

    def committed(self, sub_id: int, period: Period) -> Decimal | None:
        amount: Decimal | None = None
        for applies_from, value in self.terms.get(sub_id, []):
            if applies_from <= period.start or amount is None:
                amount = value
        return amount

    def true_up(
        self, *, sub: Subscription, period: Period, lines: list[LineDraft], earlier: Iterable[LineDraft]
    ) -> list[LineDraft]:
        """The true-up line for ``period`` (none without a commitment or a shortfall)."""
        committed = self.committed(sub.pk, period)
        if committed is None:
            return []

        def inside(start: datetime | None, end: datetime | None) -> bool:
            return start is not None and end is not None and period.start <= start and end <= period.end

        spent = sum((a for s, e, a in self.billed.get(sub.pk, []) if inside(s, e)), ZERO)
        spent += sum(
            (
                line.amount + line.discount_share
                for line in [*earlier, *lines]
                if line.subscription_id == sub.pk
                and line.kind in SPEND_KINDS
                and inside(line.period_start, line.period_end)
            ),
            ZERO,
        )
        amount = commitment_true_up(committed=committed, rated=spent, currency=sub.currency)
        if not amount:
            return []
        return [
            LineDraft(
                kind=LineKind.COMMITMENT,
                description=(
                    f"Minimum commitment true-up: {plain_amount(committed, sub.currency)} committed, "
                    f"{plain_amount(spent, sub.currency)} spent"
                ),
                amount=amount,
                quantity=Decimal(1),
                unit_amount=amount,
                period_start=period.start,
                period_end=period.end,
                subscription_id=sub.pk,
                detail={"committed": str(committed), "spent": str(spent)},
            )
        ]
