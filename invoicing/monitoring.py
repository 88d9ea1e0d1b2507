"""What invoicing reports to operations: billing runs, invoices, the PDF and e-mail queues, and the
billing-run alerts (failed, late, chunks stuck); the Stripe outbox, webhooks and reconciliation are in
``invoicing.stripe_monitoring``, imported here. ``config.monitoring`` describes the declarations.

Everything a billing run does is in its rows (runs, chunks, failures), so its figures are database
gauges: right whichever process is scraped, whichever worker billed. The few process counters here
(subscriptions billed, invoices finalized) are for rates on a dashboard; they count after commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, Min, OuterRef, Q, Sum

from billing.models import Subscription
from config.monitoring import Finding, Sample, alert_rule, counter, db_gauge
from invoicing import stripe_monitoring  # noqa: F401  (the Stripe figures and rules: registered on import)
from invoicing.models import (
    BillingRun,
    BillingRunChunk,
    BillingRunFailure,
    EmailOutbox,
    Invoice,
    InvoiceDocument,
    InvoiceStatus,
)

UNFINISHED = (BillingRun.Status.PENDING, BillingRun.Status.RUNNING)
UNHAPPY = (BillingRun.Status.FAILED, BillingRun.Status.COMPLETED_WITH_FAILURES)
CUSTOMERS_SHOWN = 50

SUBSCRIPTIONS_BILLED = counter(
    "ratecard_billing_subscriptions_total",
    "Due subscriptions handled by billing-run chunks, per outcome (billed, deferred, failed).",
    labels=("outcome",),
)
INVOICES_FINALIZED = counter(
    "ratecard_invoices_finalized_total", "Invoices finalized, per currency.", labels=("currency",)
)
AMOUNT_INVOICED = counter(
    "ratecard_invoiced_amount_total",
    "Totals of the invoices finalized, per currency, charges and credits (a negative total) apart: a rate "
    "for dashboards; the books are the invoices.",
    labels=("currency", "kind"),
)


def _admin_url(name: str, *args: object) -> str:
    from django.urls import reverse  # resolved when asked: the URLconf imports the faces

    return reverse(f"admin:{name}", args=args)


# --- gauges -----------------------------------------------------------------------------------------


@db_gauge("ratecard_invoices", "Invoices by status.", labels=("status",))
def invoices_by_status() -> list[Sample]:
    rows = Invoice.objects.values("status").annotate(n=Count("id")).order_by("status")
    return [Sample(n, {"status": status}) for status, n in rows.values_list("status", "n")]


@db_gauge("ratecard_amount_due", "Amount due on open invoices, per currency.", labels=("currency",))
def amount_due() -> list[Sample]:
    due = Invoice.objects.filter(status=InvoiceStatus.OPEN).values("currency").annotate(s=Sum("amount_due"))
    return [Sample(s or 0, {"currency": c}) for c, s in due.order_by("currency").values_list("currency", "s")]


@db_gauge("ratecard_billing_runs", "Billing runs by status.", labels=("status",))
def runs_by_status() -> list[Sample]:
    rows = BillingRun.objects.values("status").annotate(n=Count("id")).order_by("status")
    return [Sample(n, {"status": status}) for status, n in rows.values_list("status", "n")]


@db_gauge("ratecard_billing_runs_running", "Billing runs started and not finished.")
def runs_running() -> list[Sample]:
    return [Sample(BillingRun.objects.filter(status=BillingRun.Status.RUNNING).count())]


def _last_finished() -> BillingRun | None:
    return BillingRun.objects.filter(finished_at__isnull=False).order_by("-finished_at").first()


@db_gauge("ratecard_billing_run_failures", "Subscriptions that failed in the last finished billing run.")
def last_run_failures() -> list[Sample]:
    run = _last_finished()
    return [Sample(run.failures_count if run else 0)]


@db_gauge("ratecard_billing_run_last_duration_seconds", "Duration of the last finished billing run.")
def last_run_duration() -> list[Sample]:
    run = _last_finished()
    return [Sample(run.duration_seconds if run and run.duration_seconds else 0)]


@db_gauge("ratecard_billing_run_last_finished_timestamp", "When the last billing run finished (Unix time).")
def last_run_finished() -> list[Sample]:
    run = _last_finished()
    return [Sample(int(run.finished_at.timestamp()) if run and run.finished_at else 0)]


@db_gauge(
    "ratecard_billing_run_last",
    "The last finished billing run's subscriptions due, billed and deferred, and invoices created.",
    labels=("figure",),
)
def last_run() -> list[Sample]:
    run = _last_finished()
    if run is None:
        return []
    return [
        Sample(run.subscriptions_due, {"figure": "subscriptions_due"}),
        Sample(run.subscriptions_billed, {"figure": "subscriptions_billed"}),
        Sample(run.deferred, {"figure": "subscriptions_deferred"}),
        Sample(run.invoices_created, {"figure": "invoices_created"}),
    ]


@db_gauge(
    "ratecard_billing_run_last_billed_amount",
    "What the last finished billing run billed (its invoices' totals), per currency.",
    labels=("currency",),
)
def last_run_billed() -> list[Sample]:
    run = _last_finished()
    if run is None:
        return []
    rows = (
        Invoice.objects.filter(billing_run=run)
        .values("currency")
        .annotate(s=Sum("total"))
        .order_by("currency")
    )
    return [Sample(s or 0, {"currency": c}) for c, s in rows.values_list("currency", "s")]


@db_gauge(
    "ratecard_billing_run_chunks",
    "Chunks of unfinished billing runs, by status (pending, running, done, failed).",
    labels=("status",),
)
def open_chunks() -> list[Sample]:
    rows = (
        BillingRunChunk.objects.filter(run__status__in=UNFINISHED)
        .values("status")
        .annotate(n=Count("id"))
        .order_by("status")
    )
    found = dict(rows.values_list("status", "n"))
    return [Sample(found.get(status, 0), {"status": status}) for status in BillingRunChunk.Status.values]


@db_gauge("ratecard_billing_run_chunks_stuck", "Chunks of running runs whose lease expired a grace ago.")
def stuck_chunks_gauge() -> list[Sample]:
    return [Sample(_stuck_chunks(datetime_now()).count())]


@db_gauge("ratecard_pdf_queue", "Finalized invoices whose PDF is not stored yet.")
def pdf_queue() -> list[Sample]:
    return [Sample(_without_document().count())]


@db_gauge("ratecard_email_outbox", "Invoice e-mails by status (pending, sent, failed).", labels=("status",))
def email_outbox() -> list[Sample]:
    rows = EmailOutbox.objects.values("status").annotate(n=Count("id")).order_by("status")
    return [Sample(n, {"status": status}) for status, n in rows.values_list("status", "n")]


@db_gauge("ratecard_email_outbox_oldest_pending_seconds", "Age of the oldest pending invoice e-mail.")
def email_oldest() -> list[Sample]:
    oldest = EmailOutbox.objects.filter(status=EmailOutbox.Status.PENDING).aggregate(m=Min("created_at"))["m"]
    return [Sample((datetime_now() - oldest).total_seconds() if oldest else 0)]


def datetime_now() -> datetime:
    from django.utils import timezone

    return timezone.now()


def _without_document():  # type: ignore[no-untyped-def]
    return Invoice.objects.exclude(status=InvoiceStatus.DRAFT).filter(
        ~Exists(InvoiceDocument.objects.filter(invoice=OuterRef("pk")))
    )


# --- alert rules ------------------------------------------------------------------------------------


def _run_customers(run_id: int) -> list[int]:
    """The customers a run left unbilled: its failures', and those of its failed chunks."""
    failed = set(
        BillingRunFailure.objects.filter(run_id=run_id, customer_id__isnull=False)
        .values_list("customer_id", flat=True)
        .distinct()[:CUSTOMERS_SHOWN]
    )
    sub_ids = [
        int(i)
        for ids in BillingRunChunk.objects.filter(run_id=run_id, status=BillingRunChunk.Status.FAILED)
        .order_by("index")
        .values_list("subscription_ids", flat=True)
        for i in ids
    ][: CUSTOMERS_SHOWN * 4]
    return sorted(failed | set(_customers_of(sub_ids)))[:CUSTOMERS_SHOWN]


