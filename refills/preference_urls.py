"""Routes of the notifications page, the in-app inbox and the SMS provider's inbound texts."""

from django.urls import path

from . import preference_views as views

urlpatterns = [
    path("account/notifications/", views.preferences_page, name="notification-preferences"),
    path("account/notifications/phone/send-code/", views.send_code, name="phone-send-code"),
    path("account/notifications/phone/verify/", views.verify_code, name="phone-verify"),
    path("account/notifications/texts-on/", views.texts_on, name="sms-opt-in"),
    path("account/notifications/test/", views.send_test, name="notification-test"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/read-all/", views.inbox_read_all, name="inbox-read-all"),
    path("inbox/<int:message_id>/", views.inbox_message, name="inbox-message"),
    path("sms/inbound/", views.sms_inbound, name="sms-inbound"),
]
