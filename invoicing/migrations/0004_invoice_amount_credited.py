"""Invoices carry ``amount_credited``; lines carry their share of the discounts that cover them.

- ``Invoice.amount_credited``: the sum of the credit notes issued against the invoice, filled here for
  existing invoices from their credit notes. It moves after finalization (like ``amount_paid``), so the
  finalized-invoice guard of 0002 is replaced by one that lets it change but never shrink (a credit
  note is never taken back).
- ``InvoiceLine.discount_share`` / ``tax_in_covered_lines``: tax is computed on each line's amount after
  its share of the coupon discount (DESIGN.md), and a coupon line's tax is 0. Lines written before this
  migration keep what they were issued with (share 0, the discount line with its own tax).

On SQLite, adding these columns remakes both tables (0002's module docstring): the guards are dropped
first and created again after the data fill, with the new rule, on both databases.
"""

from importlib import import_module

from django.db import migrations, models
from django.db.models import OuterRef, Subquery, Sum

guards = import_module("invoicing.migrations.0002_finalized_invoice_triggers")

_NEVER_SHRINKS = "NEW.amount_credited < OLD.amount_credited"

PG_GUARD = guards.PG_CREATE[0].replace(
    "        IF (",
    f"""        IF {_NEVER_SHRINKS} THEN
            RAISE EXCEPTION 'invoice % (id %) is finalized: its amount credited cannot go down',
                OLD.number, OLD.id USING ERRCODE = 'restrict_violation';
        END IF;
        IF (""",
    1,
)
assert _NEVER_SHRINKS in PG_GUARD

SQLITE_CREATE = [
    sql.replace("OR (OLD.status = 'void'", f"OR {_NEVER_SHRINKS} OR (OLD.status = 'void'", 1)
    for sql in guards.SQLITE_CREATE
]
assert _NEVER_SHRINKS in SQLITE_CREATE[0]


def fill_amount_credited(apps, schema_editor):
    Invoice = apps.get_model("invoicing", "Invoice")
    CreditNote = apps.get_model("invoicing", "CreditNote")
    credited = (
        CreditNote.objects.filter(invoice=OuterRef("pk"))
        .values("invoice")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    Invoice.objects.filter(credit_notes__isnull=False).distinct().update(amount_credited=Subquery(credited))


def create_guards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": [PG_GUARD, *guards.PG_CREATE[1:]], "sqlite": SQLITE_CREATE}.get(vendor)
    if statements is None:
        raise RuntimeError(f"invoicing 0003: no finalized-invoice triggers for the {vendor!r} database")
    for sql in statements:
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0003_documents_email_outbox"),
    ]

    operations = [
        # 0002's guards come off first: on SQLite a line trigger naming invoicing_invoice would break the
        # table remake below; they come back at the end with the amount_credited rule
        migrations.RunPython(guards.drop_triggers, guards.create_triggers, elidable=False),
        migrations.AddField(
            model_name="invoice",
            name="amount_credited",
            field=models.DecimalField(decimal_places=4, default=0, max_digits=20),
        ),
        migrations.AddField(
            model_name="historicalinvoice",
            name="amount_credited",
            field=models.DecimalField(decimal_places=4, default=0, max_digits=20),
        ),
        migrations.AddField(
            model_name="invoiceline",
            name="discount_share",
            field=models.DecimalField(
                decimal_places=4,
                default=0,
                help_text="This line's share of the discounts covering it.",
                max_digits=20,
            ),
        ),
        migrations.AddField(
            model_name="invoiceline",
            name="tax_in_covered_lines",
            field=models.BooleanField(
                default=False, help_text="A discount split over the lines it covers: its tax is in theirs."
            ),
        ),
        migrations.RunPython(fill_amount_credited, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(create_guards, guards.drop_triggers, elidable=False),
    ]
