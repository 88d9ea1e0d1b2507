"""Finance corrects usage: negative values are refused, events sent in error are voided, history is
backfilled; a draft is re-rated at once, a finalized invoice never changes (the next one adjusts)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from billing.models import UsageEvent, UsageRollup, VoidedUsageEvent
from billing.services.usage import usage_quantity
from invoicing.models import Invoice
from invoicing.services.billing_runs import billing_run_create, billing_run_execute
from tests.conftest import client_for
from tests.usage.conftest import FEB, JAN, NOW, D, event, post_events

pytestmark = pytest.mark.django_db

MAR = datetime(2026, 3, 1, tzinfo=JAN.tzinfo)
JUN = datetime(2026, 6, 1, tzinfo=JAN.tzinfo)
JUL = datetime(2026, 7, 1, tzinfo=JAN.tzinfo)


def run(as_of: datetime) -> None:
    billing_run_execute(run_id=billing_run_create(as_of=as_of).pk)


def usage(invoice: Invoice) -> list[tuple[str, Any, Any]]:
    lines = invoice.lines.filter(kind__in=["usage", "adjustment"]).order_by("id")
    return [(line.kind, line.quantity, line.amount) for line in lines]


def void(api: APIClient, *event_ids: str, customer: str = "acme") -> Any:
    body = {"events": [{"customer": customer, "event_id": event_id} for event_id in event_ids]}
    return api.post("/api/v1/events/void", body, format="json")


# --- negative usage ---------------------------------------------------------------------------------


def test_a_negative_usage_value_is_refused_naming_the_property(
    api: APIClient, customer: Any, metrics: Any
) -> None:
    response = post_events(api, [event("ok", "relay_gb", gb=2), event("minus", "relay_gb", gb=-1.5)])
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["events[1].properties.gb"]
    assert UsageEvent.objects.count() == 0
    response = post_events(api, [event("s", "devices", devices="-3")])  # a decimal string too
    assert [e["field"] for e in response.json()["errors"]] == ["events[0].properties.devices"]


# --- void -----------------------------------------------------------------------------------------------


def test_voiding_an_event_re_rates_the_draft_that_counted_it(
    api: APIClient,
    finance_user: User,
    metered: dict[str, Any],
    send: Callable[..., None],
    django_capture_on_commit_callbacks: Any,
) -> None:
    send(1000, JAN + timedelta(days=3), "a", FEB)
    send(1500, JAN + timedelta(days=9), "typo", FEB)
    run(FEB)
    draft = Invoice.objects.get(billing_date=FEB)
    assert usage(draft) == [("usage", D("2500"), D("1.00"))]
    assert draft.total == D("12.10")  # (10.00 + 1.00) + 10% tax

    with django_capture_on_commit_callbacks(execute=True):
        response = void(api, "typo")
    assert (response.status_code, response.json()) == (200, {"voided": 1})

    draft.refresh_from_db()
    assert draft.status == "draft"
    assert usage(draft) == [("usage", D("1000"), D("0.40"))]
    assert (draft.subtotal, draft.tax, draft.total) == (D("10.40"), D("1.04"), D("11.44"))
    assert usage_quantity(customer_id=draft.customer_id, metric_id=_metric_id(), start=JAN, end=FEB) == 1000
    assert UsageRollup.objects.get(hour=JAN + timedelta(days=9)).count == 0
    voided = VoidedUsageEvent.objects.get()
    assert (voided.event_id, voided.value, voided.voided_by) == ("typo", D("1500"), finance_user)

    assert void(api, "typo").json() == {"voided": 0}  # twice: nothing more
    assert void(api, "never-sent").json() == {"voided": 0}
    assert UsageEvent.objects.count() == 1


def _metric_id() -> int:
    from billing.models import BillableMetric

    return BillableMetric.objects.get(code="requests").pk


def test_voiding_after_finalization_adjusts_the_next_invoice(
    api: APIClient, metered: dict[str, Any], send: Callable[..., None]
) -> None:
    send(1000, JAN + timedelta(days=3), "a", FEB)
    send(1500, JAN + timedelta(days=9), "typo", FEB)
    run(FEB + timedelta(days=3))
    january = Invoice.objects.get(billing_date=FEB)
    assert january.status == "open" and january.total == D("12.10")

    assert void(api, "typo").json() == {"voided": 1}
    run(MAR)

    january.refresh_from_db()
    assert usage(january) == [("usage", D("2500"), D("1.00"))]  # issued: never changes
    assert january.total == D("12.10")
    march = Invoice.objects.get(billing_date=MAR)
    assert usage(march) == [("usage", D("0"), D("0.00")), ("adjustment", D("-1500"), D("-0.60"))]
    run(MAR)
    assert march.lines.filter(kind="adjustment").count() == 1  # a rerun adds nothing


@pytest.mark.parametrize("role", ["sales_api", "support_api"])
def test_only_finance_voids(request: pytest.FixtureRequest, role: str, customer: Any, metrics: Any) -> None:
    client = request.getfixturevalue(role)
    assert void(client, "e1").status_code == 403


def test_voiding_for_an_unknown_customer_is_a_400_naming_it(api: APIClient, customer: Any) -> None:
    response = void(api, "e1", customer="nobody")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["events[0].customer"]


# --- backfill -------------------------------------------------------------------------------------------


def test_backfill_lifts_the_late_event_limit_for_finance_only(
    api: APIClient, metered: dict[str, Any]
) -> None:
    old = [event("old", "requests", at=JAN + timedelta(days=2), n=7)]  # months before the wall clock
    refused = post_events(api, old)
    assert [e["field"] for e in refused.json()["errors"]] == ["events[0].timestamp"]

    product = User.objects.create_user("product")
    product.user_permissions.add(Permission.objects.get(codename="add_usageevent"))
    forbidden = client_for(product).post("/api/v1/events?backfill=true", {"events": old}, format="json")
    assert forbidden.status_code == 403
    assert (
        client_for(product)
        .post("/api/v1/events", {"events": [event("now", "requests", n=1)]}, format="json")
        .status_code
        == 202
    )

    accepted = api.post("/api/v1/events?backfill=true", {"events": old}, format="json")
    assert (accepted.status_code, accepted.json()) == (202, {"accepted": 1, "duplicates": 0})
    assert api.post("/api/v1/events?backfill=maybe", {"events": old}, format="json").status_code == 400


def test_backfill_into_a_finalized_period_becomes_an_adjustment_on_the_next_invoice(
    api: APIClient, metered: dict[str, Any], send: Callable[..., None]
) -> None:
    send(1000, JAN + timedelta(days=3), "a", FEB)
    run(JUN + timedelta(days=3))  # January to May invoiced and finalized
    january = Invoice.objects.get(billing_date=FEB)
    assert january.status == "open" and january.total == D("11.44")

    # history from the old system, five months late: past any late-event limit
    send(2500, JAN + timedelta(days=20), "history-1", JUN + timedelta(days=4), backfill=True)
    run(JUL)

    january.refresh_from_db()
    assert usage(january) == [("usage", D("1000"), D("0.40"))]
    assert january.total == D("11.44")
    july = Invoice.objects.get(billing_date=JUL)
    adjustment = july.lines.get(kind="adjustment")
    assert (adjustment.quantity, adjustment.amount, adjustment.tax) == (D("2500"), D("1.00"), D("0.10"))
    assert (adjustment.period_start, adjustment.period_end) == (JAN, FEB)


def test_import_usage_reads_json_lines_and_csv_without_the_late_event_limit(
    tmp_path: Path, customer: Any, metrics: Any
) -> None:
    jsonl = tmp_path / "history.jsonl"
    lines = [event(f"j{i}", "relay_gb", at=NOW - timedelta(days=200 + i), gb=1.25) for i in range(3)]
    jsonl.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    csv_file = tmp_path / "history.csv"
    csv_file.write_text(
        "event_id,customer,metric,timestamp,gb,region\n"
        f"c1,acme,relay_gb,{(NOW - timedelta(days=300)).isoformat()},2.5,eu\n"
        f"c2,acme,api_calls,{(NOW - timedelta(days=301)).isoformat()},,\n"
    )
    call_command("import_usage", str(jsonl))
    call_command("import_usage", str(csv_file))
    call_command("import_usage", str(jsonl))  # again: all duplicates

    assert sorted(UsageEvent.objects.values_list("event_id", flat=True)) == ["c1", "c2", "j0", "j1", "j2"]
    assert UsageEvent.objects.get(event_id="c1").properties == {"gb": "2.5", "region": "eu"}
    values = UsageEvent.objects.filter(metric__code="relay_gb").values_list("value", flat=True)
    assert sum(v for v in values if v is not None) == D("6.25")


def test_import_usage_stops_at_a_bad_line_naming_it(tmp_path: Path, customer: Any, metrics: Any) -> None:
    bad = tmp_path / "bad.jsonl"
    good = event("g", "relay_gb", gb=1)
    bad.write_text(json.dumps(good) + "\n\n" + json.dumps(event("b", "relay_gb", gb=-2)) + "\n")
    with pytest.raises(CommandError, match=r"bad.jsonl:line 3: properties.gb: .*non-negative"):
        call_command("import_usage", str(bad))
    assert UsageEvent.objects.count() == 0  # the batch is refused whole


def test_a_malformed_void_request_is_a_400_naming_the_field(api: APIClient, customer: Any) -> None:
    response = api.post("/api/v1/events/void", {"events": [{"customer": "acme"}]}, format="json")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["events[0].event_id"]
    assert api.post("/api/v1/events/void", {"events": []}, format="json").status_code == 400


def test_finance_sees_voided_events_in_the_admin(
    client: Any, finance_user: User, api: APIClient, customer: Any, metrics: Any
) -> None:
    assert post_events(api, [event("oops", "relay_gb", gb=4)]).status_code == 202
    assert void(api, "oops").json() == {"voided": 1}
    client.force_login(finance_user)
    page = client.get("/admin/billing/voidedusageevent/")
    assert page.status_code == 200
    assert "oops" in page.content.decode()
