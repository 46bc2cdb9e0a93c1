"""REST endpoints of symptoms (SPEC §8): the catalog and the triage (public: the "Is this an
emergency?" checker needs them), and a patient's check-ins.

Every patient goes through patients.access.get_visible_patient (anything else is a 404); the
services validate and write. Staff reads are audited here, writes by the services.
"""

from __future__ import annotations

from dataclasses import asdict

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, mixins, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from patients import audit
from patients.access import get_visible_patient
from patients.outage import AnswersWithoutDatabase, require_database
from refills.web.api import PatientScopedView, field_errors

from . import services, triage
from .catalog import HEADINGS, catalog_as_list
from .guidance import fill_page, fill_page_no_clinic
from .models import CheckIn
from .serializers import (
    CatalogSerializer,
    CheckInInputSerializer,
    CheckInSerializer,
    TriageInputSerializer,
    TriageResultSerializer,
)


def _service_errors(error: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(field_errors(error))


class SymptomCatalogView(AnswersWithoutDatabase, generics.GenericAPIView):
    """The symptom catalog with labels, hints, groups and headings, in the order of the form.
    Pure data: it answers during a database outage too."""

    permission_classes = [AllowAny]
    serializer_class = CatalogSerializer

    def get(self, request):
        body = {
            "rule_set_version": triage.RULE_SET_VERSION,
            "headings": [{"key": key, "label": label} for key, label in HEADINGS],
            "symptoms": catalog_as_list(),
            "levels": list(triage.LEVELS),
        }
        return Response(self.get_serializer(body).data)


class TriageView(AnswersWithoutDatabase, generics.GenericAPIView):
    """Triage without saving anything. With `patient` (one you can see, else 404) the rules read
    that patient's pump data now; without it, no log-in is needed, nor the database (an outage
    still gets the rules' answer; with a patient, the outage's 503)."""

    permission_classes = [AllowAny]
    serializer_class = TriageInputSerializer

    @extend_schema(
        request=TriageInputSerializer,
        responses={
            200: TriageResultSerializer,
            404: OpenApiResponse(description="No patient you can see has that id."),
        },
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        patient_id = data.pop("patient")
        patient = None
        if patient_id is not None:
            require_database(request)
            patient = get_visible_patient(request.user, patient_id)
            audit.record_staff_read(request, patient, "triage")
        try:
            assessment = services.triage_only(patient=patient, **data)
        except DjangoValidationError as error:
            raise _service_errors(error) from None
        level = assessment.disposition.level
        if patient is None:
            page = fill_page_no_clinic(level, settings.DEFAULT_EMERGENCY_NUMBER)
        else:
            page = fill_page(
                level,
                services.numbers_now(patient.clinic),
                clinic_told=False,
                pump_data_checked=assessment.disposition.pump_data_checked,
            )
        body = {"disposition": asdict(assessment.disposition), "guidance": asdict(page)}
        return Response(TriageResultSerializer(body).data)


class CheckInListView(mixins.ListModelMixin, PatientScopedView):
    """A patient's check-ins, newest first. POST logs one (patient, caregiver, or clinic staff
    taking a phone call, who may give observed_at up to 24 hours back) and answers with its
    disposition. An emergency alerts every linked caregiver and the clinic; a call-clinic
    check-in enters the clinic's queue."""

    serializer_class = CheckInSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return CheckIn.objects.none()
        return CheckIn.objects.filter(patient=self.patient).select_related("logged_by").order_by("-observed_at", "-pk")

    def get(self, request, patient_id):
        self.patient = self.get_patient()
        response = self.list(request)
        audit.record_staff_read(request, self.patient, "checkins")
        return response

    @extend_schema(request=CheckInInputSerializer, responses={201: CheckInSerializer})
    def post(self, request, patient_id):
        self.patient = self.get_patient()
        serializer = CheckInInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            recorded = services.record_checkin(patient=self.patient, by=request.user, **serializer.validated_data)
        except DjangoValidationError as error:
            raise _service_errors(error) from None
        body = self.get_serializer(recorded.checkin).data
        return Response(body, status=status.HTTP_201_CREATED)
