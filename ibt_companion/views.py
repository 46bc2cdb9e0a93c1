"""Operational endpoints."""

import time
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.utils.log import log_response
from django.views.decorators.cache import never_cache

from patients import scheduler_alarm
from patients.models import SchedulerHeartbeat
from refills.notify import outbox

# A reminder due longer ago than this and still unsent means the sender is stuck or down.
DELIVERY_MAX_AGE_SECONDS = 10 * 60
# When this process started (monotonic): a fresh installation's scheduler gets this long to tick
# for the first time before /healthz's 503 is logged as an error (scheduler_alarm.awaiting_first_tick).
STARTED = time.monotonic()


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # any failure is reported, never raised
        return {"ok": False, "error": type(exc).__name__}


def _broker() -> dict:
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis"):
        return {"ok": True, "kind": url.split(":", 1)[0]}
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        started = time.monotonic()
        client.ping()
        return {"ok": True, "kind": "redis", "ping_ms": round((time.monotonic() - started) * 1000, 1)}
    except Exception as exc:
        return {"ok": False, "kind": "redis", "error": type(exc).__name__}


def _scheduler() -> dict:
    try:
        beat = SchedulerHeartbeat.objects.filter(name="beat").values_list("last_tick_at", flat=True).first()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    if beat is None:
        starting = scheduler_alarm.awaiting_first_tick(
            last_tick_at=None,
            up_for=timedelta(seconds=time.monotonic() - STARTED),
            max_age=timedelta(seconds=settings.SCHEDULER_TICK_MAX_AGE_SECONDS),
        )
        return {"ok": False, "last_tick_age_seconds": None, "error": "no tick recorded yet", "starting": starting}
    age = (timezone.now() - beat).total_seconds()
    return {"ok": age <= settings.SCHEDULER_TICK_MAX_AGE_SECONDS, "last_tick_age_seconds": round(age)}


def _deliveries() -> dict:
    try:
        age = outbox.oldest_due_age_seconds(timezone.now())
    except Exception as exc:
        return {"ok": False, "oldest_due_unsent_age_seconds": None, "error": type(exc).__name__}
    if age is None:
        return {"ok": True, "oldest_due_unsent_age_seconds": None}
    return {"ok": age < DELIVERY_MAX_AGE_SECONDS, "oldest_due_unsent_age_seconds": round(age)}


@never_cache
def healthz(request):
    checks = {"database": _database(), "redis": _broker(), "scheduler": _scheduler(), "deliveries": _deliveries()}
    healthy = all(c["ok"] for c in checks.values())
    response = JsonResponse({"status": "ok" if healthy else "fail", **checks}, status=200 if healthy else 503)
    if not healthy and _only_awaiting_first_tick(checks):
        # Not healthy yet, but nothing is broken: a WARNING, not the ERROR Django logs for any 5xx,
        # so a monitor polling a new installation every minute does not fill the log with errors.
        log_response(
            "Service Unavailable: %s (the scheduler has not ticked yet since the start)",
            request.path,
            response=response,
            request=request,
            level="warning",
        )
    return response


def _only_awaiting_first_tick(checks: dict) -> bool:
    """The scheduler has never ticked and this process is new; the database and the broker answer.
    Due deliveries may wait too: only a tick sends them."""
    scheduler, deliveries = checks["scheduler"], checks["deliveries"]
    return (
        bool(scheduler.get("starting"))
        and checks["database"]["ok"]
        and checks["redis"]["ok"]
        and (deliveries["ok"] or "error" not in deliveries)
    )
