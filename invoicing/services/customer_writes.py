"""Creating and changing a customer from a face (the API, the admin): the customer service's write and
its Stripe sync in one transaction, so no face can change a customer and forget Stripe.

``accounts.services.customers`` owns the write (checks, history); it sits below invoicing and cannot
know about Stripe, so every face calls these instead. The sync is an outbox row
(``stripe_sync.customer_stripe_sync_queue``) delivered after commit: a rollback sends nothing, and with
Stripe off nothing is queued.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import Customer
from accounts.services.customers import customer_create, customer_update
from invoicing.services.stripe_sync import customer_stripe_sync_queue


def customer_create_synced(*, external_id: str, name: str, currency: str, **fields: Any) -> Customer:
    """``customer_create``, then the customer is created in Stripe after commit."""
    with transaction.atomic():
        customer = customer_create(external_id=external_id, name=name, currency=currency, **fields)
        customer_stripe_sync_queue(customer_id=customer.pk)
    return customer


def customer_update_synced(*, customer: Customer, **fields: Any) -> Customer:
    """``customer_update``, then the Stripe customer gets the new details after commit."""
    with transaction.atomic():
        saved = customer_update(customer=customer, **fields)
        customer_stripe_sync_queue(customer_id=saved.pk)
    return saved
