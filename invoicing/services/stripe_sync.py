"""What the Stripe outbox delivers for customers and invoices, and the default card.

- A customer is created in Stripe the first time anything needs it (``stripe_customer_ensure``, under
  the customer's row lock, so two workers never create two), and updated when its details change
  (``customer_stripe_sync_queue``, one outbox row per version of the customer).
- A finalized invoice of a ``charge_automatically`` customer with something due is collected by one
  PaymentIntent (``invoice_collect_queue``, called by finalization in its transaction): amount_due in
  minor units, confirmed off-session against the default card, our invoice id and number in its
  metadata, Idempotency-Key ``invoice-<id>-payment-<attempt>``. The outbox row is the guard against a
  second charge: it is delivered once (locked, then ``done``), and Stripe answers a repeated key with
  the first PaymentIntent. What the payment did is applied from Stripe's report (the webhook, or the
  reconciliation that follows up), never from our guess.
- ``invoice_collect_retry``: a new attempt (next key, a new PaymentIntent) after a failure: when a new
  card is set, and at each dunning step (``dunning``). Never while an earlier attempt may still take
  the money, never for an invoice that is paid or void, never without a default card.
- Each attempt charges the default card as Stripe has it at delivery (a customer may change it in
  Stripe itself); our copy of it (``CustomerPaymentMethod``, brand and last 4) follows.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import structlog
from django.db import transaction
from django.db.models import Q

from accounts.models import CollectionMethod, Customer
from config.errors import Conflict, ErrorCode, NotFound, RatecardError, ValidationFailed
from invoicing.models import (
    CustomerPaymentMethod,
    Invoice,
    InvoiceStatus,
    Payment,
    StripeOutbox,
)
from invoicing.services.stripe_outbox import (
    stripe_outbox_handler,
    stripe_outbox_queue,
    stripe_outbox_queue_many,
)
from invoicing.stripe import client as stripe_client
from invoicing.stripe.amounts import stripe_amount
from invoicing.stripe.errors import StripeDeclined, StripeRejected, StripeUnavailable

log = structlog.get_logger(__name__)

Kind = StripeOutbox.Kind


class StripeUnreachable(RatecardError):
    """A call the request waits for could not reach Stripe: 503, try again."""

    status = 503


def _customer_params(customer: Customer) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": customer.name,
        "metadata": {"ratecard_customer_id": str(customer.pk), "external_id": customer.external_id},
    }
    if customer.email:
        params["email"] = customer.email
    address = {
        "line1": customer.address_line1,
        "line2": customer.address_line2,
        "city": customer.city,
        "postal_code": customer.postal_code,
        "state": customer.state,
        "country": customer.country,
    }
    if any(address.values()):
        params["address"] = {k: v for k, v in address.items() if v}
    return params


def stripe_customer_ensure(*, customer_id: int) -> tuple[str, bool]:
    """The customer's Stripe id, creating the Stripe customer once; returns (id, created now)."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer_id)
        if customer.stripe_customer_id:
            return customer.stripe_customer_id, False
        created = stripe_client.customer_create(
            params=_customer_params(customer), idempotency_key=f"customer-{customer.pk}-create"
        )
        customer.stripe_customer_id = created["id"]
        customer.save(update_fields=["stripe_customer_id", "updated_at"])
        log.info("stripe.customer_created", customer_id=customer.pk, stripe_customer_id=created["id"])
        return created["id"], True


def customer_stripe_sync_queue(*, customer_id: int) -> StripeOutbox | None:
    """After a customer is created or changed: create or update it in Stripe after commit (one row per
    version of the customer, so saving the same version twice queues nothing new)."""
    if not stripe_client.stripe_enabled():
        return None
    customer = Customer.objects.get(pk=customer_id)
    version = int(customer.updated_at.timestamp() * 1_000_000)
    return stripe_outbox_queue(
        kind=Kind.CUSTOMER_SYNC, key=f"customer-{customer_id}-sync-{version}", customer_id=customer_id
    )


@stripe_outbox_handler(Kind.CUSTOMER_SYNC)
def _deliver_customer_sync(row: StripeOutbox) -> None:
    stripe_id, created = stripe_customer_ensure(customer_id=row.customer_id)
    if not created:
        customer = Customer.objects.get(pk=row.customer_id)
        stripe_client.customer_update(
            customer_id=stripe_id, params=_customer_params(customer), idempotency_key=row.key
        )
    row.stripe_id = stripe_id
    row.outcome = "created" if created else "updated"


def collect_key(invoice_id: int, attempt: int) -> str:
    """The Idempotency-Key (and outbox key) of collection attempt ``attempt`` of an invoice."""
    return f"invoice-{invoice_id}-payment-{attempt}"


# a delivered attempt's PaymentIntent in one of these states may still take (or has taken) the money
IN_FLIGHT_OUTCOMES = ("succeeded", "processing", "requires_capture")


