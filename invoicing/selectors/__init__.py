"""Reads of invoicing's models that faces and services share (services write, selectors read).

One module per subject: ``invoices`` (past due, the API's invoices and credit notes, a run's drafts, a
customer's credit balance, a subscription's timeline), ``credits`` (the credit ledger's pools and
grants), ``search`` (the one-box search), ``customer_overview`` (the customer page, with its
``contract_overview`` section). The names most callers need are importable from here.
"""

from invoicing.selectors.credits import GrantBalance, credit_balance_at, customer_credits
from invoicing.selectors.invoices import (
    SubscriptionTimeline,
    billing_run_drafts,
    billing_run_get,
    credit_note_for_api,
    credit_notes_for_api,
    customer_credit_balance,
    invoice_for_api,
    invoice_for_pdf,
    invoice_is_past_due,
    invoices_for_api,
    invoices_past_due,
    subscription_timeline,
    subscriptions_discounted,
)

__all__ = [
    "GrantBalance",
    "SubscriptionTimeline",
    "billing_run_drafts",
    "billing_run_get",
    "credit_balance_at",
    "credit_note_for_api",
    "credit_notes_for_api",
    "customer_credit_balance",
    "customer_credits",
    "invoice_for_api",
    "invoice_for_pdf",
    "invoice_is_past_due",
    "invoices_for_api",
    "invoices_past_due",
    "subscription_timeline",
    "subscriptions_discounted",
]
