from django.contrib.auth.hashers import make_password
from django.db import migrations

SYSTEM_ACTOR = "ratecard-system"  # accounts.audit.SYSTEM_ACTOR


def create_system_actor(apps, schema_editor):  # type: ignore[no-untyped-def]
    # the audit trail's "who" for billing runs and tasks; inactive and without a password: never logs in
    apps.get_model("auth", "User").objects.get_or_create(
        username=SYSTEM_ACTOR,
        defaults={"is_active": False, "first_name": "Ratecard system", "password": make_password(None)},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_access_stamp"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(create_system_actor, migrations.RunPython.noop),
    ]