def _collectable(invoice: Invoice, customer: Customer) -> bool:
    return (
        invoice.status == InvoiceStatus.OPEN
        and Decimal(invoice.amount_due) > 0
        and customer.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY
    )


def invoice_collect_queue(*, invoices: list[Invoice]) -> int:
    """Finalization's hook, in its transaction: one outbox row per invoice to collect (first attempt),
    written with one INSERT for the batch. Stripe off, or a ``send_invoice`` customer: nothing (the
    invoice is e-mailed and paid by transfer)."""
    if not stripe_client.stripe_enabled():
        return 0
    rows = [
        StripeOutbox(
            kind=Kind.INVOICE_COLLECT,
            key=collect_key(invoice.pk, 1),
            customer_id=invoice.customer_id,
            invoice_id=invoice.pk,
        )
        for invoice in invoices
        if _collectable(invoice, invoice.customer)
    ]
    return len(stripe_outbox_queue_many(rows))


def _attempt_unsettled(invoice: Invoice) -> bool:
    """An earlier attempt that may still take money, so a new one could charge twice: one not delivered
    yet (pending), one whose delivery gave up (dead: Stripe may have charged before the worker lost its
    answer; finance retries it with its own key), or a PaymentIntent that succeeded or is processing and
    whose report has not come yet (no payment row names it)."""
    attempts = StripeOutbox.objects.filter(invoice=invoice, kind=Kind.INVOICE_COLLECT)
    if attempts.filter(status__in=[StripeOutbox.Status.PENDING, StripeOutbox.Status.DEAD]).exists():
        return True
    reported = Payment.objects.filter(invoice=invoice).exclude(stripe_payment_intent="")
    return (
        attempts.filter(status=StripeOutbox.Status.DONE, outcome__in=IN_FLIGHT_OUTCOMES)
        .exclude(stripe_id__in=reported.values("stripe_payment_intent"))
        .exists()
    )


def invoice_collect_retry(
    *, invoice_id: int, reason: str = "", needs_card: bool = False
) -> StripeOutbox | None:
    """Another attempt at collecting an open invoice (a new card, finance's "charge again", a dunning
    step): the next key, ``invoice-<id>-payment-<n>``, a new PaymentIntent after commit. None when there
    is nothing to do: Stripe off, not open, nothing due, not charged automatically, an earlier attempt
    unsettled (``_attempt_unsettled``), or — with ``needs_card`` (dunning) — no default card known here.
    Under the invoice's row lock, so two callers never take the same attempt number, and a rollback
    takes the row (and so the charge) with it."""
    if not stripe_client.stripe_enabled():
        return None
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().select_related("customer").filter(pk=invoice_id).first()
        if invoice is None:
            raise NotFound(f"No invoice with id {invoice_id}.", field="invoice")
        if not _collectable(invoice, invoice.customer) or _attempt_unsettled(invoice):
            return None
        if needs_card and not CustomerPaymentMethod.objects.filter(customer_id=invoice.customer_id).exists():
            return None
        attempt = StripeOutbox.objects.filter(invoice=invoice, kind=Kind.INVOICE_COLLECT).count() + 1
        row = stripe_outbox_queue(
            kind=Kind.INVOICE_COLLECT,
            key=collect_key(invoice.pk, attempt),
            customer_id=invoice.customer_id,
            invoice_id=invoice.pk,
        )
        log.info("stripe.collect_retry_queued", invoice_id=invoice.pk, attempt=attempt, reason=reason)
        return row


def _card_mirror(customer_id: int, method: dict[str, Any]) -> CustomerPaymentMethod:
    """Keep Stripe's payment method as the customer's default card here (what the admin shows)."""
    card = method.get("card") or {}
    saved, _ = CustomerPaymentMethod.objects.update_or_create(
        customer_id=customer_id,
        defaults={
            "stripe_payment_method_id": method["id"],
            "brand": str(card.get("brand") or method.get("type") or ""),
            "last4": str(card.get("last4") or ""),
            "exp_month": card.get("exp_month"),
            "exp_year": card.get("exp_year"),
        },
    )
    return saved


def _card_to_charge(customer_id: int, stripe_customer_id: str) -> CustomerPaymentMethod | None:
    """The default card as Stripe has it now — the customer may have changed it in Stripe (its hosted
    pages, the dashboard) since we saw it — mirrored here; our own record when Stripe names none."""
    mirror = CustomerPaymentMethod.objects.filter(customer_id=customer_id).first()
    stripe_customer = stripe_client.customer_retrieve(customer_id=stripe_customer_id)
    default = (stripe_customer.get("invoice_settings") or {}).get("default_payment_method")
    default_id = str((default.get("id") if isinstance(default, dict) else default) or "")
    if not default_id or (mirror is not None and mirror.stripe_payment_method_id == default_id):
        return mirror
    method = stripe_client.payment_method_retrieve(payment_method_id=default_id)
    log.info("stripe.default_card_changed", customer_id=customer_id, payment_method=default_id)
    return _card_mirror(customer_id, method)


