"""API routes of the refills app (under /api/v1/). Every route names its patient as
`patient_id`, so the access matrix (tests/patients/test_access_matrix.py) walks it."""

from django.urls import path

from .api import ForecastView, PumpEventListView, PumpProfileView

urlpatterns = [
    path("patients/<int:patient_id>/pump/", PumpProfileView.as_view(), name="api-pump"),
    path("patients/<int:patient_id>/events/", PumpEventListView.as_view(), name="api-pump-events"),
    path("patients/<int:patient_id>/forecast/", ForecastView.as_view(), name="api-forecast"),
]
