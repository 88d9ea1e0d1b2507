"""What the role matrix tries: the users, one object of every admin model, and every request.

The requests are enumerated from the code, never listed by hand: the API's from the integration role's
route table (its request bodies; that test checks the table covers every API route), the admin's from
``admin.site._registry`` (each ModelAdmin's ``get_urls()`` and actions) and the reporting admin's
urlconf, the rest from the root urlconf. So a new route becomes a new request, and the matrix fails until
its table has a row for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.contrib.auth.models import User
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Customer
from accounts.roles import FINANCE, INTEGRATION, SALES, SUPPORT
from billing.models import BillableMetric, Product, UsageAlert, UsageAlertFiring
from config.api.urls import urlpatterns as api_urlpatterns
from invoicing.models import (
    CustomerPaymentMethod,
    Invoice,
    PaymentDispute,
    ReconciliationMismatch,
    StripeOutbox,
)
from invoicing.services.stripe_webhooks import stripe_event_store
from reporting.models import AlertIncident
from tests.api.test_api_integration_role import TABLE, build_world, fill
from tests.conftest import client_for, make_staff
from tests.stripe.conftest import WEBHOOK_SECRET, signed

# the matrix's columns, in the table's order
USERS = ("anonymous", FINANCE, SALES, SUPPORT, INTEGRATION, "superuser", "no_group")

# routes outside the API and the admin: how to call them (method, path, body); a new one is called with
# GET and POST (both printed in the missing rows) until it is named here
OPS_CALLS: dict[str, list[tuple[str, str, Any]]] = {
    "schema": [("GET", "/api/schema/", None)],
    "docs": [("GET", "/api/docs/", None)],
    "healthz": [("GET", "/healthz", None)],
    "readyz": [("GET", "/readyz", None)],
    "metrics": [("GET", "/metrics", None)],
    "stripe-webhook": [],  # webhook_probes
}
# prefixes whose routes are enumerated elsewhere (the API from TABLE; the admin from its registry)
ENUMERATED_ELSEWHERE = ("api/v1/", "admin/")


@dataclass(frozen=True)
class Probe:
    """One request of the matrix. ``key`` is the table's row key."""

    key: str
    method: str
    path: str
    body: Any = None
    face: str = "api"  # "api" (token auth), "admin", "ops" (session auth) or "webhook" (Stripe-signed)
    action: str = ""  # an admin action posted to a changelist
    expected_integration: int | None = None  # from TABLE, for API rows
    settings: dict[str, Any] = field(default_factory=dict)
    signature: str = ""  # the Stripe webhook's: "" (none), "forged" or "valid", signed when sent


def make_users() -> dict[str, User | None]:
    users: dict[str, User | None] = {"anonymous": None}
    for role in (FINANCE, SALES, SUPPORT, INTEGRATION):
        users[role] = make_staff(f"matrix-{role}", role)
    users["superuser"] = make_staff("matrix-root", None, superuser=True)
    users["no_group"] = make_staff("matrix-nobody", None)
    return users


def build_everything(finance: APIClient) -> dict[str, str]:
    """The integration test's world (catalog, a subscribed customer, invoices, a credit note, a run) and
    one object of every other model the admin shows, so each change/delete/history page has a target."""
    ids = build_world(finance)
    ok = {
        finance.patch("/api/v1/customers/acme", {"email": "billing@acme.test"}, format="json").status_code,
        finance.post("/api/v1/plans", TEAM_PLAN, format="json").status_code,
        finance.post("/api/v1/customers/acme/charges", {"description": "Setup", "unit_amount": "50"}, format="json").status_code,
        finance.post("/api/v1/events", {"events": [event("void-me")]}, format="json").status_code,
        finance.post("/api/v1/events/void", {"events": [{"customer": "acme", "event_id": "void-me"}]}, format="json").status_code,
        finance.post(f"/api/v1/invoices/{ids['invoice']}/resend", format="json").status_code,
        # a draft no row finalizes (billed after the rows' runs, as of 2026-05-01): the draft-lines page's
        finance.post("/api/v1/customers", {"external_id": "beta", "name": "Beta", "currency": "USD"}, format="json").status_code,
        finance.post("/api/v1/subscriptions", {"customer": "beta", "plan": "pro", "start": "2026-08-01T00:00:00Z"}, format="json").status_code,
    }  # fmt: skip
    assert ok <= {200, 201, 202}, ok
    Product.objects.create(code="vpn", name="Meshwork VPN")
    customer = Customer.objects.get(external_id="acme")
    alert = UsageAlert.objects.create(
        customer=customer,
        metric=BillableMetric.objects.get(code="api_calls"),
        kind="quantity",
        threshold=Decimal(10),
    )
    now = timezone.now()
    UsageAlertFiring.objects.create(alert=alert, period_start=now, period_end=now, value=Decimal(11))
    build_payments(finance, ids, customer)
    build_deal(finance)
    AlertIncident.objects.create(
        rule="billing_run_failed",
        subject=f"run:{ids['run']}",
        title="A billing run failed",
        message="2 invoices failed",
        runbook="billing_run_failed",
        customer_ids=[customer.pk],
        opened_at=now,
        last_seen_at=now,
    )
    return ids


