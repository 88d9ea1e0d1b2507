"""One-box search benchmark: p50/p99 of ``search()`` over 100,000 customers and 1,000,000 invoices.

Run from the repo root: ``.venv/bin/python bench/search.py [--customers 100000] [--invoices 1000000]
[--queries 400] [--keep]``. It
1. recreates the ``ratecard_bench_search`` database on 127.0.0.1 and migrates it (the search indexes of
   config/search_indexes.py come with the migrations);
2. fills it with SQL ``generate_series`` (a bench, not a billing run): customers with varied names
   ("Brisk Falcon Labs 1234"), e-mails, domains, external ids and Stripe ids, and finalized invoices
   numbered ``INV-<year>-<nnnnnn>`` spread over the customers; then ``ANALYZE``;
3. runs a few hundred varied queries (whole and partial names, e-mails, domains, external ids, Stripe
   ids, invoice numbers, partial numbers, one- and two-letter prefixes, misses) through the selector the
   API calls, warm, one at a time, each ``--runs`` times (its median counts), and prints p50/p99 per
   kind and overall (goal: p99 under 100 ms) with the machine's load average.
``--keep`` reuses a database filled by an earlier run (skips steps 1-2).
Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "ratecard_bench_search"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"

ADJECTIVES = [
    "Brisk",
    "Calm",
    "Bright",
    "Bold",
    "Clever",
    "Daring",
    "Eager",
    "Fancy",
    "Gentle",
    "Happy",
    "Jolly",
    "Keen",
    "Lively",
    "Mighty",
    "Noble",
    "Proud",
    "Quick",
    "Rapid",
    "Sharp",
    "Smart",
    "Solid",
    "Steady",
    "Swift",
    "Tidy",
    "Vivid",
    "Warm",
    "Wise",
    "Zesty",
    "Amber",
    "Azure",
    "Coral",
    "Crimson",
    "Golden",
    "Ivory",
    "Jade",
    "Lunar",
    "Silver",
    "Solar",
    "Urban",
    "Velvet",
]
NOUNS = [
    "Falcon",
    "Otter",
    "Maple",
    "Cedar",
    "Harbor",
    "Summit",
    "River",
    "Meadow",
    "Canyon",
    "Comet",
    "Ember",
    "Forest",
    "Glacier",
    "Horizon",
    "Island",
    "Lantern",
    "Nebula",
    "Orchard",
    "Pebble",
    "Prairie",
    "Quartz",
    "Rocket",
    "Sparrow",
    "Tiger",
    "Tundra",
    "Valley",
    "Willow",
    "Zephyr",
    "Anchor",
    "Beacon",
    "Bridge",
    "Castle",
    "Delta",
    "Engine",
    "Fjord",
    "Garden",
    "Harvest",
    "Kernel",
    "Ledger",
    "Magnet",
    "Nimbus",
    "Oasis",
    "Pillar",
    "Pixel",
    "Quill",
    "Ridge",
    "Signal",
    "Thunder",
    "Vertex",
]
SUFFIXES = ["Labs", "Inc", "GmbH", "Ltd", "Systems", "Analytics", "Cloud", "Works", "Partners", "Software"]


def prepare_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=os.environ)


def sql_array(words: list[str]) -> str:
    return "ARRAY[" + ",".join(f"'{w}'" for w in words) + "]"


def fill(customers: int, invoices: int) -> None:
    from django.db import connection

    name = (
        f"({sql_array(ADJECTIVES)})[1 + i %% {len(ADJECTIVES)}] || ' ' || "
        f"({sql_array(NOUNS)})[1 + (i / {len(ADJECTIVES)}) %% {len(NOUNS)}] || ' ' || "
        f"({sql_array(SUFFIXES)})[1 + (i / 7) %% {len(SUFFIXES)}] || ' ' || i"
    )
    slug = f"lower(({sql_array(NOUNS)})[1 + (i / {len(ADJECTIVES)}) %% {len(NOUNS)}]) || i"
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO accounts_customer (external_id, name, email, domain, currency, timezone,
                billing_anchor, net_terms_days, invoice_grouping, tax_rate_percent, address_line1,
                address_line2, city, postal_code, state, country, tax_id, stripe_customer_id,
                created_at, updated_at)
            SELECT CASE WHEN i %% 3 = 0 THEN 'acct_' || lpad(i::text, 7, '0')
                        ELSE substr(md5('ext' || i), 1, 12) END,
                   {name},
                   CASE i %% 4 WHEN 0 THEN 'billing' WHEN 1 THEN 'finance' WHEN 2 THEN 'ap' ELSE 'ops' END
                       || '@' || {slug} || '.example',
                   {slug} || '.example',
                   'USD', 'UTC', 'anniversary', 30, 'per_customer', 0, '', '', '', '', '', 'US', '',
                   CASE WHEN i %% 10 < 8 THEN 'cus_' || substr(md5('stripe' || i), 1, 14) ELSE '' END,
                   now(), now()
            FROM generate_series(1, %s) AS i
            """,
            [customers],
        )
        print(f"  {customers:,} customers in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        cursor.execute("SELECT min(id) FROM accounts_customer")
        first_id = cursor.fetchone()[0]
        # invoice n: INV-<2024 + n // 400000>-<n % 400000 + 1>, a customer picked by a multiplicative hash
        cursor.execute(
            """
            INSERT INTO invoicing_invoice (customer_id, number, status, currency, billing_date, group_key,
                issued_at, due_at, subtotal, discount, tax, total, credits_applied, amount_paid,
                amount_due, amount_credited, dunning_step, customer_snapshot, seller_snapshot,
                net_terms_days, stripe_payment_intent_id, memo, created_at, updated_at)
            SELECT %s + (n::bigint * 7919) %% %s,
                   'INV-' || (2024 + n / 400000) || '-' || lpad((n %% 400000 + 1)::text, 6, '0'),
                   CASE WHEN n %% 10 = 0 THEN 'open' ELSE 'paid' END, 'USD',
                   timestamptz '2024-01-01' + (n / 400000) * interval '1 year' + (n %% 400000) * interval '1 minute',
                   '', now(), now(), 100, 0, 0, 100, 0,
                   CASE WHEN n %% 10 = 0 THEN 0 ELSE 100 END, CASE WHEN n %% 10 = 0 THEN 100 ELSE 0 END,
                   0, 0, '{}', '{}', 30, '', '', now(), now()
            FROM generate_series(0, %s - 1) AS n
            """,
            [first_id, customers, invoices],
        )
        print(f"  {invoices:,} invoices in {time.perf_counter() - started:.1f} s", flush=True)
        cursor.execute("ANALYZE accounts_customer")
        cursor.execute("ANALYZE invoicing_invoice")


def queries(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """``(kind, query)`` pairs drawn from what exists, plus parts of it and misses."""
    from accounts.models import Customer
    from invoicing.models import Invoice

    rng = random.Random(seed)
    total = Customer.objects.count()
    sample = list(
        Customer.objects.filter(pk__in=[rng.randint(1, total) for _ in range(count)]).values(
            "name", "email", "domain", "external_id", "stripe_customer_id"
        )
    )
    numbers = list(
        Invoice.objects.filter(
            pk__in=[rng.randint(1, Invoice.objects.count()) for _ in range(count)]
        ).values_list("number", flat=True)
    )
    makers = [
        ("name", lambda c, n: c["name"]),
        ("name part", lambda c, n: c["name"].split()[1]),
        ("name prefix", lambda c, n: c["name"][: rng.randint(1, 6)]),
        ("email", lambda c, n: c["email"]),
        ("email part", lambda c, n: c["email"].split("@")[1][:8]),
        ("domain", lambda c, n: c["domain"]),
        ("external id", lambda c, n: c["external_id"]),
        ("external id part", lambda c, n: c["external_id"][2:9]),
        ("stripe id", lambda c, n: c["stripe_customer_id"] or "cus_0000"),
        ("invoice number", lambda c, n: n),
        ("invoice number part", lambda c, n: n[-rng.randint(3, 6) :]),
        ("invoice prefix", lambda c, n: n[: rng.randint(1, 10)]),
        ("miss", lambda c, n: rng.choice(["zzqx", "nobody@nowhere", "INV-1999-000001", "qwertyuiop", "x"])),
    ]
    out = []
    for i in range(count):
        kind, make = makers[i % len(makers)]
        out.append((kind, make(rng.choice(sample), rng.choice(numbers))))
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="time each query this many times and keep its median (a shared machine's preemptions "
        "otherwise land on random queries); 1 for single shots",
    )
    parser.add_argument("--keep", action="store_true", help="reuse the database of an earlier run")
    args = parser.parse_args()
    os.environ.update(
        DATABASE_URL=DATABASE_URL, LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="config.settings"
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    if not args.keep:
        print(f"recreating {DB_NAME} and filling it", flush=True)
        prepare_database()
    import django

    django.setup()
    from invoicing.selectors.search import search

    if not args.keep:
        fill(args.customers, args.invoices)
    work = queries(args.queries)
    for _, q in work[:50]:  # warm the connection, plans and caches
        search(q=q)
    timings: dict[str, list[float]] = {}
    found = 0
    for kind, q in work:
        runs = []
        for _ in range(args.runs):
            started = time.perf_counter()
            hits = search(q=q)
            runs.append((time.perf_counter() - started) * 1000)
        timings.setdefault(kind, []).append(statistics.median(runs))
        found += bool(hits)
    every = [t for values in timings.values() for t in values]
    load = os.getloadavg()[0]
    print(
        f"\n{len(work)} queries, {found} with results; ms per search() as GET /api/v1/search calls it, "
        f"median of {args.runs} runs each; load average {load:.1f} on {os.cpu_count()} cores"
    )
    print(f"{'kind':<22}{'n':>5}{'p50':>9}{'p99':>9}{'max':>9}")
    for kind, values in timings.items():
        print(
            f"{kind:<22}{len(values):>5}{statistics.median(values):>9.2f}{percentile(values, 99):>9.2f}{max(values):>9.2f}"
        )
    print(
        f"{'all':<22}{len(every):>5}{statistics.median(every):>9.2f}{percentile(every, 99):>9.2f}{max(every):>9.2f}"
    )


if __name__ == "__main__":
    main()
