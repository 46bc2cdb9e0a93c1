"""Page routes of the refills app. Included before patients.urls, so its home page (with the
refill cards) is the one served at "" and named "home"."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("patients/<int:patient_id>/pump/", views.pump_profile, name="pump-profile"),
    path("patients/<int:patient_id>/events/", views.event_history, name="event-history"),
    path("patients/<int:patient_id>/events/new/", views.event_new, name="event-new"),
]
