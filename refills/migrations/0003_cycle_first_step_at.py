"""The first reminder step's instant on the cycle: "due soon" no longer depends on delivery rows,
which a patient nobody can be reminded has none of."""

from django.db import migrations, models


def fill(apps, schema_editor):
    from refills.domain import reminders  # pure: no models

    cycles = apps.get_model("refills", "RefillCycle").objects.filter(
        ended_at__isnull=True, refill_due_at__isnull=False
    ).select_related("patient__clinic")
    for cycle in cycles.iterator():
        patient = cycle.patient
        facts = reminders.CycleFacts(
            refill_due_at=cycle.refill_due_at,
            empty_at=cycle.empty_at,
            appointment_booked=cycle.appointment_at is not None,
            reminder_hour=patient.clinic.reminder_hour,
            zone=patient.time_zone,
            steps=tuple(patient.clinic.reminder_steps or reminders.DEFAULT_STEPS),
        )
        cycle.first_step_at = reminders.first_step_at(facts)
        cycle.save(update_fields=["first_step_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("refills", "0002_delivery_inboxmessage_acknowledgement_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="refillcycle",
            name="first_step_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
