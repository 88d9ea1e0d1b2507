from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from config.search_indexes import create_search_indexes, drop_search_indexes

COLUMNS = ("name", "email", "domain", "external_id", "stripe_customer_id")


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    create_search_indexes(schema_editor, "accounts_customer", COLUMNS)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    drop_search_indexes(schema_editor, "accounts_customer", COLUMNS)


class Migration(migrations.Migration):
    """The one-box search: its permission, pg_trgm (a no-op on SQLite) and the customer indexes."""

    dependencies = [("accounts", "0004_system_actor")]

    operations = [
        TrigramExtension(),
        migrations.AlterModelOptions(
            name="customer",
            options={
                "ordering": ["name", "id"],
                "permissions": [("search_customers", "Can search customers and invoices in one box")],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
