from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("refills", "0003_cycle_first_step_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="acknowledgement",
            name="last_acknowledged_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunSQL(
            "UPDATE refills_acknowledgement SET last_acknowledged_at = acknowledged_at",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
