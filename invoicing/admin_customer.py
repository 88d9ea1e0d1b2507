"""The customer page ("customer 360") and the search results page, in the admin.

``/admin/customers/<id>/`` shows one customer's plan, entitlements with usage against limits,
subscriptions with their timelines, usage this period, invoices, payments, credit balance and ledger,
credit notes, contacts and history on one page (the reads: ``invoicing.selectors.customer_overview``).
Every staff role (finance, sales, support) reads it, never the integration role (it holds no payment or
credit note reads); the only actions on it are links to pages that
check their own permissions: "Edit customer" (shown to who may change customers), the PDF download and
"Resend" (shown to who may resend: finance and support). Every time is shown in the customer's zone,
named at the top.

``/admin/search/?q=`` lists what the header's search box finds (Enter in the box).
"""

from __future__ import annotations

from datetime import tzinfo
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import Customer
from billing.admin.timeline import timeline_entries
from billing.display import EMPTY, entitlement_text, format_money, format_quantity, local_date, local_datetime
from billing.models import SubscriptionStatus
from invoicing.models import Invoice, InvoiceStatus, Payment
from invoicing.selectors import SubscriptionTimeline
from invoicing.selectors.contract_overview import ContractSummary
from invoicing.selectors.customer_overview import CustomerOverview, SubscriptionRows, customer_overview
from invoicing.selectors.search import MAX_QUERY_LENGTH, search

VIEW_PERM = "accounts.view_customer"
SEARCH_PERM = "accounts.search_customers"
RESULTS_LIMIT = 50

# badge colours (templates/admin/accounts/customer/overview.html): green settled, blue waiting,
# red needs attention, grey over or not yet real
INVOICE_BADGES = {
    InvoiceStatus.DRAFT: "muted",
    InvoiceStatus.OPEN: "info",
    InvoiceStatus.PAID: "ok",
    InvoiceStatus.VOID: "muted",
    InvoiceStatus.UNCOLLECTIBLE: "bad",
}
SUBSCRIPTION_BADGES = {
    SubscriptionStatus.TRIALING: "info",
    SubscriptionStatus.ACTIVE: "ok",
    SubscriptionStatus.PAST_DUE: "bad",
    SubscriptionStatus.CANCELED: "muted",
}
PAYMENT_BADGES = {
    Payment.Status.PENDING: "info",
    Payment.Status.SUCCEEDED: "ok",
    Payment.Status.FAILED: "bad",
    Payment.Status.REFUNDED: "muted",
}


def customer_page_path(customer_id: int, invoice_id: int | None = None) -> str:
    """The customer page; for an invoice, the same page with that invoice marked and scrolled to."""
    path = reverse("lookup:customer", args=(customer_id,))
    if invoice_id is not None:
        return f"{path}?invoice={invoice_id}#invoice-{invoice_id}"
    return path


def url_or_none(name: str, *args: Any) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def changelist(app_model: str, **params: Any) -> str:
    return f"{reverse(f'admin:{app_model}_changelist')}?{urlencode(params)}"


def invoice_row(invoice: Invoice, tz: tzinfo, *, can_resend: bool, highlight: int | None) -> dict[str, Any]:
    past_due = bool(
        invoice.status == InvoiceStatus.OPEN and invoice.due_at and invoice.due_at < timezone.now()
    )
    return {
        "id": invoice.pk,
        "label": invoice.number or f"Draft #{invoice.pk}",
        "url": reverse("admin:invoicing_invoice_change", args=(invoice.pk,)),
        "status": invoice.get_status_display(),
        "badge": INVOICE_BADGES.get(InvoiceStatus(invoice.status), "muted"),
        "past_due": past_due,
        "date": local_date(invoice.issued_at or invoice.billing_date, tz),
        "period": (
            f"{local_date(invoice.period_start, tz)} – {local_date(invoice.period_end, tz)}"
            if invoice.period_start and invoice.period_end
            else EMPTY
        ),
        "due_at": local_date(invoice.due_at, tz),
        "total": format_money(invoice.total, invoice.currency),
        "amount_due": format_money(invoice.amount_due, invoice.currency),
        "pdf_url": url_or_none("admin:invoicing_invoice_pdf", invoice.pk),
        "resend_url": (
            url_or_none("admin:invoicing_invoice_resend", invoice.pk)
            if can_resend and invoice.status != InvoiceStatus.DRAFT
            else None
        ),
        "highlight": invoice.pk == highlight,
    }


def contract_plan_labels(summary: ContractSummary | None) -> dict[int, str]:
    """The plan versions that hold a contract phase's prices, named as people know them ("Premium, contract
    #7 prices, phase 2") rather than by the private plan's code (``premium-contract-7 v2``), which nobody
    sells or recognises. Built from the contract summary's prefetched phases: no query."""
    labels: dict[int, str] = {}
    for terms in summary.contracts if summary else []:
        c = terms.contract
        for phase in c.phases.all():
            if phase.plan_version_id:
                labels[phase.plan_version_id] = (
                    f"{c.plan_version.name}, contract #{c.family_id or c.pk} prices, phase {phase.position + 1}"
                )
    return labels


