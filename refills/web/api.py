"""REST endpoints of a patient's pump: profile, events and forecast (SPEC §8).

Every patient goes through patients.access.get_visible_patient (anything else is a 404); the
services validate and write. Staff reads are audited here, writes by the services.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from patients import audit
from patients.access import get_visible_patient, is_clinic_staff
from patients.models import Patient

from .. import selectors, services
from ..domain.clock import truncate
from ..models import PumpEvent, PumpProfile
from .serializers import (
    ForecastResponseSerializer,
    PumpEventInputSerializer,
    PumpEventResultSerializer,
    PumpEventSerializer,
    PumpProfileSerializer,
)

# Keys of a service's field errors that name a request field; every other key is inside `values`.
EVENT_REQUEST_FIELDS = {"kind", "occurred_at", "values", "note", "corrects"}


def field_errors(error: DjangoValidationError, prefix_unless: set[str] | None = None) -> dict[str, list[str]]:
    """A Django ValidationError as the API's field errors; with prefix_unless, keys not in it
    are put under "values." (the event services name the keys of the values object)."""
    if not hasattr(error, "error_dict"):
        return {"non_field_errors": error.messages}
    out = {}
    for key, messages in error.message_dict.items():
        if key == NON_FIELD_ERRORS:
            key = "non_field_errors"
        elif prefix_unless is not None and key not in prefix_unless:
            key = f"values.{key}"
        out[key] = messages
    return out


class PatientScopedView(generics.GenericAPIView):
    """A view under /patients/{patient_id}/: the patient, if this user may see them."""

    def get_patient(self) -> Patient:
        return get_visible_patient(self.request.user, self.kwargs["patient_id"])

    def get_object(self) -> Patient:
        """The patient: DRF asks for the object before it describes PUT in an OPTIONS answer."""
        return self.get_patient()

    def get_serializer_context(self):
        context = super().get_serializer_context()
        patient = getattr(self, "patient", None)
        if patient is not None:
            context.update(patient=patient, zone=patient.time_zone)
        return context


class PumpProfileView(PatientScopedView):
    """The pump profile. Anyone who can see the patient reads it; their clinic's staff write it."""

    serializer_class = PumpProfileSerializer

    def get(self, request, patient_id):
        self.patient = self.get_patient()
        profile = PumpProfile.objects.filter(patient=self.patient).first()
        if profile is None:
            raise NotFound("No pump profile has been recorded for this patient yet.")
        profile.patient = self.patient
        audit.record_staff_read(request, self.patient, "pump")
        return Response(self.get_serializer(profile).data)

    @extend_schema(responses={200: PumpProfileSerializer, 201: PumpProfileSerializer})
    def put(self, request, patient_id):
        self.patient = self.get_patient()
        if not is_clinic_staff(request.user, self.patient):
            raise PermissionDenied("Only the patient's clinic staff can change the pump profile.")
        serializer = cast(PumpProfileSerializer, self.get_serializer(data=request.data))  # serializer_class
        serializer.is_valid(raise_exception=True)
        created = not PumpProfile.objects.filter(patient=self.patient).exists()
        try:
            profile = services.save_profile(patient=self.patient, by=request.user, values=serializer.service_values())
        except DjangoValidationError as error:
            raise serializers.ValidationError(field_errors(error)) from None
        profile.patient = self.patient
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(self.get_serializer(profile).data, status=answer)


class PumpEventListView(mixins.ListModelMixin, PatientScopedView):
    """Pump events, newest first. Clinic staff record any kind; a patient or caregiver may
    report an alarm only."""

    serializer_class = PumpEventSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PumpEvent.objects.none()
        return (
            PumpEvent.objects.filter(patient=self.patient).select_related("recorded_by").order_by("-occurred_at", "-pk")
        )

    def get(self, request, patient_id):
        self.patient = self.get_patient()
        response = self.list(request)
        audit.record_staff_read(request, self.patient, "events")
        return response

    @extend_schema(
        request=PumpEventInputSerializer,
        responses={200: PumpEventResultSerializer, 201: PumpEventResultSerializer},
        parameters=[
            OpenApiParameter(
                "preview", bool, description="1: answer 200 with what would happen and save nothing.", required=False
            )
        ],
        description="Record a pump event (201), or preview it (200, nothing saved). Patients and caregivers"
        " may record kind=alarm_reported only.",
    )
    def post(self, request, patient_id):
        self.patient = self.get_patient()
        kind = request.data.get("kind") if isinstance(request.data, Mapping) else None
        if kind != PumpEvent.Kind.ALARM_REPORTED and not is_clinic_staff(request.user, self.patient):
            raise PermissionDenied("Only clinic staff can record this. You can report a pump alarm.")
        serializer = PumpEventInputSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        preview = data["preview"] or self._preview_param()
        try:
            recorded = services.record_event(
                patient=self.patient,
                kind=data["kind"],
                values=data["values"],
                occurred_at=data.get("occurred_at") or timezone.now(),
                by=request.user,
                note=data["note"],
                corrects=data["corrects"],
                commit=not preview,
            )
        except DjangoValidationError as error:
            raise serializers.ValidationError(field_errors(error, EVENT_REQUEST_FIELDS)) from None
        outcome = recorded.outcome
        result = {
            "preview": preview,
            "event": recorded.event,
            "expected_volume_ml": outcome.expected_volume_ml if outcome else None,
            "volume_ml": outcome.volume_ml if outcome else None,
            "discrepancy": outcome.discrepancy if outcome else False,
            "warnings": list(outcome.warnings) if outcome else [],
            "forecast": recorded.forecast,
        }
        body = PumpEventResultSerializer(result, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_200_OK if preview else status.HTTP_201_CREATED)

    def _preview_param(self) -> bool:
        raw = self.request.query_params.get("preview")
        if raw is None:
            return False
        try:
            return serializers.BooleanField().to_internal_value(raw)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({"preview": error.detail}) from None


class ForecastView(PatientScopedView):
    """The forecast of SPEC §4 as it stands now. No forecast (a patient who is not active, or no
    refill yet) answers 200 with "forecast": null and the reason, so a client can tell it from
    a patient it may not see (404)."""

    serializer_class = ForecastResponseSerializer

    def get(self, request, patient_id):
        self.patient = self.get_patient()
        result = selectors.forecast_for(self.patient, truncate(timezone.now()))
        audit.record_staff_read(request, self.patient, "forecast")
        answer = {"forecast": result, "reason": None if result else self._no_forecast_reason()}
        return Response(self.get_serializer(answer).data)

    def _no_forecast_reason(self) -> str:
        patient = self.patient
        if not patient.is_active:
            return f"This patient is {patient.get_status_display().lower()}: only active patients have a forecast."
        if not PumpProfile.objects.filter(patient=patient).exists():
            return "No pump profile has been recorded yet."
        return "No refill has been recorded yet."
