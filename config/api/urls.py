"""The v1 API routes (API.md). Paths work with and without a trailing slash."""

from __future__ import annotations

from django.urls import URLPattern, re_path

from accounts.api import views as accounts_views
from billing.api import charge_views, subscription_views, usage_views
from billing.api import events as usage_event_views
from billing.api import views as billing_views
from invoicing.api import billing_runs, upcoming
from invoicing.api import views as invoicing_views


def route(path: str, view: object, name: str) -> URLPattern:
    """``path`` without slashes at either end; matches with or without a trailing slash."""
    return re_path(rf"^{path}/?$", view.as_view(), name=name)  # type: ignore[attr-defined]


urlpatterns = [
    # the product's hot paths first (the resolver tries routes in order): entitlement checks, events
    route(
        r"customers/(?P<external_id>[^/]+)/entitlements",
        usage_views.CustomerEntitlements,
        "customer-entitlements",
    ),
    route("events", usage_event_views.EventIngest, "event-ingest"),
    route("plans", billing_views.PlanListCreate, "plan-list"),
    route(r"plans/(?P<code>[-\w]+)", billing_views.PlanDetail, "plan-detail"),
    route("metrics", billing_views.MetricListCreate, "metric-list"),
    route(r"metrics/(?P<code>[-\w]+)", billing_views.MetricDetail, "metric-detail"),
    route("coupons", billing_views.CouponListCreate, "coupon-list"),
    route(r"coupons/(?P<code>[-\w]+)", billing_views.CouponDetail, "coupon-detail"),
    route("customers", accounts_views.CustomerListCreate, "customer-list"),
    route(r"customers/(?P<external_id>[^/]+)", accounts_views.CustomerDetail, "customer-detail"),
    route(r"customers/(?P<external_id>[^/]+)/charges", charge_views.CustomerCharges, "customer-charges"),
    route(
        r"customers/(?P<external_id>[^/]+)/upcoming-invoice",
        upcoming.UpcomingInvoice,
        "customer-upcoming-invoice",
    ),
    route("subscriptions", subscription_views.SubscriptionListCreate, "subscription-list"),
    route(r"subscriptions/(?P<sub_id>\d+)", subscription_views.SubscriptionDetail, "subscription-detail"),
    route(
        r"subscriptions/(?P<sub_id>\d+)/change",
        subscription_views.SubscriptionChangeView,
        "subscription-change",
    ),
    route(
        r"subscriptions/(?P<sub_id>\d+)/cancel", subscription_views.SubscriptionCancel, "subscription-cancel"
    ),
    route("billing-runs", billing_runs.BillingRunCreate, "billing-run-list"),
    route(r"billing-runs/(?P<run_id>\d+)", billing_runs.BillingRunDetail, "billing-run-detail"),
    route("invoices", invoicing_views.InvoiceList, "invoice-list"),
    route(r"invoices/(?P<invoice_id>\d+)", invoicing_views.InvoiceDetail, "invoice-detail"),
    route(r"invoices/(?P<invoice_id>\d+)/finalize", invoicing_views.InvoiceFinalize, "invoice-finalize"),
    route(r"invoices/(?P<invoice_id>\d+)/void", invoicing_views.InvoiceVoid, "invoice-void"),
    route(r"invoices/(?P<invoice_id>\d+)/pdf", invoicing_views.InvoicePdf, "invoice-pdf"),
    route(r"invoices/(?P<invoice_id>\d+)/resend", invoicing_views.InvoiceResend, "invoice-resend"),
    route("credit-notes", invoicing_views.CreditNoteListCreate, "credit-note-list"),
    route(r"credit-notes/(?P<credit_note_id>\d+)", invoicing_views.CreditNoteDetail, "credit-note-detail"),
]

# Usage metering (issue #4): events (first, above), entitlements with usage, usage per metric.

urlpatterns += [
    route("events/void", usage_event_views.EventVoid, "event-void"),
    route(r"customers/(?P<external_id>[^/]+)/usage", usage_views.CustomerUsage, "customer-usage"),
]

# Finance reports (API.md, Reports).
from reporting.api import views as report_views  # noqa: E402

urlpatterns += [
    route("reports/mrr", report_views.MrrReport, "report-mrr"),
    route("reports/revenue", report_views.RevenueReport, "report-revenue"),
    route("reports/ar-aging", report_views.ArAgingReport, "report-ar-aging"),
]

# Payments (issue #10): a default card, manual payments, refunds.
from invoicing.api import payments as payment_views  # noqa: E402

urlpatterns += [
    route(
        r"customers/(?P<external_id>[^/]+)/payment-method",
        payment_views.CustomerPaymentMethodSet,
        "customer-payment-method",
    ),
    route(r"invoices/(?P<invoice_id>\d+)/payments", payment_views.InvoicePaymentCreate, "invoice-payments"),
    route(r"payments/(?P<payment_id>\d+)/refund", payment_views.PaymentRefund, "payment-refund"),
]

# Custom contracts (issue #9): sales drafts, finance approves; the customer's credit ledger.
from billing.api import contract_views  # noqa: E402

urlpatterns += [
    route("contracts", contract_views.ContractListCreate, "contract-list"),
    route(r"contracts/(?P<contract_id>\d+)", contract_views.ContractDetail, "contract-detail"),
    route(r"contracts/(?P<contract_id>\d+)/submit", contract_views.ContractSubmit, "contract-submit"),
    route(r"contracts/(?P<contract_id>\d+)/approve", contract_views.ContractApprove, "contract-approve"),
    route(r"contracts/(?P<contract_id>\d+)/reject", contract_views.ContractReject, "contract-reject"),
    route(r"contracts/(?P<contract_id>\d+)/amend", contract_views.ContractAmend, "contract-amend"),
    route(r"customers/(?P<external_id>[^/]+)/credits", contract_views.CustomerCredits, "customer-credits"),
]

# One-box search (API.md, Search): customers and invoices for staff.
from invoicing.api import search as search_views  # noqa: E402

urlpatterns += [route("search", search_views.Search, "search")]
