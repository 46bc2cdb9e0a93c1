"""REST endpoints of the reminder plan (SPEC §8): the plan and deliveries of a patient, and the
booked refill appointment.

The patient goes through patients.access.get_visible_patient (anything else is a 404). Staff of
the patient's clinic see every delivery; the patient and their caregivers see only their own
(recipient "user:<their id>"), never anyone else's. The plan is read by
refills.selectors.reminder_plan, the one reader the staff page uses too.
"""

from __future__ import annotations

from typing import cast

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.response import Response

from patients import audit
from patients.access import is_clinic_staff
from patients.models import User

from .. import appointments
from ..selectors import reminder_plan
from .api import PatientScopedView, field_errors
from .serializers import AwareDateTimeField, PatientDateTimeField

STATUS_HELP = "pending, sending, sent, skipped, failed (tried again at next_attempt_at) or dead (given up)."
RECIPIENT_HELP = "user:<id> (a patient or caregiver who logs in), patient:<id> (no log-in) or clinic:<id>."


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This change does not fit the record as it stands."
    default_code = "conflict"


# --- Shapes ---------------------------------------------------------------------------------


class ReminderDeliverySerializer(serializers.Serializer):
    """One message to one recipient through one channel."""

    id = serializers.IntegerField(source="row.pk", read_only=True)
    kind = serializers.CharField(source="row.kind", read_only=True, help_text="step_14, step_7, …, overdue, eos_90, …")
    label = serializers.CharField(  # type: ignore[assignment]  # a declared field, not Field.label
        read_only=True, help_text="The kind in words."
    )
    occasion = serializers.CharField(source="row.occasion", read_only=True)
    recipient = serializers.CharField(source="to.key", read_only=True, help_text=RECIPIENT_HELP)
    recipient_role = serializers.CharField(
        source="to.role",
        read_only=True,
        help_text="patient, caregiver, clinic or former (a caregiver no longer linked).",
    )
    recipient_name = serializers.CharField(source="to.name", read_only=True)
    channel = serializers.CharField(source="row.channel", read_only=True, help_text="email, sms or inbox.")
    status = serializers.CharField(source="row.status", read_only=True, help_text=STATUS_HELP)
    status_words = serializers.CharField(read_only=True)
    attempts = serializers.IntegerField(source="row.attempts", read_only=True)
    due_at = PatientDateTimeField(source="row.due_at")
    next_attempt_at = PatientDateTimeField(allow_null=True, help_text="Only while the message is still to be sent.")
    sent_at = PatientDateTimeField(source="row.sent_at", allow_null=True)
    last_error = serializers.CharField(
        source="row.last_error", read_only=True, help_text="The last error, or why the message was not needed."
    )


class ReminderStepSerializer(serializers.Serializer):
    """One message of the plan: a kind at an instant, with how many of its rows are in each status."""

    kind = serializers.CharField(read_only=True)
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]  # a declared field, not Field.label
    occasion = serializers.CharField(read_only=True)
    due_at = PatientDateTimeField()
    statuses = serializers.DictField(child=serializers.IntegerField(), read_only=True)


class ReminderAckSerializer(serializers.Serializer):
    recipient = serializers.CharField(source="by.key", read_only=True, help_text=RECIPIENT_HELP)
    recipient_role = serializers.CharField(source="by.role", read_only=True)
    recipient_name = serializers.CharField(source="by.name", read_only=True)
    acknowledged_at = PatientDateTimeField(source="ack.acknowledged_at")


class ReminderCycleSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    started_at = PatientDateTimeField()
    refill_due_at = PatientDateTimeField(allow_null=True)
    empty_at = PatientDateTimeField(allow_null=True)
    appointment_at = PatientDateTimeField(allow_null=True)
    sequence = serializers.IntegerField(read_only=True, help_text="The calendar SEQUENCE, raised on every change.")


class ReminderPlanSerializer(serializers.Serializer):
    zone = serializers.CharField(source="patient.time_zone", read_only=True)
    cycle = ReminderCycleSerializer(read_only=True, allow_null=True, help_text="The open refill cycle, if any.")
    acknowledged = serializers.BooleanField(
        read_only=True, help_text="Someone acknowledged: the 14- and 3-day steps are cancelled for everyone."
    )
    appointment_warning = serializers.CharField(read_only=True)
    steps = ReminderStepSerializer(source="lines", many=True, read_only=True)
    end_of_service = ReminderStepSerializer(many=True, read_only=True)
    acknowledgements = ReminderAckSerializer(many=True, read_only=True)


