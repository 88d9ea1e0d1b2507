"""What a django-money ``MoneyField`` would cost where Ratecard keeps Decimal columns beside one currency.

Run from the repo root: ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python
bench/money_fields.py [--rows 100000] [--runs 5]`` (any migrated or empty PostgreSQL database: it only
creates and drops its own table ``bench_money_lines``). It

1. fills ``bench_money_lines`` with ``--rows`` invoice-line-shaped rows: four amounts (amount, tax,
   discount share at 4 places, unit amount at 12) and one ``currency`` column, plus the four per-field
   currency columns a MoneyField brings (``amount_currency``, ...), so both shapes read the same table;
2. times loading every row and reading its four amounts three ways (median of ``--runs``):
   ``decimal``: the model Ratecard has (Decimal fields, one currency); ``money_per_row``: the same rows
   with a ``Money`` built per amount from the row's currency, as django-money's descriptor does;
   ``moneyfield``: a model whose four amounts are ``MoneyField``s;
3. checks whether MoneyFields can share one currency column (``currency_field_name="currency"`` on
   all four, the document-currency shape the issue asked for) and prints what django-money 3.6 does.

Its figures are in docs/money.md ("Why amounts are Decimal columns beside one currency column").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TABLE = "bench_money_lines"
SHARED_TABLE = "bench_money_shared"  # temporary, rolled back
AMOUNTS = ("amount", "tax", "discount_share", "unit_amount")


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def create_table(rows: int) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(
            f"""CREATE TABLE {TABLE} (
                id bigserial PRIMARY KEY,
                currency varchar(3) NOT NULL,
                amount numeric(20, 4) NOT NULL, amount_currency varchar(3) NOT NULL,
                tax numeric(20, 4) NOT NULL, tax_currency varchar(3) NOT NULL,
                discount_share numeric(20, 4) NOT NULL, discount_share_currency varchar(3) NOT NULL,
                unit_amount numeric(28, 12) NOT NULL, unit_amount_currency varchar(3) NOT NULL
            )"""
        )
        # amounts of every size; a sub-cent unit price on every tenth row
        cur.execute(
            f"""INSERT INTO {TABLE} (currency, amount, amount_currency, tax, tax_currency, discount_share,
                    discount_share_currency, unit_amount, unit_amount_currency)
                SELECT c, a, c, round(a * 0.19, 2), c, round(a * 0.05, 2), c,
                       CASE WHEN i %% 10 = 0 THEN 0.0004 ELSE a END, c
                FROM (SELECT i, (ARRAY['USD', 'EUR', 'JPY'])[1 + i %% 3] AS c,
                             round((i %% 100000) * 1.37 + 0.5, 2) AS a
                      FROM generate_series(1, %s) AS i) s""",
            [rows],
        )
        cur.execute(f"ANALYZE {TABLE}")


def models() -> tuple[Any, Any]:
    """Two unmanaged models over the bench table: Decimal columns, and MoneyFields."""
    from django.db import models as m
    from djmoney.models.fields import MoneyField

    class DecimalLine(m.Model):  # noqa: DJ008 (a throwaway bench model)
        currency = m.CharField(max_length=3)
        amount = m.DecimalField(max_digits=20, decimal_places=4)
        tax = m.DecimalField(max_digits=20, decimal_places=4)
        discount_share = m.DecimalField(max_digits=20, decimal_places=4)
        unit_amount = m.DecimalField(max_digits=28, decimal_places=12)

        class Meta:
            app_label = "invoicing"
            managed = False
            db_table = TABLE

    class MoneyLine(m.Model):  # noqa: DJ008
        amount = MoneyField(max_digits=20, decimal_places=4)
        tax = MoneyField(max_digits=20, decimal_places=4)
        discount_share = MoneyField(max_digits=20, decimal_places=4)
        unit_amount = MoneyField(max_digits=28, decimal_places=12)

        class Meta:
            app_label = "invoicing"
            managed = False
            db_table = TABLE

    return DecimalLine, MoneyLine


def shared_currency_column() -> str:
    """What django-money does with two MoneyFields naming one ``currency`` column: it builds the model
    (no check fails), keeps one CurrencyField (tied to the first field), and a row saved with amounts in
    two currencies comes back with both in the last one set: nothing guards the shared column."""
    from django.db import connection, transaction
    from django.db import models as m
    from djmoney.models.fields import MoneyField
    from djmoney.money import Money

    class SharedCurrencyLine(m.Model):  # noqa: DJ008
        amount = MoneyField(max_digits=20, decimal_places=4, currency_field_name="currency")
        tax = MoneyField(max_digits=20, decimal_places=4, currency_field_name="currency")

        class Meta:
            app_label = "invoicing"
            managed = False
            db_table = SHARED_TABLE

    currency_fields = [f.name for f in SharedCurrencyLine._meta.local_fields if f.name == "currency"]
    errors = [f"{e.id}: {e.msg}" for e in SharedCurrencyLine.check()]
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                f"CREATE TEMPORARY TABLE {SHARED_TABLE} (id bigserial PRIMARY KEY, currency varchar(3) "
                "NOT NULL, amount numeric(20, 4) NOT NULL, tax numeric(20, 4) NOT NULL)"
            )
        rows: Any = SharedCurrencyLine._default_manager
        row = rows.create(amount=Money("1.50", "EUR"), tax=Money("2.00", "USD"))
        back = rows.get(pk=row.pk)
        transaction.set_rollback(True)
    return (
        f"{len(currency_fields)} currency column, checks: {errors or 'none'}; "
        f"saved amount=1.50 EUR, tax=2.00 USD, read back amount={back.amount!r}, tax={back.tax!r}"
    )


def timed(call: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    setup_django()
    from django.db import connection
    from djmoney.money import Money

    create_table(args.rows)
    decimal_line, money_line = models()

    def load_decimal() -> Decimal:
        total = Decimal(0)
        for line in decimal_line.objects.all().iterator(chunk_size=5000):
            for name in AMOUNTS:
                total += getattr(line, name)
        return total

    def load_money_per_row() -> Decimal:
        total = Decimal(0)
        for line in decimal_line.objects.all().iterator(chunk_size=5000):
            for name in AMOUNTS:
                total += Money(getattr(line, name), line.currency).amount
        return total

    def load_moneyfield() -> Decimal:
        total = Decimal(0)
        for line in money_line.objects.all().iterator(chunk_size=5000):
            for name in AMOUNTS:
                total += getattr(line, name).amount
        return total

    assert load_decimal() == load_moneyfield() == load_money_per_row()  # the same figures every way
    shared = shared_currency_column()
    results = {
        "decimal": timed(load_decimal, args.runs),
        "money_per_row": timed(load_money_per_row, args.runs),
        "moneyfield": timed(load_moneyfield, args.runs),
    }
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT pg_column_size(currency) * 4, pg_total_relation_size('{TABLE}') FROM {TABLE} LIMIT 1"
        )
        extra_bytes, table_bytes = cur.fetchone()
    base = results["decimal"]
    print(f"{args.rows:,} invoice lines x {len(AMOUNTS)} amounts, median of {args.runs} runs")
    for name, seconds in results.items():
        print(f"  {name:14} {seconds:7.3f} s  {seconds / base:5.2f}x  {args.rows / seconds:10,.0f} rows/s")
    print(f"  MoneyField's own currency columns: ~{extra_bytes} bytes a row ({len(AMOUNTS)} x varchar(3))")
    print(f"  bench table (both shapes' columns): {table_bytes / 1e6:.1f} MB")
    print(f"  shared currency column: {shared}")
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")


if __name__ == "__main__":
    main()
