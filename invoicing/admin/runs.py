"""The billing-run admin: start a run (now or at a past instant), watch its progress, see what it billed
per currency and its failures, retry, and finalize its drafts in bulk.

Finance only (``invoicing.add_billingrun`` to start or retry, ``invoicing.finalize_invoice`` to finalize):
sales and support read runs but get a 403 on the writes. The views are thin: ``billing_run_launch`` creates
and starts a run exactly as the API does, the services do the billing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from billing.display import format_money
from config.admin_kit import ReadOnlyAdminMixin, admin_page, admin_url, confirmation_page, run_per_row
from config.errors import RatecardError
from invoicing.admin.invoice_actions import FINALIZE_PERM, REFUSALS, invoice_row
from invoicing.models import BillingRun, BillingRunChunk, BillingRunFailure, InvoiceStatus
from invoicing.selectors import billing_run_drafts
from invoicing.services.billing_runs import billing_run_billed
from invoicing.services.finalization import invoice_finalize
from invoicing.tasks import billing_run_launch

START_PERM = "invoicing.add_billingrun"
# a running run's page reloads itself this often (seconds) until the run closes
REFRESH_SECONDS = 3


class BillingRunFailureInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = BillingRunFailure
    extra = 0
    can_delete = False
    fields = ("subscription", "customer", "invoice", "error", "created_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[BillingRunFailure]:
        return super().get_queryset(request).select_related("subscription", "customer", "invoice")


class BillingRunChunkInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The run's chunks that are not simply done: what is in flight, and what gave up and why."""

    model = BillingRunChunk
    extra = 0
    can_delete = False
    verbose_name_plural = "chunks not done"
    fields = ("index", "status", "attempts", "lease_expires_at", "worker", "last_error", "retry_round")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[BillingRunChunk]:
        return super().get_queryset(request).exclude(status=BillingRunChunk.Status.DONE)


