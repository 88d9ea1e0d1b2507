"""Invoice documents (stored, immutable PDFs) and the e-mail outbox.

- ``InvoiceDocument`` rows are refused UPDATE and DELETE by a trigger (below the model's guard), like
  the finalized invoices of 0002.
- The PDFs stored on invoices so far (``Invoice.pdf``) are copied into ``invoice`` documents; the old
  column stays (0002's trigger freezes it) and nothing writes it any more.
"""

import hashlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


PG_CREATE = [
    """
CREATE OR REPLACE FUNCTION invoicing_invoicedocument_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invoice document % is stored: it never changes', OLD.id
        USING ERRCODE = 'restrict_violation';
END
$$;
""",
    """
CREATE TRIGGER invoicing_invoicedocument_immutable
    BEFORE UPDATE OR DELETE ON invoicing_invoicedocument
    FOR EACH ROW EXECUTE FUNCTION invoicing_invoicedocument_guard();
""",
]
PG_DROP = [
    "DROP TRIGGER IF EXISTS invoicing_invoicedocument_immutable ON invoicing_invoicedocument;",
    "DROP FUNCTION IF EXISTS invoicing_invoicedocument_guard();",
]
SQLITE_CREATE = [
    f"""
CREATE TRIGGER invoicing_invoicedocument_immutable_{op.lower()} BEFORE {op} ON invoicing_invoicedocument
BEGIN
    SELECT RAISE(ABORT, 'invoice document is stored: it never changes');
END;
"""
    for op in ("UPDATE", "DELETE")
]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS invoicing_invoicedocument_immutable_{op};" for op in ("update", "delete")]


def _run(schema_editor, statements_by_vendor):
    for sql in statements_by_vendor[schema_editor.connection.vendor]:
        schema_editor.execute(sql, params=None)


def create_triggers(apps, schema_editor):
    _run(schema_editor, {"postgresql": PG_CREATE, "sqlite": SQLITE_CREATE})


def drop_triggers(apps, schema_editor):
    _run(schema_editor, {"postgresql": PG_DROP, "sqlite": SQLITE_DROP})


def copy_stored_pdfs(apps, schema_editor):
    Invoice = apps.get_model("invoicing", "Invoice")
    InvoiceDocument = apps.get_model("invoicing", "InvoiceDocument")
    rows = Invoice.objects.filter(pdf__isnull=False).exclude(status="draft").values_list("id", "pdf")
    batch = []
    for invoice_id, pdf in rows.iterator(chunk_size=200):
        content = bytes(pdf)
        batch.append(
            InvoiceDocument(
                invoice_id=invoice_id,
                variant="invoice",
                content=content,
                sha256=hashlib.sha256(content).hexdigest(),
                size=len(content),
            )
        )
        if len(batch) == 200:
            InvoiceDocument.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    InvoiceDocument.objects.bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ('invoicing', '0002_finalized_invoice_triggers'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='EmailOutbox',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('invoice', 'Invoice'), ('dunning', 'Dunning')], max_length=16)),
                ('step', models.PositiveIntegerField()),
                ('recipients', models.JSONField(default=list)),
                ('from_email', models.CharField(blank=True, max_length=254)),
                ('subject', models.CharField(max_length=255)),
                ('body', models.TextField()),
                ('attach_variant', models.CharField(blank=True, help_text='The invoice document attached (invoice/paid/void), or none.', max_length=16)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('failed', 'Failed')], default='pending', max_length=8)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('last_error', models.TextField(blank=True)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('invoice', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='emails', to='invoicing.invoice')),
            ],
            options={
                'verbose_name': 'e-mail',
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['status', 'next_attempt_at'], name='emailoutbox_due_idx')],
                'constraints': [models.UniqueConstraint(fields=('invoice', 'kind', 'step'), name='emailoutbox_unique_step')],
            },
        ),
        migrations.CreateModel(
            name='InvoiceDocument',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('variant', models.CharField(choices=[('invoice', 'as issued'), ('paid', 'stamped paid'), ('void', 'stamped void')], max_length=16)),
                ('content', models.BinaryField()),
                ('sha256', models.CharField(max_length=64)),
                ('size', models.PositiveIntegerField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('invoice', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='documents', to='invoicing.invoice')),
            ],
            options={
                'ordering': ['invoice', 'id'],
                'constraints': [models.UniqueConstraint(fields=('invoice', 'variant'), name='invoicedocument_unique_variant')],
            },
        ),
        migrations.RunPython(copy_stored_pdfs, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(create_triggers, drop_triggers, elidable=False),
    ]
