"""The entitlement check's hot path: a measured limit declared on POST /plans, a per-customer profile
cache that every process sees go stale at once (version stamps in Redis), and a token fast path that
still refuses a revoked token or a lost role on the very next request.

"Another process" below is what a change committed elsewhere looks like from here: the rows change
without this process's signals running (so none of its caches is told), and only the stamps move, the
access stamp in the database and its Redis mirror, or an entitlement stamp in Redis, exactly as that
process's commit hooks move them (accounts.access, billing.services.entitlement_stamps).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from django.contrib.auth.models import Group, User
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.access import STAMP_PK, access_key, access_mirror
from accounts.models import AccessStamp, ApiToken
from accounts.services.tokens import api_token_revoke
from billing.models import Entitlement, Feature, Subscription
from billing.services import entitlement_reads
from billing.services.entitlement_stamps import ALL_KEY, CUSTOMER_KEY
from billing.services.usage_ingest import usage_events_ingest_json
from billing.services.usage_live import redis_client
from tests.conftest import client_for, make_staff
from tests.usage.conftest import redis_only

pytestmark = [pytest.mark.django_db, redis_only]
START = datetime(2026, 1, 1, tzinfo=UTC)
CHECK = "/api/v1/customers/acme/entitlements"


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The command name of every round trip this process makes to Redis (a counting wrapper around the
    real send: Redis still answers every command)."""
    sent: list[bytes] = []
    real = redis.connection.AbstractConnection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        packed = b"".join(command) if isinstance(command, list | tuple) else bytes(command)
        sent.append(packed.split(b"\r\n")[2])  # *N, $len, NAME: the first command of the trip
        real(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    yield sent


def post(api: APIClient, path: str, body: dict[str, Any]) -> Any:
    return api.post(f"/api/v1/{path}", body, format="json")


@pytest.fixture
def product(api: APIClient, django_capture_on_commit_callbacks: Any) -> APIClient:
    """A plan whose ``max_devices`` limit is measured by the ``devices`` metric, declared through the API."""
    assert (
        post(
            api, "metrics", {"code": "devices", "name": "Devices", "aggregation": "max", "field": "devices"}
        ).status_code
        == 201
    )
    plan = {
        "code": "team",
        "name": "Team",
        "currency": "USD",
        "interval": "month",
        "prices": [{"code": "base", "model": "flat", "billing": "in_advance", "amount": "10.00"}],
        "features": {"max_devices": {"limit": 100, "metric": "devices"}, "sso": True},
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert post(api, "plans", plan).status_code == 201, plan
        assert (
            post(api, "customers", {"external_id": "acme", "name": "Acme", "currency": "USD"}).status_code
            == 201
        )
        created = post(api, "subscriptions", {"customer": "acme", "plan": "team", "start": START.isoformat()})
        assert created.status_code == 201, created.content
    return api


def test_a_measured_limit_is_declared_on_the_plan(product: APIClient) -> None:
    assert Feature.objects.get(key="max_devices").metric.code == "devices"  # type: ignore[union-attr]
    assert product.get("/api/v1/plans/team").json()["features"] == {"max_devices": 100, "sso": True}
    got = product.get("/api/v1/customers/acme/entitlements").json()
    assert got == {
        "features": {"max_devices": 100, "sso": True},
        "usage": {"max_devices": {"used": "0", "limit": 100}},
    }


@pytest.mark.parametrize(
    ("features", "field"),
    [
        ({"max_devices": {"limit": 5, "metric": "nope"}}, "features.max_devices.metric"),
        ({"max_devices": {"limit": "many", "metric": "devices"}}, "features.max_devices"),
        ({"max_devices": {"limit": 5, "metric": 7}}, "features.max_devices.metric"),
        ({"max_devices": {"cap": 5}}, "features.max_devices"),
    ],
)
def test_a_bad_measured_limit_is_400_naming_the_field(
    api: APIClient, features: dict[str, Any], field: str
) -> None:
    post(api, "metrics", {"code": "devices", "name": "Devices", "aggregation": "max", "field": "devices"})
    plan = {
        "code": "bad",
        "name": "Bad",
        "currency": "USD",
        "interval": "month",
        "prices": [],
        "features": features,
    }
    response = post(api, "plans", plan)
    assert response.status_code == 400
    assert field in [e["field"] for e in response.json()["errors"]]
    assert not Feature.objects.filter(key="max_devices").exists()


def test_a_second_metric_for_a_measured_feature_is_refused(product: APIClient) -> None:
    post(product, "metrics", {"code": "phones", "name": "Phones", "aggregation": "max", "field": "phones"})
    plan = {"code": "other", "name": "Other", "currency": "USD", "interval": "month", "prices": [],
            "features": {"max_devices": {"limit": 5, "metric": "phones"}}}  # fmt: skip
    assert post(product, "plans", plan).json()["errors"][0]["field"] == "features.max_devices.metric"


def test_the_usual_check_costs_no_query_and_one_redis_round_trip(
    product: APIClient, round_trips: list[bytes]
) -> None:
    product.get(CHECK)  # the token (database) and the profile, checked once
    round_trips.clear()
    with CaptureQueriesContext(connection) as queries:
        response = product.get(CHECK)
    assert response.status_code == 200 and len(queries) == 0, [q["sql"] for q in queries]
    # one EVALSHA reads the access stamp's mirror, both entitlement stamps and the usage counter
    assert round_trips == [b"EVALSHA"]
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "features": {"max_devices": 100, "sso": True},
        "usage": {"max_devices": {"used": "0", "limit": 100}},
    }


def test_usage_another_process_ingests_is_in_the_next_check_still_without_a_query(
    product: APIClient, round_trips: list[bytes], django_capture_on_commit_callbacks: Any
) -> None:
    product.get(CHECK)
    body = {"events": [{"event_id": f"e{n}", "customer": "acme", "metric": "devices",
                        "timestamp": (START + timedelta(days=3, hours=n)).isoformat(),
                        "properties": {"devices": devices}} for n, devices in enumerate([12, 87, 40])]}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):  # the counters move after the commit
        usage_events_ingest_json(body=json.dumps(body).encode(), now=START + timedelta(days=4))
    round_trips.clear()
    with CaptureQueriesContext(connection) as queries:
        got = product.get(CHECK).json()
    assert got["usage"] == {"max_devices": {"used": "87", "limit": 100}}
    assert len(queries) == 0 and round_trips == [b"EVALSHA"]


