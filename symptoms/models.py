"""Symptom check-ins (SPEC §6): what was reported, who logged it, and the disposition the
triage gave, with its reasons, the rule set version and the context it read.

A disposition is never lowered afterwards: `CheckIn.save` refuses it, the queryset refuses to
`update` the level at all, and on PostgreSQL and SQLite a trigger refuses it in the database
(migration 0002), so no code path can turn an emergency into something calmer.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from patients.models import Patient, User

from . import triage

LEVEL_RANK = {level: rank for rank, level in enumerate(triage.LEVELS)}  # 0 is the most urgent


class LevelLoweredError(ValidationError):
    """Someone tried to make a check-in's disposition less urgent."""


class CheckInQuerySet(models.QuerySet):
    def update(self, **kwargs):
        if "level" in kwargs:
            raise LevelLoweredError("A check-in's level is changed one row at a time through save(), never in bulk.")
        return super().update(**kwargs)


class CheckIn(models.Model):
    class Role(models.TextChoices):
        PATIENT = "patient", _("Patient")
        CAREGIVER = "caregiver", _("Caregiver")
        STAFF = "staff", _("Clinic staff (phone call)")

    class Level(models.TextChoices):
        EMERGENCY = triage.EMERGENCY, _("Emergency")
        CALL_CLINIC = triage.CALL_CLINIC, _("Call the clinic")
        ROUTINE = triage.ROUTINE, _("Routine")

    class PumpAlarm(models.TextChoices):
        NOT_ASKED = "", _("Not answered")
        NONE = "none", _("No alarm")
        SINGLE = "single", _("One beep, about every hour")
        TWO_TONE = "two_tone", _("A two-tone alarm")
        UNSURE = "unsure", _("A sound, not sure which")

    class Unit(models.TextChoices):
        CELSIUS = "C", "°C"
        FAHRENHEIT = "F", "°F"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="checkins")
    logged_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    logged_by_role = models.CharField(max_length=10, choices=Role.choices)
    observed_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    # The codes the triage read, in catalog order (a pump-alarm answer adds its code).
    symptoms = models.JSONField(default=list, blank=True)
    temperature = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True, help_text="As entered.")
    temperature_unit = models.CharField(max_length=1, choices=Unit.choices, blank=True)
    temperature_c = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True, help_text="Rounded once to 0.1 °C (ROUND_HALF_UP)."
    )
    pump_alarm = models.CharField(max_length=10, choices=PumpAlarm.choices, blank=True)
    note = models.TextField(blank=True)
    level = models.CharField(max_length=12, choices=Level.choices, db_index=True)
    reasons = models.JSONField(default=list, help_text="[{rule_id, level, text, source}], most urgent first.")
    rule_set_version = models.CharField(max_length=20)
    pump_data_checked = models.BooleanField(default=False)
    context = models.JSONField(default=dict, help_text="The pump data the triage read, as it stood at observed_at.")
    # A form's one-time token: pressing "See what to do" twice saves (and alerts) once.
    client_token = models.CharField(max_length=64, blank=True)

    objects = CheckInQuerySet.as_manager()

    class Meta:
        ordering = ["-observed_at", "-pk"]
        indexes = [models.Index(fields=["patient", "-observed_at"], name="checkin_patient_observed")]
        constraints = [
            models.CheckConstraint(condition=Q(level__in=triage.LEVELS), name="checkin_level_known"),
            models.CheckConstraint(
                condition=Q(temperature__isnull=True, temperature_c__isnull=True, temperature_unit="")
                | Q(
                    temperature__isnull=False,
                    temperature_c__gte=triage.MIN_TEMPERATURE_C,
                    temperature_c__lte=triage.MAX_TEMPERATURE_C,
                    temperature_unit__in=["C", "F"],
                ),
                name="checkin_temperature_with_unit_in_range",
            ),
            models.UniqueConstraint(
                fields=["patient", "client_token"], condition=~Q(client_token=""), name="checkin_one_per_form_token"
            ),
        ]

    def __str__(self):
        return f"{self.get_level_display()} check-in for {self.patient} at {self.observed_at:%Y-%m-%d %H:%M}Z"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            stored = CheckIn.objects.filter(pk=self.pk).values_list("level", flat=True).first()
            if stored is not None and LEVEL_RANK.get(self.level, len(LEVEL_RANK)) > LEVEL_RANK[stored]:
                raise LevelLoweredError(
                    f"A check-in's disposition is never lowered (it is {stored}; {self.level} is less urgent)."
                )
        super().save(*args, **kwargs)

    @property
    def is_emergency(self) -> bool:
        return self.level == triage.EMERGENCY
