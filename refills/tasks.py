"""Celery tasks: thin. The tick claims due rows; each send is its own task, acknowledged
late and re-queued if the worker dies (acks_late, reject_on_worker_lost: see settings)."""

from celery import shared_task
from django.utils import timezone

from patients import services as patient_services

from . import delivery


@shared_task(name="refills.tasks.tick")
def tick():
    now = timezone.now()
    ids = delivery.tick(now)  # committed: a broker failure below leaves leased rows, not lost ones
    for pk in ids:
        send_delivery.delay(pk)
    patient_services.record_heartbeat("tick", now)  # only once the work is handed over
    return len(ids)


@shared_task(name="refills.tasks.send_delivery", acks_late=True, reject_on_worker_lost=True)
def send_delivery(delivery_id: int):
    return delivery.deliver(delivery_id)