def build_deal(finance: APIClient) -> None:
    """An approved contract with every part (phases, a price override, a phase fee, a commitment, a
    credit grant, a one-off fee, an entitlement): its phases, overrides, grant and approval steps are the
    contract pages' rows; the world's draft contract (build_world) stays for the rows to submit."""
    deal = {
        "customer": "acme",
        "plan": "team",
        "start": "2026-06-01T00:00:00Z",
        "end": "2027-01-01T00:00:00Z",
        "phases": [
            {"start": "2026-06-01T00:00:00Z", "overrides": [{"price": "calls", "percent_off": "10"}]},
            {"start": "2026-09-01T00:00:00Z", "fees": [{"code": "support", "amount": "20.00"}]},
        ],
        "commitment": {"amount": "100.00"},
        "credits": [{"amount": "50.00"}],
        "one_off_fees": [{"description": "Onboarding", "amount": "30.00"}],
        "entitlements": {"sso": True},
    }
    made = finance.post("/api/v1/contracts", deal, format="json")
    assert made.status_code == 201, made.content
    for step in ("submit", "approve"):
        done = finance.post(f"/api/v1/contracts/{made.json()['id']}/{step}", {}, format="json")
        assert done.status_code == 200, done.content
    draft = {"customer": "acme", "plan": "team", "start": "2027-01-01T00:00:00Z", "notes": UNTOUCHED}
    made = finance.post("/api/v1/contracts", draft, format="json")
    assert made.status_code == 201, made.content


UNTOUCHED = "the contract pages' draft"


def build_payments(finance: APIClient, ids: dict[str, str], customer: Customer) -> None:
    """A refund of the world's check payment (through the API: the refund and its credit note), and one
    row of each Stripe model: Stripe is off in tests, so what its calls and webhooks would write is
    written here."""
    refund = finance.post(
        f"/api/v1/payments/{ids['payment']}/refund", {"amount": "1.00", "reason": "x"}, format="json"
    )
    assert refund.status_code == 201, refund.content
    invoice = Invoice.objects.get(pk=ids["invoice"])
    now = timezone.now()
    StripeOutbox.objects.create(
        key=f"invoice-{invoice.pk}-payment-1", kind="invoice_collect", customer=customer, invoice=invoice
    )
    stripe_event_store(
        event={"id": "evt_matrix", "type": "charge.dispute.created", "data": {"object": {"id": "dp_1"}}}
    )
    PaymentDispute.objects.create(
        invoice=invoice,
        stripe_dispute_id="dp_1",
        currency=invoice.currency,
        amount=Decimal(1),
        status="needs_response",
        opened_at=now,
        last_event_at=now,
    )
    CustomerPaymentMethod.objects.create(
        customer=customer, stripe_payment_method_id="pm_card_visa", brand="visa", last4="4242"
    )
    ReconciliationMismatch.objects.create(
        kind="amount_differs",
        invoice=invoice,
        stripe_object_id="pi_1",
        detail="1.00 here, 2.00 there",
        found_at=now,
    )


