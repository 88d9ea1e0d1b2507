"""Measured limits: a limit feature names the metric that counts usage against it."""

from __future__ import annotations

from typing import Any

import pytest

from billing.services.catalog import PlanDraft, feature_measure, metric_create, plan_create
from config.errors import ValidationFailed

pytestmark = pytest.mark.django_db


@pytest.fixture
def features(db: Any) -> None:
    metric_create(code="devices", name="Devices", aggregation="max", field_name="devices")
    plan_create(
        draft=PlanDraft(code="p", name="P", currency="USD", features={"max_devices": 100, "sso": True})
    )


def test_a_limit_can_be_measured_and_unmeasured(features: None) -> None:
    assert feature_measure(key="max_devices", metric_code="devices").metric is not None
    assert feature_measure(key="max_devices", metric_code=None).metric is None


@pytest.mark.parametrize(
    ("key", "metric", "field"),
    [("nope", "devices", "feature"), ("max_devices", "nope", "metric"), ("sso", "devices", "feature")],
)
def test_bad_measures_name_the_field(features: None, key: str, metric: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        feature_measure(key=key, metric_code=metric)
    assert err.value.field == field
