from django.urls import path

from . import reminder_views

urlpatterns = [path("r/ack/<str:token>/", reminder_views.acknowledge_page, name="reminder-ack")]
api_urlpatterns = [path("reminders/ack/<str:token>/", reminder_views.acknowledge_api, name="api-reminder-ack")]