class ReminderPlanPageSerializer(serializers.Serializer):
    plan = ReminderPlanSerializer(read_only=True)
    count = serializers.IntegerField(read_only=True)
    next = serializers.URLField(read_only=True, allow_null=True)
    previous = serializers.URLField(read_only=True, allow_null=True)
    results = ReminderDeliverySerializer(many=True, read_only=True)


class AppointmentInputSerializer(serializers.Serializer):
    appointment_at = AwareDateTimeField(help_text="ISO 8601 with the UTC offset, e.g. 2026-04-02T14:30:00-05:00.")


class AppointmentSerializer(serializers.Serializer):
    appointment_at = PatientDateTimeField(source="cycle.appointment_at", allow_null=True)
    refill_due_at = PatientDateTimeField(source="cycle.refill_due_at")
    sequence = serializers.IntegerField(source="cycle.sequence", read_only=True)
    warning = serializers.CharField(
        read_only=True, help_text="Not empty when the appointment is after the refill due date (it is saved anyway)."
    )


def _codes(error: DjangoValidationError) -> set[str | None]:
    lists = error.error_dict.values() if hasattr(error, "error_dict") else [error.error_list]
    return {e.code for errors in lists for e in errors}


# --- Views ----------------------------------------------------------------------------------


class ReminderPlanView(PatientScopedView):
    """The open refill cycle's reminder plan, its acknowledgements and end-of-service notices,
    and the deliveries (paginated, by due time). Staff see every delivery; a patient or
    caregiver sees only their own."""

    serializer_class = ReminderPlanPageSerializer

    @extend_schema(parameters=[OpenApiParameter("page", int, required=False, description="A page of deliveries.")])
    def get(self, request, patient_id):
        self.patient = self.get_patient()
        staff = is_clinic_staff(request.user, self.patient)
        plan = reminder_plan(self.patient, only_recipient=None if staff else f"user:{request.user.pk}")
        rows = self.paginate_queryset(plan.deliveries)
        audit.record_staff_read(request, self.patient, "reminders")
        context = self.get_serializer_context()
        results = ReminderDeliverySerializer(plan.delivery_lines(rows), many=True, context=context).data
        page = self.get_paginated_response(results).data
        return Response({"plan": ReminderPlanSerializer(plan, context=context).data, **page})


NO_CYCLE = OpenApiResponse(description="No open refill cycle with a refill date, or the patient is not active.")


class AppointmentView(PatientScopedView):
    """The booked refill appointment of the open cycle (clinic staff only). Saving re-plans the
    reminders: no "book your refill" step while one is booked."""

    serializer_class = AppointmentSerializer

    @extend_schema(
        request=AppointmentInputSerializer,
        responses={200: AppointmentSerializer, 409: NO_CYCLE},
        description="Record the booked appointment. One after the refill due date is saved, with a warning."
        " 409 when there is no open refill cycle with a refill date.",
    )
    def post(self, request, patient_id):
        self._staff_only()
        serializer = AppointmentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._book(serializer.validated_data["appointment_at"])

    @extend_schema(
        request=None,
        responses={200: AppointmentSerializer, 409: NO_CYCLE},
        description="Remove the booked appointment.",
    )
    def delete(self, request, patient_id):
        self._staff_only()
        return self._book(None)

    def _staff_only(self) -> None:
        self.patient = self.get_patient()
        if not is_clinic_staff(self.request.user, self.patient):
            raise PermissionDenied("Only the patient's clinic staff can record the refill appointment.")

    def _book(self, at) -> Response:
        try:
            user = cast(User, self.request.user)  # staff: _staff_only
            booked = appointments.book_appointment(self.patient, at, user)
        except DjangoValidationError as error:
            if "conflict" in _codes(error):
                raise Conflict(field_errors(error)) from None
            raise serializers.ValidationError(field_errors(error)) from None
        return Response(self.get_serializer(booked).data)
