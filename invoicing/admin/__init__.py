"""Invoicing's admin screens, one module per subject:

- ``invoices``: the invoice list (totals, amount due, the red "Past due" badge) and the read-only
  invoice page; ``invoice_actions``: what moves an invoice from there (finalize, void, mark
  uncollectible, credit note, resend, PDF), confirmed first, reported per row;
- ``documents``: credit notes and payments (read-only);
- ``runs``: billing runs (start, watch, retry, finalize their drafts);
- ``outbox``: the e-mail outbox (retry failed e-mails).

What every app's admin shares (read-only mixin, per-row action runner, confirmation page, links) is in
``config.admin_kit``; how amounts read, in ``billing.display.format_money``.
"""

from invoicing.admin import documents, invoice_actions, invoices, outbox, runs

__all__ = ["documents", "invoice_actions", "invoices", "outbox", "runs"]
