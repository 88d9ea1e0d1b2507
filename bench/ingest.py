"""Ingestion benchmark: POST /api/v1/events under gunicorn against PostgreSQL, all on 127.0.0.1.

Run from the repo root: ``.venv/bin/python bench/ingest.py [--seconds 30]``. It
1. recreates the ``ratecard_bench`` database, migrates it, creates 10,000 customers and 4 metrics;
2. starts gunicorn (2 workers x 4 threads) on 127.0.0.1 and posts batches of 1,000 events from
   concurrent clients for ``--seconds``: events/s, p50/p99 batch latency;
3. replays every batch of the first pass (all duplicates): events/s, and that nothing was counted twice;
4. COPYs the same rows into the same table on one connection: the raw rate, and the API/COPY ratio;
5. loads one month of ``--aggregate-events`` events across the customers (generated in SQL, rollups
   built from them) and times ``usage_quantities`` for 10,000 customers, as a billing run calls it.
Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379.
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
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "ratecard_bench"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/0"
BIN = ROOT / ".venv" / "bin"


def setup_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_SECURE_SSL_REDIRECT="false",  # plain HTTP to gunicorn on 127.0.0.1
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    return env


def recreate_database(env: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    subprocess.run([str(BIN / "python"), "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def seed(customers: int) -> str:
    """Customers, metrics, a finance user; returns its API token."""
    import django

    django.setup()
    from django.contrib.auth.models import Group, User

    from accounts.models import Customer
    from accounts.services.tokens import api_token_create
    from billing.services.catalog import metric_create

    Customer.objects.bulk_create(
        [
            Customer(external_id=f"cus_{i:05d}", name=f"Customer {i}", currency="USD")
            for i in range(customers)
        ],
        batch_size=2000,
    )
    metric_create(code="api_calls", name="API calls", aggregation="count")
    metric_create(code="relay_gb", name="Relay GB", aggregation="sum", field_name="gb")
    metric_create(code="devices", name="Devices", aggregation="max", field_name="devices")
    metric_create(code="active_users", name="Active users", aggregation="unique_count", field_name="user_id")
    user = User.objects.create_user("bench", password="bench-pw", is_staff=True)
    user.groups.add(Group.objects.get(name="finance"))
    _, token = api_token_create(user=user)
    return token


def make_bodies(count: int, customers: int, batch: int) -> list[bytes]:
    """Request bodies of ``batch`` events each: a realistic mix of the four metrics, timestamps in the
    last two hours (real-time ingestion), unique event ids."""
    import msgspec

    rng = random.Random(7)
    now = datetime.now(UTC)
    encoder = msgspec.json.Encoder()
    bodies = []
    for b in range(count):
        events = []
        for i in range(batch):
            kind = rng.random()
            properties: dict[str, object]
            if kind < 0.55:
                metric, properties = "api_calls", {"path": "/v1/things", "status": 200}
            elif kind < 0.8:
                metric, properties = "relay_gb", {"gb": round(rng.random() * 2, 3), "region": "eu"}
            elif kind < 0.9:
                metric, properties = "devices", {"devices": rng.randint(1, 500)}
            else:
                metric, properties = "active_users", {"user_id": f"u{rng.randint(1, 50_000)}"}
            events.append(
                {
                    "event_id": f"evt-{b}-{i}",
                    "customer": f"cus_{rng.randrange(customers):05d}",
                    "metric": metric,
                    "timestamp": (now - timedelta(seconds=rng.randint(0, 7200))).isoformat(),
                    "properties": properties,
                }
            )
        bodies.append(encoder.encode({"events": events}))
    return bodies


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/events")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("gunicorn did not start")


def post_batches(
    port: int, token: str, bodies: list[bytes], clients: int, seconds: float | None
) -> tuple[float, list[float], int, int, int]:
    """Post ``bodies`` (each once, in order, shared by the clients) until done or ``seconds`` pass.

    Returns (elapsed, latencies, batches sent, accepted, duplicates).
    """
    import json

    lock = threading.Lock()
    cursor = [0]
    latencies: list[float] = []
    totals = [0, 0]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = time.monotonic()
    stop_at = started + seconds if seconds else float("inf")

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                index = cursor[0]
                if index >= len(bodies) or time.monotonic() >= stop_at:
                    return
                cursor[0] += 1
            t0 = time.perf_counter()
            conn.request("POST", "/api/v1/events", body=bodies[index], headers=headers)
            response = conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - t0
            if response.status != 202:
                raise SystemExit(f"batch {index}: HTTP {response.status} {payload[:300]!r}")
            result = json.loads(payload)
            with lock:
                latencies.append(elapsed)
                totals[0] += result["accepted"]
                totals[1] += result["duplicates"]

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started, latencies, len(latencies), totals[0], totals[1]


def checkpoint() -> None:
    """Flush dirty pages first so a checkpoint does not fall inside one measured phase only."""
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def copy_rate(bodies: list[bytes]) -> tuple[int, float]:
    """Raw single-connection binary COPY of the same rows into the same table (no validation, no dedup)."""
    import msgspec
    import psycopg

    from billing.services.usage_schema import BATCH_DECODER, PROPERTIES_ENCODER

    with psycopg.connect(DATABASE_URL) as conn:
        customers: dict[str, int] = dict(
            conn.execute("SELECT external_id, id FROM accounts_customer").fetchall()
        )
        metrics: dict[str, int] = dict(conn.execute("SELECT code, id FROM billing_billablemetric").fetchall())
        fields = {"relay_gb": "gb", "devices": "devices"}
        rows = []
        for body in bodies:
            for ev in BATCH_DECODER.decode(body).events:
                field = fields.get(ev.metric)
                value = Decimal(str(ev.properties[field])) if field else None
                distinct = str(ev.properties["user_id"]) if ev.metric == "active_users" else None
                rows.append(
                    (
                        customers[ev.customer],
                        metrics[ev.metric],
                        "copy-" + ev.event_id,
                        ev.timestamp,
                        value,
                        distinct,
                        PROPERTIES_ENCODER.encode(ev.properties).decode(),
                    )
                )
        del msgspec
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                'COPY billing_usageevent (customer_id, metric_id, event_id, "timestamp", value,'
                " distinct_value, properties) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["int8", "int8", "text", "timestamptz", "numeric", "text", "jsonb"])
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
        # leave the table as the API left it: the next steps must not count these rows
        conn.execute("DELETE FROM billing_usageevent WHERE event_id LIKE 'copy-%%'")
        conn.commit()
    return len(rows), elapsed


def aggregation_time(events: int, customers: int) -> tuple[float, float, int]:
    """Load one past month of ``events`` count events (SQL-generated) + rollups; time a billing run's
    aggregation for every customer (rollups) and, for reference, a unique_count (raw events)."""
    import psycopg

    from billing.models import BillableMetric
    from billing.services.usage import UsageQuery, usage_quantities

    today = datetime.now(UTC).date().replace(day=1)
    month_start = (today - timedelta(days=1)).replace(day=1)
    start = datetime(month_start.year, month_start.month, 1, tzinfo=UTC)
    end = datetime(today.year, today.month, 1, tzinfo=UTC)
    seconds = int((end - start).total_seconds())
    count_id = BillableMetric.objects.get(code="api_calls").pk
    unique_id = BillableMetric.objects.get(code="active_users").pk
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        low = conn.execute("SELECT min(id) FROM accounts_customer").fetchone()[0]  # type: ignore[index]
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        t0 = time.perf_counter()
        conn.execute(
            """
            INSERT INTO billing_usageevent (customer_id, metric_id, event_id, "timestamp", value, distinct_value,
                                            properties)
            SELECT %s + (g %% %s), CASE WHEN g %% 10 = 0 THEN %s ELSE %s END, 'agg-' || g,
                   %s::timestamptz + ((hashint4(g)::bigint & 2147483647) %% %s) * interval '1 second',
                   NULL, CASE WHEN g %% 10 = 0 THEN 'u' || (g %% 5000) END, '{}'::jsonb
            FROM generate_series(1, %s) AS g
            """,
            [low, customers, unique_id, count_id, start, seconds, events],
        )
        conn.execute(
            """
            INSERT INTO billing_usagerollup (customer_id, metric_id, hour, count, sum, max)
            SELECT customer_id, metric_id, date_trunc('hour', "timestamp", 'UTC'), count(*), 0, NULL
            FROM billing_usageevent WHERE "timestamp" >= %s AND "timestamp" < %s GROUP BY 1, 2, 3
            ON CONFLICT DO NOTHING
            """,
            [start, end],
        )
        conn.execute("VACUUM ANALYZE billing_usagerollup")
        conn.execute("VACUUM ANALYZE billing_usageevent")
        load = time.perf_counter() - t0
    ids = [low + i for i in range(customers)]
    queries = [UsageQuery(customer_id=c, metric_id=count_id, start=start, end=end) for c in ids]
    t0 = time.perf_counter()
    result = usage_quantities(queries=queries)
    count_seconds = time.perf_counter() - t0
    total = int(sum(result.values()))
    unique_queries = [UsageQuery(customer_id=c, metric_id=unique_id, start=start, end=end) for c in ids]
    t0 = time.perf_counter()
    usage_quantities(queries=unique_queries)
    unique_seconds = time.perf_counter() - t0
    print(f"  (loaded {events:,} events + rollups in {load:.0f} s)")
    return count_seconds, unique_seconds, total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the first pass (default 30)")
    parser.add_argument("--clients", type=int, default=6, help="concurrent HTTP clients")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--aggregate-events", type=int, default=10_000_000, help="0 skips the aggregation step"
    )
    args = parser.parse_args()

    env = setup_environment()
    print(f"Setting up {DB_NAME} ({args.customers:,} customers)...")
    recreate_database(env)
    token = seed(args.customers)
    batches = int(args.seconds * 80) + 50  # enough for 80,000 events/s
    bodies = make_bodies(batches, args.customers, 1000)
    server = start_server(env, args.port)
    try:
        warm_up, bodies = bodies[-4:], bodies[:-4]
        post_batches(args.port, token, warm_up, 2, None)
        checkpoint()
        elapsed, latencies, sent, accepted, duplicates = post_batches(
            args.port, token, bodies, args.clients, args.seconds
        )
        rate = accepted / elapsed
        print(f"API first pass: {sent} batches of 1,000 in {elapsed:.1f} s with {args.clients} clients")
        print(f"  {rate:,.0f} events/s accepted ({accepted:,} accepted, {duplicates:,} duplicates)")
        print(
            f"  batch latency p50 {percentile(latencies, 0.5) * 1000:.0f} ms,"
            f" p99 {percentile(latencies, 0.99) * 1000:.0f} ms"
        )
        replay_elapsed, replay_lat, _, replay_accepted, replay_dup = post_batches(
            args.port, token, bodies[:sent], args.clients, None
        )
        replay_rate = (replay_accepted + replay_dup) / replay_elapsed
        print(
            f"API replay of the same {sent} batches: {replay_rate:,.0f} events/s"
            f" ({replay_rate / rate:.0%} of the first pass), accepted {replay_accepted}, duplicates {replay_dup:,},"
            f" p99 {percentile(replay_lat, 0.99) * 1000:.0f} ms"
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    from billing.models import UsageEvent

    stored = UsageEvent.objects.count()
    print(f"  stored events: {stored:,} (= accepted: {stored == accepted + 4000})")
    checkpoint()
    rows, copy_seconds = copy_rate(bodies[:sent])
    copy_per_s = rows / copy_seconds
    print(f"Raw COPY, one connection, same rows into the same table: {copy_per_s:,.0f} rows/s")
    print(f"  API / COPY ratio: {rate / copy_per_s:.0%}")
    if args.aggregate_events:
        count_s, unique_s, total = aggregation_time(args.aggregate_events, args.customers)
        print(
            f"Billing-run aggregation, one month, {args.customers:,} customers: count (rollups) {count_s:.2f} s"
            f" (total {total:,} events), unique_count (raw, exact) {unique_s:.2f} s"
        )


if __name__ == "__main__":
    main()
