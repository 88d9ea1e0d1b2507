"""Invoices keep why they were voided (``void_reason``): finance gives it on the void page.

The column moves after finalization (like ``voided_at``), so it is not one of the guard's frozen columns.
On SQLite adding it remakes the table and drops the guards (0002's docstring): they come off first and
back after, with 0004's rule: still the newest (0005-0009 add no invoice column and no guard rule), so the
columns that move after finalization (status, payment and dunning fields, ``amount_credited`` that never
shrinks, ``voided_at``, ``void_reason``) stay free and the document's columns frozen.
"""

from importlib import import_module

from django.db import migrations, models

guards = import_module("invoicing.migrations.0002_finalized_invoice_triggers")
credited = import_module("invoicing.migrations.0004_invoice_amount_credited")


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0009_stripe_payments"),
    ]

    operations = [
        migrations.RunPython(guards.drop_triggers, credited.create_guards, elidable=False),
        migrations.AddField(
            model_name="historicalinvoice",
            name="void_reason",
            field=models.TextField(blank=True, help_text="Why finance voided the invoice (kept, shown)."),
        ),
        migrations.AddField(
            model_name="invoice",
            name="void_reason",
            field=models.TextField(blank=True, help_text="Why finance voided the invoice (kept, shown)."),
        ),
        migrations.RunPython(credited.create_guards, guards.drop_triggers, elidable=False),
    ]
