"""The Celery app. The beat schedule lives here; tasks stay thin and call services."""

import os

from celery import Celery

from . import worker_db  # noqa: F401  (its signal handlers: the worker's database connection)
from .worker_steps import SchedulerWatch

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ibt_companion.settings.local")

app = Celery("ibt_companion")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Each worker checks that beat still ticks and e-mails OPERATIONS_EMAIL when it does not.
app.steps["worker"].add(SchedulerWatch)

app.conf.beat_schedule = {
    "scheduler-heartbeat": {"task": "patients.tasks.heartbeat", "schedule": 60.0},
    # Every minute: claim due reminder deliveries (the database says what is due).
    "refills-tick": {"task": "refills.tasks.tick", "schedule": 60.0, "options": {"expires": 55}},
    # Every 15 s: due and stranded check-in alerts (an alert's lease is 45 s: refills/notify/outbox.py).
    "refills-urgent-tick": {"task": "refills.tasks.tick_urgent", "schedule": 15.0, "options": {"expires": 14}},
    # Every hour: expired enrolment drafts and sessions.
    "housekeeping": {"task": "patients.tasks.housekeeping", "schedule": 3600.0, "options": {"expires": 3000}},
}
