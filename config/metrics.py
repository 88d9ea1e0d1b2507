"""``GET /metrics``: Prometheus text with the whole pipeline's vital signs (API.md operations).

Two sources, one page (``config.monitoring`` explains the choice):
- the process counters and histograms: request rates and latencies per route, usage events accepted,
  duplicated and refused per metric, subscriptions billed, invoices finalized and amounts invoiced. With
  ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn with several workers, Celery workers on the same host) every
  process writes its own file there and this page sums them; otherwise the process's own registry.
- the database gauges declared with ``@db_gauge`` in the apps' ``monitoring.py``, read now.

With ``METRICS_TOKEN`` set, a scrape must send ``Authorization: Bearer <METRICS_TOKEN>`` (401 otherwise).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from typing import Any

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from config.monitoring import db_gauges

log = structlog.get_logger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def authorized(request: HttpRequest) -> bool:
    """No token configured: open (internal network only). Else ``Authorization: Bearer <token>``."""
    expected = settings.METRICS_TOKEN
    if not expected:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # constant time: the comparison must not tell how much of a guess was right
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


class DatabaseCollector:
    """Reads every ``@db_gauge`` at scrape time; one that fails is skipped (and logged), not the page."""

    def collect(self) -> Iterator[Metric]:
        for gauge in db_gauges():
            family: Any
            if gauge.kind == "counter":
                family = CounterMetricFamily(
                    gauge.name.removesuffix("_total"), gauge.documentation, labels=gauge.labels
                )
            else:
                family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=gauge.labels)
            try:
                for sample in gauge.read():
                    family.add_metric(
                        [str(sample.labels.get(k, "")) for k in gauge.labels], float(sample.value)
                    )
            except Exception as exc:  # a scrape must still show every other figure
                log.error("metrics.gauge_failed", gauge=gauge.name, error=f"{exc.__class__.__name__}: {exc}")
                continue
            yield family


class _ProcessCollector:
    """This process's default registry (counters, histograms, the process and GC figures)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessCollector())  # type: ignore[arg-type]
    registry.register(DatabaseCollector())  # type: ignore[arg-type]
    return registry


def metrics(request: HttpRequest) -> HttpResponse:
    if not authorized(request):
        refused = HttpResponse("Unauthorized: send Authorization: Bearer <METRICS_TOKEN>\n", status=401)
        refused["Content-Type"] = "text/plain; charset=utf-8"
        refused["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refused
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE)
