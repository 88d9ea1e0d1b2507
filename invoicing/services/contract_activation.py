"""Approving a contract, across both apps in one transaction (as ``subscription_create`` does):

- version 1: the customer is subscribed from ``start`` (billing), the subscription is put on the
  phases' prices, and its first in-advance fees are invoiced at once with the one-off fees on the same
  draft, exactly as ``POST /subscriptions`` bills;
- an amendment: the subscription changes to the amended prices at ``effective_at``, prorated like a
  plan change (``create_prorations``: credit and charge on the next invoice); nothing billed before
  ``effective_at`` changes, and its added one-off fees wait for the next invoice;
- the credit grants enter the customer's credit ledger;
- the contract's payment terms (``net_terms_days``), when set, become the customer's.

A refusal (not finance, wrong state, an overlap found under the lock) raises before anything is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from accounts.services.customers import customer_update
from billing.models import Contract, ProrationBehavior, Subscription
from billing.services import contract_activation as terms
from billing.services import subscriptions as subs_service
from billing.services.contracts import contract_approve_mark
from billing.services.entitlements import entitlements_invalidate
from billing.services.pending_lines import pending_lines_mark_invoiced
from config.errors import ValidationFailed
from invoicing.models import Invoice
from invoicing.services import line_drafts
from invoicing.services.credit_ledger import grants_post
from invoicing.services.drafts import InvoicePlan, write_invoice_plans
from invoicing.services.subscription_billing import group_key_for
from invoicing.services.subscription_invoicing import subscription_change_now, subscription_initial_bill


def _first_invoice(*, contract: Contract, sub: Subscription) -> Invoice | None:
    """Bill the first period's fees (as a new subscription is billed) and the one-off fees with them."""
    invoice = subscription_initial_bill(sub=sub)
    one_offs = terms.contract_one_offs_record(contract=contract, sub=sub)
    if not one_offs:
        return invoice
    plan = InvoicePlan(
        customer_id=sub.customer_id,
        billing_date=sub.current_period_start,
        group_key=group_key_for(sub),
        subscription_id=sub.pk if group_key_for(sub) else None,
        tax_rate=sub.customer.tax_rate_percent,
        currency=sub.currency,
        net_terms_days=sub.customer.net_terms_days,
        lines=line_drafts.pending_drafts(one_offs),
    )
    invoice = write_invoice_plans(plans=[plan], run=None).of(plan)
    # billing owns pending lines: it marks them invoiced, in this transaction (billed once)
    pending_lines_mark_invoiced(pending_line_ids=[line.pk for line in one_offs], at=sub.current_period_start)
    invoice.refresh_from_db()  # its totals were recomputed in bulk
    return invoice


def _apply_amendment(*, contract: Contract, user: Any) -> Invoice | None:
    sub = subs_service.lock_subscription(contract.subscription_id)  # type: ignore[arg-type]
    at = contract.effective_at
    assert at is not None
    if at < sub.current_period_start:
        raise ValidationFailed(
            "The amendment would change a period already billed; it must apply from "
            f"{sub.current_period_start.isoformat()} or later.",
            field="effective_at",
        )
    version = terms.contract_amendment_prepare(contract=contract, sub=sub)
    quantity = contract.quantity if contract.quantity != sub.quantity else None
    if version.pk == sub.plan_version_id and quantity is None:
        invoice = None
    elif at < sub.current_period_end:
        _, invoice = subscription_change_now(
            subscription_id=sub.pk,
            at=at,
            proration=ProrationBehavior.CREATE_PRORATIONS,
            plan_version=version,
            quantity=quantity,
            user=user,
        )
    else:  # a later period: applied by the billing run that reaches it, at that period's boundary
        terms.contract_change_schedule(sub=sub, version=version, at=at, quantity=quantity)
        invoice = None
    terms.contract_one_offs_record(contract=contract, sub=sub)
    return invoice


def contract_activate(
    *, contract_id: int, user: Any, at: datetime, comment: str = ""
) -> tuple[Contract, Invoice | None]:
    """Finance approves: the contract becomes active and billing follows it (module docs)."""
    with transaction.atomic():
        contract = contract_approve_mark(contract_id=contract_id, user=user, at=at, comment=comment)
        customer = contract.customer
        if contract.net_terms_days is not None and contract.net_terms_days != customer.net_terms_days:
            # the contract's payment terms become the account's: every invoice from now on carries them
            customer = customer_update(customer=customer, net_terms_days=contract.net_terms_days)
        if contract.subscription_id is None:
            sub = subs_service.subscription_create(
                customer=customer,
                plan_code=contract.plan.code,
                start=contract.start,
                quantity=contract.quantity,
                trial_days=0,
                user=user,
            )
            sub = terms.contract_subscription_attach(contract=contract, sub=sub, user=user)
            sub = subs_service.lock_subscription(sub.pk)
            invoice = _first_invoice(contract=contract, sub=sub)
        else:
            invoice = _apply_amendment(contract=contract, user=user)
        grants_post(grants=terms.contract_grants_mark(contract=contract, at=at))
        customer_id = contract.customer_id  # the features changed: drop cached entitlements after commit
        transaction.on_commit(lambda: entitlements_invalidate(customer_id=customer_id))
    contract.refresh_from_db()
    return contract, invoice
