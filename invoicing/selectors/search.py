"""The one-box search: a customer by name, e-mail, domain, external id or Stripe id; an invoice by number.

Matches come in three tiers, best first: the whole value (case-insensitive), a prefix, then a part of
it (three characters or more). Each tier is one query per column, ordered and cut at the limit, so a
query costs a few index lookups whatever the table sizes (the indexes: config/search_indexes.py). On
SQLite (the demo) the same queries run without those indexes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

from django.db import connection
from django.db.models import Func, Model, Q, QuerySet
from django.db.models.functions import Collate, Reverse, Upper

from accounts.models import Customer
from billing.display import format_money
from invoicing.models import Invoice

MAX_QUERY_LENGTH = 200
MIN_CONTAINS_LENGTH = 3  # a trigram index answers "contains" from three characters
# the columns searched, in the order their matches are shown within a tier
CUSTOMER_COLUMNS = ("external_id", "stripe_customer_id", "email", "domain", "name")
CUSTOMER_ONLY = ("id", "external_id", "name", "email", "domain", "stripe_customer_id", "archived_at")
INVOICE_ONLY = (
    "id",
    "number",
    "status",
    "currency",
    "total",
    "amount_due",
    "customer__id",
    "customer__external_id",
    "customer__name",
)


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


def _matches(queryset: QuerySet[M], columns: tuple[str, ...], tier: Tier, needle: str, limit: int) -> list[M]:
    """Rows where one of ``columns`` matches ``needle`` (upper-cased) in ``tier`` (at most ``limit`` per
    column), in one query.

    Exact matches are few: one WHERE over every column. Prefixes and parts are one query per column,
    joined by UNION ALL where the database allows a LIMIT inside it (PostgreSQL): an OR of trigram
    lookups would make PostgreSQL read the whole table.
    """
    if tier is Tier.EXACT:
        condition = Q()
        for column in columns:
            condition |= Q(**{f"key_{column}__exact": needle})
        keys = {f"key_{column}": _key(column, tier) for column in columns}
        return list(queryset.annotate(**keys).filter(condition).order_by()[:limit])
    parts = [_one_column(queryset, column, tier, needle, limit) for column in columns]
    if len(parts) > 1 and connection.features.supports_slicing_ordering_in_compound:
        return list(parts[0].union(*parts[1:], all=True))
    return [row for part in parts for row in part]


def _tiers(needle: str, *, suffix: bool = False) -> Iterator[Tier]:
    yield Tier.EXACT
    yield Tier.PREFIX
    if suffix:
        yield Tier.SUFFIX
    if len(needle) >= MIN_CONTAINS_LENGTH:
        yield Tier.CONTAINS


def _position(value: str, needle: str) -> tuple[int, int, str]:
    """A match's order within its tier: where the text matched (earlier first), then shorter values."""
    value = value.upper()
    return (value.find(needle), len(value), value)


def customer_label(customer: Customer) -> str:
    return f"{customer.name} ({customer.external_id})"


def customer_detail(customer: Customer) -> str:
    parts = [customer.email, customer.domain, customer.stripe_customer_id]
    if customer.archived_at is not None:
        parts.append("archived")
    return " · ".join(p for p in parts if p)


def search_customers(*, q: str, limit: int, parts: bool = True) -> list[SearchHit]:
    """Customers whose name, e-mail, domain, external id or Stripe id is, starts with or (with
    ``parts``, when nothing is or starts with it) contains ``q``."""
    needle = q.strip().upper()
    base: QuerySet[Customer] = Customer.objects.only(*CUSTOMER_ONLY)
    found: dict[int, SearchHit] = {}
    for tier in _tiers(needle):
        if tier is Tier.CONTAINS and (found or not parts):
            break  # parts of values are looked up only when no value is or starts with the text
        tier_hits: dict[int, tuple[tuple[int, int, str], Customer]] = {}
        rows = _matches(base.exclude(pk__in=list(found)), CUSTOMER_COLUMNS, tier, needle, limit - len(found))
        for customer in rows:
            values = [str(getattr(customer, c)) for c in CUSTOMER_COLUMNS]
            best = min(_position(v, needle) for v in values if needle in v.upper())
            if customer.pk not in tier_hits or best < tier_hits[customer.pk][0]:
                tier_hits[customer.pk] = (best, customer)  # type: ignore[assignment]
        for _, customer in sorted(tier_hits.values(), key=lambda hit: hit[0]):
            if len(found) >= limit:
                break
            found[customer.pk] = SearchHit(
                "customer",
                tier,
                customer.pk,
                customer.external_id,
                customer_label(customer),
                customer_detail(customer),
            )
    return list(found.values())


def _may_be_inside_a_number(needle: str) -> bool:
    """Numbers read ``INV-2026-000123``: their only letters are the kind at the start, so text with a
    letter can only match as a prefix (the prefix tier found it). Parts of numbers are digits and dashes;
    looking letters up by trigram would read the posting lists of trigrams every number has."""
    return not any(char.isalpha() for char in needle)


def search_invoices(*, q: str, limit: int) -> list[SearchHit]:
    """Finalized invoices whose number is, starts with or (when none does, and ``q`` has no letter)
    contains ``q``."""
    needle = q.strip().upper()
    base: QuerySet[Invoice] = Invoice.objects.filter(number__isnull=False).select_related("customer")
    found: dict[int, SearchHit] = {}
    for tier in _tiers(needle, suffix=True):
        if len(found) >= limit or (tier is Tier.CONTAINS and (found or not _may_be_inside_a_number(needle))):
            break
        rows = _matches(
            base.only(*INVOICE_ONLY).exclude(pk__in=list(found)),
            ("number",),
            tier,
            needle,
            limit - len(found),  # type: ignore[arg-type]
        )
        for invoice in sorted(rows, key=lambda i: _position(str(i.number), needle)):
            found[invoice.pk] = SearchHit(
                "invoice",
                tier,
                invoice.customer_id,
                invoice.customer.external_id,
                f"{invoice.number} · {invoice.customer.name}",
                f"{invoice.get_status_display()} · total {format_money(invoice.total, invoice.currency)}"
                f" · due {format_money(invoice.amount_due, invoice.currency)}",
                invoice.pk,
            )
    return list(found.values())


def search(*, q: str, limit: int = 10) -> list[SearchHit]:
    """Customers and invoices matching ``q``, best tier first (customers before invoices in a tier);
    at most ``limit`` of each kind."""
    q = q.strip()[:MAX_QUERY_LENGTH]
    if not q:
        return []
    invoices = search_invoices(q=q, limit=limit)
    # a whole invoice number is not part of a customer's name or ids: skip that costly lookup
    exact_number = any(hit.tier is Tier.EXACT for hit in invoices)
    hits = search_customers(q=q, limit=limit, parts=not exact_number) + invoices
    return sorted(hits, key=lambda h: h.tier)  # stable: keeps each kind's own order within a tier
