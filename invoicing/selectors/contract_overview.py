"""The customer page's "Contract" section: the deals billing follows for this customer, and its credit.

For each active contract (one per plan): the phase in effect at the page's business time and the next
one (a ramp), the minimum commitment per billing period and the payment terms; the versions waiting for
finance; the credit drawable now and every granted grant with what is left of it (the ledger's reads,
``invoicing.selectors.credits``). None when the customer has no contract and no credit grant: the page
then says it is billed at list prices. A constant number of queries (two without a contract, at most
ten with one) however many contracts, phases or grants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.contract_selectors import customer_contracts_current, customer_has_credit_grants, phase_at
from billing.models import Contract, ContractPhase
from invoicing.selectors.credits import GrantBalance, customer_credits


@dataclass(frozen=True)
class ContractTerms:
    """An active contract as the page shows it: ``phase`` is the one in effect at the page's time."""

    contract: Contract
    phase: ContractPhase | None
    phase_count: int
    next_phase: ContractPhase | None

    @property
    def commitment(self) -> Decimal | None:
        amount = self.contract.commitment_amount
        return None if amount is None else Decimal(amount)


@dataclass(frozen=True)
class ContractSummary:
    contracts: list[ContractTerms]
    waiting: list[Contract]  # versions submitted, waiting for finance
    currency: str
    credit_balance: Decimal  # drawable at the page's time (expired grants left out)
    grants: list[GrantBalance]


def _terms(contract: Contract, at: datetime) -> ContractTerms:
    phases = list(contract.phases.all())  # prefetched, by position
    if not phases:
        return ContractTerms(contract=contract, phase=None, phase_count=0, next_phase=None)
    current = phase_at(phases, at)
    later = [p for p in phases if p.position > current.position]
    return ContractTerms(
        contract=contract,
        phase=current,
        phase_count=len(phases),
        next_phase=later[0] if later else None,
    )


def contract_summary(*, customer_id: int, currency: str, at: datetime) -> ContractSummary | None:
    """The customer's contracts and credit at ``at`` (module docs); None without either."""
    active, waiting = customer_contracts_current(customer_id=customer_id)
    if not active and not waiting and not customer_has_credit_grants(customer_id=customer_id):
        return None  # two queries for the many customers on list prices
    balance, grants = customer_credits(customer_id=customer_id, currency=currency, at=at)
    return ContractSummary(
        contracts=[_terms(c, at) for c in active],
        waiting=waiting,
        currency=currency,
        credit_balance=balance,
        grants=grants,
    )