TEAM_PLAN = {
    "code": "team",
    "name": "Team",
    "currency": "USD",
    "prices": [
        {
            "code": "calls",
            "model": "graduated",
            "billing": "in_arrears",
            "metric": "api_calls",
            "tiers": [{"up_to": 100, "unit_amount": "0.10"}, {"up_to": None, "unit_amount": "0.05"}],
        }
    ],
    "features": {"sso": True},
}


def event(event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "customer": "acme",
        "metric": "api_calls",
        "timestamp": (timezone.now() - timedelta(hours=1)).isoformat(),
        "properties": {},
    }


# --- the requests ------------------------------------------------------------------------------------


def api_probes(ids: dict[str, str]) -> Iterator[Probe]:
    for _name, method, path, body, status in TABLE:
        data = {"events": [event("e-1")]} if body == "EVENTS" else fill(body, ids)
        yield Probe(f"{method} {path}", method, fill(path, ids), data, expected_integration=status)


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def ops_probes() -> Iterator[Probe]:
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith(ENUMERATED_ELSEWHERE):
            continue
        if pattern.name == "stripe-webhook":
            yield from webhook_probes("/" + route)
            continue
        calls = OPS_CALLS.get(pattern.name or "") or [("GET", "/" + route, None), ("POST", "/" + route, {})]
        for method, path, body in calls:
            # /readyz pings a Celery worker for a second when Redis is configured: not what this checks
            extra = {"REDIS_URL": ""} if path == "/readyz" else {}
            yield Probe(f"{method} {path}", method, path, body, face="ops", settings=extra)
            if pattern.name == "metrics":  # behind its own token when one is set: no user's token opens it
                token = {"METRICS_TOKEN": "matrix-scrape-token"}
                yield Probe(f"{method} {path} METRICS_TOKEN=set", method, path, body, "ops", settings=token)


