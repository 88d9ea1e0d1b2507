"""Structured logs tie a request to its tasks: the request id (an incoming X-Request-ID, or a new one)
is answered in the response, carried on every log line of the request with the ids its URL names, and
travels in a Celery message header into the tasks it queues, on a real worker, as JSON lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from rest_framework.test import APIClient

from config.logging import _SHARED_PROCESSORS
from tests.integration.workers import AS_OF, make_subscriptions


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The root logger also writes through the LOG_FORMAT=json formatter into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=_SHARED_PROCESSORS,
        )
    )
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


def parsed(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


@pytest.mark.django_db
def test_a_request_id_is_answered_and_carried_by_every_log_line(
    api: APIClient, json_lines: io.StringIO
) -> None:
    response = api.get("/api/v1/customers/nobody/entitlements", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 404 and response["X-Request-ID"] == "req-42"
    [line] = [entry for entry in parsed(json_lines) if entry.get("request_id") == "req-42"]
    assert line["customer"] == "nobody" and line["level"] == "warning"  # Django's "Not Found" log

    fresh = api.get("/healthz", HTTP_X_REQUEST_ID="not a sane id; <script>")
    assert fresh["X-Request-ID"] != "not a sane id; <script>" and len(fresh["X-Request-ID"]) == 32
    assert structlog.contextvars.get_contextvars() == {}  # nothing leaks into the next request


@pytest.mark.django_db
def test_a_task_run_for_a_request_logs_with_its_request_id_and_ids(
    api: APIClient, json_lines: io.StringIO, settings: Any
) -> None:
    settings.RATECARD_INVOICE_REVIEW_HOURS = 0
    make_subscriptions(1)
    response = api.post(
        "/api/v1/billing-runs", {"as_of": AS_OF.isoformat()}, format="json", HTTP_X_REQUEST_ID="req-run"
    )
    assert response.status_code in (201, 202), response.content
    lines = [entry for entry in parsed(json_lines) if entry.get("request_id") == "req-run"]
    finished = [entry for entry in lines if entry["event"] == "billing_run.finished"]
    assert finished and finished[0]["run_id"] == response.json()["id"]
    assert any("invoice_id" in entry and "customer_id" in entry for entry in lines)  # invoice.finalized
