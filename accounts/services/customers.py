"""Customer writes. A customer's currency is fixed at creation (its subscriptions and invoices share it);
a new time zone or billing anchor applies from the customer's next billing period (DESIGN.md)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from accounts.currencies import is_known_currency, is_known_timezone
from accounts.models import BillingAnchor, Customer, InvoiceGrouping
from config.errors import Conflict, ErrorCode, FieldError, ValidationFailed

# The customer's fields by what they are, named once: the API, the admin and the invoice snapshot use
# these groups (the API adds external_id and currency, which are fixed once the customer exists).
CONTACT_FIELDS = ("name", "email", "domain")
TERMS_FIELDS = ("timezone", "billing_anchor", "net_terms_days", "invoice_grouping", "tax_rate_percent")
ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "postal_code", "state", "country", "tax_id")
EDITABLE_FIELDS = (*CONTACT_FIELDS, *TERMS_FIELDS, *ADDRESS_FIELDS)


def _check(fields: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    if "currency" in fields and not is_known_currency(fields["currency"]):
        errors.append(
            FieldError(
                "currency",
                f"{fields['currency']!r} is not an ISO 4217 currency code.",
                ErrorCode.UNKNOWN_CURRENCY,
            )
        )
    if "timezone" in fields and not is_known_timezone(fields["timezone"]):
        errors.append(
            FieldError(
                "timezone", f"{fields['timezone']!r} is not an IANA time zone.", ErrorCode.UNKNOWN_TIMEZONE
            )
        )
    if "billing_anchor" in fields and fields["billing_anchor"] not in BillingAnchor.values:
        errors.append(FieldError("billing_anchor", "Must be anniversary or calendar."))
    if "invoice_grouping" in fields and fields["invoice_grouping"] not in InvoiceGrouping.values:
        errors.append(FieldError("invoice_grouping", "Must be per_customer or per_subscription."))
    if "net_terms_days" in fields and not 0 <= fields["net_terms_days"] <= 365:
        errors.append(FieldError("net_terms_days", "Must be between 0 and 365."))
    if "tax_rate_percent" in fields and not 0 <= fields["tax_rate_percent"] <= 100:
        errors.append(FieldError("tax_rate_percent", "Must be between 0 and 100."))
    return errors


def customer_create(*, external_id: str, name: str, currency: str, **fields: Any) -> Customer:
    """Create a billing account. Raises ValidationFailed naming the field; writes nothing on error."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown field {sorted(unknown)[0]!r}.", field=sorted(unknown)[0])
    errors = _check({"currency": currency, **fields})
    taken = list(Customer.objects.filter(external_id=external_id).values_list("archived_at", flat=True)[:1])
    if taken:
        archived = " (archived: its usage and invoices are kept, so its external id is never reused)"
        errors.append(
            FieldError(
                "external_id",
                f"A customer with external_id {external_id!r} exists already{archived if taken[0] else ''}.",
                ErrorCode.CONFLICT,
            )
        )
    if errors:
        raise ValidationFailed(errors[0].message, field=errors[0].field, errors=errors)
    try:
        with transaction.atomic():
            return Customer.objects.create(external_id=external_id, name=name, currency=currency, **fields)
    except IntegrityError as exc:
        raise ValidationFailed(
            f"A customer with external_id {external_id!r} exists already.",
            field="external_id",
            code=ErrorCode.CONFLICT,
        ) from exc


def customer_update(*, customer: Customer, **fields: Any) -> Customer:
    """Change a customer's details. The currency never changes; other fields are audited by history."""
    if "currency" in fields and fields["currency"] != customer.currency:
        raise ValidationFailed(
            "A customer's currency cannot change: its subscriptions and invoices are in "
            f"{customer.currency}. Create a new customer for another currency.",
            field="currency",
        )
    fields.pop("currency", None)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown field {sorted(unknown)[0]!r}.", field=sorted(unknown)[0])
    errors = _check(fields)
    if errors:
        raise ValidationFailed(errors[0].message, field=errors[0].field, errors=errors)
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save()
    return locked


# Subscriptions that still bill: archiving such a customer would hide an account that is still owed.
LIVE_SUBSCRIPTION_STATUSES = ("trialing", "active", "past_due")


def customer_is_referenced(*, customer: Customer) -> bool:
    """True when anything but its own contacts and settings refers to the customer: usage, subscriptions,
    invoices, credit notes, contracts... (every relation that does not cascade). Such a customer is
    archived, never deleted: what it was billed, and the usage behind it, must stay."""
    for relation in Customer._meta.related_objects:
        if relation.on_delete in (models.CASCADE, models.DO_NOTHING):
            continue  # owned rows (contacts, alerts) go with the customer; history rows stay anyway
        manager = relation.related_model._default_manager
        if manager.filter(**{relation.field.name: customer.pk}).exists():
            return True
    return False


def customer_remove(*, customer: Customer) -> str:
    """Delete a customer nothing refers to; archive one that has usage, subscriptions or invoices.

    Returns ``"deleted"`` or ``"archived"``. ``Conflict`` (409) while one of its subscriptions still
    bills (cancel it first). Archiving twice is a no-op; an archived customer's external id stays taken.
    """
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if not customer_is_referenced(customer=locked):
            locked.delete()
            return "deleted"
        # the reverse accessor of billing's Subscription (accounts may not import billing)
        if locked.subscriptions.filter(status__in=LIVE_SUBSCRIPTION_STATUSES).exists():  # type: ignore[attr-defined]
            raise Conflict(
                f"{locked} has subscriptions that still bill: cancel them first. A customer with usage, "
                "subscriptions or invoices is archived, never deleted.",
                field="external_id",
            )
        if locked.archived_at is None:
            locked.archived_at = timezone.now()
            locked.save(update_fields=["archived_at", "updated_at"])
        return "archived"
