"""API routes of the symptoms app (under /api/v1/). Routes that name a patient call it
`patient_id`, so the access matrix (tests/patients/test_access_matrix.py) walks them."""

from django.urls import path

from .api import CheckInListView, SymptomCatalogView, TriageView

urlpatterns = [
    path("symptoms/", SymptomCatalogView.as_view(), name="api-symptoms"),
    path("triage/", TriageView.as_view(), name="api-triage"),
    path("patients/<int:patient_id>/checkins/", CheckInListView.as_view(), name="api-checkins"),
]