def test_a_plan_change_another_process_commits_is_seen_by_the_next_check(product: APIClient) -> None:
    product.get(CHECK)
    # the other process's rows change; this process's signals do not run, so its cache is not told
    Entitlement.objects.filter(feature__key="max_devices").update(value=250)
    with CaptureQueriesContext(connection) as queries:
        assert product.get(CHECK).json()["features"]["max_devices"] == 100  # this process's cache...
    assert len(queries) == 0
    redis_client().incr(ALL_KEY)  # type: ignore[union-attr]  # ...until that commit moves the stamp
    got = product.get(CHECK).json()
    assert got["features"] == {"max_devices": 250, "sso": True}
    assert got["usage"] == {"max_devices": {"used": "0", "limit": 250}}


def _another_process_changes_access() -> None:
    """What ``access_changed`` does in the committing process: the stamp, then its Redis mirror."""
    AccessStamp.objects.filter(pk=STAMP_PK).update(version=F("version") + 1)
    access_mirror(AccessStamp.objects.get(pk=STAMP_PK).version)


def test_a_token_another_process_revokes_is_refused_on_the_next_request(product: APIClient) -> None:
    api = client_for(make_staff("svc", "integration"))
    api.get(CHECK)
    with CaptureQueriesContext(connection) as queries:
        assert api.get(CHECK).status_code == 200  # the fast path: no query checks the token
    assert len(queries) == 0
    ApiToken.objects.filter(user__username="svc").update(revoked_at=timezone.now())
    _another_process_changes_access()
    response = api.get(CHECK)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"


def test_a_role_another_process_removes_is_refused_on_the_next_request(product: APIClient) -> None:
    user = make_staff("svc", "integration")
    api = client_for(user)
    api.get(CHECK)
    with CaptureQueriesContext(connection) as queries:
        assert api.get(CHECK).status_code == 200
    assert len(queries) == 0
    # the membership row goes without m2m_changed running here; then the stamp moves
    User.groups.through.objects.filter(user=user).delete()
    _another_process_changes_access()
    assert api.get(CHECK).status_code == 403
    User.groups.through.objects.create(user=user, group=Group.objects.get(name="integration"))
    _another_process_changes_access()
    assert api.get(CHECK).status_code == 200


