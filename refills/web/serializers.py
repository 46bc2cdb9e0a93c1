"""API shapes of the pump profile, pump events and the forecast (SPEC §8).

Instants go out in ISO 8601 with the patient's offset, truncated to the second: an event's
`occurred_at` with the offset stored on the event (the patient's at that instant), every other
instant with the patient's current zone (serializer context "zone").
"""

from __future__ import annotations

from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

from django.utils import timezone as django_timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..domain import catalog
from ..domain.clock import isoformat_in
from ..domain.programs import program_to_dict
from ..models import PumpEvent

RISK_MARKERS = ("sci_t6_or_above", "communication_difficulty", "prior_withdrawal")

EVENT_VALUES_HELP = (
    "The event's values, by kind. refill: volume_ml (V0 after refill), aspirated_ml, program, optional"
    " printout_alarm_date (YYYY-MM-DD). reprogram: program (same concentration), optional volume_ml."
    " pump_replaced: model, capacity_ml (for models without a fixed capacity), alarm_volume_ml (default:"
    " the model's), eri_date, volume_ml, program. alarm_reported: tone (single or two_tone). explanted:"
    " nothing. correction: the corrected event's values. A program is {concentration_mcg_per_ml (or"
    " concentration_mg_per_ml), mode: simple with daily_dose_mcg, or flex with flex_steps: [{start: HH:MM,"
    " rate_mcg_per_hour}] (1-13), optional boluses: [{time: HH:MM, dose_mcg}], optional ptm: {dose_mcg,"
    " max_per_day}}. Numbers may be given as strings."
)


class PatientDateTimeField(serializers.DateTimeField):
    """Read-only: an instant in the patient's current zone (context["zone"])."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return isoformat_in(value, ZoneInfo(self.context["zone"]))


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with a UTC offset: a wall-clock time alone is ambiguous around DST changes."""

    default_error_messages = {
        "naive": "Give the UTC offset too, e.g. 2026-03-01T09:00:00-06:00 or 2026-03-01T15:00:00Z.",
    }

    def enforce_timezone(self, value):
        if django_timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


def decimal_out(**kwargs) -> serializers.DecimalField:
    """A read-only decimal rendered as a string, exactly as computed."""
    return serializers.DecimalField(
        max_digits=None, decimal_places=None, read_only=True, normalize_output=True, **kwargs
    )


# --- Pump profile -------------------------------------------------------------------------


