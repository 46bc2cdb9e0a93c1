from django.urls import path

from .api import PatientViewSet, TokenView

patient_list = PatientViewSet.as_view({"get": "list", "post": "create"})
patient_detail = PatientViewSet.as_view({"get": "retrieve", "patch": "partial_update"})

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("patients/", patient_list, name="api-patient-list"),
    path("patients/<int:patient_id>/", patient_detail, name="api-patient-detail"),
]
