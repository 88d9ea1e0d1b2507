"""``GET /metrics``: Prometheus text with the billing pipeline's vital signs (API.md operations).

Gauges read from the database at scrape time: subscriptions and invoices by status, open amounts due,
the last billing run's outcome and duration, and billing-run failures. With ``METRICS_TOKEN`` set, a
scrape must send ``Authorization: Bearer <METRICS_TOKEN>`` (401 otherwise). Alert on
``ratecard_billing_run_failures`` > 0 or a stale ``ratecard_billing_run_last_finished_timestamp``.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse

from billing.models import Subscription
from invoicing.models import BillingRun, Invoice, InvoiceStatus


def _line(name: str, value: object, **labels: str) -> str:
    shown = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{shown}}} {value}" if shown else f"{name} {value}"


def authorized(request: HttpRequest) -> bool:
    """No token configured: open (internal network only). Else ``Authorization: Bearer <token>``."""
    expected = settings.METRICS_TOKEN
    if not expected:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # constant time: the comparison must not tell how much of a guess was right
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


def metrics(request: HttpRequest) -> HttpResponse:
    if not authorized(request):
        refused = HttpResponse("Unauthorized: send Authorization: Bearer <METRICS_TOKEN>\n", status=401)
        refused["Content-Type"] = "text/plain; charset=utf-8"
        refused["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refused
    out = [
        "# HELP ratecard_subscriptions Subscriptions by status.",
        "# TYPE ratecard_subscriptions gauge",
    ]
    by_status = Subscription.objects.values("status").annotate(n=Count("id")).order_by("status")
    for status, count in by_status.values_list("status", "n"):
        out.append(_line("ratecard_subscriptions", count, status=status))
    out += ["# HELP ratecard_invoices Invoices by status.", "# TYPE ratecard_invoices gauge"]
    for status, count in (
        Invoice.objects.values("status").annotate(n=Count("id")).order_by("status").values_list("status", "n")
    ):
        out.append(_line("ratecard_invoices", count, status=status))
    out += [
        "# HELP ratecard_amount_due Amount due on open invoices, per currency.",
        "# TYPE ratecard_amount_due gauge",
    ]
    due = Invoice.objects.filter(status=InvoiceStatus.OPEN).values("currency").annotate(s=Sum("amount_due"))
    for currency, amount in due.order_by("currency").values_list("currency", "s"):
        out.append(_line("ratecard_amount_due", amount or 0, currency=currency))
    last = BillingRun.objects.filter(finished_at__isnull=False).order_by("-finished_at").first()
    out += [
        "# HELP ratecard_billing_run_failures Subscriptions that failed in the last finished billing run.",
        "# TYPE ratecard_billing_run_failures gauge",
        _line("ratecard_billing_run_failures", last.failures_count if last else 0),
        "# HELP ratecard_billing_run_last_duration_seconds Duration of the last finished billing run.",
        "# TYPE ratecard_billing_run_last_duration_seconds gauge",
        _line(
            "ratecard_billing_run_last_duration_seconds",
            last.duration_seconds if last and last.duration_seconds else 0,
        ),
        "# HELP ratecard_billing_run_last_finished_timestamp When the last billing run finished (Unix time).",
        "# TYPE ratecard_billing_run_last_finished_timestamp gauge",
        _line(
            "ratecard_billing_run_last_finished_timestamp",
            int(last.finished_at.timestamp()) if last and last.finished_at else 0,
        ),
        "# HELP ratecard_billing_runs_running Billing runs started and not finished.",
        "# TYPE ratecard_billing_runs_running gauge",
        _line(
            "ratecard_billing_runs_running",
            BillingRun.objects.filter(status=BillingRun.Status.RUNNING).count(),
        ),
    ]
    return HttpResponse("\n".join(out) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")
