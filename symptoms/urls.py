"""Page routes of the symptoms app. Routes that name a patient call it `patient_id`, so the access
matrix (tests/patients/test_access_matrix.py) walks them; the others are classified there."""

from django.urls import path

from . import views

urlpatterns = [
    path("patients/<int:patient_id>/checkin/", views.checkin_new, name="checkin-new"),
    path("patients/<int:patient_id>/checkins/", views.checkin_history, name="checkin-history"),
    path("checkins/<int:checkin_id>/", views.checkin_detail, name="checkin-detail"),
    path("emergency-check/", views.emergency_check, name="emergency-check"),
]
