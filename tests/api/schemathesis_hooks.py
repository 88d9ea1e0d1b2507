"""schemathesis hooks for tests/api/test_api_schemathesis.py (loaded through ``SCHEMATHESIS_HOOKS``).

Business times in generated bodies are kept within a few months of today. Billing is correct for any
time (a subscription that started in 1970 has 56 years of periods to invoice at the next run) but that
work takes minutes, not the milliseconds a fuzzing run can afford per request. Malformed, impossible or
naive times are left as generated: those are what the run is for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis

BUSINESS_TIME_FIELDS = {"at", "as_of", "start", "effective_at"}
WINDOW = timedelta(days=90)


def _near_now(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        return value
    now = datetime.now(UTC)
    try:
        if now - WINDOW <= parsed <= now + timedelta(hours=1):
            return value
    except OverflowError:
        pass
    return (now - timedelta(days=1)).isoformat()


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    if isinstance(case.body, dict):
        for name in BUSINESS_TIME_FIELDS & set(case.body):
            case.body[name] = _near_now(case.body[name])
    return case
