"""The Stripe outbox: every call Ratecard owes Stripe is a row written in the caller's transaction and
delivered after commit (DESIGN.md "How data flows" 4).

- ``stripe_outbox_queue`` writes the row (``key`` unique: a rerun finds it and queues nothing) and asks
  for a delivery after commit. Stripe off (no ``STRIPE_API_KEY``): nothing is written.
- ``stripe_outbox_deliver`` makes one attempt under the row's lock (``SKIP LOCKED``: two workers never
  run one row). The call and what it writes here commit together; Stripe being away (connection
  refused, 5xx, rate limit) leaves the row ``pending`` with ``next_attempt_at`` after an exponential
  backoff (``RATECARD_STRIPE_OUTBOX_BACKOFF_SECONDS`` doubling, at most
  ``RATECARD_STRIPE_OUTBOX_BACKOFF_CAP_SECONDS``); after ``RATECARD_STRIPE_OUTBOX_MAX_ATTEMPTS`` failures,
  or at once for a request Stripe refuses as such, the row is ``dead``: finance sees it in the admin
  (a banner and a list) and retries it there.
- ``stripe_outbox_due`` is what the beat sweep delivers: pending rows whose time has come, including a
  row whose task message Redis lost (it keeps nothing on disk).

The Idempotency-Key of each call is the row's key, so if a worker dies after Stripe answered but before
the commit, the next attempt gets Stripe's first answer back instead of a second charge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from config.tasks_queue import task_enqueue
from invoicing.models import StripeOutbox
from invoicing.stripe.client import stripe_enabled
from invoicing.stripe.errors import StripeRejected

log = structlog.get_logger(__name__)

DELIVER_TASK = "invoicing.stripe_tasks.stripe_outbox_deliver"
# the sweep leaves a fresh row to the task queued at commit for this long
SWEEP_GRACE = timedelta(minutes=2)

Handler = Callable[[StripeOutbox], None]
_handlers: dict[str, Handler] = {}


def stripe_outbox_handler(kind: str) -> Callable[[Handler], Handler]:
    """Register what delivers a kind of row (``stripe_sync`` and ``payment_refunds`` register theirs)."""

    def register(fn: Handler) -> Handler:
        _handlers[kind] = fn
        return fn

    return register


def _handler(kind: str) -> Handler:
    # the modules that register handlers import this one: load them on first use
    import invoicing.services.payment_refunds
    import invoicing.services.stripe_sync  # noqa: F401

    return _handlers[kind]


def max_attempts() -> int:
    return int(getattr(settings, "RATECARD_STRIPE_OUTBOX_MAX_ATTEMPTS", 8))


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the n-th failed attempt: base, 2x base, 4x base... at most the cap."""
    base = float(getattr(settings, "RATECARD_STRIPE_OUTBOX_BACKOFF_SECONDS", 30))
    cap = float(getattr(settings, "RATECARD_STRIPE_OUTBOX_BACKOFF_CAP_SECONDS", 3600))
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


def _deliver_after_commit(outbox_ids: list[int]) -> None:
    def send() -> None:
        for outbox_id in outbox_ids:
            try:
                task_enqueue(DELIVER_TASK, outbox_id)
            except Exception as exc:  # the broker is away: the row stays pending and the sweep delivers it
                log.warning("stripe_outbox.not_queued", outbox_id=outbox_id, error=str(exc))

    transaction.on_commit(send)


def stripe_outbox_queue(
    *,
    kind: str,
    key: str,
    customer_id: int,
    invoice_id: int | None = None,
    refund_id: int | None = None,
) -> StripeOutbox | None:
    """Write the row in the caller's transaction and deliver it after commit; None when Stripe is off.
    A row that exists for ``key`` is returned as it is and nothing is queued again."""
    if not stripe_enabled():
        return None
    row = StripeOutbox(
        kind=kind,
        key=key,
        customer_id=customer_id,
        invoice_id=invoice_id,
        refund_id=refund_id,
        next_attempt_at=timezone.now() + SWEEP_GRACE,
    )
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        return StripeOutbox.objects.get(key=key)
    _deliver_after_commit([row.pk])
    log.info("stripe_outbox.queued", outbox_id=row.pk, key=key, kind=kind, invoice_id=invoice_id)
    return row


def stripe_outbox_queue_many(rows: Sequence[StripeOutbox]) -> list[StripeOutbox]:
    """``stripe_outbox_queue`` for a batch whose keys cannot exist yet (the first collection attempts of
    invoices finalized in the caller's transaction): one INSERT, delivered after commit."""
    if not rows or not stripe_enabled():
        return []
    first_sweep = timezone.now() + SWEEP_GRACE
    for row in rows:
        row.next_attempt_at = first_sweep
    created = StripeOutbox.objects.bulk_create(rows)
    _deliver_after_commit([row.pk for row in created])
    log.info("stripe_outbox.queued_many", keys=[row.key for row in created])
    return created


def stripe_outbox_deliver(*, outbox_id: int, now: datetime | None = None) -> StripeOutbox | None:
    """One attempt at a pending row (module docs); None when it is not pending, another worker holds it,
    or it is backing off (a retry queued twice, by its countdown and by the sweep, runs once). Never
    raises for Stripe's failures: the row records them. ``now``: the sweep's clock (tests move it)."""
    now = now or timezone.now()
    with transaction.atomic():
        row = (
            StripeOutbox.objects.select_for_update(skip_locked=True)
            .filter(pk=outbox_id, status=StripeOutbox.Status.PENDING)
            .filter(Q(attempts=0) | Q(next_attempt_at__lte=now))
            .first()
        )
        if row is None:
            return None
        row.attempts += 1
        try:
            # a savepoint: what a failed handler wrote goes, the attempt's record stays
            with transaction.atomic():
                _handler(row.kind)(row)
        except Exception as exc:  # Stripe away, a refused request, a bug: recorded on the row, not raised
            row.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
            if isinstance(exc, StripeRejected) or row.attempts >= max_attempts():
                row.status = StripeOutbox.Status.DEAD
                row.next_attempt_at = None
            else:
                row.next_attempt_at = now + retry_delay(row.attempts)
            log.warning(
                "stripe_outbox.failed",
                outbox_id=row.pk,
                key=row.key,
                attempts=row.attempts,
                status=row.status,
                error=row.last_error,
            )
        else:
            row.status = StripeOutbox.Status.DONE
            row.done_at = now
            row.next_attempt_at = None
            log.info("stripe_outbox.delivered", outbox_id=row.pk, key=row.key, stripe_id=row.stripe_id)
        row.save()
        return row


def stripe_outbox_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Pending rows whose next attempt is due (retries, and rows a lost message left behind)."""
    return list(
        StripeOutbox.objects.filter(
            status=StripeOutbox.Status.PENDING, next_attempt_at__lte=now or timezone.now()
        )
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def stripe_outbox_retry(*, outbox_ids: Sequence[int]) -> int:
    """Give dead rows another round of attempts (finance, from the admin); returns how many."""
    with transaction.atomic():
        ids = list(
            StripeOutbox.objects.select_for_update()
            .filter(pk__in=list(outbox_ids), status=StripeOutbox.Status.DEAD)
            .order_by("pk")
            .values_list("id", flat=True)
        )
        StripeOutbox.objects.filter(pk__in=ids).update(
            status=StripeOutbox.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        _deliver_after_commit(ids)
    log.info("stripe_outbox.retried", outbox_ids=ids)
    return len(ids)