def subscription_block(rows: SubscriptionRows, tz: tzinfo, plan_labels: dict[int, str]) -> dict[str, Any]:
    """A subscription's heading and its timeline (billing.admin.timeline) in the customer's zone."""
    sub = rows.subscription
    entries = timeline_entries(
        sub,
        SubscriptionTimeline(
            changes=rows.changes, billed_periods=rows.billed_periods, lines=rows.lines, waiting=rows.waiting
        ),
    )
    return {
        "subscription": sub,
        "url": url_or_none("admin:billing_subscription_change", sub.pk),
        "plan": plan_labels.get(sub.plan_version_id) or str(sub.plan_version),
        "status": sub.get_status_display(),
        "badge": SUBSCRIPTION_BADGES.get(SubscriptionStatus(sub.status), "muted"),
        "live": rows.is_live,
        "seats": format_quantity(sub.quantity),
        "started": local_date(sub.started_at, tz),
        "ended": local_date(sub.ended_at, tz) if sub.ended_at else None,
        "period": f"{local_date(sub.current_period_start, tz)} – {local_date(sub.current_period_end, tz)}",
        "period_end": local_date(sub.current_period_end, tz),
        "trial_end": local_date(sub.trial_end, tz) if sub.status == SubscriptionStatus.TRIALING else None,
        "cancel_at_period_end": sub.cancel_at_period_end and sub.ended_at is None,
        "coupon": sub.coupon.code if sub.coupon_id and sub.coupon else None,
        "timeline": [
            {"at": local_datetime(e.at, tz), "event": e.event, "detail": e.detail, "scheduled": e.scheduled}
            for e in entries
        ],
    }


def contract_block(summary: ContractSummary | None, tz: tzinfo) -> dict[str, Any] | None:
    """The "Contract" section: each active deal's phase, commitment and terms, what waits for finance,
    and the prepaid credit left (amounts as the one formatter writes them)."""
    if summary is None:
        return None
    cur = summary.currency
    contracts = []
    for terms in summary.contracts:
        c, phase, later = terms.contract, terms.phase, terms.next_phase
        contracts.append(
            {
                "name": f"Contract #{c.family_id or c.pk} v{c.version}",
                "url": url_or_none("admin:billing_contract_change", c.pk),
                "plan": f"{c.plan_version.name} ({c.plan.code})",
                "since": local_date(c.applies_from, tz),
                "until": local_date(c.end, tz) if c.end else None,
                "seats": format_quantity(c.quantity),
                "phase": f"phase {phase.position + 1} of {terms.phase_count}, from {local_date(phase.start, tz)}"
                if phase
                else EMPTY,
                "next_phase": f"phase {later.position + 1} from {local_date(later.start, tz)}"
                if later
                else None,
                "commitment": format_money(terms.commitment, cur) if terms.commitment is not None else None,
                "net_terms": f"{c.net_terms_days} days" if c.net_terms_days is not None else None,
            }
        )
    return {
        "contracts": contracts,
        "waiting": [
            {
                "name": f"Contract #{c.family_id or c.pk} v{c.version}",
                "url": url_or_none("admin:billing_contract_change", c.pk),
            }
            for c in summary.waiting
        ],
        "credit_balance": format_money(summary.credit_balance, cur),
        "grants": [
            {
                "description": g.grant.description or "Prepaid credit",
                "amount": format_money(g.grant.amount, cur),
                "remaining": format_money(g.remaining, cur),
                "priority": g.grant.priority,
                "expires": local_date(g.grant.expires_at, tz) if g.grant.expires_at else None,
                "expired": g.expired,
            }
            for g in summary.grants
        ],
    }


def usage_chart_data(overview: CustomerOverview) -> dict[str, Any]:
    """What Chart.js draws (invoicing/static/invoicing/customer.js): days and one series per metric."""
    usage = overview.usage
    days = [day for day, _ in next(iter(usage.series.values()), [])]
    return {
        "labels": [day.strftime("%b %d") for day in days],
        "metrics": [
            {"code": m.code, "name": m.name, "values": [str(v) for _, v in usage.series.get(m.code, [])]}
            for m in usage.metrics
        ],
    }


