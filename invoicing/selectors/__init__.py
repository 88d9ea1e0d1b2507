"""Reads that staff screens and the API need across customers and their invoices (no writes here)."""
