"""The one-box search: a customer by name, e-mail, domain, external id or Stripe id; an invoice by number.

Matches rank in tiers, best first: the whole value (case-insensitive), a prefix, the end of an invoice
number, then a part of a value (three characters or more, looked up only when nothing is or starts with
the text). Each lookup is one query per column, ordered and cut at the limit, joined in one round trip,
so a search costs a few index lookups whatever the table sizes (the indexes: config/search_indexes.py).
On SQLite (the demo) the same queries run without those indexes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

from django.db import connection
from django.db.models import F, Func, Model, QuerySet
from django.db.models.functions import Collate, Reverse, Upper

from accounts.models import Customer
from billing.display import format_money
from invoicing.models import Invoice

MAX_QUERY_LENGTH = 200
MIN_CONTAINS_LENGTH = 3  # a trigram index answers "contains" from three characters
# the columns searched, in the order their matches are shown within a tier
CUSTOMER_COLUMNS = ("external_id", "stripe_customer_id", "email", "domain", "name")
CUSTOMER_ONLY = ("id", "external_id", "name", "email", "domain", "stripe_customer_id", "archived_at")


class Tier(IntEnum):
    EXACT = 0
    PREFIX = 1
    SUFFIX = 2  # invoice numbers only: their end, "000123"
    CONTAINS = 3


M = TypeVar("M", bound=Model)

LOOKUPS = {
    Tier.EXACT: "exact",
    Tier.PREFIX: "startswith",
    Tier.SUFFIX: "startswith",
    Tier.CONTAINS: "contains",
}


@dataclass(frozen=True)
class SearchHit:
    kind: str  # "customer" or "invoice"
    tier: Tier
    customer_id: int
    customer: str  # the customer's external id
    label: str
    detail: str
    invoice_id: int | None = None


def _key(column: str, tier: Tier) -> Func | Collate:
    """``UPPER(column)``, the expression the search indexes hold: in the "C" collation on PostgreSQL for
    exact and prefix matches (the B-tree), as is for "contains" (the trigram index); reversed for a
    suffix (its own B-tree: the end of a value is the start of the reversed value)."""
    key: Func = Reverse(Upper(column)) if tier is Tier.SUFFIX else Upper(column)
    if connection.vendor == "postgresql" and tier is not Tier.CONTAINS:
        return Collate(key, "C")
    return key


def _one_column(queryset: QuerySet[M], column: str, tier: Tier, needle: str, limit: int) -> QuerySet[M]:
    """Rows whose ``column`` starts with or contains ``needle``: a prefix is read in key order from the
    column's B-tree (``LIMIT`` stops early however many rows share it); parts are taken as the trigram
    index finds them (ordering them would read every match), the caller sorts them."""
    rows: QuerySet[M] = queryset.annotate(search_key=_key(column, tier))  # type: ignore[assignment]
    value = needle[::-1] if tier is Tier.SUFFIX else needle
    rows = rows.filter(**{f"search_key__{LOOKUPS[tier]}": value})
    if tier in (Tier.PREFIX, Tier.SUFFIX):
        return rows.order_by("search_key", "pk")[:limit]
    return rows.order_by()[:limit]


def _matches(queryset: QuerySet[M], branches: list[tuple[str, Tier]], needle: str, limit: int) -> list[M]:
    """Rows matching ``needle`` (upper-cased) in any of ``branches`` (column, tier), at most ``limit``
    per branch, in one round trip: one query per branch joined by UNION ALL where the database allows a
    LIMIT inside it (PostgreSQL; an OR of trigram lookups would make it read the whole table).

    There is no query for whole values: a prefix scan in key order returns the whole value first (it
    sorts before every longer value that starts with it); ``_tier`` tells them apart.
    """
    parts = [_one_column(queryset, column, tier, needle, limit) for column, tier in branches]
    if len(parts) > 1 and connection.features.supports_slicing_ordering_in_compound:
        return list(parts[0].union(*parts[1:], all=True))
    return [row for part in parts for row in part]


def _tier(values: list[str], needle: str) -> tuple[Tier, int, int, str]:
    """How well the best of ``values`` matches: its tier, then where the text matched (earlier first),
    then shorter values first."""
    best: tuple[Tier, int, int, str] | None = None
    for raw in values:
        value = raw.upper()
        at = value.find(needle)
        if at < 0:
            continue
        if value == needle:
            tier = Tier.EXACT
        elif at == 0:
            tier = Tier.PREFIX
        elif value.endswith(needle):
            tier = Tier.SUFFIX
        else:
            tier = Tier.CONTAINS
        rank = (tier, at, len(value), value)
        best = rank if best is None or rank < best else best
    return best or (Tier.CONTAINS, 0, 0, "")


def _may_be_inside_a_number(needle: str) -> bool:
    """Numbers read ``INV-2026-000123``: their only letters are the kind at the start, so text with a
    letter can only match as a prefix (found by the prefix scan). Parts of numbers are digits and dashes;
    looking letters up by trigram would read the posting lists of trigrams every number has."""
    return not any(char.isalpha() for char in needle)


def customer_label(customer: Customer) -> str:
    return f"{customer.name} ({customer.external_id})"


def customer_detail(customer: Customer) -> str:
    parts = [customer.email, customer.domain, customer.stripe_customer_id]
    if customer.archived_at is not None:
        parts.append("archived")
    return " · ".join(p for p in parts if p)


def search_customers(*, q: str, limit: int, parts: bool = True) -> list[SearchHit]:
    """Customers whose name, e-mail, domain, external id or Stripe id is or starts with ``q`` or (with
    ``parts``, when none is or does) contains it: one or two queries."""
    needle = q.strip().upper()
    base: QuerySet[Customer] = Customer.objects.only(*CUSTOMER_ONLY)
    rows = _matches(base, [(column, Tier.PREFIX) for column in CUSTOMER_COLUMNS], needle, limit)
    if not rows and parts and len(needle) >= MIN_CONTAINS_LENGTH:
        rows = _matches(base, [(column, Tier.CONTAINS) for column in CUSTOMER_COLUMNS], needle, limit)
    ranked: dict[int, tuple[tuple[Tier, int, int, str], Customer]] = {}
    for customer in rows:
        ranked[customer.pk] = (_tier([str(getattr(customer, c)) for c in CUSTOMER_COLUMNS], needle), customer)
    best = sorted(ranked.values(), key=lambda hit: hit[0])[:limit]
    return [
        SearchHit("customer", rank[0], c.pk, c.external_id, customer_label(c), customer_detail(c))
        for rank, c in best
    ]


def search_invoices(*, q: str, limit: int) -> list[SearchHit]:
    """Finalized invoices whose number is, starts or ends with ``q`` or (when none does, and ``q`` has
    no letter) contains it: one or two queries."""
    needle = q.strip().upper()
    base = (
        Invoice.objects.filter(number__isnull=False)
        .only("id", "customer_id", "number", "status", "currency", "total", "amount_due")
        .annotate(customer_external_id=F("customer__external_id"), customer_name=F("customer__name"))
    )
    rows = _matches(base, [("number", Tier.PREFIX), ("number", Tier.SUFFIX)], needle, limit)
    if not rows and len(needle) >= MIN_CONTAINS_LENGTH and _may_be_inside_a_number(needle):
        rows = _matches(base, [("number", Tier.CONTAINS)], needle, limit)
    ranked = {invoice.pk: (_tier([str(invoice.number)], needle), invoice) for invoice in rows}
    return [
        SearchHit(
            "invoice",
            rank[0],
            invoice.customer_id,
            invoice.customer_external_id,  # type: ignore[attr-defined]
            f"{invoice.number} · {invoice.customer_name}",  # type: ignore[attr-defined]
            f"{invoice.get_status_display()} · total {format_money(invoice.total, invoice.currency)}"
            f" · due {format_money(invoice.amount_due, invoice.currency)}",
            invoice.pk,
        )
        for rank, invoice in sorted(ranked.values(), key=lambda hit: hit[0])[:limit]
    ]


def search(*, q: str, limit: int = 10) -> list[SearchHit]:
    """Customers and invoices matching ``q``, best tier first (customers before invoices in a tier);
    at most ``limit`` of each kind. Two to four queries."""
    q = q.strip()[:MAX_QUERY_LENGTH]
    if not q:
        return []
    invoices = search_invoices(q=q, limit=limit)
    # a whole invoice number is not part of a customer's name or ids: skip that costly lookup
    exact_number = any(hit.tier is Tier.EXACT for hit in invoices)
    hits = search_customers(q=q, limit=limit, parts=not exact_number) + invoices
    return sorted(hits, key=lambda h: h.tier)  # stable: keeps each kind's own order within a tier
