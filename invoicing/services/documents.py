"""What an issued document says about its parties, and sending it.

- ``customer_snapshot`` / ``seller_snapshot``: the billing details copied onto an invoice when it is
  finalized (DESIGN.md step 3), so an issued invoice keeps saying what it said even after the customer
  moves or renames itself.
- ``document_number``: the gap-free numbers ``INV-2026-000001`` / ``CN-2026-000001``, taken from a
  ``NumberSequence`` row locked until the caller's transaction ends (a rollback gives the number back,
  so no number is ever skipped).
- ``issued_invoice`` / ``invoice_recipients``: a finalized invoice and who receives it.

Sending an invoice is ``invoice_sending.invoice_send`` (it uses the outbox, which renders documents,
which use the snapshots here: kept apart, the imports run one way).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Contact, Customer
from accounts.services.customers import ADDRESS_FIELDS
from billing.display import customer_locale, format_money
from config.errors import Conflict, ErrorCode, NotFound
from invoicing.models import Invoice, InvoiceStatus, NumberSequence

log = structlog.get_logger(__name__)

INVOICE_PREFIX = "INV"
CREDIT_NOTE_PREFIX = "CN"
NUMBER_DIGITS = 6

# the customer's fields copied onto an invoice at finalization (plus its external id and time zone)
SNAPSHOT_FIELDS = ("name", "email", *ADDRESS_FIELDS, "external_id", "timezone")


def customer_snapshot(customer: Customer) -> dict[str, str]:
    """The customer's billing details as they are now (JSON-ready)."""
    return {name: str(getattr(customer, name) or "") for name in SNAPSHOT_FIELDS}


def amount_for_customer(invoice: Invoice, amount: Any) -> str:
    """An amount of the invoice as its customer reads it (PDF, e-mails): the one formatter, in the
    locale of the billing country the invoice was issued to (``en_DE``: ``180,00 $``)."""
    country = (invoice.customer_snapshot or {}).get("country") or invoice.customer.country
    return format_money(amount, invoice.currency, locale=customer_locale(country))


def seller_snapshot() -> dict[str, str]:
    """Who issues the invoice: ``settings.RATECARD_SELLER`` as it is now."""
    return {str(k): str(v) for k, v in dict(getattr(settings, "RATECARD_SELLER", {})).items()}


def document_year(at: datetime) -> int:
    """The numbering year of a document issued at ``at`` (in the project's time zone)."""
    return timezone.localtime(at).year


def document_number(*, kind: str, year: int) -> str:
    """Take the next gap-free number of ``kind`` (``INV``/``CN``) for ``year``: ``INV-2026-000001``."""
    return document_numbers(kind=kind, year=year, count=1)[0]


def document_numbers(*, kind: str, year: int, count: int) -> list[str]:
    """Take the next ``count`` gap-free numbers of ``kind`` for ``year``, in order (one row update).

    Must run inside the caller's ``transaction.atomic()``: the sequence row stays locked until that
    transaction ends, so concurrent finalizations queue here and a rollback returns the number.
    The row is created on first use; ``get_or_create`` is race-safe (a concurrent insert of the same
    (kind, year) waits on the unique index, fails, and reads the winner's row).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("document_number must run inside transaction.atomic()")
    NumberSequence.objects.get_or_create(kind=kind, year=year)
    sequence = NumberSequence.objects.select_for_update().get(kind=kind, year=year)
    NumberSequence.objects.filter(pk=sequence.pk).update(last_value=F("last_value") + count)
    first = sequence.last_value + 1
    return [f"{kind}-{year}-{value:0{NUMBER_DIGITS}d}" for value in range(first, first + count)]


def issued_invoice(*, invoice_id: int, lock: bool = False, hint: str = "") -> Invoice:
    """The finalized invoice ``invoice_id`` with its customer (locked when ``lock``, e.g. to count its
    e-mails): ``NotFound`` when there is none, ``Conflict`` (409) for a draft."""
    queryset = Invoice.objects.select_for_update(of=("self",)) if lock else Invoice.objects.all()
    invoice = queryset.select_related("customer").defer("pdf").filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFound(f"No invoice with id {invoice_id}.", field="invoice")
    if invoice.status == InvoiceStatus.DRAFT:
        raise Conflict(
            f"Invoice {invoice.pk} is a draft{': ' + hint if hint else ''}.",
            field="invoice",
            code=ErrorCode.INVALID_STATE,
        )
    return invoice


# --- sending ----------------------------------------------------------------------------------------


def invoice_recipients(customer: Customer) -> list[str]:
    """The customer's own e-mail, then its contacts that receive invoices; no duplicates."""
    return recipients_by_customer([customer])[customer.pk]


def recipients_by_customer(customers: Iterable[Customer]) -> dict[int, list[str]]:
    """``invoice_recipients`` of many customers with one query for all their contacts (billing runs)."""
    chosen = {customer.pk: customer for customer in customers}
    candidates: dict[int, list[str]] = {pk: [customer.email] for pk, customer in chosen.items()}
    contacts = Contact.objects.filter(customer_id__in=list(chosen), receives_invoices=True).order_by("id")
    for customer_id, email in contacts.values_list("customer_id", "email"):
        candidates[customer_id].append(email)
    recipients: dict[int, list[str]] = {}
    for pk, addresses in candidates.items():
        seen: list[str] = []
        for address in addresses:
            if address and address.lower() not in {s.lower() for s in seen}:
                seen.append(address)
        recipients[pk] = seen
    return recipients
