"""Entitlement-check benchmark: features plus usage against limits, over HTTP against a bare Django view.

Run from the repo root: ``.venv/bin/python bench/entitlements.py [--seconds 10] [--reuse]``. It recreates the
``ratecard_bench_ent`` database (``--reuse``: keeps the last one), subscribes 1,000 customers to a plan
with two measured limits (``max_devices``: max of devices, ``max_users``: unique users) declared through
the plan's features (``{"limit": n, "metric": code}``), ingests 100,000 events through the ingestion
service, then measures
1. the service (``customer_entitlements``, what the endpoint calls) on one thread: the unpaced rate and
   p50/p99 paced at ``--rate``;
2. over HTTP, gunicorn with 2 workers (gthread) on PostgreSQL and Redis, driven by ``wrk`` (closed loop,
   ``--connections`` keep-alive connections, every request a random customer): the bare Django JSON view
   ``GET /healthz`` and ``GET /api/v1/customers/{id}/entitlements`` with a Bearer token, alternately for
   ``--rounds`` rounds; prints checks/s, p50 and p99 of each, and the ratio entitlements / bare.
Between the two, the CPU time per request of both views through Django's WSGI handler in this process: a
figure that other work on the machine barely moves.
The machine's load average is printed before and after: the HTTP figures are only comparable within a run.
Needs PostgreSQL and Redis on 127.0.0.1 and ``wrk`` (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "ratecard_bench_ent"  # --database: people sharing a machine each use their own
BIN = ROOT / ".venv" / "bin"


def setup(
    customers: int, reuse: bool, redis_url: str, db_name: str = DB_NAME
) -> tuple[dict[str, str], str, list[int]]:
    import psycopg

    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{db_name}",
        REDIS_URL=redis_url,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_SECURE_SSL_REDIRECT="false",  # plain HTTP to gunicorn on 127.0.0.1
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    if reuse:
        import django

        django.setup()
        from django.contrib.auth.models import User

        from accounts.models import Customer
        from accounts.services.tokens import api_token_create

        _, token = api_token_create(user=User.objects.get(username="bench"))
        return env, token, list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {db_name}")
    subprocess.run([str(BIN / "python"), "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    import redis

    # a new database starts its access stamp again: its Redis mirror (which only grows) starts again too
    client = redis.Redis.from_url(redis_url)
    stale = [*client.scan_iter(f"rc:access:v:{db_name}"), *client.scan_iter("rc:ent:v:*")]
    stale += list(client.scan_iter("rc:usage:*"))
    if stale:
        client.delete(*stale)

    import django

    django.setup()
    from django.contrib.auth.models import Group, User

    from accounts.models import Customer
    from accounts.services.tokens import api_token_create
    from billing.models import Subscription
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
            features={
                "max_devices": {"limit": 100, "metric": devices.code},
                "max_users": {"limit": 25, "metric": users.code},
                "sso": True,
            },
        )
    )
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
    # the steady state: autovacuum reacting to the 100,000 new rows mid-measurement is not the check's cost
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
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
    parser.add_argument("--connections", type=int, default=4, help="wrk's keep-alive connections")
    parser.add_argument("--threads", type=int, default=2, help="gunicorn threads per worker")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warm", type=int, default=120, help="at most this many seconds of warm-up checks")
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="a Redis database nobody else flushes or writes stamps into while the bench runs",
    )
    parser.add_argument("--reuse", action="store_true", help="keep the last run's database")
    parser.add_argument("--database", default=DB_NAME, help="the PostgreSQL database it (re)creates")
    args = parser.parse_args()
    if not args.reuse:
        print(f"Setting up {args.database}: {args.customers} subscribed customers, 100,000 events...")
    env, token, ids = setup(args.customers, args.reuse, args.redis_url, args.database)

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
    paths = [f"/api/v1/customers/cus_{i:05d}/entitlements" for i in range(len(ids))]
    bare_us, check_us = wsgi_cpu(paths, token, args.seconds)
    print(
        f"In-process CPU per request through Django's WSGI handler (every middleware, no HTTP server):"
        f" bare {bare_us:.0f} us, check {check_us:.0f} us (+{check_us - bare_us:.0f} us)"
    )

    print(
        f"Load average before HTTP: {'/'.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{args.port}", "--workers", "2",
         "--worker-class", "gthread", "--threads", str(args.threads), "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(3)
        bare = ["/healthz"]
        wrk(args.port, bare, "", 2, args.connections)  # warm both workers
        # the product checks the same customers again and again: measure that steady state, with every
        # customer's profile cached in both workers (random customers until the rate stops growing)
        last = 0.0
        for round_ in range(max(1, args.warm // 5)):  # until the rate stops growing: all cached
            rate = wrk(args.port, paths, token, 5, args.connections)["rate"]
            print(f"  warming: {rate:,.0f} checks/s")
            if round_ >= 5 and rate < last * 1.1:
                break
            last = max(last, rate)
        results: dict[str, list[dict[str, float]]] = {"bare": [], "entitlements": []}
        for _ in range(args.rounds):
            results["bare"].append(wrk(args.port, bare, "", args.seconds, args.connections))
            results["entitlements"].append(wrk(args.port, paths, token, args.seconds, args.connections))
        means = {}
        for name, rounds in results.items():
            rate = sum(r["rate"] for r in rounds) / len(rounds)
            p50 = sum(r["p50_ms"] for r in rounds) / len(rounds)
            p99 = sum(r["p99_ms"] for r in rounds) / len(rounds)
            means[name] = rate
            each = ", ".join(f"{r['rate']:,.0f}/s p99 {r['p99_ms']:.2f} ms" for r in rounds)
            bad = sum(r["non2xx"] + r["errors"] for r in rounds)
            label = "bare Django JSON view (/healthz)" if name == "bare" else "entitlement checks"
            print(
                f"HTTP {label}: {rate:,.0f}/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms  [{each}; non-2xx/errors {bad}]"
            )
        print(f"Ratio entitlements / bare: {means['entitlements'] / means['bare']:.2f}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(f"Load average after: {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")


def wsgi_cpu(paths: list[str], token: str, seconds: float) -> tuple[float, float]:
    """CPU time per request (us) of the bare view and of the check, called through Django's WSGI handler in
    this process: the request/response cycle and every middleware, without gunicorn, sockets or wrk.

    CPU time of this thread, not wall time, in alternating batches, the quickest batch of each: a figure
    that other work on the machine barely moves, unlike the HTTP figures (which add the server's and the
    client's own costs, and the check's Redis round trip as the kernel and Redis see it).
    """
    import io

    from django.core.handlers.wsgi import WSGIHandler

    app = WSGIHandler()
    rng = random.Random(7)

    def call(path: str, auth: str) -> None:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
                   "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1",
                   "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
                   "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True,
                   "wsgi.run_once": False, "wsgi.version": (1, 0)}  # fmt: skip
        if auth:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {auth}"
        status: list[str] = []

        def start_response(line: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(line)
            return None

        body = app(environ, start_response)
        b"".join(body)
        body.close()  # type: ignore[attr-defined]
        assert status[0].startswith("200"), (path, status)

    def batch(path_of: Any, auth: str, n: int = 200) -> float:
        started = time.thread_time()
        for _ in range(n):
            call(path_of(), auth)
        return (time.thread_time() - started) / n * 1e6

    bare: list[float] = []
    check: list[float] = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        call(paths[0], token)  # the token checked in the database within FAST_AUTH_SECONDS: the fast path
        bare.append(batch(lambda: "/healthz", ""))
        check.append(batch(lambda: rng.choice(paths), token))
    return min(bare), min(check)


WRK_SCRIPT = """
local paths = {%s}
local token = "%s"
request = function()
  local headers = {}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("GET", paths[math.random(#paths)], headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def wrk(port: int, paths: list[str], token: str, seconds: float, connections: int) -> dict[str, float]:
    """One closed-loop wrk run (2 threads): requests/s, p50 and p99 in ms, non-2xx and socket errors."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % (", ".join(f'"{p}"' for p in paths), token))
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-s", script.name, f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
    line = next(row for row in out.splitlines() if row.startswith("RESULT"))
    requests, duration_us, p50, p99, non2xx, errors = (int(x) for x in line.split()[1:])
    return {
        "rate": requests / (duration_us / 1e6),
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "non2xx": non2xx,
        "errors": errors,
    }


if __name__ == "__main__":
    main()
