"""What the Stripe side of invoicing reports to operations: the outbox, webhooks and the reconciliation,
and their alerts. ``config.monitoring`` describes the declarations; ``invoicing.monitoring`` imports this
module so the registry finds it.

It lives beside ``invoicing.stripe``, not inside it: that package is the gateway to the stripe library
and must not import Ratecard's models (an import-linter contract), and this module must not import the
stripe library (another one).

- The outbox, the unapplied webhook events and the mismatches are rows: database gauges, right whichever
  process is scraped.
- Webhook lag (Stripe's event ``created`` to our applying it) is a histogram observed when an event is
  applied, plus a gauge of the oldest event still waiting (a stalled worker shows there, not in the
  histogram, which only sees what got applied).
- Signature failures leave no row (nothing is stored for a bad signature), so they are a process
  counter for dashboards and per-minute buckets in Redis for the alert, which must see every web
  process's failures (as ``billing.monitoring`` keeps its ingestion window).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Min

from config.monitoring import Finding, Sample, alert_rule, counter, db_gauge, histogram
from config.shared_redis import shared_redis
from invoicing.models import ReconciliationMismatch, StripeEvent, StripeOutbox

CUSTOMERS_SHOWN = 50
WAITING = (StripeEvent.Status.RECEIVED, StripeEvent.Status.FAILED)
SIGNATURE_KEY = "rc:stripe:signature_failures:{minute}"
BUCKET_TTL_SECONDS = 2 * 3600
# Stripe retries for days; a webhook is normally applied within seconds
LAG_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)

SIGNATURE_FAILURES = counter(
    "ratecard_stripe_webhook_signature_failures_total",
    "Webhooks refused for a missing or bad Stripe-Signature (nothing stored).",
)
WEBHOOK_LAG = histogram(
    "ratecard_stripe_webhook_lag_seconds",
    "Seconds from Stripe creating an event to Ratecard applying it, per event type family.",
    labels=("family",),
    buckets=LAG_BUCKETS,
)


def _admin_url(name: str, *args: object, query: str = "") -> str:
    from django.urls import reverse  # resolved when asked: the URLconf imports the faces

    return reverse(f"admin:{name}", args=args) + (f"?{query}" if query else "")


def _now() -> datetime:
    from django.utils import timezone

    return timezone.now()


def _minute(moment: datetime) -> int:
    return int(moment.timestamp()) // 60


# --- what the faces and services report -----------------------------------------------------------


def signature_failure_count(*, now: datetime) -> None:
    """A webhook refused for its signature: the process counter and this minute's shared bucket.

    Never raises (Redis away must not turn a 400 into a 500)."""
    SIGNATURE_FAILURES.inc()
    key = SIGNATURE_KEY.format(minute=_minute(now))
    try:
        client = shared_redis()
        if client is None:  # the demo without Redis: one process, the Django cache
            cache.add(key, 0, BUCKET_TTL_SECONDS)
            cache.incr(key)
            return
        with client.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, BUCKET_TTL_SECONDS)
            pipe.execute()
    except Exception as exc:
        import structlog

        structlog.get_logger(__name__).error("metrics.count_failed", error=f"{exc.__class__.__name__}: {exc}")


def signature_failures_in(*, now: datetime, minutes: int) -> int:
    last = _minute(now)
    keys = [SIGNATURE_KEY.format(minute=m) for m in range(last - minutes + 1, last + 1)]
    client = shared_redis()
    if client is None:
        return sum(int(v) for v in cache.get_many(keys).values())
    return sum(int(v or 0) for v in client.mget(keys))


def webhook_lag_observe(*, event_type: str, stripe_created: datetime | None, applied_at: datetime) -> None:
    """Observe an applied event's lag once the apply commits (a rolled-back apply observes nothing)."""
    if stripe_created is None:
        return
    lag = max((applied_at - stripe_created).total_seconds(), 0.0)
    family = (
        event_type.split(".", 1)[0] or "unknown"
    )  # payment_intent, charge: a few labels, not one per type
    transaction.on_commit(lambda: WEBHOOK_LAG.labels(family=family).observe(lag))


