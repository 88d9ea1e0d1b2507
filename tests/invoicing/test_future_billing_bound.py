"""A billing run may not run more than 24 hours ahead of the wall clock (API.md) unless
RATECARD_ALLOW_FUTURE_BILLING is on: it would issue invoices for periods that have not ended."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from invoicing.models import BillingRun

pytestmark = pytest.mark.django_db


def iso(hours_from_now: float) -> str:
    return (timezone.now() + timedelta(hours=hours_from_now)).isoformat()


@pytest.fixture
def bounded(settings: Any) -> None:
    settings.RATECARD_ALLOW_FUTURE_BILLING = False


def test_the_api_refuses_a_run_more_than_a_day_ahead_and_writes_nothing(
    api: APIClient, bounded: None
) -> None:
    response = api.post("/api/v1/billing-runs", {"as_of": iso(25)}, format="json")

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == "as_of"
    assert "24 hours" in error["message"]
    assert not BillingRun.objects.exists()


def test_the_api_accepts_a_run_less_than_a_day_ahead(api: APIClient, bounded: None) -> None:
    response = api.post("/api/v1/billing-runs", {"as_of": iso(23)}, format="json")

    assert response.status_code == 202, response.content
    assert BillingRun.objects.get().status == "completed"


def test_the_command_refuses_a_run_more_than_a_day_ahead(bounded: None) -> None:
    with pytest.raises(CommandError, match=r"--as-of: .*24 hours ahead"):
        call_command("run_billing", "--as-of", iso(25))
    assert not BillingRun.objects.exists()


def test_future_billing_allowed_lets_a_backtest_run_years_ahead(api: APIClient, settings: Any) -> None:
    settings.RATECARD_ALLOW_FUTURE_BILLING = True

    response = api.post("/api/v1/billing-runs", {"as_of": iso(24 * 365 * 5)}, format="json")

    assert response.status_code == 202, response.content
    call_command("run_billing", "--as-of", iso(24 * 365 * 5))
    assert BillingRun.objects.count() == 2
