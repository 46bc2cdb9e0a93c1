"""The dead man's switch: someone is told when the scheduler (celery beat) stops.

- `check` runs in every worker, every SCHEDULER_WATCH_INTERVAL_SECONDS, from a thread of the
  worker's own (ibt_companion/worker_steps.py), never from a task: beat is what may be dead. When
  the "beat" heartbeat (the row /healthz reads) is older than SCHEDULER_TICK_MAX_AGE_SECONDS it
  e-mails OPERATIONS_EMAIL, again every SCHEDULER_ALARM_REPEAT_SECONDS while it lasts, and once
  when the scheduler ticks again (the rules: scheduler_alarm.py). The alarm state lives on that
  row, and each check takes the row with SELECT ... FOR UPDATE SKIP LOCKED, sends, and stores the
  new state in the same transaction: however many workers check at once, one sends each notice,
  and a send that fails is rolled back and tried again at the next check.
- `ping_heartbeat_url` is called after each minute tick (refills.tasks.tick): a GET of
  SCHEDULER_HEARTBEAT_URL, so a monitor outside the app notices when the pings stop.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from . import scheduler_alarm
from .emails import render_text, sender
from .models import SchedulerHeartbeat

log = logging.getLogger(__name__)

BEAT = "beat"  # the heartbeat that patients.tasks.heartbeat writes each minute and /healthz reads


def check(now: datetime | None = None, *, noticed_by: str = "") -> str | None:
    """Send the notice that is due now, if any; returns its kind (scheduler_alarm) or None.
    Raises when the e-mail cannot be sent (nothing is stored then, so the next check tries again)."""
    if not settings.OPERATIONS_EMAIL:
        return None
    with transaction.atomic():
        # Another worker holding the row is deciding (or the heartbeat is being written): skip.
        row = SchedulerHeartbeat.objects.select_for_update(skip_locked=True).filter(name=BEAT).first()
        if row is None:
            return None
        now = now or timezone.now()  # read once the row is ours
        decision = scheduler_alarm.decide(
            now=now,
            last_tick_at=row.last_tick_at,
            stalled_since=row.stalled_since,
            alarm_sent_at=row.alarm_sent_at,
            max_age=timedelta(seconds=settings.SCHEDULER_TICK_MAX_AGE_SECONDS),
            repeat_every=timedelta(seconds=settings.SCHEDULER_ALARM_REPEAT_SECONDS),
        )
        if decision.notice is None:
            return None
        _send(decision.notice, row=row, now=now, noticed_by=noticed_by)
        row.stalled_since = decision.stalled_since
        row.alarm_sent_at = decision.alarm_sent_at
        row.save(update_fields=["stalled_since", "alarm_sent_at"])
    log.warning("Scheduler watch: sent the %s notice to the operations address", decision.notice)
    return decision.notice


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _send(notice: str, *, row: SchedulerHeartbeat, now: datetime, noticed_by: str) -> None:
    stalled_since = row.stalled_since or row.last_tick_at  # the first notice: the last tick is the start
    repeat = scheduler_alarm.duration_in_words(timedelta(seconds=settings.SCHEDULER_ALARM_REPEAT_SECONDS))
    context = {
        "notice": notice,
        "last_tick": _utc(row.last_tick_at),
        "age": scheduler_alarm.duration_in_words(now - row.last_tick_at),
        "stalled_since": _utc(stalled_since),
        "stalled_for": scheduler_alarm.duration_in_words(row.last_tick_at - stalled_since),
        "now": _utc(now),
        "max_age": scheduler_alarm.duration_in_words(timedelta(seconds=settings.SCHEDULER_TICK_MAX_AGE_SECONDS)),
        "repeat": repeat.removeprefix("1 "),  # "every hour", "every 30 minutes"
        "healthz_url": settings.SITE_URL.rstrip("/") + "/healthz",
        "noticed_by": noticed_by,
    }
    EmailMessage(
        subject=" ".join(render_text("emails/scheduler_watch_subject.txt", context).split()),
        body=render_text("emails/scheduler_watch.txt", context),
        from_email=sender(),
        to=[settings.OPERATIONS_EMAIL],
        headers={"Auto-Submitted": "auto-generated"},
    ).send()


def ping_heartbeat_url() -> bool:
    """GET SCHEDULER_HEARTBEAT_URL (empty: off) with a short timeout. Never raises: a monitor that
    cannot be reached must not stop reminders. The URL is not logged (it is the check's secret)."""
    url = settings.SCHEDULER_HEARTBEAT_URL
    if not url:
        return False
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        log.warning("SCHEDULER_HEARTBEAT_URL is not an http(s) URL: no heartbeat ping sent")
        return False
    # The scheme is checked above (urllib would also open file:); redirects stay on http(s) or ftp.
    request = urllib.request.Request(url, headers={"User-Agent": "IBT Companion scheduler heartbeat"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=settings.SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read(4096)
        return True
    except urllib.error.HTTPError as exc:
        log.warning("Scheduler heartbeat ping answered HTTP %s", exc.code)
    except urllib.error.URLError as exc:
        log.warning("Scheduler heartbeat ping failed (%s)", type(exc.reason).__name__)
    except Exception as exc:  # a timeout while reading, a reset connection, a malformed URL ...
        log.warning("Scheduler heartbeat ping failed (%s)", type(exc).__name__)
    return False
