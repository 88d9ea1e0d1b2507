from django.db import migrations

from config.search_indexes import create_search_indexes, drop_search_indexes


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    create_search_indexes(schema_editor, "invoicing_invoice", ("number",), reversed_too=True)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    drop_search_indexes(schema_editor, "invoicing_invoice", ("number",))


class Migration(migrations.Migration):
    """The one-box search finds an invoice by its number, its start, its end or a part of it:
    config/search_indexes.py."""

    dependencies = [
        ("invoicing", "0007_billing_run_chunks"),
        ("accounts", "0005_customer_search"),  # pg_trgm
    ]

    operations = [migrations.RunPython(forwards, backwards)]
