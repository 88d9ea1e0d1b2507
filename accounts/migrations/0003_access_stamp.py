from django.db import migrations, models


def create_stamp(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("accounts", "AccessStamp").objects.get_or_create(pk=1, defaults={"version": 1})


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_customer_archived"),
    ]

    operations = [
        migrations.CreateModel(
            name="AccessStamp",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_stamp, migrations.RunPython.noop),
    ]
