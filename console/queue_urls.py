"""Routes of the triage queue: pages under /clinic/queue/, the API under /api/v1/queue/. A queue
item is named `item_id`; the access matrix classifies these routes (tests/console/test_queue.py
checks that staff of another clinic get 404 on every one)."""

from django.urls import path

from . import queue, queue_actions, queue_api

urlpatterns = [
    path("clinic/queue/", queue.queue_page, name="console-queue"),
    path("clinic/queue/<int:item_id>/", queue.queue_item_page, name="console-queue-item"),
    path("clinic/queue/<int:item_id>/acknowledge/", queue_actions.queue_acknowledge, name="console-queue-acknowledge"),
    path("clinic/queue/<int:item_id>/resolve/", queue_actions.queue_resolve, name="console-queue-resolve"),
]
api_urlpatterns = [
    path("queue/", queue_api.QueueListView.as_view(), name="api-queue"),
    path("queue/<int:item_id>/acknowledge/", queue_api.QueueAcknowledgeView.as_view(), name="api-queue-acknowledge"),
    path("queue/<int:item_id>/resolve/", queue_api.QueueResolveView.as_view(), name="api-queue-resolve"),
]