# --- gauges -----------------------------------------------------------------------------------------


@db_gauge("ratecard_stripe_outbox", "Stripe outbox rows by status (pending, done, dead).", labels=("status",))
def outbox_by_status() -> list[Sample]:
    found = dict(
        StripeOutbox.objects.values("status").annotate(n=Count("id")).order_by().values_list("status", "n")
    )
    return [Sample(found.get(status, 0), {"status": status}) for status in StripeOutbox.Status.values]


@db_gauge("ratecard_stripe_outbox_oldest_pending_seconds", "Age of the oldest pending Stripe outbox row.")
def outbox_oldest_pending() -> list[Sample]:
    oldest = StripeOutbox.objects.filter(status=StripeOutbox.Status.PENDING).aggregate(m=Min("created_at"))[
        "m"
    ]
    return [Sample((_now() - oldest).total_seconds() if oldest else 0)]


@db_gauge(
    "ratecard_stripe_webhook_events_waiting",
    "Webhook events stored and not applied yet (received, or failed and to be retried).",
)
def webhook_events_waiting() -> list[Sample]:
    return [Sample(StripeEvent.objects.filter(status__in=WAITING).count())]


@db_gauge(
    "ratecard_stripe_webhook_oldest_waiting_seconds",
    "Seconds since Stripe created the oldest webhook event not applied yet (0 when none waits).",
)
def webhook_oldest_waiting() -> list[Sample]:
    waiting = StripeEvent.objects.filter(status__in=WAITING)
    oldest = waiting.aggregate(m=Min("stripe_created"))["m"] or waiting.aggregate(m=Min("received_at"))["m"]
    return [Sample(max((_now() - oldest).total_seconds(), 0) if oldest else 0)]


@db_gauge(
    "ratecard_stripe_reconciliation_mismatches_open",
    "Differences with Stripe the reconciliation found and nobody resolved, by kind.",
    labels=("kind",),
)
def mismatches_open() -> list[Sample]:
    found = dict(
        ReconciliationMismatch.objects.filter(resolved=False)
        .values("kind")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("kind", "n")
    )
    return [Sample(found.get(kind, 0), {"kind": kind}) for kind in ReconciliationMismatch.Kind.values]


# --- alert rules ------------------------------------------------------------------------------------


def _customers(rows) -> list[int]:  # type: ignore[no-untyped-def]
    return list(
        rows.order_by("customer_id").values_list("customer_id", flat=True).distinct()[:CUSTOMERS_SHOWN]
    )


@alert_rule("stripe_outbox_late", title="Stripe calls not delivered", runbook="stripe_outbox_late")
def stripe_outbox_late(now: datetime) -> list[Finding]:
    """Pending outbox rows older than ``RATECARD_ALERT_STRIPE_OUTBOX_MINUTES``: one incident (a Stripe
    outage makes many rows late at once; one e-mail, its message and customers kept up to date)."""
    minutes = settings.RATECARD_ALERT_STRIPE_OUTBOX_MINUTES
    late = StripeOutbox.objects.filter(
        status=StripeOutbox.Status.PENDING, created_at__lt=now - timedelta(minutes=minutes)
    )
    oldest = late.order_by("created_at", "pk").first()
    if oldest is None:
        return []
    count = late.count()
    return [
        Finding(
            subject="outbox",
            message=f"{count} Stripe call(s) pending for more than {minutes} minutes; the oldest, "
            f"{oldest.key}, since {oldest.created_at:%Y-%m-%d %H:%M} UTC after {oldest.attempts} "
            f"attempt(s) (last error: {oldest.last_error[:300] or 'none'}).",
            customer_ids=_customers(late),
            url=_admin_url("invoicing_stripeoutbox_changelist", query="status__exact=pending"),
        )
    ]


