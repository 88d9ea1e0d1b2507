"""A late event inside the grace window updates the draft it belongs to at once, not at finalization."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from invoicing.models import Invoice
from invoicing.services.billing_runs import billing_run_create, billing_run_execute
from tests.usage.conftest import FEB, JAN, D

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
