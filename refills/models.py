"""Pump profile, pump events and refill cycles. The forecast itself is refills/domain/forecast.py;
refills/services.py records events and stores what the forecast returns."""

from datetime import date, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from patients.models import Patient, User

from .domain import catalog
from .domain.events import DATE_OUT_OF_RANGE, date_in_range
from .notify.kinds import validate_kind

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class PumpProfile(models.Model):
    """Staff-only. The patient's zone lives on Patient (it is used beyond the pump)."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="pump")
    model = models.CharField(max_length=32, choices=catalog.choices())
    capacity_ml = models.DecimalField(max_digits=5, decimal_places=2, validators=[MinValueValidator(1)])
    alarm_volume_ml = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(0)],
        help_text=_("Low-reservoir alarm volume. Raise it (e.g. to 4 mL) if withdrawal starts above the alarm."),
    )
    implant_date = models.DateField()
    eri_date = models.DateField(_("expected battery replacement (ERI) date"), null=True, blank=True)
    max_days_in_pump = models.PositiveSmallIntegerField(
        default=catalog.DEFAULT_MAX_DAYS_IN_PUMP, validators=[MinValueValidator(1), MaxValueValidator(180)]
    )
    catheter_tip_level = models.CharField(max_length=20, blank=True)
    risk_sci_t6_or_above = models.BooleanField(_("spinal cord injury at T6 or above"), default=False)
    risk_communication_difficulty = models.BooleanField(_("communication difficulty"), default=False)
    risk_prior_withdrawal = models.BooleanField(_("prior baclofen withdrawal"), default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.get_model_display()} for {self.patient}"

    def clean(self):
        errors: dict[str, list[StrOrPromise]] = {}
        for name in ("implant_date", "eri_date"):
            day = getattr(self, name)
            if isinstance(day, date) and not date_in_range(day):
                errors[name] = [DATE_OUT_OF_RANGE]
        if errors:  # the checks below would overflow on year 1 or 9999
            raise ValidationError(errors)
        if self.implant_date and self.implant_date > timezone.localdate() + timedelta(days=1):
            errors["implant_date"] = [_("The implant date cannot be in the future.")]
        if (
            self.implant_date
            and self.eri_date
            and not (self.implant_date <= self.eri_date <= self.implant_date + timedelta(days=30 * 366))
        ):
            errors["eri_date"] = [_("Enter a date after the implant date, within 30 years of it.")]
        if errors:
            raise ValidationError(errors)

    @property
    def pump_model(self) -> catalog.PumpModel:
        return catalog.CATALOG[self.model]

    @property
    def risk_markers(self) -> list[str]:
        return [
            name
            for name, held in (
                ("sci_t6_or_above", self.risk_sci_t6_or_above),
                ("communication_difficulty", self.risk_communication_difficulty),
                ("prior_withdrawal", self.risk_prior_withdrawal),
            )
            if held
        ]

    @property
    def end_of_service_date(self) -> date | None:
        """ERI + 90 days; a SynchroMed II also shuts down 7 years after implant."""
        limits = []
        if self.eri_date:
            limits.append(self.eri_date + timedelta(days=catalog.END_OF_SERVICE_AFTER_ERI_DAYS))
        years = self.pump_model.max_battery_years
        if years and self.implant_date:
            try:
                limits.append(self.implant_date.replace(year=self.implant_date.year + years))
            except ValueError:  # 29 February
                limits.append(self.implant_date.replace(year=self.implant_date.year + years, day=28))
        return min(limits) if limits else None


class PumpEvent(models.Model):
    """Never edited in place: a correction is a new event pointing at its target. The derived
    columns (expected volume, discrepancy, warnings) are recomputed when the chain is replayed."""

    class Kind(models.TextChoices):
        REFILL = "refill", _("Refill")
        REPROGRAM = "reprogram", _("Reprogram")
        PUMP_REPLACED = "pump_replaced", _("Pump replaced")
        EXPLANTED = "explanted", _("Explanted")
        ALARM_REPORTED = "alarm_reported", _("Alarm reported")
        CORRECTION = "correction", _("Correction")

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="pump_events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    occurred_at = models.DateTimeField()
    zone = models.CharField(max_length=64)
    utc_offset_minutes = models.SmallIntegerField()
    capacity_ml = models.DecimalField(max_digits=5, decimal_places=2)
    values = models.JSONField(default=dict, help_text="The values as recorded (kind-specific).")
    corrects = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrections")
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    # Derived by the chain replay:
    expected_volume_ml = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    volume_ml = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    discrepancy = models.BooleanField(default=False)
    discrepancy_resolved_at = models.DateTimeField(null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["occurred_at", "pk"]
        indexes = [models.Index(fields=["patient", "occurred_at"])]

    def __str__(self):
        return f"{self.get_kind_display()} at {self.occurred_at:%Y-%m-%d %H:%M}Z"


class RefillCycle(models.Model):
    """From one refill (or pump replacement) to the next. The open cycle holds the current
    forecast in indexed columns; the reminder plan reads them."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="refill_cycles")
    started_by = models.OneToOneField(PumpEvent, on_delete=models.PROTECT, related_name="cycle")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    appointment_at = models.DateTimeField(null=True, blank=True)
    # The forecast (all null: no forecast, e.g. the patient is not active).
    refill_due_at = models.DateTimeField(null=True, blank=True)
    refill_due_reason = models.CharField(max_length=24, blank=True)
    low_reservoir_alarm_at = models.DateTimeField(null=True, blank=True)
    empty_at = models.DateTimeField(null=True, blank=True)
    stability_limit_at = models.DateTimeField(null=True, blank=True)
    reminder_at = models.DateTimeField(null=True, blank=True)
    # The first reminder step's instant (refills.domain.reminders.first_step_at), set with the plan: the
    # refill is "due soon" from then on, even when nobody can be reminded.
    first_step_at = models.DateTimeField(null=True, blank=True)
    # When the minute tick next looks at this cycle for the overdue work (queue items, the daily
    # repeat, predicted empty): refill_due_at when planned, then the next reminder hour or
    # empty_at; null while there is no plan. The tick reads only the cycles due by this column.
    next_overdue_at = models.DateTimeField(null=True, blank=True)
    daily_dose_mcg = models.DecimalField(max_digits=9, decimal_places=3, null=True, blank=True)
    daily_volume_ml = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    forecast_inputs = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    sequence = models.PositiveIntegerField(default=0, help_text="Raised on every change (calendar SEQUENCE).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient"], condition=Q(ended_at__isnull=True), name="one_open_cycle")
        ]
        indexes = [
            models.Index(fields=["refill_due_at"], condition=Q(ended_at__isnull=True), name="open_cycle_due"),
            models.Index(fields=["empty_at"], condition=Q(ended_at__isnull=True), name="open_cycle_empty"),
            models.Index(fields=["reminder_at"], condition=Q(ended_at__isnull=True), name="open_cycle_reminder"),
            models.Index(
                fields=["next_overdue_at"],
                condition=Q(ended_at__isnull=True, next_overdue_at__isnull=False),
                name="open_cycle_overdue_due",
            ),
        ]

    def __str__(self):
        return f"Cycle from {self.started_at:%Y-%m-%d} for {self.patient}"

    @property
    def has_forecast(self) -> bool:
        return self.refill_due_at is not None


