from celery import shared_task

from . import services


@shared_task(name="patients.tasks.heartbeat")
def heartbeat():
    """Proves to /healthz that beat and a worker are both alive."""
    services.record_heartbeat("beat")


@shared_task(name="patients.tasks.housekeeping")
def housekeeping():
    return services.housekeeping()
