"""Invoice and credit-note endpoints (API.md "Invoices")."""
