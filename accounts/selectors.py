"""Reads of accounts' models that faces need (DESIGN.md: services write, selectors read)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import Customer


def customer_by_external_id(*, external_id: str) -> Customer | None:
    return Customer.objects.filter(external_id=external_id).first()


def customer_id_by_external_id(*, external_id: str) -> int | None:
    return Customer.objects.filter(external_id=external_id).values_list("id", flat=True).first()


def customers_search(*, q: str = "") -> QuerySet[Customer]:
    """Customers by id; ``q`` matches a name or e-mail part, an external id or a domain."""
    qs = Customer.objects.order_by("id")
    if q:
        qs = qs.filter(
            Q(name__icontains=q) | Q(email__icontains=q) | Q(external_id__iexact=q) | Q(domain__iexact=q)
        )
    return qs
