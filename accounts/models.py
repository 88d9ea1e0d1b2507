"""Who is billed (Customer) and who operates Ratecard (staff roles, API tokens, idempotency records)."""

from __future__ import annotations

import hashlib
import secrets
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from accounts.currencies import is_known_currency, is_known_timezone


def validate_currency(value: str) -> None:
    if not is_known_currency(value):
        raise ValidationError(f"{value!r} is not an ISO 4217 currency code.")


def validate_timezone(value: str) -> None:
    if not is_known_timezone(value):
        raise ValidationError(f"{value!r} is not an IANA time zone.")


class BillingAnchor(models.TextChoices):
    ANNIVERSARY = "anniversary", "Anniversary (the subscription's start day)"
    CALENDAR = "calendar", "Calendar (the 1st of the month)"


class InvoiceGrouping(models.TextChoices):
    PER_CUSTOMER = "per_customer", "One invoice per billing date"
    PER_SUBSCRIPTION = "per_subscription", "One invoice per subscription"


class Customer(models.Model):
    """A billing account: the one currency, time zone and billing details its invoices use."""

    external_id = models.CharField(max_length=255, unique=True, help_text="The product's own id for it.")
    name = models.CharField(max_length=255, db_index=True)
    email = models.EmailField(blank=True, db_index=True)
    domain = models.CharField(max_length=255, blank=True, db_index=True)
    currency = models.CharField(max_length=3, validators=[validate_currency])
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    billing_anchor = models.CharField(
        max_length=16, choices=BillingAnchor.choices, default=BillingAnchor.ANNIVERSARY
    )
    net_terms_days = models.PositiveIntegerField(default=0)
    invoice_grouping = models.CharField(
        max_length=20, choices=InvoiceGrouping.choices, default=InvoiceGrouping.PER_CUSTOMER
    )
    tax_rate_percent = models.DecimalField(
        max_digits=7, decimal_places=4, default=0, help_text="Exclusive tax rate applied per invoice line."
    )
    address_line1 = models.CharField(max_length=255, blank=True)
    address_line2 = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=128, blank=True)
    postal_code = models.CharField(max_length=32, blank=True)
    state = models.CharField(max_length=128, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2.")
    tax_id = models.CharField(max_length=64, blank=True)
    stripe_customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set instead of deleting a customer that has usage, subscriptions or invoices: "
        "what it was billed stays, and its external id is never reused.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering: ClassVar = ["name", "id"]
        # the one-box search (staff: finance, sales, support; not the product's integration role)
        permissions: ClassVar = [("search_customers", "Can search customers and invoices in one box")]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"

    @property
    def billing_address(self) -> str:
        parts = [
            self.address_line1,
            self.address_line2,
            f"{self.postal_code} {self.city}".strip(),
            self.state,
        ]
        parts.append(self.country)
        return ", ".join(p for p in parts if p)


class Contact(models.Model):
    """A person at the customer who receives invoices or is called about them."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=255)
    email = models.EmailField()
    role = models.CharField(max_length=64, blank=True, help_text="e.g. billing, technical")
    receives_invoices = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A Bearer token for the API. Only its SHA-256 is stored; the raw token is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise a token.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def generate() -> str:
        return "rc_" + secrets.token_urlsafe(32)


class AccessStamp(models.Model):
    """One row whose ``version`` moves on every change to who may do what (accounts.access).

    API authentication reads it in the same query as the token and its user, and reuses a user's
    permissions computed in this process only while the version is unchanged.
    """

    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"access version {self.version}"


class IdempotencyRecord(models.Model):
    """The first response to a write sent with an ``Idempotency-Key`` (API.md), per user, kept 24 hours."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight"
        DONE = "done"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
