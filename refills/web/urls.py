"""Every route of the refills app. `urlpatterns` are the pages (included before patients.urls, so
its home page, with the refill cards, is the one served at "" and named "home"); `api_urlpatterns`
go under /api/v1/. Every patient route names its patient as `patient_id`, so the access matrix
(tests/patients/test_access_matrix.py) walks it."""

from django.urls import path

from . import api, plan_api, plan_views, preference_views, reminder_views, views

urlpatterns = [
    # The patient's pump and events (views.py)
    path("", views.home, name="home"),
    path("patients/<int:patient_id>/pump/", views.pump_profile, name="pump-profile"),
    path("patients/<int:patient_id>/events/", views.event_history, name="event-history"),
    path("patients/<int:patient_id>/events/new/", views.event_new, name="event-new"),
    # The acknowledgement link of a reminder (reminder_views.py)
    path("r/ack/<str:token>/", reminder_views.acknowledge_page, name="reminder-ack"),
    # The reminder plan: the staff pages, the calendar link and feed (plan_views.py)
    path("patients/<int:patient_id>/reminders/", plan_views.reminder_plan_page, name="reminder-plan"),
    path("patients/<int:patient_id>/appointment/", plan_views.appointment, name="refill-appointment"),
    path("patients/<int:patient_id>/calendar/", plan_views.calendar_link, name="patient-calendar"),
    path("patients/<int:patient_id>/calendar/renew/", plan_views.calendar_link_renew, name="patient-calendar-renew"),
    path("calendar/<str:token>.ics", plan_views.calendar_feed, name="calendar-feed"),
    # The notifications page, the in-app inbox and the SMS provider's inbound texts (preference_views.py)
    path("account/notifications/", preference_views.preferences_page, name="notification-preferences"),
    path("account/notifications/phone/send-code/", preference_views.send_code, name="phone-send-code"),
    path("account/notifications/phone/verify/", preference_views.verify_code, name="phone-verify"),
    path("account/notifications/texts-on/", preference_views.texts_on, name="sms-opt-in"),
    path("account/notifications/test/", preference_views.send_test, name="notification-test"),
    path("inbox/", preference_views.inbox, name="inbox"),
    path("inbox/read-all/", preference_views.inbox_read_all, name="inbox-read-all"),
    path("inbox/<int:message_id>/", preference_views.inbox_message, name="inbox-message"),
    path("sms/inbound/", preference_views.sms_inbound, name="sms-inbound"),
]

api_urlpatterns = [
    # Pump, events and forecast (api.py)
    path("patients/<int:patient_id>/pump/", api.PumpProfileView.as_view(), name="api-pump"),
    path("patients/<int:patient_id>/events/", api.PumpEventListView.as_view(), name="api-pump-events"),
    path("patients/<int:patient_id>/forecast/", api.ForecastView.as_view(), name="api-forecast"),
    # The acknowledgement link of a reminder (reminder_views.py)
    path("reminders/ack/<str:token>/", reminder_views.acknowledge_api, name="api-reminder-ack"),
    # The reminder plan and appointments (plan_api.py)
    path("patients/<int:patient_id>/reminders/", plan_api.ReminderPlanView.as_view(), name="api-reminder-plan"),
    path("patients/<int:patient_id>/appointment/", plan_api.AppointmentView.as_view(), name="api-appointment"),
]
