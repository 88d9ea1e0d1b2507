"""What billing reports to operations: usage ingestion counters, subscriptions, and the ingestion alert.

Usage events are counted per metric and outcome in the process (``ratecard_usage_events_total``); the
ingestion alert needs the same figures across every web process, so each batch also adds to per-minute
buckets in Redis (the Django cache without Redis: one process, the demo), which the alert rule reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count

from accounts.models import Customer
from billing.models import Subscription
from config.monitoring import Finding, Sample, alert_rule, counter, db_gauge

USAGE_EVENTS = counter(
    "ratecard_usage_events_total",
    "Usage events received, per metric and outcome (accepted, duplicate, rejected).",
    labels=("metric", "outcome"),
)
USAGE_BATCHES_REFUSED = counter(
    "ratecard_usage_batches_refused_total",
    "Event batches refused whole, per reason (invalid, malformed, rate_limited).",
    labels=("reason",),
)
UNKNOWN_METRIC = "_unknown"  # a code no metric has: one label, however many typos are sent
WINDOW_KEY = "rc:ingest:{outcome}:{minute}"
CUSTOMERS_KEY = "rc:ingest:rejected_customers:{minute}"
BUCKET_TTL_SECONDS = 2 * 3600
CUSTOMERS_PER_BATCH = 20


def _minute(moment: datetime) -> int:
    return int(moment.timestamp()) // 60


def ingestion_window_add(
    *, now: datetime, accepted: int = 0, rejected: int = 0, customers: Iterable[str] = ()
) -> None:
    """Add a batch's outcome to the current minute's buckets (shared by every process through Redis)."""
    from billing.services.usage_live import redis_client

    minute = _minute(now)
    client = redis_client()
    if client is None:
        for outcome, n in (("accepted", accepted), ("rejected", rejected)):
            if n:
                key = WINDOW_KEY.format(outcome=outcome, minute=minute)
                cache.add(key, 0, BUCKET_TTL_SECONDS)
                cache.incr(key, n)
        return
    with client.pipeline(transaction=False) as pipe:
        for outcome, n in (("accepted", accepted), ("rejected", rejected)):
            if n:
                key = WINDOW_KEY.format(outcome=outcome, minute=minute)
                pipe.incrby(key, n)
                pipe.expire(key, BUCKET_TTL_SECONDS)
        names = list(dict.fromkeys(customers))[:CUSTOMERS_PER_BATCH]
        if names:
            key = CUSTOMERS_KEY.format(minute=minute)
            for name in names:
                pipe.zincrby(key, 1, name)
            pipe.expire(key, BUCKET_TTL_SECONDS)
        pipe.execute()


def ingestion_window(*, now: datetime, minutes: int) -> tuple[int, int, list[str]]:
    """(accepted, rejected, the customers with most rejected batches) over the last ``minutes``."""
    from billing.services.usage_live import redis_client

    last = _minute(now)
    span = range(last - minutes + 1, last + 1)
    client = redis_client()
    if client is None:
        got = cache.get_many(
            [WINDOW_KEY.format(outcome=o, minute=m) for o in ("accepted", "rejected") for m in span]
        )
        total = {o: sum(int(v) for k, v in got.items() if f":{o}:" in k) for o in ("accepted", "rejected")}
        return total["accepted"], total["rejected"], []
    keys = {o: [WINDOW_KEY.format(outcome=o, minute=m) for m in span] for o in ("accepted", "rejected")}
    accepted = sum(int(v or 0) for v in client.mget(keys["accepted"]))
    rejected = sum(int(v or 0) for v in client.mget(keys["rejected"]))
    scores: dict[str, float] = {}
    for minute in span:
        ranked: list[tuple[str, float]] = client.zrange(  # type: ignore[assignment]
            CUSTOMERS_KEY.format(minute=minute), 0, -1, withscores=True
        )
        for name, score in ranked:
            scores[name] = scores.get(name, 0) + score
    worst = sorted(scores, key=lambda name: (-scores[name], name))[:10]
    return accepted, rejected, worst


@db_gauge("ratecard_subscriptions", "Subscriptions by status.", labels=("status",))
def subscriptions_by_status() -> list[Sample]:
    rows = Subscription.objects.values("status").annotate(n=Count("id")).order_by("status")
    return [Sample(n, {"status": status}) for status, n in rows.values_list("status", "n")]


@alert_rule(
    "ingestion_rejections_spiking",
    title="Usage ingestion: rejected events spiking",
    runbook="ingestion_rejections_spiking",
    severity="warning",
)
def ingestion_rejections(now: datetime) -> list[Finding]:
    """Over the last window, at least ``min`` events refused and at least ``ratio`` of all events."""
    minutes = settings.RATECARD_ALERT_INGEST_WINDOW_MINUTES
    accepted, rejected, worst = ingestion_window(now=now, minutes=minutes)
    total = accepted + rejected
    if (
        rejected < settings.RATECARD_ALERT_INGEST_REJECTED_MIN
        or rejected < total * settings.RATECARD_ALERT_INGEST_REJECTED_RATIO
    ):
        return []
    customer_ids = list(Customer.objects.filter(external_id__in=worst).values_list("id", flat=True))
    return [
        Finding(
            subject="ingestion",
            message=(
                f"{rejected} of {total} usage events refused in the last {minutes} minutes "
                f"({rejected / total:.0%}); most from: {', '.join(worst) or 'unknown customers'}."
            ),
            customer_ids=customer_ids,
        )
    ]