def webhook_probes(path: str) -> Iterator[Probe]:
    """Stripe's webhook: the signature is the auth, whoever's session comes along. Unsigned, forged, or
    with no secret configured: 400 for everyone; signed with the secret: 200 for everyone."""
    event = {"id": "evt_matrix_probe", "type": "customer.updated", "data": {"object": {"id": "cus_matrix"}}}
    secret = {"STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}
    yield Probe(f"GET {path}", "GET", path, face="ops", settings=secret)
    for signature in ("", "forged", "valid"):
        key = f"POST {path} signature={signature or 'none'}"
        yield Probe(key, "POST", path, event, "webhook", settings=secret, signature=signature)
    unset = {"STRIPE_WEBHOOK_SECRET": ""}
    key = f"POST {path} signature=valid STRIPE_WEBHOOK_SECRET=unset"
    yield Probe(key, "POST", path, event, "webhook", settings=unset, signature="valid")


def webhook_request(probe: Probe) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a webhook probe, signed now (a signature is good for 5 minutes)."""
    secret = "whsec_someone_else" if probe.signature == "forged" else WEBHOOK_SECRET
    payload, signature = signed(probe.body, secret=secret)
    return payload, {"Stripe-Signature": signature} if probe.signature else {}


# pages whose work needs a particular object (another one is sent back to its page): what to open
PAGE_TARGETS: dict[str, dict[str, Any]] = {
    "invoicing_invoice_lines": {"status": "draft", "customer__external_id": "beta"},
    # a draft the API rows leave alone (they submit, approve and amend the world's): edited, submitted,
    # approved, then rejected in the rows' order
    **{f"billing_contract_{page}": {"notes": UNTOUCHED} for page in ("edit", "submit", "approve", "reject")},
}


def _first(model: type[Model], **lookups: Any) -> Model:
    found = model._default_manager.filter(**lookups).order_by("pk").first()
    assert found is not None, f"the matrix's world has no {model._meta.label}: create one in build_everything"
    return found


def admin_probes() -> Iterator[Probe]:
    """Each ModelAdmin's pages (GET; change and the history version page also POSTed empty), its custom
    pages (GET, and POST ``post=yes`` as their confirmation forms do) and each action on one object."""
    customer = _first(Customer)
    for model, model_admin in admin.site._registry.items():
        info = f"{model._meta.app_label}_{model._meta.model_name}"
        first = _first(model)
        for pattern in model_admin.get_urls():
            name = pattern.name
            if not name:
                continue
            obj = _first(model, **PAGE_TARGETS[name]) if name in PAGE_TARGETS else first
            kind = name.removeprefix(info + "_")
            if kind == "simple_history":
                version = model.history.order_by("pk").first()  # type: ignore[attr-defined]
                # price tiers are written in bulk with their version, without history rows: a version
                # that does not exist still shows who gets past the permission checks (404, not 403)
                target = getattr(version, model._meta.pk.attname) if version else obj.pk
                url = reverse(f"admin:{name}", args=(target, version.history_id if version else 0))
                yield from _admin(name, url, ("GET", "POST"))
                continue
            params = {"object_id": obj.pk, "customer_id": customer.pk, "id": obj.pk}
            wanted = getattr(pattern.pattern, "converters", {}).keys()
            url = reverse(f"admin:{name}", kwargs={k: v for k, v in params.items() if k in wanted})
            if kind == "changelist":
                yield from _admin(name, url, ("GET",))
                for _func, action, _text in model_admin._get_base_actions():  # type: ignore[attr-defined]
                    body = {"action": action, "_selected_action": [obj.pk], "index": "0"}
                    yield Probe(f"POST admin:{name} action={action}", "POST", url, body, "admin", action)
            elif kind in ("add", "delete", "history"):
                yield from _admin(name, url, ("GET",))
            elif kind == "change":
                yield from _admin(name, url, ("GET", "POST"))
            else:  # the ModelAdmin's own pages
                yield from _admin(name, url, ("GET", "POST"), {"post": "yes"})
    for app_label in sorted({m._meta.app_label for m in admin.site._registry}):
        url = reverse("admin:app_list", kwargs={"app_label": app_label})
        yield Probe(f"GET admin:app_list app_label={app_label}", "GET", url, face="admin")
    yield from staff_page_probes(customer)


def staff_page_probes(customer: Model) -> Iterator[Probe]:
    """The pages under /admin/ that are no ModelAdmin's (the reports, the customer page, the search
    results): every urlconf included at admin/ besides the admin site's own, read with GET."""
    for resolver in get_resolver().url_patterns:
        if not isinstance(resolver, URLResolver) or str(resolver.pattern) != "admin/":
            continue
        if resolver.namespace == admin.site.name:
            continue
        for _route, pattern in _walk(resolver.url_patterns):
            name = f"{resolver.namespace}:{pattern.name}"
            wanted = getattr(pattern.pattern, "converters", {}).keys()
            url = reverse(name, kwargs={"customer_id": customer.pk} if "customer_id" in wanted else {})
            yield Probe(f"GET {name}", "GET", url + STAFF_PAGE_QUERY.get(name, ""), face="admin")


# what a staff page is asked (a search with no words shows only the box)
STAFF_PAGE_QUERY = {"lookup:search": "?q=acme"}


def _admin(name: str, url: str, methods: tuple[str, ...], body: Any = None) -> Iterator[Probe]:
    for method in methods:
        yield Probe(f"{method} admin:{name}", method, url, body if method == "POST" else None, "admin")


def clients_for(users: dict[str, User | None]) -> dict[str, tuple[APIClient, Client]]:
    """Per user: an API client with its Bearer token, and a client logged in to the admin. A server
    error is an answer like any other here (500 in the cell), so one does not hide the rest."""
    clients: dict[str, tuple[APIClient, Client]] = {}
    for label, user in users.items():
        api = APIClient() if user is None else client_for(user)
        api.raise_request_exception = False
        site = Client(raise_request_exception=False)
        if user is not None:
            site.force_login(user)
        clients[label] = (api, site)
    return clients


def api_methods_without_request() -> list[str]:
    """The API routes' methods that TABLE (the request list) does not call: each needs a TABLE row."""
    called = {(name, method) for name, method, *_ in TABLE}
    missing = []
    for pattern in api_urlpatterns:
        view = pattern.callback.cls  # type: ignore[attr-defined]  # DRF sets it (a wrapped view too)
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method) and (pattern.name, method.upper()) not in called:
                missing.append(f"{method.upper()} {pattern.name}")
    return missing
