"""Reads of invoicing's models that faces and services share (services write, selectors read).

One module per subject: ``invoices`` (past due, the API's invoices and credit notes, a run's drafts, a
customer's credit balance, a subscription's timeline), ``search`` (the one-box search),
``customer_overview`` (the customer page). The names most callers need are importable from here.
"""

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
    "SubscriptionTimeline",
    "billing_run_drafts",
    "billing_run_get",
    "credit_note_for_api",
    "credit_notes_for_api",
    "customer_credit_balance",
    "invoice_for_api",
    "invoice_for_pdf",
    "invoice_is_past_due",
    "invoices_for_api",
    "invoices_past_due",
    "subscription_timeline",
    "subscriptions_discounted",
]
