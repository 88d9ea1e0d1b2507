"""Every request gets an id that follows it into its logs, its response and the Celery tasks it queues;
every request is counted and timed per route (``/metrics``).

- The id is the incoming ``X-Request-ID`` when it is a sane token (a load balancer's or the product's own),
  else a new one; it is answered in the response's ``X-Request-ID``.
- It is bound in structlog's context variables with the ids the URL names (customer, subscription,
  invoice, billing run), so every log line of the request carries them as fields.
- A task queued while handling the request carries it in a message header (``before_task_publish``);
  the worker binds it, with the task's name and id, for the task's logs (``task_prerun``), and puts back
  whatever was bound before when the task ends (an eager task runs inside the request).
- Routes are labelled by their URL name (``customer-entitlements``), never the raw path, so a metric's
  label set stays bounded whatever paths clients try.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from celery import signals
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from config.monitoring import counter, histogram

HEADER = "X-Request-ID"
META_HEADER = "HTTP_X_REQUEST_ID"
CELERY_HEADER = "ratecard_request_id"
SANE_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# URL keyword arguments bound as log fields, under the names the services log with
URL_FIELDS = {
    "external_id": "customer",
    "sub_id": "subscription_id",
    "invoice_id": "invoice_id",
    "run_id": "run_id",
    "credit_note_id": "credit_note_id",
}

REQUESTS = counter(
    "ratecard_http_requests_total",
    "HTTP requests per route, method and status.",
    ("route", "method", "status"),
)
LATENCY = histogram(
    "ratecard_http_request_duration_seconds",
    "HTTP request latency per route and method.",
    ("route", "method"),
)


# the label children per label values: ``labels()`` validates and locks on every call (~3 us each)
_latency_of: dict[tuple[str, str], Any] = {}
_requests_of: dict[tuple[str, str, str], Any] = {}


def _count(route: str, method: str, status: str, seconds: float) -> None:
    latency = _latency_of.get((route, method))
    if latency is None:
        latency = _latency_of[(route, method)] = LATENCY.labels(route, method)
    requests = _requests_of.get((route, method, status))
    if requests is None:
        requests = _requests_of[(route, method, status)] = REQUESTS.labels(route, method, status)
    latency.observe(seconds)
    requests.inc()


def request_id_from(raw: str | None) -> str:
    return raw if raw and SANE_ID.match(raw) else uuid.uuid4().hex


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value else None


class RequestContextMiddleware:
    """The first middleware: the id, the log context, and the route's count and latency."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # META, not request.headers: that builds a dict of every header, on every request
        request_id = request_id_from(request.META.get(META_HEADER))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        # bound until the response is closed (``request_finished`` below): Django logs a 4xx/5xx
        # ("Not Found: ...") after the middlewares returned, and that line must carry the id too
        response = self.get_response(request)
        match = request.resolver_match
        route = match.view_name if match is not None else "unmatched"
        method = request.method if request.method in METHODS else "OTHER"
        _count(route, method, str(response.status_code), time.perf_counter() - started)
        response[HEADER] = request_id
        return response

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        fields = {URL_FIELDS[name]: value for name, value in kwargs.items() if name in URL_FIELDS}
        if fields:
            structlog.contextvars.bind_contextvars(**fields)
        return None


@receiver(request_finished, dispatch_uid="ratecard.request_id.finished")
def _request_finished(**_kwargs: Any) -> None:
    structlog.contextvars.clear_contextvars()


# --- Celery: the id travels in a message header -----------------------------------------------------

_saved: dict[str, dict[str, Any]] = {}


@signals.before_task_publish.connect(dispatch_uid="ratecard.request_id.publish")
def _publish(headers: dict[str, Any] | None = None, **_kwargs: Any) -> None:
    request_id = current_request_id()
    if request_id and headers is not None:
        headers.setdefault(CELERY_HEADER, request_id)


def _task_request_id(task: Any) -> str | None:
    request = getattr(task, "request", None)
    if request is None:
        return None
    found = getattr(request, CELERY_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        CELERY_HEADER
    )
    return str(found) if found else None


@signals.task_prerun.connect(dispatch_uid="ratecard.request_id.prerun")
def _prerun(task_id: str | None = None, task: Any = None, **_kwargs: Any) -> None:
    before = structlog.contextvars.get_contextvars()
    _saved[task_id or ""] = before
    request_id = _task_request_id(task) or before.get("request_id") or uuid.uuid4().hex
    structlog.contextvars.bind_contextvars(
        request_id=request_id, task=getattr(task, "name", None), task_id=task_id
    )


@signals.task_postrun.connect(dispatch_uid="ratecard.request_id.postrun")
def _postrun(task_id: str | None = None, **_kwargs: Any) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**_saved.pop(task_id or "", {}))
