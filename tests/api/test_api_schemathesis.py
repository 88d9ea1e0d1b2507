"""schemathesis over the whole OpenAPI schema: no 5xx, and every response matches the schema.

The app runs under pytest-django's ``live_server`` (a real HTTP server in this process, on the test
database), seeded through the API with a plan, metrics, a coupon, a customer with a subscription, usage,
a billing run, a finalized invoice and a credit note, so the generated requests meet real objects as
well as random ids. ``st run`` then generates requests for every operation (examples, coverage of the
schema's edge values, fuzzing, and stateful sequences that follow the ids it gets back) and fails on:

- ``not_a_server_error``: any 5xx;
- ``response_schema_conformance``: a response body the schema does not describe;
- ``status_code_conformance``: a status the operation does not document.

The run is made once per role of API.md, each with its own token: finance (every operation allowed) with
the most examples, then sales, support and integration, whose refusals (403, documented on every
operation by ``config.api.schema``) and narrower reads must match the schema too, with fewer examples
(``RATECARD_SCHEMATHESIS_ROLE_EXAMPLES``) to keep the suite's time bounded.

The seed and the number of examples per operation are fixed, so a run is repeatable and bounded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from accounts.roles import FINANCE, INTEGRATION, SALES, SUPPORT
from accounts.services.tokens import api_token_create
from tests.api.test_api_plans import GRADUATED_PLAN
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261130
EXAMPLES_PER_OPERATION = int(os.environ.get("RATECARD_SCHEMATHESIS_EXAMPLES", "4"))
ALL_PHASES = "examples,coverage,fuzzing,stateful"
# The other roles are refused most writes early (403): a few generated examples per operation find what
# differs for them. The coverage phase (every edge value of every field, however many examples) and
# the stateful one (sequences of writes the role may not make) would add minutes and find nothing new.
ROLE_PHASES = "examples,fuzzing"
ROLE_EXAMPLES = int(os.environ.get("RATECARD_SCHEMATHESIS_ROLE_EXAMPLES", "2"))
ROLES = [
    (FINANCE, EXAMPLES_PER_OPERATION),
    (SALES, ROLE_EXAMPLES),
    (SUPPORT, ROLE_EXAMPLES),
    (INTEGRATION, ROLE_EXAMPLES),
]
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"


def seed_objects(api: APIClient) -> None:
    """One of everything the API serves, created through the API itself."""

    def ok(response: Any) -> Any:
        assert response.status_code < 300, response.content
        return response.json()

    now = datetime.now(UTC).replace(microsecond=0)
    ok(api.post("/api/v1/metrics", {"code": "api_calls", "name": "API calls", "aggregation": "count"}))
    ok(
        api.post(
            "/api/v1/metrics", {"code": "relay_gb", "name": "Relay", "aggregation": "sum", "field": "gb"}
        )
    )
    ok(api.post("/api/v1/plans", GRADUATED_PLAN))
    ok(api.post("/api/v1/coupons", {"code": "launch", "percent_off": "10", "duration": "once"}))
    ok(api.post("/api/v1/customers", {"external_id": "acme", "name": "Acme", "currency": "USD"}))
    start = (now - timedelta(days=70)).isoformat()
    sub = ok(
        api.post(
            "/api/v1/subscriptions",
            {"customer": "acme", "plan": "relay", "quantity": 2, "start": start, "coupon": "launch"},
        )
    )
    events = [
        {
            "event_id": f"evt-{i}",
            "customer": "acme",
            "metric": "relay_gb" if i % 2 else "api_calls",
            "timestamp": (now - timedelta(hours=i + 1)).isoformat(),
            "properties": {"gb": "1.5"},
        }
        for i in range(6)
    ]
    ok(api.post("/api/v1/events", {"events": events}))
    ok(api.post("/api/v1/billing-runs", {"as_of": now.isoformat()}))
    invoice_id = sub["latest_invoice"]["id"]
    ok(api.post(f"/api/v1/invoices/{invoice_id}/finalize", {"at": start}))
    ok(api.post("/api/v1/credit-notes", {"invoice": invoice_id, "amount": "1.00", "reason": "Goodwill"}))


def token(user: User) -> str:
    _, raw = api_token_create(user=user)
    return raw


@pytest.mark.parametrize(("role", "examples"), ROLES, ids=[role for role, _ in ROLES])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    live_server: Any, tmp_path: Path, settings: Any, role: str, examples: int
) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token(make_staff('seeder', FINANCE))}")
    seed_objects(api)
    raw = token(make_staff("fuzz", role))

    st = Path(sys.executable).with_name("st")
    command = [
        str(st),
        "run",
        f"{live_server.url}/api/schema/?format=json",
        "--header",
        f"Authorization: Bearer {raw}",
        "--checks",
        CHECKS,
        "--max-examples",
        str(examples),
        "--phases",
        ALL_PHASES if role == FINANCE else ROLE_PHASES,
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--output-sanitize",
        "true",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    # The fuzzer is a client, not the system under test: when the suite runs under libfaketime (to prove
    # it is date-proof) it keeps the real clock, which its own timeouts need; the server stays faked.
    for name in [n for n in env if n == "LD_PRELOAD" or n.startswith("FAKETIME")]:
        del env[name]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    report = result.stdout[-30000:] + result.stderr[-5000:]
    assert result.returncode == 0, report
    assert "Server error" not in report
