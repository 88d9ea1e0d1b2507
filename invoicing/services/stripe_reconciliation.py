"""The daily reconciliation: our invoices and payments against Stripe's PaymentIntents and charges.

For every PaymentIntent Stripe created in the window — the last ``RATECARD_STRIPE_RECONCILIATION_DAYS``
days (35), asked of Stripe with ``created[gte]``, so a daily run reads about a month of PaymentIntents,
not every one ever made:

- no invoice of ours in its metadata and money taken -> ``charge_without_invoice``;
- succeeded there, not recorded here -> applied now (the webhook never came) and kept as
  ``paid_there_open_here``, resolved when applying it worked;
- failed there, not recorded here -> applied (failed payment, dunning) as ``failed_not_recorded``;
- recorded with another amount -> ``amount_differs``;
- refunded there more than here -> the refunds applied, as ``refund_not_reflected``.

Every mismatch is a ``ReconciliationMismatch`` row (the admin lists them) and a ``stripe.mismatch``
log line; one left open alerts finance (``stripe_reconciliation_mismatches``) until finance fixes the
cause and marks it resolved (``reconciliation_mismatches_resolve``, an admin action). Running it twice finds nothing new: applying is idempotent and rows are unique per (kind,
Stripe object).

The window is applied here as well: a Stripe-compatible server that ignores ``created`` (it returns
everything) is bounded all the same, and one that refuses it with a 400 (localstripe 1.15 answers
"Unexpected created") is read whole once, logged as ``stripe.reconcile_filter_refused``, then bounded
here. A window longer than the webhooks' worst delay (Stripe retries for 3 days) still picks up every
payment whose webhook never came.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from invoicing.models import Payment, ReconciliationMismatch
from invoicing.services.payment_outcomes import (
    intent_charge,
    intent_invoice_id,
    mismatch_note,
    stripe_payment_intent_apply,
)
from invoicing.services.payment_refunds import stripe_refunds_apply
from invoicing.stripe import client as stripe_client
from invoicing.stripe.amounts import amount_from_stripe
from invoicing.stripe.errors import StripeRejected

log = structlog.get_logger(__name__)

Kind = ReconciliationMismatch.Kind


@dataclass
class ReconciliationReport:
    checked: int = 0
    mismatches: list[str] = field(default_factory=list)


def window_days() -> int:
    return int(getattr(settings, "RATECARD_STRIPE_RECONCILIATION_DAYS", 35))


def _pages(created_gte: int | None) -> list[dict[str, Any]]:
    intents: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = stripe_client.payment_intents_list(limit=100, starting_after=after, created_gte=created_gte)
        data = page.get("data") or []
        intents.extend(data)
        if not page.get("has_more") or not data:
            return intents
        after = data[-1]["id"]


def _intents(*, since: int) -> list[dict[str, Any]]:
    """The PaymentIntents created at or after ``since`` (Unix seconds), filtered by Stripe and here."""
    try:
        intents = _pages(created_gte=since)
    except StripeRejected as exc:
        if exc.status != 400:
            raise
        log.warning("stripe.reconcile_filter_refused", error=exc.message)
        intents = _pages(created_gte=None)
    return [intent for intent in intents if int(intent.get("created") or 0) >= since]


def _check(intent: dict[str, Any], report: ReconciliationReport) -> None:
    intent_id = intent["id"]
    currency = str(intent.get("currency", "")).upper()
    status = intent.get("status")
    invoice_id = intent_invoice_id(intent)

    def note(kind: str, detail: str, resolved: bool) -> None:
        mismatch_note(
            kind=kind, stripe_object_id=intent_id, detail=detail, invoice_id=invoice_id, resolved=resolved
        )
        report.mismatches.append(f"{kind}:{intent_id}")

    if invoice_id is None:
        if status == "succeeded":
            note(
                Kind.CHARGE_WITHOUT_INVOICE,
                f"{intent.get('amount')} {currency} minor units, no Ratecard invoice.",
                False,
            )
        return
    payments = Payment.objects.filter(method=Payment.Method.STRIPE, reference=intent_id)
    if status == "succeeded":
        received = amount_from_stripe(int(intent.get("amount_received") or intent["amount"]), currency)
        paid = payments.exclude(status=Payment.Status.FAILED).first()
        if paid is None:
            outcome = stripe_payment_intent_apply(intent=intent)
            # "known": a webhook (or an overlapping reconciliation) recorded it between our read and the
            # apply, under the same invoice lock: both sides agree, there is nothing to report
            if outcome != "known":
                note(
                    Kind.PAID_THERE_OPEN_HERE,
                    f"Stripe collected {received} {currency}; no payment here (applied now: {outcome}).",
                    outcome in ("paid", "recorded"),
                )
        elif Decimal(paid.amount) != received:
            note(
                Kind.AMOUNT_DIFFERS, f"Stripe collected {received} {currency}; recorded {paid.amount}.", False
            )
        charge = intent_charge(intent) or {}
        refunded_there = amount_from_stripe(int(charge.get("amount_refunded") or 0), currency)
        paid = payments.exclude(status=Payment.Status.FAILED).first()
        if paid is not None and refunded_there > Decimal(paid.amount_refunded):
            refunds = stripe_client.refunds_list(payment_intent_id=intent_id).get("data") or []
            new = stripe_refunds_apply(payment_intent_id=intent_id, refunds=refunds)
            note(
                Kind.REFUND_NOT_REFLECTED,
                f"Stripe refunded {refunded_there} {currency}; here {paid.amount_refunded} ({new} applied now).",
                new > 0,
            )
    elif intent.get("last_payment_error") and not payments.filter(status=Payment.Status.FAILED).exists():
        outcome = stripe_payment_intent_apply(intent=intent)
        if outcome != "known":  # recorded meanwhile by the webhook: nothing differs (as above)
            note(
                Kind.FAILED_NOT_RECORDED,
                f"Stripe reports a failed payment (applied now: {outcome}).",
                outcome == "failed",
            )


def stripe_reconcile(*, now: datetime | None = None) -> ReconciliationReport:
    """Compare the window's PaymentIntents in Stripe with Ratecard once (module docs); returns what it
    found. ``now``: the wall clock the window ends at (Stripe's ``created`` is wall-clock time)."""
    report = ReconciliationReport()
    since = int(((now or timezone.now()) - timedelta(days=window_days())).timestamp())
    for intent in _intents(since=since):
        report.checked += 1
        _check(intent, report)
    log.info("stripe.reconciled", since=since, checked=report.checked, mismatches=len(report.mismatches))
    return report


def reconciliation_mismatches_resolve(*, mismatch_ids: Sequence[int]) -> int:
    """Mark open mismatches resolved once finance fixed their cause (the admin); returns how many.

    The reconciliation reopens one it finds again (same kind and Stripe object), so a wrong "resolved"
    does not hide a difference for more than a day."""
    with transaction.atomic():
        ids = list(
            ReconciliationMismatch.objects.select_for_update()
            .filter(pk__in=list(mismatch_ids), resolved=False)
            .order_by("pk")
            .values_list("id", flat=True)
        )
        ReconciliationMismatch.objects.filter(pk__in=ids).update(resolved=True)
    log.info("stripe.mismatches_resolved", mismatch_ids=ids)
    return len(ids)
