"""Entitlement-check benchmark: features plus usage against limits, at a paced 2,000 checks/s.

Run from the repo root: ``.venv/bin/python bench/entitlements.py [--seconds 10]``. It recreates the
``ratecard_bench_ent`` database, subscribes 1,000 customers to a plan with two measured limits
(``max_devices``: max of devices, ``max_users``: unique users), ingests usage through the ingestion
service, then measures
1. the service (``customer_entitlements``, what the endpoint calls), paced at ``--rate`` checks/s:
   p50/p99 latency counted from each check's scheduled time (so queueing shows), and the unpaced rate;
2. the HTTP endpoint under gunicorn (2 workers) at the same paced rate from 4 client threads.
Needs PostgreSQL and Redis on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "ratecard_bench_ent"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
BIN = ROOT / ".venv" / "bin"


def setup(customers: int) -> tuple[dict[str, str], str, list[int]]:
    import psycopg

    env = dict(os.environ)
    env.update(
        DATABASE_URL=DATABASE_URL,
        REDIS_URL="redis://127.0.0.1:6379/0",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_SECURE_SSL_REDIRECT="false",  # plain HTTP to gunicorn on 127.0.0.1
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    subprocess.run([str(BIN / "python"), "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    from django.contrib.auth.models import Group, User

    from accounts.models import Customer
    from accounts.services.tokens import api_token_create
    from billing.models import Feature, Subscription
    from billing.services.catalog import PlanDraft, metric_create, plan_create
    from billing.services.usage_ingest import usage_events_ingest
    from billing.services.usage_schema import EventIn

    devices = metric_create(code="devices", name="Devices", aggregation="max", field_name="devices")
    users = metric_create(code="active_users", name="Users", aggregation="unique_count", field_name="user_id")
    version = plan_create(
        draft=PlanDraft(
            code="team",
            name="Team",
            currency="USD",
            features={"max_devices": 100, "max_users": 25, "sso": True},
        )
    )
    Feature.objects.filter(key="max_devices").update(metric=devices)
    Feature.objects.filter(key="max_users").update(metric=users)
    rows = Customer.objects.bulk_create(
        [Customer(external_id=f"cus_{i:05d}", name=f"C{i}", currency="USD") for i in range(customers)]
    )
    now = datetime.now(UTC)
    start = now - timedelta(days=10)
    Subscription.objects.bulk_create(
        [
            Subscription(
                customer=c,
                plan_version=version,
                status="active",
                currency="USD",
                started_at=start,
                billing_anchor="anniversary",
                anchor_at=start,
                timezone="UTC",
                current_period_start=start,
                current_period_end=start + timedelta(days=30),
            )
            for c in rows
        ]
    )
    rng = random.Random(3)
    for batch in range(100):
        events = []
        for i in range(1000):
            customer = f"cus_{rng.randrange(customers):05d}"
            at = now - timedelta(seconds=rng.randint(0, 9 * 86400))
            if i % 2:
                events.append(
                    EventIn(f"d{batch}-{i}", customer, "devices", at, {"devices": rng.randint(1, 120)})
                )
            else:
                events.append(
                    EventIn(
                        f"u{batch}-{i}", customer, "active_users", at, {"user_id": f"u{rng.randint(1, 40)}"}
                    )
                )
        usage_events_ingest(events=events)
    user = User.objects.create_user("bench", password="bench-pw", is_staff=True)
    user.groups.add(Group.objects.get(name="support"))
    _, token = api_token_create(user=user)
    return env, token, [c.pk for c in rows]


def paced(rate: float, seconds: float, check: object, threads: int = 1) -> tuple[list[float], float]:
    """Run ``check(i)`` at ``rate``/s spread over ``threads``; latency from each scheduled start."""
    latencies: list[float] = []
    lock = threading.Lock()
    total = int(rate * seconds)
    begin = time.perf_counter() + 0.2

    def worker(offset: int) -> None:
        mine = []
        for i in range(offset, total, threads):
            scheduled = begin + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            check(i)  # type: ignore[operator]
            mine.append(time.perf_counter() - scheduled)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return latencies, time.perf_counter() - begin


def pct(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    print(f"Setting up {DB_NAME}: {args.customers} subscribed customers, 100,000 events...")
    env, token, ids = setup(args.customers)

    from billing.services.entitlements import customer_entitlements

    rng = random.Random(5)
    sample = customer_entitlements(customer_id=ids[0])
    print(f"  e.g. {sample.usage}")
    for cid in ids:
        customer_entitlements(customer_id=cid)  # warm the Redis counters (rebuilt once from the database)
    picks = [rng.choice(ids) for _ in range(int(args.rate * args.seconds) + 1)]

    started = time.perf_counter()
    for cid in picks[:20000]:
        customer_entitlements(customer_id=cid)
    unpaced = min(20000, len(picks)) / (time.perf_counter() - started)
    latencies, _ = paced(args.rate, args.seconds, lambda i: customer_entitlements(customer_id=picks[i]))
    print(
        f"Service checks: unpaced {unpaced:,.0f} checks/s on one thread; paced at {args.rate:,.0f}/s:"
        f" p50 {pct(latencies, 0.5):.2f} ms, p99 {pct(latencies, 0.99):.2f} ms"
    )

    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{args.port}", "--workers", "2",
         "--worker-class", "gthread", "--threads", "4", "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(3)
        local = threading.local()
        headers = {"Authorization": f"Bearer {token}"}

        def http_check(i: int) -> None:
            if not hasattr(local, "conn"):
                local.conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
            local.conn.request(
                "GET", f"/api/v1/customers/cus_{(picks[i] - ids[0]):05d}/entitlements", headers=headers
            )
            response = local.conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}")

        paced(200, 2, http_check, threads=4)  # warm up
        latencies, elapsed = paced(args.rate, args.seconds, http_check, threads=4)
        print(
            f"HTTP checks (gunicorn, 2 workers): {len(latencies) / elapsed:,.0f} checks/s achieved of {args.rate:,.0f}"
            f" paced: p50 {pct(latencies, 0.5):.2f} ms, p99 {pct(latencies, 0.99):.2f} ms"
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