@alert_rule("stripe_outbox_dead", title="Stripe calls dead", runbook="stripe_outbox_dead")
def stripe_outbox_dead(now: datetime) -> list[Finding]:
    """Dead outbox rows, one incident per kind of call (collecting, refunding, syncing are fixed apart)."""
    findings = []
    dead = StripeOutbox.objects.filter(status=StripeOutbox.Status.DEAD)
    for kind, count in dead.values("kind").annotate(n=Count("id")).order_by("kind").values_list("kind", "n"):
        rows = dead.filter(kind=kind)
        first = rows.order_by("created_at", "pk").first()
        if first is None:  # resolved or retried meanwhile
            continue
        findings.append(
            Finding(
                subject=f"kind:{kind}",
                message=f"{count} Stripe call(s) to {StripeOutbox.Kind(kind).label} gave up; the first, "
                f"{first.key}, after {first.attempts} attempt(s): {first.last_error[:300] or 'no error kept'}.",
                customer_ids=_customers(rows),
                url=_admin_url(
                    "invoicing_stripeoutbox_changelist", query=f"kind__exact={kind}&status__exact=dead"
                ),
            )
        )
    return findings


@alert_rule(
    "stripe_webhook_signatures",
    title="Stripe webhooks refused: bad signatures",
    runbook="stripe_webhook_signatures",
    severity="warning",
)
def stripe_webhook_signatures(now: datetime) -> list[Finding]:
    """At least ``RATECARD_ALERT_STRIPE_SIGNATURE_FAILURES`` refused over the window: forged traffic,
    or (when no event was stored meanwhile) our ``STRIPE_WEBHOOK_SECRET`` no longer matches Stripe's."""
    minutes = settings.RATECARD_ALERT_STRIPE_SIGNATURE_WINDOW_MINUTES
    failures = signature_failures_in(now=now, minutes=minutes)
    if failures < settings.RATECARD_ALERT_STRIPE_SIGNATURE_FAILURES:
        return []
    stored = StripeEvent.objects.filter(received_at__gte=now - timedelta(minutes=minutes)).count()
    hint = (
        f"{stored} good event(s) were stored meanwhile: likely forged or misdirected traffic"
        if stored
        else "no good event was stored meanwhile: check STRIPE_WEBHOOK_SECRET against the Stripe endpoint"
    )
    return [
        Finding(
            subject="webhook",
            message=f"{failures} webhook(s) refused for their Stripe-Signature in the last {minutes} "
            f"minutes; {hint}. No customer can be named: a refused event is not read.",
            url=_admin_url("invoicing_stripeevent_changelist"),
        )
    ]


@alert_rule(
    "stripe_reconciliation_mismatches",
    title="Stripe and Ratecard disagree",
    runbook="stripe_reconciliation_mismatches",
)
def stripe_reconciliation_mismatches(now: datetime) -> list[Finding]:
    """Unresolved reconciliation mismatches, one incident per kind (each kind has its own fix)."""
    findings = []
    open_rows = ReconciliationMismatch.objects.filter(resolved=False)
    kinds = open_rows.values("kind").annotate(n=Count("id")).order_by("kind").values_list("kind", "n")
    for kind, count in kinds:
        rows = open_rows.filter(kind=kind)
        first = rows.order_by("found_at", "pk").first()
        if first is None:  # resolved or retried meanwhile
            continue
        customers = list(
            rows.filter(invoice__isnull=False)
            .order_by("invoice__customer_id")
            .values_list("invoice__customer_id", flat=True)
            .distinct()[:CUSTOMERS_SHOWN]
        )
        findings.append(
            Finding(
                subject=f"kind:{kind}",
                message=f"{count} open mismatch(es): {ReconciliationMismatch.Kind(kind).label}; the first, "
                f"{first.stripe_object_id}: {first.detail[:300]}",
                customer_ids=customers,
                url=_admin_url(
                    "invoicing_reconciliationmismatch_changelist",
                    query=f"kind__exact={kind}&resolved__exact=0",
                ),
            )
        )
    return findings
