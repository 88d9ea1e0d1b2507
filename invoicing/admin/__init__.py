"""Invoicing's admin screens, one module per subject:

- ``invoices``: the invoice list (totals, amount due, the red "Past due" badge) and the read-only
  invoice page; ``invoice_actions``: what moves an invoice from there (finalize, void, mark
  uncollectible, credit note, resend, PDF), confirmed first, reported per row; ``invoice_payments``:
  record a payment (the admin's one page for it) and void with a reason; ``draft_lines``: a draft's
  one-off lines in review;
- ``documents``: credit notes and payments (read-only);
- ``runs``: billing runs (start, watch, retry, finalize their drafts);
- ``outbox``: the e-mail outbox (retry failed e-mails);
- ``payments``: Stripe (outbox, webhook events, reconciliation), refunds, disputes (its "add payment" leads to
  the invoice's "Record payment").

What every app's admin shares (read-only mixin, per-row action runner, confirmation page, links) is in
``config.admin_kit``; how amounts read, in ``billing.display.format_money``.
"""

from invoicing.admin import documents, invoice_actions, invoices, outbox, payments, runs

__all__ = ["documents", "invoice_actions", "invoices", "outbox", "payments", "runs"]
