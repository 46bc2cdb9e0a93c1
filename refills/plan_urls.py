"""Routes of the reminder plan: the staff pages, the calendar link and feed (plan_views.py),
and the API (plan_api.py, under /api/v1/). Every patient route names its patient as
`patient_id`, so the access matrix (tests/patients/test_access_matrix.py) walks it."""

from django.urls import path

from . import plan_api, plan_views

urlpatterns = [
    path("patients/<int:patient_id>/reminders/", plan_views.reminder_plan_page, name="reminder-plan"),
    path("patients/<int:patient_id>/appointment/", plan_views.appointment, name="refill-appointment"),
    path("patients/<int:patient_id>/calendar/", plan_views.calendar_link, name="patient-calendar"),
    path("patients/<int:patient_id>/calendar/renew/", plan_views.calendar_link_renew, name="patient-calendar-renew"),
    path("calendar/<str:token>.ics", plan_views.calendar_feed, name="calendar-feed"),
]
api_urlpatterns = [
    path("patients/<int:patient_id>/reminders/", plan_api.ReminderPlanView.as_view(), name="api-reminder-plan"),
    path("patients/<int:patient_id>/appointment/", plan_api.AppointmentView.as_view(), name="api-appointment"),
]
