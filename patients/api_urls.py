from django.urls import path

from .api import PatientViewSet, TokenView
from .token_api import ApiTokenDetailView, ApiTokenListView

patient_list = PatientViewSet.as_view({"get": "list", "post": "create"})
patient_detail = PatientViewSet.as_view({"get": "retrieve", "patch": "partial_update"})

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("auth/tokens/", ApiTokenListView.as_view(), name="api-token-list"),
    path("auth/tokens/<int:token_id>/", ApiTokenDetailView.as_view(), name="api-token-detail"),
    path("patients/", patient_list, name="api-patient-list"),
    path("patients/<int:patient_id>/", patient_detail, name="api-patient-detail"),
]
