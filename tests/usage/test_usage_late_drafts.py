"""A late event inside the grace window updates the draft it belongs to at once, not at finalization."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from billing.models import Subscription
from invoicing.models import Invoice
from invoicing.services.billing_runs import billing_run_create, billing_run_execute
from tests.usage.conftest import FEB, JAN, D, event, post_events

pytestmark = pytest.mark.django_db


def usage_line(invoice: Invoice) -> tuple[Decimal, Decimal, Decimal]:
    line = invoice.lines.get(kind="usage")
    return line.quantity, line.amount, line.tax


def test_a_late_event_in_the_grace_window_updates_the_draft_when_it_is_accepted(
    metered: dict[str, Any], send: Callable[..., None]
) -> None:
    send(1000, JAN + timedelta(days=3), "a", FEB)
    billing_run_execute(run_id=billing_run_create(as_of=FEB).pk)
    draft = Invoice.objects.get(billing_date=FEB)
    assert draft.status == "draft"
    assert usage_line(draft) == (D("1000"), D("0.40"), D("0.04"))
    assert (draft.subtotal, draft.tax, draft.total) == (D("10.40"), D("1.04"), D("11.44"))

    send(1500, JAN + timedelta(days=30), "late", FEB + timedelta(days=2))  # two days late

    draft.refresh_from_db()
    assert draft.status == "draft"  # finance still reviews it; nothing was finalized
    assert usage_line(draft) == (D("2500"), D("1.00"), D("0.10"))
    assert (draft.subtotal, draft.tax, draft.total, draft.amount_due) == (
        D("11.00"),
        D("1.10"),
        D("12.10"),
        D("12.10"),
    )


def test_events_of_the_current_period_leave_the_draft_alone(
    metered: dict[str, Any], send: Callable[..., None]
) -> None:
    send(1000, JAN + timedelta(days=3), "a", FEB)
    billing_run_execute(run_id=billing_run_create(as_of=FEB).pk)
    send(7000, FEB + timedelta(hours=5), "feb", FEB + timedelta(days=1))  # February's usage
    draft = Invoice.objects.get(billing_date=FEB)
    assert usage_line(draft) == (D("1000"), D("0.40"), D("0.04"))
    assert draft.total == D("11.44")


def test_a_late_event_after_finalization_leaves_the_issued_invoice_as_it_was(
    metered: dict[str, Any], send: Callable[..., None]
) -> None:
    send(1000, JAN + timedelta(days=3), "a", FEB)
    billing_run_execute(run_id=billing_run_create(as_of=FEB + timedelta(days=3)).pk)
    issued = Invoice.objects.get(billing_date=FEB)
    assert issued.status == "open"
    send(1500, JAN + timedelta(days=30), "late", FEB + timedelta(days=4))
    issued.refresh_from_db()
    assert usage_line(issued) == (D("1000"), D("0.40"), D("0.04"))
    assert issued.total == D("11.44")


def test_through_the_api_the_draft_is_updated_when_the_202_returns(
    api: APIClient, metered_catalog: None, django_capture_on_commit_callbacks: Any
) -> None:
    """Dates built from the wall clock: the API bounds event times by it (the late-event limit)."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=35)
    customer = {"external_id": "acme", "name": "Acme", "currency": "USD", "tax_rate_percent": "10"}
    assert api.post("/api/v1/customers", customer, format="json").status_code == 201
    body = {"customer": "acme", "plan": "api", "start": start.isoformat()}
    assert api.post("/api/v1/subscriptions", body, format="json").status_code == 201
    first = Subscription.objects.get()
    billing_date = first.current_period_end  # a month after start: 4 to 7 days ago
    billing_run_execute(run_id=billing_run_create(as_of=billing_date).pk)
    draft = Invoice.objects.get(billing_date=billing_date)
    assert usage_line(draft) == (D("0"), D("0.00"), D("0.00"))

    late = event("late", "requests", at=billing_date - timedelta(hours=1), n=2500)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_events(api, [late]).status_code == 202

    draft.refresh_from_db()
    assert usage_line(draft) == (D("2500"), D("1.00"), D("0.10"))
    assert (draft.status, draft.total) == ("draft", D("12.10"))
