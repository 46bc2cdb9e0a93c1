"""API shapes of the symptom catalog, the triage and check-ins (SPEC §8).

The input serializers only check the shape of a request; the rules (distinct catalog codes, the
temperature and its unit, how far back) live in symptoms.answers.clean, so the form and the API
refuse exactly the same things with the same words.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from refills.web.serializers import AwareDateTimeField, PatientDateTimeField

from . import triage
from .catalog import CODES
from .models import CheckIn


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "enum": list(CODES)},
        "uniqueItems": True,
        "maxItems": len(CODES),
        "description": "Distinct catalog codes (GET /api/v1/symptoms/); an empty list means none.",
    }
)
class SymptomCodesField(serializers.Field):
    """Passed as sent: symptoms.answers.clean says what is wrong with it."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return list(value)


@extend_schema_field(
    {
        "oneOf": [{"type": "number"}, {"type": "string"}],
        "nullable": True,
        "description": 'As read on the thermometer, e.g. 38.5 or "101.3"; requires temperature_unit. After'
        " conversion and rounding to 0.1 °C it must be within 25.0–45.0 °C.",
    }
)
class TemperatureInputField(serializers.Field):
    def to_internal_value(self, data):
        return data


class CheckInAnswersSerializer(serializers.Serializer):
    symptoms = SymptomCodesField()
    temperature = TemperatureInputField(required=False, allow_null=True, default=None)
    temperature_unit = serializers.ChoiceField(
        choices=CheckIn.Unit.choices, required=False, allow_null=True, allow_blank=True, default=None
    )
    pump_alarm = serializers.ChoiceField(
        choices=[c for c in CheckIn.PumpAlarm.values if c],
        required=False,
        allow_blank=True,
        default="",
        help_text='The answer to "does the pump make an alarm sound?": single adds pump_alarm_single, two_tone'
        " and unsure add pump_alarm_critical (not sure which alarm is read as the more urgent one).",
    )


class CheckInInputSerializer(CheckInAnswersSerializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    observed_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the signs were seen. Default now; clinic staff may give up to 24 hours back.",
    )


class TriageInputSerializer(CheckInAnswersSerializer):
    patient = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="A patient you can see: their pump data is then used. Without it the rules that need pump"
        " data cannot fire, and pump_data_checked is false.",
    )


class ReasonSerializer(serializers.Serializer):
    rule_id = serializers.IntegerField()
    level = serializers.ChoiceField(choices=triage.LEVELS)
    text = serializers.CharField()
    # DRF's metaclass takes declared fields out of the class body, so a field may share a name with
    # an attribute of Field (source, label, context); the stubs cannot see that.
    source = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.source


class DispositionSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=triage.LEVELS)
    reasons = ReasonSerializer(many=True)
    rule_set_version = serializers.CharField()
    pump_data_checked = serializers.BooleanField()


class GuidanceSectionSerializer(serializers.Serializer):
    heading = serializers.CharField()
    paragraphs = serializers.ListField(child=serializers.CharField())


class GuidanceSerializer(serializers.Serializer):
    """What the guidance page says, in reading order."""

    title = serializers.CharField()
    call_label = serializers.CharField()
    call_number = serializers.CharField(help_text="Empty when no clinic is known: show call_label as text.")
    call_first = serializers.BooleanField(help_text="The call comes before the title (emergency).")
    lead = serializers.ListField(child=serializers.CharField())
    reasons_heading = serializers.CharField()
    sections = GuidanceSectionSerializer(many=True)


class TriageResultSerializer(serializers.Serializer):
    disposition = DispositionSerializer()
    guidance = GuidanceSerializer()


class CheckInSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    patient = serializers.IntegerField(source="patient_id", read_only=True)
    observed_at = PatientDateTimeField()
    created_at = PatientDateTimeField()
    logged_by_role = serializers.ChoiceField(choices=CheckIn.Role.choices, read_only=True)
    logged_by_name = serializers.SerializerMethodField()
    symptoms = serializers.ListField(child=serializers.CharField(), read_only=True)
    temperature = serializers.DecimalField(max_digits=5, decimal_places=2, read_only=True, allow_null=True)
    temperature_unit = serializers.CharField(read_only=True)
    temperature_c = serializers.DecimalField(max_digits=4, decimal_places=1, read_only=True, allow_null=True)
    pump_alarm = serializers.CharField(read_only=True)
    note = serializers.CharField(read_only=True)
    context = serializers.JSONField(  # type: ignore[assignment]  # a declared field (see ReasonSerializer)
        read_only=True, help_text="The pump data the triage read, at observed_at."
    )
    disposition = serializers.SerializerMethodField()

    def get_logged_by_name(self, checkin) -> str:
        return checkin.logged_by.full_name if checkin.logged_by else ""

    @extend_schema_field(DispositionSerializer)
    def get_disposition(self, checkin) -> dict:
        return {
            "level": checkin.level,
            "reasons": checkin.reasons,
            "rule_set_version": checkin.rule_set_version,
            "pump_data_checked": checkin.pump_data_checked,
        }


class HeadingSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.label


class SymptomSerializer(serializers.Serializer):
    code = serializers.CharField()
    groups = serializers.ListField(child=serializers.CharField())
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.label
    hint = serializers.CharField()
    heading = serializers.CharField()
    heading_label = serializers.CharField()
    red_flag = serializers.BooleanField()
    sources = serializers.ListField(child=serializers.CharField())


class CatalogSerializer(serializers.Serializer):
    rule_set_version = serializers.CharField()
    headings = HeadingSerializer(many=True)
    symptoms = SymptomSerializer(many=True)
    levels = serializers.ListField(child=serializers.CharField(), help_text="Most urgent first.")