def page_context(request: HttpRequest, overview: CustomerOverview, highlight: int | None) -> dict[str, Any]:
    customer, tz = overview.customer, overview.tz
    user = request.user
    currency = customer.currency
    can_resend = user.has_perm("invoicing.resend_invoice")
    plan_labels = contract_plan_labels(overview.contract)
    return {
        "title": customer.name,
        "subtitle": None,
        "opts": Customer._meta,
        "o": overview,
        "customer": customer,
        "tz_name": customer.timezone,
        "created": local_datetime(customer.created_at, tz),
        "can_edit": user.has_perm("accounts.change_customer"),
        "edit_url": reverse("admin:accounts_customer_change", args=(customer.pk,)),
        "history_url": reverse("admin:accounts_customer_history", args=(customer.pk,)),
        "usage_url": url_or_none("admin:billing_usagealert_customer_usage", customer.pk)
        if user.has_perm("billing.view_usageevent")
        else None,
        "invoices_url": changelist("invoicing_invoice", customer__id__exact=customer.pk),
        "payments_url": changelist("invoicing_payment", invoice__customer__id__exact=customer.pk),
        "credit_notes_url": changelist("invoicing_creditnote", customer__id__exact=customer.pk),
        "contract": contract_block(overview.contract, tz),
        "subscriptions": [subscription_block(rows, tz, plan_labels) for rows in overview.subscriptions],
        "plans": [subscription_block(rows, tz, plan_labels) for rows in overview.live_subscriptions],
        "entitlements": [
            {
                "name": row.name,
                "key": row.key,
                "value": entitlement_text(row.value),
                "used": format_quantity(row.used) if row.used is not None else None,
                "share": row.share,
                "over": row.over,
            }
            for row in overview.entitlements
        ],
        "usage": overview.usage,
        "usage_days": f"{overview.usage.start:%Y-%m-%d} – {overview.usage.end:%Y-%m-%d}",
        "usage_totals": [
            (
                m.name,
                m.code,
                format_quantity(sum((v for _, v in overview.usage.series.get(m.code, [])), Decimal(0))),
            )
            for m in overview.usage.metrics
        ],
        "usage_chart": usage_chart_data(overview),
        "invoices": [
            invoice_row(i, tz, can_resend=can_resend, highlight=highlight) for i in overview.invoices
        ],
        "amount_due": format_money(overview.invoice_totals.amount_due, currency),
        "payments": [
            {
                "at": local_datetime(p.occurred_at, tz),
                "invoice": p.invoice.number or f"Draft #{p.invoice_id}",
                "invoice_id": p.invoice_id,
                "amount": format_money(p.amount, p.currency),
                "method": p.method,
                "status": p.get_status_display(),
                "badge": PAYMENT_BADGES.get(Payment.Status(p.status), "muted"),
                "reference": p.reference,
                "failure": p.failure_reason,
            }
            for p in overview.payments
        ],
        # BalanceTransaction: negative amounts are credit owed to the customer
        "credit_balance": format_money(-overview.balance, currency) if overview.balance < 0 else None,
        "owed_balance": format_money(overview.balance, currency) if overview.balance > 0 else None,
        "zero_balance": format_money(Decimal(0), currency),
        "ledger": [
            {
                "at": local_datetime(t.created_at, tz),
                "description": t.description,
                "amount": format_money(-t.amount, t.currency),
                "invoice": t.invoice.number if t.invoice else None,
                "credit_note": t.credit_note.number if t.credit_note else None,
            }
            for t in overview.ledger
        ],
        "credit_notes": [
            {
                "number": n.number,
                "url": url_or_none("admin:invoicing_creditnote_change", n.pk),
                "issued": local_datetime(n.issued_at, tz),
                "invoice": n.invoice.number,
                "invoice_id": n.invoice_id,
                "amount": format_money(n.amount, n.currency),
                "reason": n.reason,
                "by": n.created_by.get_username() if n.created_by else EMPTY,
            }
            for n in overview.credit_notes
        ],
        "history": [
            {
                "at": local_datetime(h.at, tz),
                "who": h.who,
                "what": h.what,
                "changes": h.changes,
                "reason": h.reason,
            }
            for h in overview.history
        ],
        "net_terms": f"{customer.net_terms_days} days" if customer.net_terms_days else "due on issue",
        "tax_rate": f"{customer.tax_rate_percent.normalize():f} %",
    }


def customer_page(request: HttpRequest, customer_id: int) -> HttpResponse:
    # the staff roles' page (the search permission is what every staff role holds): it shows payments,
    # credit notes and the balance ledger, which the integration role, a viewer of customers, may not read
    if not (request.user.has_perm(VIEW_PERM) and request.user.has_perm(SEARCH_PERM)):
        raise PermissionDenied
    customer = get_object_or_404(Customer, pk=customer_id)
    raw = request.GET.get("invoice", "")
    highlight = int(raw) if raw.isdigit() else None
    overview = customer_overview(customer=customer, highlight_invoice=highlight)
    context = {**admin.site.each_context(request), **page_context(request, overview, highlight)}
    request.current_app = admin.site.name
    return TemplateResponse(request, "admin/accounts/customer/overview.html", context)


def search_page(request: HttpRequest) -> HttpResponse:
    """What the header box finds, all on one page (up to ``RESULTS_LIMIT`` of each kind)."""
    if not request.user.has_perm(SEARCH_PERM):
        raise PermissionDenied
    q = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    hits = search(q=q, limit=RESULTS_LIMIT) if q else []
    results = [(hit, customer_page_path(hit.customer_id, hit.invoice_id)) for hit in hits]
    context = {
        **admin.site.each_context(request),
        "title": f"Search: {q}" if q else "Search",
        "subtitle": None,
        "q": q,
        "customers": [{"hit": hit, "url": url} for hit, url in results if hit.kind == "customer"],
        "invoices": [{"hit": hit, "url": url} for hit, url in results if hit.kind == "invoice"],
        "limit": RESULTS_LIMIT,
    }
    request.current_app = admin.site.name
    return TemplateResponse(request, "admin/search_results.html", context)