def _customers_of(subscription_ids: list[int]) -> list[int]:
    return list(
        Subscription.objects.filter(pk__in=subscription_ids)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
        .distinct()[:CUSTOMERS_SHOWN]
    )


@alert_rule("billing_run_failed", title="A billing run failed", runbook="billing_run_failed")
def billing_run_failed(now: datetime) -> list[Finding]:
    """Every run that failed or completed with failures since the last run that completed cleanly.

    A retry (a new run as of the same instant) that completes clears them all.
    """
    last_ok = (
        BillingRun.objects.filter(status=BillingRun.Status.COMPLETED, finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    runs = BillingRun.objects.filter(status__in=UNHAPPY, finished_at__isnull=False)
    if last_ok is not None:
        runs = runs.filter(finished_at__gt=last_ok)
    return [
        Finding(
            subject=f"run:{run.pk}",
            message=f"{run}: {run.get_status_display()}. {run.reason}".strip(),
            customer_ids=_run_customers(run.pk),
            url=_admin_url("invoicing_billingrun_change", run.pk),
        )
        for run in runs.order_by("finished_at", "pk")[:20]
    ]


@alert_rule("billing_run_late", title="Billing is late", runbook="billing_run_late")
def billing_run_late(now: datetime) -> list[Finding]:
    """A run unfinished for too long, or no run finished for too long (the scheduler is not running).

    A database that never had a run (a fresh install before its first hourly run) is not late.
    """
    too_long = timedelta(minutes=settings.RATECARD_ALERT_RUN_MAX_MINUTES)
    findings = [
        Finding(
            subject=f"run:{run.pk}",
            message=f"{run} is {run.get_status_display()} since {run.created_at:%Y-%m-%d %H:%M} UTC "
            f"({run.chunks_done} of {run.chunks_total} chunks done).",
            url=_admin_url("invoicing_billingrun_change", run.pk),
        )
        for run in BillingRun.objects.filter(status__in=UNFINISHED, created_at__lt=now - too_long).order_by(
            "pk"
        )[:20]
    ]
    newest = BillingRun.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    silent = timedelta(minutes=settings.RATECARD_ALERT_NO_RUN_MINUTES)
    if newest is not None and newest < now - silent:
        findings.append(
            Finding(
                subject="schedule",
                message=f"No billing run was started since {newest:%Y-%m-%d %H:%M} UTC (beat runs one "
                f"every hour): is celery beat running?",
                url=_admin_url("invoicing_billingrun_changelist"),
            )
        )
    return findings


def _stuck_chunks(now: datetime):  # type: ignore[no-untyped-def]
    grace = timedelta(minutes=settings.RATECARD_ALERT_CHUNK_STUCK_MINUTES)
    return BillingRunChunk.objects.filter(
        run__status=BillingRun.Status.RUNNING,
        status__in=(BillingRunChunk.Status.PENDING, BillingRunChunk.Status.RUNNING),
    ).filter(Q(lease_expires_at__lt=now - grace) | Q(attempts__gte=settings.RATECARD_ALERT_CHUNK_ATTEMPTS))


@alert_rule("billing_chunks_stuck", title="Billing-run chunks stuck", runbook="billing_chunks_stuck")
def billing_chunks_stuck(now: datetime) -> list[Finding]:
    """Chunks the sweep should have moved: lease expired a grace ago, or retried again and again."""
    by_run: dict[int, list[BillingRunChunk]] = {}
    for chunk in _stuck_chunks(now).order_by("run_id", "index")[:500]:
        by_run.setdefault(chunk.run_id, []).append(chunk)
    findings = []
    for run_id, chunks in by_run.items():
        customers = _customers_of([int(i) for c in chunks for i in c.subscription_ids][: CUSTOMERS_SHOWN * 4])
        first = chunks[0]
        findings.append(
            Finding(
                subject=f"run:{run_id}",
                message=f"Billing run #{run_id}: {len(chunks)} chunk(s) stuck (chunk {first.index}: "
                f"{first.status}, {first.attempts} attempt(s), worker {first.worker or 'none'}, "
                f"last error: {first.last_error or 'none'}).",
                customer_ids=customers,
                url=_admin_url("invoicing_billingrun_change", run_id),
            )
        )
    return findings