class PumpProfileSerializer(serializers.Serializer):
    """PUT replaces the whole profile: an omitted alarm volume falls back to the model's."""

    model = serializers.ChoiceField(choices=catalog.choices())
    model_label = serializers.CharField(source="get_model_display", read_only=True)
    capacity_ml = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        required=False,
        allow_null=True,
        help_text="Fixed by catalog models (SynchroMed II, Prometra II); required for the others.",
    )
    alarm_volume_ml = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        required=False,
        allow_null=True,
        help_text="Low-reservoir alarm volume. Default: the model's (SynchroMed 2.0 mL, Prometra II 3.0 mL).",
    )
    implant_date = serializers.DateField()
    eri_date = serializers.DateField(required=False, allow_null=True, default=None)
    end_of_service_date = serializers.DateField(
        read_only=True, allow_null=True, help_text="Null when neither an ERI date nor a battery life is known."
    )
    max_days_in_pump = serializers.IntegerField(required=False, default=catalog.DEFAULT_MAX_DAYS_IN_PUMP)
    catheter_tip_level = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    risk_markers = serializers.ListField(
        child=serializers.ChoiceField(choices=RISK_MARKERS), required=False, default=list
    )
    time_zone = serializers.CharField(
        source="patient.time_zone", read_only=True, help_text="The patient's zone; change it on the patient."
    )
    updated_at = PatientDateTimeField()

    def validate_risk_markers(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Name each risk marker at most once.")
        return value

    def validate(self, data):
        pump_model = catalog.CATALOG[data["model"]]
        capacity = data.get("capacity_ml")
        errors = {}
        if pump_model.capacity_ml is None and capacity is None:
            errors["capacity_ml"] = ["Enter the reservoir capacity of this pump."]
        elif pump_model.capacity_ml is not None and capacity is not None and capacity != pump_model.capacity_ml:
            errors["capacity_ml"] = [f"The {pump_model.label} holds {pump_model.capacity_ml} mL."]
        if pump_model.alarm_volume_ml is None and data.get("alarm_volume_ml") is None:
            errors["alarm_volume_ml"] = ["Enter the low-reservoir alarm volume of this pump."]
        if errors:
            raise serializers.ValidationError(errors)
        return data

    def service_values(self) -> dict:
        """validated_data as refills.services.save_profile takes it (model field names)."""
        data = self.validated_data
        names = ("model", "capacity_ml", "alarm_volume_ml", "implant_date", "eri_date", "max_days_in_pump")
        values = {name: data.get(name) for name in names}
        values["catheter_tip_level"] = data["catheter_tip_level"]
        for code in RISK_MARKERS:
            values[f"risk_{code}"] = code in data["risk_markers"]
        return values


# --- Forecast -----------------------------------------------------------------------------


class ForecastInputsSerializer(serializers.Serializer):
    """Every input the forecast used, so a person can check the arithmetic."""

    t0 = PatientDateTimeField(help_text="The latest refill, reprogram or pump replacement.")
    v0_ml = decimal_out(help_text="The reservoir volume at t0.")
    program = serializers.SerializerMethodField()
    pump_utc_offset_minutes = serializers.IntegerField(
        read_only=True, help_text="The pump's clock: UTC shifted by the offset stored on the t0 event."
    )
    alarm_volume_ml = decimal_out()
    last_fill_at = PatientDateTimeField(help_text="The last refill or pump replacement (stability limit).")
    max_days_in_pump = serializers.IntegerField(read_only=True)
    zone = serializers.CharField(read_only=True, help_text="The patient's current IANA zone.")
    reminder_hour = serializers.IntegerField(read_only=True, help_text="The clinic's, on the patient's wall clock.")
    printout_alarm_date = serializers.DateField(read_only=True, allow_null=True)
    alarms_reported_at = serializers.ListField(child=PatientDateTimeField(), read_only=True)
    now = PatientDateTimeField(help_text="The instant the forecast was computed for.")

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_program(self, inputs) -> dict:
        return program_to_dict(inputs.program)


class ForecastSerializer(serializers.Serializer):
    """refills.domain.forecast.Forecast. Instants in the patient's current zone."""

    low_reservoir_alarm_at = PatientDateTimeField(allow_null=True, help_text="Null: the program delivers nothing.")
    empty_at = PatientDateTimeField(allow_null=True)
    stability_limit_at = PatientDateTimeField()
    printout_alarm_at = PatientDateTimeField(allow_null=True)
    alarm_reported_at = PatientDateTimeField(allow_null=True)
    refill_due_at = PatientDateTimeField()
    refill_due_reason = serializers.ChoiceField(
        choices=["low_reservoir_alarm", "stability_limit", "printout_alarm", "alarm_reported"], read_only=True
    )
    reminder_at = PatientDateTimeField(help_text="The first 'refill now' reminder, 7 days ahead at the clinic's hour.")
    daily_dose_mcg = decimal_out(help_text="With periodic boluses and the patient bolus at its maximum.")
    daily_volume_ml = decimal_out()
    volume_now_ml = decimal_out()
    days_until_refill_due = serializers.IntegerField(read_only=True)
    inputs = ForecastInputsSerializer(read_only=True)


class ForecastResponseSerializer(serializers.Serializer):
    forecast = ForecastSerializer(allow_null=True, read_only=True)
    reason = serializers.CharField(
        allow_null=True, read_only=True, help_text="Why there is no forecast (null when there is one)."
    )


# --- Pump events --------------------------------------------------------------------------


class PumpEventSerializer(serializers.ModelSerializer):
    occurred_at = serializers.SerializerMethodField()
    values = serializers.DictField(read_only=True)
    recorded_by = serializers.SerializerMethodField()
    recorded_at = PatientDateTimeField()
    discrepancy_resolved_at = PatientDateTimeField(allow_null=True)
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = PumpEvent
        fields = [
            "id",
            "kind",
            "occurred_at",
            "zone",
            "utc_offset_minutes",
            "values",
            "corrects",
            "note",
            "recorded_by",
            "recorded_at",
            "expected_volume_ml",
            "volume_ml",
            "discrepancy",
            "discrepancy_resolved_at",
            "warnings",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_occurred_at(self, event) -> str:
        """With the offset stored on the event: the patient's at that instant."""
        return isoformat_in(event.occurred_at, timezone(timedelta(minutes=event.utc_offset_minutes)))

    def get_recorded_by(self, event) -> str | None:
        return event.recorded_by.full_name if event.recorded_by else None


class PumpEventInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PumpEvent.Kind.choices)
    occurred_at = AwareDateTimeField(
        required=False, help_text="ISO 8601 with its offset; default now. A correction keeps its target's."
    )
    values = serializers.DictField(required=False, default=dict, help_text=EVENT_VALUES_HELP)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    corrects = serializers.IntegerField(
        required=False, allow_null=True, help_text="For kind=correction: the id of this patient's event to correct."
    )
    preview = serializers.BooleanField(
        required=False, default=False, help_text="Answer with what would happen and save nothing."
    )

    def validate(self, data):
        target_id = data.get("corrects")
        if target_id is None:
            data["corrects"] = None
            return data
        if data["kind"] != PumpEvent.Kind.CORRECTION:
            raise serializers.ValidationError({"corrects": ["Only a correction names an event to correct."]})
        target = PumpEvent.objects.filter(patient=self.context["patient"], pk=target_id).first()
        if target is None:
            raise serializers.ValidationError({"corrects": ["Choose an event of this patient to correct."]})
        data["corrects"] = target
        return data


class PumpEventResultSerializer(serializers.Serializer):
    """What recording an event did (or, on a preview, would do)."""

    preview = serializers.BooleanField(read_only=True)
    event = PumpEventSerializer(read_only=True, help_text="On a preview: unsaved, its id null.")
    expected_volume_ml = decimal_out(
        allow_null=True,
        help_text="The volume the app expected at that instant (for a correction: at its target's).",
    )
    volume_ml = decimal_out(allow_null=True, help_text="The reservoir volume right after the event.")
    discrepancy = serializers.BooleanField(read_only=True)
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)
    forecast = ForecastSerializer(allow_null=True, read_only=True, help_text="The resulting forecast.")