def test_a_lost_access_mirror_is_written_again_and_the_fast_path_resumes(
    product: APIClient, round_trips: list[bytes]
) -> None:
    product.get(CHECK)
    client = redis_client()
    assert client is not None
    client.delete(access_key())  # Redis restarted: no process may trust its tokens without the database
    with CaptureQueriesContext(connection) as queries:
        assert product.get(CHECK).status_code == 200
    assert any("accounts_apitoken" in q["sql"] for q in queries)
    assert client.get(access_key()) is not None  # written again by the database path
    round_trips.clear()
    with CaptureQueriesContext(connection) as queries:
        assert product.get(CHECK).status_code == 200
    assert len(queries) == 0 and round_trips == [b"EVALSHA"]


def test_with_redis_away_the_database_answers_the_check(product: APIClient, settings: Any) -> None:
    assert product.get(CHECK).json()["features"]["max_devices"] == 100  # cached in this process
    Entitlement.objects.filter(feature__key="max_devices").update(value=250)  # no stamp moves
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: every connection is refused
    with CaptureQueriesContext(connection) as queries:
        response = product.get(CHECK)
    assert response.status_code == 200
    # read from the rows now (no stamp can say a cached profile is fresh), usage from the events
    assert response.json() == {
        "features": {"max_devices": 250, "sso": True},
        "usage": {"max_devices": {"used": "0", "limit": 250}},
    }
    assert any("billing_entitlement" in q["sql"] for q in queries)


def test_a_redis_that_hangs_does_not_hang_the_check(product: APIClient, settings: Any) -> None:
    """A Redis that accepts connections and never answers (a stalled server, a half-open network) costs
    a check at most the configured timeout per Redis call; the database answers it."""
    expected = product.get(CHECK).json()
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept_and_say_nothing() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept_and_say_nothing, daemon=True).start()
    try:
        settings.RATECARD_REDIS_TIMEOUT_SECONDS = 0.3
        settings.REDIS_URL = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
        response = product.get(CHECK)
        assert response.status_code == 200 and response.json() == expected
        assert accepted  # it did reach the silent server, and gave up on it
    finally:
        listener.close()
        for conn in accepted:
            conn.close()


def test_the_check_survives_redis_losing_its_scripts_and_its_connection(product: APIClient) -> None:
    expected = product.get(CHECK).json()
    client = redis_client()
    assert client is not None
    client.script_flush()  # a restarted Redis has no scripts: loaded again on NOSCRIPT
    assert product.get(CHECK).json() == expected
    own = entitlement_reads._own.connection  # this thread's connection for the check
    own.send_command("CLIENT", "ID")
    client.client_kill_filter(_id=own.read_response())  # Redis drops it (a restart, an idle timeout)
    assert product.get(CHECK).json() == expected
    assert entitlement_reads._own.connection is not own


def test_a_change_made_in_another_process_is_seen_by_the_next_check(
    product: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    assert product.get("/api/v1/customers/acme/entitlements").json()["features"]["sso"] is True
    sub = Subscription.objects.get()
    # another process cancels: this process's cache is not told, only the Redis stamp moves
    Subscription.objects.filter(pk=sub.pk).update(status="canceled")
    redis_client().incr(CUSTOMER_KEY.format(sub.customer_id))  # type: ignore[union-attr]
    assert product.get("/api/v1/customers/acme/entitlements").json() == {"features": {}, "usage": {}}
    # a change through the models moves the stamp itself, after commit
    with django_capture_on_commit_callbacks(execute=True):
        sub.status = "active"
        sub.save()
    assert product.get("/api/v1/customers/acme/entitlements").json()["features"]["max_devices"] == 100


def test_the_fast_path_refuses_a_revoked_token_and_a_lost_role_at_once(
    product: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    user = make_staff("svc", "integration")
    api = client_for(user)
    assert api.get("/api/v1/customers/acme/entitlements").status_code == 200
    assert api.get("/api/v1/customers/acme/entitlements").status_code == 200  # the fast path now
    with django_capture_on_commit_callbacks(execute=True):
        user.groups.remove(Group.objects.get(name="integration"))
    assert api.get("/api/v1/customers/acme/entitlements").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        user.groups.add(Group.objects.get(name="integration"))
    assert api.get("/api/v1/customers/acme/entitlements").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        api_token_revoke(token=ApiToken.objects.get(user=user))
    assert api.get("/api/v1/customers/acme/entitlements").status_code == 401


def test_an_unknown_customer_is_404_in_the_error_shape(product: APIClient) -> None:
    product.get("/api/v1/customers/acme/entitlements")
    response = product.get("/api/v1/customers/nobody/entitlements")
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "external_id"
