"""Celery tasks: thin. The ticks claim due rows; each send is its own task, acknowledged
late and re-queued if the worker dies (acks_late, reject_on_worker_lost: see settings). Each
send task carries its claim's token, so an older copy of it sends nothing (outbox.take)."""

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from patients import scheduler_watch
from patients import services as patient_services

from .notify import outbox


@shared_task(name="refills.tasks.tick")
def tick():
    now = timezone.now()
    claims = outbox.tick_claims(now)  # committed: a broker failure below leaves leased rows, not lost ones
    hand_out(claims)
    patient_services.record_heartbeat("tick", now)  # only once the work is handed over
    # The external heartbeat (SCHEDULER_HEARTBEAT_URL), once the tick's writes are committed;
    # it never raises, so a monitor that is down cannot fail the tick.
    transaction.on_commit(scheduler_watch.ping_heartbeat_url)
    return len(claims)


@shared_task(name="refills.tasks.tick_urgent")
def tick_urgent():
    """Every 15 s: alerts that are due or stranded (a killed worker, a broker that lost them)."""
    claims = outbox.urgent_tick_claims(timezone.now())
    hand_out(claims)
    return len(claims)


def hand_out(claims) -> None:
    for pk, token in claims:
        send_delivery.delay(pk, token)


# ignore_result: the outcome is the row's status; nothing reads a send's result (and there is no
# result backend: CELERY_TASK_IGNORE_RESULT), so none is ever stored.
@shared_task(name="refills.tasks.send_delivery", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_delivery(delivery_id: int, token: int | None = None):
    return outbox.deliver(delivery_id, token=token)