class Delivery(models.Model):
    """One message to one recipient through one channel (SPEC §5). The database is the source
    of truth: the minute tick claims due rows; a worker sends and records the outcome. One row
    per key, so a message can never be planned twice."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        SKIPPED = "skipped"
        FAILED = "failed"  # a transient error: retried at next_attempt_at
        DEAD = "dead"

    class Channel(models.TextChoices):
        EMAIL = "email"
        SMS = "sms"
        INBOX = "inbox"

    key = models.CharField(max_length=200, unique=True)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="deliveries")
    cycle = models.ForeignKey(RefillCycle, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries")
    kind = models.CharField(max_length=32, validators=[validate_kind])  # a MessageKind or a clinic's step_<days>
    occasion = models.CharField(max_length=40, blank=True)
    recipient = models.CharField(max_length=40, help_text="user:<id>, patient:<id> or clinic:<id>")
    recipient_user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="Facts for the message (no free text).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(status__in=["pending", "failed"]), name="delivery_due"
            ),
            models.Index(fields=["lease_expires_at"], condition=Q(status="sending"), name="delivery_leased"),
            models.Index(fields=["cycle", "kind"]),
        ]

    def __str__(self):
        return self.key

    @property
    def message_id(self) -> str:
        """The same for every attempt at this row, so a resend is recognisable as a duplicate."""
        return f"<delivery-{self.pk}.{self.key.replace(':', '-')[:80]}@ibt-companion>"


class Acknowledgement(models.Model):
    cycle = models.ForeignKey(RefillCycle, on_delete=models.CASCADE, related_name="acknowledgements")
    recipient = models.CharField(max_length=40)
    acknowledged_at = models.DateTimeField(default=timezone.now)
    # The same link used again for a later step: the acknowledgement covers every step due by then.
    last_acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cycle", "recipient"], name="one_ack_per_recipient")]

    def __str__(self):
        return f"{self.recipient} acknowledged {self.cycle}"


class InboxMessage(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="inbox")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    delivery = models.OneToOneField(Delivery, on_delete=models.CASCADE, null=True, blank=True, related_name="inbox")
    subject = models.CharField(max_length=200)
    body = models.TextField()
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "read_at"])]
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.subject
