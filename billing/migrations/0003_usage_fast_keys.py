# PostgreSQL only, found by bench/ingest.py: byte-wise ("C") collation for the dedup key's event_id
# (the unique index compares bytes instead of calling strcoll), and no primary key index on the
# partitioned event table (a partitioned table's key must include "timestamp", so it never enforced
# anything useful; ids still come from the identity sequence and exact-once lives in the key table).

from django.db import migrations

FORWARD = """
ALTER TABLE billing_usageeventkey ALTER COLUMN event_id TYPE varchar(255) COLLATE "C";
ALTER TABLE billing_usageevent DROP CONSTRAINT billing_usageevent_pkey;
"""
BACKWARD = """
ALTER TABLE billing_usageevent ADD PRIMARY KEY (id, "timestamp");
ALTER TABLE billing_usageeventkey ALTER COLUMN event_id TYPE varchar(255) COLLATE "default";
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_usage"),
    ]

    operations = [
        migrations.RunPython(forward, backward),
    ]
