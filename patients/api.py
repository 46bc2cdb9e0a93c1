"""REST endpoints for people. Every object goes through access.visible_patients."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from . import api_tokens, audit, services
from .access import get_visible_patient, relation_to, staff_clinics, visible_patients
from .models import Clinic
from .serializers import PatientSerializer, TokenRequestSerializer, TokenResponseSerializer


class TokenView(generics.GenericAPIView):
    """Exchange an e-mail and password (and the second factor, for whoever has one) for a new
    API token, throttled like the log-in page. It ends as patients/token_rules.py says."""

    permission_classes = [AllowAny]
    authentication_classes = []
    serializer_class = TokenRequestSerializer

    @extend_schema(
        responses={
            200: TokenResponseSerializer,
            # The second-step check answers for any /api/ request that brings such a session along.
            403: OpenApiResponse(description="This browser's session has not passed two-step log-in yet."),
            429: OpenApiResponse(description="Too many failed tries for this account from here: wait 15 minutes."),
        }
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        issued = api_tokens.issue(data["user"], data.get("name", ""), path=request.path)
        issued.token.key = issued.key
        return Response(TokenResponseSerializer(issued.token).data)


class PatientViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = PatientSerializer
    lookup_url_kwarg = "patient_id"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return visible_patients(self.request.user).order_by("full_name", "pk")

    def get_object(self):
        patient = get_visible_patient(self.request.user, self.kwargs["patient_id"])
        self.check_object_permissions(self.request, patient)
        return patient

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        ids = [row["id"] for row in response.data["results"]]
        audit.record_staff_list(request, visible_patients(request.user).filter(pk__in=ids))
        return response

    def retrieve(self, request, *args, **kwargs):
        patient = self.get_object()
        audit.record_staff_read(request, patient)
        return Response(self.get_serializer(patient).data)

    @extend_schema(
        responses={201: PatientSerializer, 404: OpenApiResponse(description="You do not work for the clinic named.")}
    )
    def create(self, request, *args, **kwargs):
        clinics = list(staff_clinics(request.user))
        if not clinics:
            raise PermissionDenied("Only clinic staff can add patients.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        clinic = self._clinic_for_create(request, clinics)
        try:
            patient = services.create_patient(by=request.user, clinic=clinic, **serializer.validated_data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        return Response(self.get_serializer(patient).data, status=status.HTTP_201_CREATED)

    def _clinic_for_create(self, request, clinics: Sequence[Clinic]) -> Clinic:
        wanted = request.data.get("clinic")
        if wanted in (None, ""):
            if len(clinics) > 1:
                raise serializers.ValidationError({"clinic": ["You work for several clinics: say which."]})
            return clinics[0]
        for clinic in clinics:
            if str(clinic.pk) == str(wanted):
                return clinic
        raise NotFound("No such clinic.")

    def partial_update(self, request, *args, **kwargs):
        patient = self.get_object()
        context = {**self.get_serializer_context(), "relation": relation_to(request.user, patient)}
        serializer = PatientSerializer(patient, data=request.data, partial=True, context=context)
        serializer.refuse_unpermitted()  # 403 before any other check: nothing is saved
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        try:
            services.update_patient(by=request.user, patient=patient, changes=changes)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        return Response(self.get_serializer(patient).data)
