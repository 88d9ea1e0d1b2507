"""Invoicing tests: invoice documents (finalization, numbering, credit notes, PDF, API, admin)."""
