"""Database guards: a finalized invoice and its lines never change (DESIGN.md step 3).

Below the model's ``save()`` guard, so raw SQL, ``QuerySet.update()`` and bulk writes are refused too:

- ``invoicing_invoice`` BEFORE UPDATE: once ``status`` is not ``draft``, none of the document's columns
  (number, currency, customer, subscription, dates, totals, credits applied, net terms, snapshots, PDF)
  may change; the status may not go back to ``draft`` and a ``void`` invoice stays void. Payment
  fields (``amount_paid``, ``amount_due``, ``paid_at``...), the status and dunning fields still move.
- ``invoicing_invoice`` BEFORE DELETE: only drafts may be deleted.
- ``invoicing_invoiceline`` BEFORE INSERT/UPDATE/DELETE: only lines of a draft. On PostgreSQL the
  trigger reads the parent with ``FOR KEY SHARE``: it waits for a finalization holding the invoice
  ``FOR UPDATE`` and then sees the finalized status, so no line slips onto an invoice being finalized
  (while two workers adding lines to one draft do not block each other).

Both raise an integrity error (PostgreSQL SQLSTATE 23001 ``restrict_violation``; SQLite
``RAISE(ABORT)``), which Django surfaces as ``django.db.IntegrityError``.

SQLite note: a later migration that *remakes* ``invoicing_invoice`` or ``invoicing_invoiceline`` on
SQLite (Django does that for most ``AlterField``) drops these triggers with the old table; such a
migration must run ``create_triggers`` again (tests/invoicing checks that the guards are in place).
"""

from django.db import migrations

FROZEN_COLUMNS = (
    "number",
    "currency",
    "customer_id",
    "subscription_id",
    "billing_date",
    "period_start",
    "period_end",
    "issued_at",
    "due_at",
    "subtotal",
    "discount",
    "tax",
    "total",
    "credits_applied",
    "net_terms_days",
    "customer_snapshot",
    "seller_snapshot",
    "pdf",
)

PG_CREATE = [
    """
CREATE OR REPLACE FUNCTION invoicing_invoice_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'invoice % (id %) is finalized: it cannot be deleted', OLD.number, OLD.id
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' THEN
        IF NEW.status = 'draft' OR (OLD.status = 'void' AND NEW.status <> 'void') THEN
            RAISE EXCEPTION 'invoice % (id %) is finalized (%): its status cannot become %',
                OLD.number, OLD.id, OLD.status, NEW.status USING ERRCODE = 'restrict_violation';
        END IF;
        IF (%(new)s) IS DISTINCT FROM (%(old)s) THEN
            RAISE EXCEPTION 'invoice % (id %) is finalized: only its status and payment fields may change',
                OLD.number, OLD.id USING ERRCODE = 'restrict_violation';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
""".replace("%(new)s", ", ".join(f"NEW.{c}" for c in FROZEN_COLUMNS)).replace(
        "%(old)s", ", ".join(f"OLD.{c}" for c in FROZEN_COLUMNS)
    ),
    """
CREATE TRIGGER invoicing_invoice_frozen
    BEFORE UPDATE OR DELETE ON invoicing_invoice
    FOR EACH ROW EXECUTE FUNCTION invoicing_invoice_guard();
""",
    """
CREATE OR REPLACE FUNCTION invoicing_invoiceline_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent_status text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT status INTO parent_status FROM invoicing_invoice WHERE id = OLD.invoice_id FOR KEY SHARE;
        IF parent_status IS NOT NULL AND parent_status <> 'draft' THEN
            RAISE EXCEPTION 'invoice id % is finalized: its lines cannot change', OLD.invoice_id
                USING ERRCODE = 'restrict_violation';
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT status INTO parent_status FROM invoicing_invoice WHERE id = NEW.invoice_id FOR KEY SHARE;
        IF parent_status IS NOT NULL AND parent_status <> 'draft' THEN
            RAISE EXCEPTION 'invoice id % is finalized: lines cannot be added to it', NEW.invoice_id
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END IF;
    RETURN OLD;
END
$$;
""",
    """
CREATE TRIGGER invoicing_invoiceline_frozen
    BEFORE INSERT OR UPDATE OR DELETE ON invoicing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION invoicing_invoiceline_guard();
""",
]