class StartRunForm(forms.Form):
    """When the run bills as of: now, or a past instant (UTC) to catch up on what is still owed."""

    when = forms.ChoiceField(
        choices=[("now", "Now"), ("at", "At a past date and time (UTC)")],
        initial="now",
        widget=forms.RadioSelect,
        label="Bill as of",
    )
    as_of = forms.DateTimeField(
        required=False,
        label="Date and time (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Every subscription whose billing period ended by then and is not billed yet is billed.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("when") == "at" and not data.get("as_of"):
            self.add_error("as_of", "Give the date and time the run bills as of.")
        return data

    def as_of_value(self) -> datetime:
        if self.cleaned_data["when"] == "at":
            return self.cleaned_data["as_of"]  # type: ignore[no-any-return]
        return timezone.now()


def launch_or_error(request: HttpRequest, as_of: datetime) -> BillingRun | str:
    """Start a run as the API does; the service's message when it refuses (e.g. an as_of too far ahead).

    The run is created in its own transaction so that with a worker it is queued once that commits.
    """
    try:
        with transaction.atomic():
            return billing_run_launch(as_of=as_of, user=request.user)
    except RatecardError as exc:
        return str(getattr(exc, "message", exc))


def launched(run: BillingRun) -> str:
    """What finance is told after starting a run: done already (no worker), or on its way."""
    if run.status in (BillingRun.Status.PENDING, BillingRun.Status.RUNNING):
        return f"{run} is queued; this page refreshes while it runs."
    return (
        f"{run} has finished: {run.get_status_display().lower()}, {run.invoices_created} invoice(s) created."
    )


@admin.register(BillingRun)
class BillingRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Billing runs (created by the billing pipeline): counts, failures, and finalizing their drafts."""

    list_display = (
        "__str__",
        "as_of",
        "status",
        "subscriptions_due",
        "subscriptions_billed",
        "invoices_created",
        "draft_count",
        "failures_count",
        "deferred",
        "duration_seconds",
    )
    list_filter = ("status",)
    date_hierarchy = "as_of"
    inlines = (BillingRunFailureInline, BillingRunChunkInline)
    actions = ("finalize_run_drafts",)
    fields = (
        "as_of",
        "status",
        "progress",
        "reason",
        "billed",
        "subscriptions_due",
        "subscriptions_billed",
        "invoices_created",
        "invoices_link",
        "failures_count",
        "deferred",
        "chunks_total",
        "chunks_done",
        "started_at",
        "finished_at",
        "duration_seconds",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[BillingRun]:
        return (  # type: ignore[no-any-return]
            super()
            .get_queryset(request)
            .select_related("created_by")
            .annotate(drafts=Count("invoices", filter=Q(invoices__status=InvoiceStatus.DRAFT), distinct=True))
        )

    def has_finalize_permission(self, request: HttpRequest, obj: BillingRun | None = None) -> bool:
        return bool(request.user.has_perm(FINALIZE_PERM))

    def has_start_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(START_PERM))

    @admin.display(description="progress")
    def progress(self, obj: BillingRun) -> str:
        # counted from the chunk rows (retries of deferred subscriptions add chunks to a running run)
        counts = dict(obj.chunks.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        done, failed = (
            counts.get(BillingRunChunk.Status.DONE, 0),
            counts.get(BillingRunChunk.Status.FAILED, 0),
        )
        total = sum(counts.values())
        if obj.status == BillingRun.Status.PENDING:
            text = "Queued: waiting for a worker to start it"
        elif not total and obj.status != BillingRun.Status.RUNNING:
            text = "Nothing was due at this instant"
        else:
            text = f"{done} of {total} chunk(s) done" + (f", {failed} failed" if failed else "")
        return f"{text} · {obj.get_status_display()}"

    @admin.display(description="billed")
    def billed(self, obj: BillingRun) -> str:
        rows = billing_run_billed(run_id=obj.pk)
        if not rows:
            return "Nothing: no invoice was created by this run."
        base = reverse("admin:invoicing_invoice_changelist") + f"?billing_run__id__exact={obj.pk}"
        items = format_html_join(
            "",
            '<li><a href="{}&amp;currency__exact={}">{} invoice(s)</a>: {}</li>',
            ((base, r["currency"], r["count"], format_money(r["amount"], r["currency"])) for r in rows),
        )
        return format_html(
            '<ul class="run-billed" style="margin:0;padding-left:1.2em">{}</ul>'
            '<div class="help">The totals of the invoices this run created, drafts included.</div>',
            items,
        )

    @admin.display(description="drafts", ordering="drafts")
    def draft_count(self, obj: BillingRun) -> int:
        return int(getattr(obj, "drafts", 0) or 0)

    @admin.display(description="invoices")
    def invoices_link(self, obj: BillingRun) -> str:
        url = reverse("admin:invoicing_invoice_changelist") + f"?billing_run__id__exact={obj.pk}"
        return format_html('<a href="{}">Invoices of this run</a> ({} draft)', url, self.draft_count(obj))

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        own = [
            path(
                "<path:object_id>/finalize-drafts/",
                wrap(self.finalize_drafts_view),
                name="invoicing_billingrun_finalize_drafts",
            ),
            path("start/", wrap(self.start_view), name="invoicing_billingrun_start"),
            path("<path:object_id>/retry/", wrap(self.retry_view), name="invoicing_billingrun_retry"),
        ]
        return own + super().get_urls()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        run = get_object_or_404(BillingRun, pk=object_id)
        tools = []
        closed = run.status not in (BillingRun.Status.PENDING, BillingRun.Status.RUNNING)
        if closed and run.status != BillingRun.Status.COMPLETED and self.has_start_permission(request):
            tools.append(
                {"url": reverse("admin:invoicing_billingrun_retry", args=(run.pk,)), "label": "Retry failed"}
            )
        if self.has_finalize_permission(request):
            tools.append(
                {
                    "url": reverse("admin:invoicing_billingrun_finalize_drafts", args=(object_id,)),
                    "label": "Finalize all drafts of this run",
                }
            )
        return super().change_view(
            request,
            object_id,
            form_url,
            {
                **(extra_context or {}),
                "run_tools": tools,
                "refresh_seconds": 0 if closed else REFRESH_SECONDS,
            },
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        can_start = self.has_start_permission(request)
        return super().changelist_view(request, {**(extra_context or {}), "can_start_run": can_start})

    def start_view(self, request: HttpRequest) -> HttpResponseBase:
        if not self.has_start_permission(request):
            raise PermissionDenied
        form = StartRunForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            outcome = launch_or_error(request, form.as_of_value())
            if isinstance(outcome, BillingRun):
                self.message_user(request, launched(outcome), messages.SUCCESS)
                return HttpResponseRedirect(admin_url(outcome))
            form.add_error(None, outcome)
        return admin_page(
            request,
            self,
            "admin/invoicing/billingrun/start_form.html",
            title="Start a billing run",
            form=form,
        )

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        """A new run as of the same instant: billing is idempotent, so it bills only what is still owed."""
        if not self.has_start_permission(request):
            raise PermissionDenied
        run = get_object_or_404(BillingRun, pk=object_id)
        if request.method == "POST" and request.POST.get("post") == "yes":
            outcome = launch_or_error(request, run.as_of)
            if isinstance(outcome, str):
                self.message_user(request, outcome, messages.ERROR)
                return HttpResponseRedirect(admin_url(run))
            self.message_user(request, f"Retrying {run}: {launched(outcome)}", messages.SUCCESS)
            return HttpResponseRedirect(admin_url(outcome))
        return confirmation_page(
            request,
            self,
            title=f"Retry {run}",
            question=f"Start a new billing run as of {run.as_of:%Y-%m-%d %H:%M} UTC? Billing is idempotent: the "
            "new run bills only what is still owed at that instant (the subscriptions this run could not "
            "bill), never anything twice.",
            rows=[(str(run), f"{run.get_status_display()} · {run.failures_count} failure(s)")],
            confirm_label="Yes, start a new run",
        )

    def _finalize_runs(
        self, request: HttpRequest, runs: list[BillingRun], *, action: str | None
    ) -> TemplateResponse | None:
        drafts = {run.pk: list(billing_run_drafts(run=run).select_related("customer")) for run in runs}
        if request.POST.get("post") == "yes":
            for run in runs:
                run_per_row(
                    request,
                    self,
                    drafts[run.pk],
                    lambda inv: invoice_finalize(invoice_id=inv.pk, user=request.user),
                    done=f"{run}: finalized {{count}} invoice(s).",
                    expected=REFUSALS,
                )
                if not drafts[run.pk]:
                    self.message_user(request, f"{run}: no drafts to finalize.", messages.INFO)
            return None
        rows = [(str(inv), f"{run} · " + invoice_row(inv)[1]) for run in runs for inv in drafts[run.pk]]
        return confirmation_page(
            request,
            self,
            title="Finalize the drafts of billing runs",
            question=f"Finalize these {len(rows)} draft invoice(s)? Each gets its number and PDF and can no "
            "longer change.",
            rows=rows,
            confirm_label="Yes, finalize them",
            action=action,
            selected=[run.pk for run in runs],
            warning="" if rows else "There is no draft to finalize.",
        )

    @admin.action(description="Finalize all drafts of the selected runs", permissions=["finalize"])
    def finalize_run_drafts(
        self, request: HttpRequest, queryset: QuerySet[BillingRun]
    ) -> TemplateResponse | None:
        return self._finalize_runs(request, list(queryset.order_by("pk")), action="finalize_run_drafts")

    def finalize_drafts_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        if not self.has_finalize_permission(request):
            raise PermissionDenied
        run = get_object_or_404(BillingRun, pk=object_id)
        response = self._finalize_runs(request, [run], action=None)
        if response is None:
            return HttpResponseRedirect(admin_url(run))
        return response