@stripe_outbox_handler(Kind.INVOICE_COLLECT)
def _deliver_invoice_collect(row: StripeOutbox) -> None:
    assert row.invoice_id is not None  # a collect row always names its invoice
    invoice = Invoice.objects.select_for_update().select_related("customer").get(pk=row.invoice_id)
    if not _collectable(invoice, invoice.customer):
        row.outcome = f"skipped: invoice is {invoice.status}, {invoice.amount_due} due"
        return
    customer_stripe_id, _ = stripe_customer_ensure(customer_id=invoice.customer_id)
    card = _card_to_charge(invoice.customer_id, customer_stripe_id)
    if card is None:
        # nothing to charge: a failed payment finance and the customer see, and dunning starts
        from invoicing.services.payment_outcomes import payment_failed_record

        payment_failed_record(
            invoice_id=invoice.pk,
            amount=Decimal(invoice.amount_due),
            at=row.created_at,
            method=Payment.Method.STRIPE,
            reference=row.key,
            failure_message="The customer has no default card to charge.",
        )
        row.outcome = "no_payment_method"
        return
    try:
        intent = stripe_client.payment_intent_create(
            amount=stripe_amount(Decimal(invoice.amount_due), invoice.currency),
            currency=invoice.currency,
            customer_id=customer_stripe_id,
            payment_method_id=card.stripe_payment_method_id,
            metadata={
                "ratecard_invoice_id": str(invoice.pk),
                "ratecard_invoice_number": invoice.number or "",
                "ratecard_outbox_key": row.key,
            },
            idempotency_key=row.key,
        )
    except StripeDeclined as declined:
        # delivered: Stripe holds a PaymentIntent that failed and reports it (payment_intent.payment_failed)
        intent_id = declined.payment_intent_id
        if not intent_id and declined.charge_id:
            intent_id = str(
                stripe_client.charge_retrieve(charge_id=declined.charge_id).get("payment_intent") or ""
            )
        row.stripe_id = intent_id
        row.outcome = f"declined: {declined.message}"[:255]
    else:
        row.stripe_id = intent["id"]
        row.outcome = str(intent.get("status", ""))
    if row.stripe_id:
        invoice.stripe_payment_intent_id = row.stripe_id
        invoice.save(update_fields=["stripe_payment_intent_id", "updated_at"])
    log.info(
        "stripe.invoice_collect",
        invoice_id=invoice.pk,
        customer_id=invoice.customer_id,
        payment_intent=row.stripe_id,
        outcome=row.outcome,
        key=row.key,
    )


def customer_payment_method_set(*, customer_id: int, payment_method_id: str) -> CustomerPaymentMethod:
    """Attach a Stripe payment method to the customer and make it its default card (API.md); the
    customer's open invoices whose payment failed are charged again with it (after commit).

    ``Conflict`` when Stripe is off; 400 on ``payment_method`` for one Stripe refuses or declines;
    ``StripeUnreachable`` (503) when Stripe cannot be reached.
    """
    if not stripe_client.stripe_enabled():
        raise Conflict("Stripe is off (STRIPE_API_KEY is not set).", field="payment_method")
    try:
        stripe_id, _ = stripe_customer_ensure(customer_id=customer_id)
        method = stripe_client.payment_method_attach(
            payment_method_id=payment_method_id, customer_id=stripe_id
        )
    except StripeDeclined as exc:
        raise ValidationFailed(f"The card was declined: {exc.message}", field="payment_method") from exc
    except StripeRejected as exc:
        raise ValidationFailed(
            f"Stripe refused payment method {payment_method_id!r}: {exc.message}", field="payment_method"
        ) from exc
    except StripeUnavailable as exc:
        raise StripeUnreachable(
            f"Stripe could not be reached: {exc}", field=None, code=ErrorCode.INVALID
        ) from exc
    with transaction.atomic():
        saved = _card_mirror(customer_id, method)
        # failed as reported (payment row, dunning) or as the last attempt's answer (the report may lag)
        failed = Invoice.objects.filter(
            Q(payment_failed_at__isnull=False)
            | Q(payments__status=Payment.Status.FAILED)
            | Q(stripe_outbox__outcome__startswith="declined")
            | Q(stripe_outbox__outcome="no_payment_method"),
            customer_id=customer_id,
            status=InvoiceStatus.OPEN,
        ).distinct()
        for invoice_id in sorted(failed.values_list("id", flat=True)):
            invoice_collect_retry(invoice_id=invoice_id, reason="new default card")
    log.info(
        "stripe.payment_method_set", customer_id=customer_id, payment_method=method["id"], last4=saved.last4
    )
    return saved