PG_DROP = [
    "DROP TRIGGER IF EXISTS invoicing_invoiceline_frozen ON invoicing_invoiceline;",
    "DROP FUNCTION IF EXISTS invoicing_invoiceline_guard();",
    "DROP TRIGGER IF EXISTS invoicing_invoice_frozen ON invoicing_invoice;",
    "DROP FUNCTION IF EXISTS invoicing_invoice_guard();",
]

_SQLITE_CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in FROZEN_COLUMNS)
_PARENT = "(SELECT status FROM invoicing_invoice WHERE id = {row}.invoice_id)"

SQLITE_CREATE = [
    f"""
CREATE TRIGGER invoicing_invoice_frozen_update BEFORE UPDATE ON invoicing_invoice
FOR EACH ROW WHEN OLD.status <> 'draft' AND (
    NEW.status = 'draft' OR (OLD.status = 'void' AND NEW.status <> 'void') OR {_SQLITE_CHANGED}
)
BEGIN
    SELECT RAISE(ABORT, 'invoice is finalized: only its status and payment fields may change');
END;
""",
    """
CREATE TRIGGER invoicing_invoice_frozen_delete BEFORE DELETE ON invoicing_invoice
FOR EACH ROW WHEN OLD.status <> 'draft'
BEGIN
    SELECT RAISE(ABORT, 'invoice is finalized: it cannot be deleted');
END;
""",
    f"""
CREATE TRIGGER invoicing_invoiceline_frozen_insert BEFORE INSERT ON invoicing_invoiceline
FOR EACH ROW WHEN {_PARENT.format(row="NEW")} <> 'draft'
BEGIN
    SELECT RAISE(ABORT, 'invoice is finalized: lines cannot be added to it');
END;
""",
    f"""
CREATE TRIGGER invoicing_invoiceline_frozen_update BEFORE UPDATE ON invoicing_invoiceline
FOR EACH ROW WHEN {_PARENT.format(row="OLD")} <> 'draft' OR {_PARENT.format(row="NEW")} <> 'draft'
BEGIN
    SELECT RAISE(ABORT, 'invoice is finalized: its lines cannot change');
END;
""",
    f"""
CREATE TRIGGER invoicing_invoiceline_frozen_delete BEFORE DELETE ON invoicing_invoiceline
FOR EACH ROW WHEN {_PARENT.format(row="OLD")} <> 'draft'
BEGIN
    SELECT RAISE(ABORT, 'invoice is finalized: its lines cannot be removed');
END;
""",
]

SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS invoicing_invoiceline_frozen_delete;",
    "DROP TRIGGER IF EXISTS invoicing_invoiceline_frozen_update;",
    "DROP TRIGGER IF EXISTS invoicing_invoiceline_frozen_insert;",
    "DROP TRIGGER IF EXISTS invoicing_invoice_frozen_delete;",
    "DROP TRIGGER IF EXISTS invoicing_invoice_frozen_update;",
]


def _run(schema_editor, statements_by_vendor):
    vendor = schema_editor.connection.vendor
    statements = statements_by_vendor.get(vendor)
    if statements is None:
        raise RuntimeError(f"invoicing 0002: no finalized-invoice triggers for the {vendor!r} database")
    for sql in statements:
        schema_editor.execute(sql, params=None)


def create_triggers(apps, schema_editor):
    _run(schema_editor, {"postgresql": PG_CREATE, "sqlite": SQLITE_CREATE})


def drop_triggers(apps, schema_editor):
    _run(schema_editor, {"postgresql": PG_DROP, "sqlite": SQLITE_DROP})


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_triggers, drop_triggers, elidable=False),
    ]
