"""When the minute tick next looks at an open cycle for its overdue work, stored and indexed, so
the tick reads only the cycles due now instead of every overdue one. Every open cycle with a
plan starts at its refill date, as a new plan does: one already overdue is taken by the first
tick after the deploy and moved on to its next reminder hour from there, so nothing is missed."""

from django.db import migrations, models
from django.db.models import F, Q


def fill(apps, schema_editor):
    RefillCycle = apps.get_model("refills", "RefillCycle")
    RefillCycle.objects.filter(
        ended_at__isnull=True, refill_due_at__isnull=False, patient__status="active", next_overdue_at__isnull=True
    ).update(next_overdue_at=F("refill_due_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("refills", "0004_acknowledgement_last_acknowledged_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="refillcycle",
            name="next_overdue_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="refillcycle",
            index=models.Index(
                condition=Q(ended_at__isnull=True, next_overdue_at__isnull=False),
                fields=["next_overdue_at"],
                name="open_cycle_overdue_due",
            ),
        ),
    ]
