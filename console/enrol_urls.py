"""Routes of the enrolment flow (console/enrol.py)."""

from django.urls import path

from . import enrol

urlpatterns = [
    path("clinic/enrol/", enrol.enrol_start, name="enrol-start"),
    path("clinic/enrol/<str:flow_id>/<str:step>/", enrol.enrol_step, name="enrol-step"),
]
