"""The registry of what Ratecard measures and alerts on: a module declares a figure or a rule in a few lines.

Three kinds of declarations, each usable from any app (this module imports nothing of the project):

- **Counters and histograms** of things that happen in a process and leave no row behind (requests,
  usage events accepted or refused): ``counter(...)`` / ``histogram(...)`` return prometheus_client
  objects. Under gunicorn (several processes) they live in prometheus_client's multiprocess mode when
  ``PROMETHEUS_MULTIPROC_DIR`` is set (``/metrics`` sums every process's file); without it, in the process.
  ``count_after_commit`` increments only once the caller's transaction commits (a rolled-back write
  counts nothing).
- **Gauges read from the database at scrape time** (``@db_gauge``): the pipeline's state (billing runs,
  chunks, queues, outboxes). They are the same whichever process is scraped and survive restarts, so
  nothing that lives in a row is counted in a process. Keep each query cheap (an index, a count): they
  run on every scrape.
- **Alert rules** (``@alert_rule``): a function of ``now`` returning the ``Finding``s that are wrong at
  that moment, one per subject (a run, an outbox row, "ingestion"); ``reporting.alerts`` opens an
  incident per (rule, subject), mails finance once, and clears it when the finding is gone.

Declarations live in each app's ``monitoring.py`` (found by ``monitoring_discover``), e.g.::

    from config.monitoring import Finding, Sample, alert_rule, counter, db_gauge

    SIGNATURE_FAILURES = counter("ratecard_stripe_webhook_signature_failures_total", "Webhooks refused.")

    @db_gauge("ratecard_stripe_outbox_rows", "Stripe outbox rows by status.", labels=("status",))
    def outbox_rows() -> list[Sample]:
        return [Sample(n, {"status": s}) for s, n in ...]

    @alert_rule("stripe_outbox_dead", title="Stripe outbox row dead", runbook="stripe-outbox-dead")
    def outbox_dead(now: datetime) -> list[Finding]:
        return [Finding(subject=f"outbox:{row.pk}", message=..., customer_ids=[row.customer_id])]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from prometheus_client import Counter, Histogram

# request latencies: an entitlement check takes milliseconds, a billing-run start a second
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_counters: dict[str, Counter] = {}
_histograms: dict[str, Histogram] = {}


def counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
    """A process counter (summed over processes in multiprocess mode). ``name`` ends in ``_total``.

    Declared once per name: a second declaration (a module imported twice in tests) gets the first.
    """
    if name not in _counters:
        # prometheus_client appends "_total" itself
        _counters[name] = Counter(name.removesuffix("_total"), documentation, list(labels))
    return _counters[name]


def histogram(
    name: str, documentation: str, labels: Sequence[str] = (), buckets: Sequence[float] = LATENCY_BUCKETS
) -> Histogram:
    if name not in _histograms:
        _histograms[name] = Histogram(name, documentation, list(labels), buckets=tuple(buckets))
    return _histograms[name]


def count_after_commit(metric: Any, amount: int | Decimal = 1, **labels: str) -> None:
    """Increment ``metric`` (with ``labels``) once the current transaction commits (at once outside one).

    Callers pass counts or exact ``Decimal`` amounts; the one conversion to the float Prometheus stores
    happens here, at the exporter's edge (a metric is a gauge for people, never a figure we bill from).
    A metric never breaks the write it counts: a failure to count is logged and forgotten.
    """
    value = float(amount)

    def count() -> None:
        try:
            (metric.labels(**labels) if labels else metric).inc(value)
        except Exception as exc:
            import structlog

            structlog.get_logger(__name__).error(
                "metrics.count_failed", error=f"{exc.__class__.__name__}: {exc}"
            )

    transaction.on_commit(count)


@dataclass(frozen=True)
class Sample:
    """One value of a database gauge, with its labels."""

    value: float | int | Any
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DbGauge:
    name: str
    documentation: str
    labels: tuple[str, ...]
    read: Callable[[], Iterable[Sample]]
    kind: str = "gauge"  # "counter" for a figure that only grows (e.g. invoices ever finalized)


_gauges: dict[str, DbGauge] = {}


def db_gauge(
    name: str, documentation: str, labels: Sequence[str] = (), kind: str = "gauge"
) -> Callable[[Callable[[], Iterable[Sample]]], Callable[[], Iterable[Sample]]]:
    """Declare a figure read from the database at scrape time (module docs)."""

    def register(read: Callable[[], Iterable[Sample]]) -> Callable[[], Iterable[Sample]]:
        _gauges[name] = DbGauge(name, documentation, tuple(labels), read, kind)
        return read

    return register


def db_gauges() -> list[DbGauge]:
    monitoring_discover()
    return [_gauges[name] for name in sorted(_gauges)]


@dataclass(frozen=True)
class Finding:
    """Something wrong now: ``subject`` names what (unique per rule while the incident is open)."""

    subject: str
    message: str
    customer_ids: tuple[int, ...] | list[int] = ()
    url: str = ""  # an admin page where the operator looks first, when there is one


@dataclass(frozen=True)
class AlertRule:
    code: str
    title: str
    severity: str  # "error" or "warning"
    runbook: str  # the anchor of the rule's section in docs/runbook.md
    check: Callable[[datetime], list[Finding]]


_rules: dict[str, AlertRule] = {}


def alert_rule(
    code: str, *, title: str, runbook: str, severity: str = "error"
) -> Callable[[Callable[[datetime], list[Finding]]], Callable[[datetime], list[Finding]]]:
    """Declare an alert rule (module docs). ``code`` is stable: incidents are keyed by it."""

    def register(check: Callable[[datetime], list[Finding]]) -> Callable[[datetime], list[Finding]]:
        _rules[code] = AlertRule(code, title, severity, runbook, check)
        return check

    return register


def alert_rules() -> list[AlertRule]:
    monitoring_discover()
    return [_rules[code] for code in sorted(_rules)]


_discovered = False


def monitoring_discover() -> None:
    """Import every installed app's ``monitoring`` module once (as the admin finds ``admin.py``)."""
    global _discovered
    if not _discovered:
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("monitoring")
        _discovered = True
