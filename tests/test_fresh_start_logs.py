"""A fresh installation whose scheduler has simply not ticked yet is not healthy, but nothing is
broken: /healthz still answers 503, logged at WARNING instead of Django's ERROR for any 5xx, for
SCHEDULER_TICK_MAX_AGE_SECONDS after the web process started (the same bound as a stale tick).
Past that, or when something else fails, or when the scheduler stalls after ticking, /healthz
logs ERROR as before (and the dead man's switch alerts as before: tests/test_scheduler_watch.py).
"""

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from ibt_companion import views
from patients import scheduler_alarm
from patients.models import SchedulerHeartbeat
from refills.models import Delivery
from tests.factories import PatientFactory
from tests.refills.smtp_server import SmtpServer, free_port
from tests.test_scheduler_watch import Keeper, forget_queue, show_logs, start_worker, stop_worker, wait_until

MAX_AGE = timedelta(minutes=5)
T = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)


# --- The rule, pure ----------------------------------------------------------------------------


def test_a_scheduler_that_never_ticked_is_awaited_for_as_long_as_a_tick_stays_fresh():
    def awaiting(last_tick_at, up_for):
        return scheduler_alarm.awaiting_first_tick(last_tick_at=last_tick_at, up_for=up_for, max_age=MAX_AGE)

    assert awaiting(None, timedelta(0))
    assert awaiting(None, MAX_AGE)
    assert not awaiting(None, MAX_AGE + timedelta(seconds=1))
    # Once it has ticked, a late tick is a stall (scheduler_alarm.is_stale), never a start.
    assert not awaiting(T, timedelta(0))


# --- /healthz's log line -----------------------------------------------------------------------


def healthz(client, caplog) -> tuple[int, list[logging.LogRecord]]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="django.request"):
        response = client.get("/healthz")
    return response, [r for r in caplog.records if r.name == "django.request"]


@pytest.fixture
def just_started(monkeypatch):
    monkeypatch.setattr(views, "STARTED", time.monotonic())


@pytest.fixture
def up_past_the_grace(monkeypatch, settings):
    monkeypatch.setattr(views, "STARTED", time.monotonic() - settings.SCHEDULER_TICK_MAX_AGE_SECONDS - 1)


@pytest.mark.django_db
def test_a_fresh_start_answers_503_and_logs_no_error(client, caplog, just_started):
    # Seeded rows already due wait for the first tick too (the demo of `make run` has some).
    due = timezone.now() - timedelta(days=3)
    Delivery.objects.create(
        key="fresh-start", patient=PatientFactory(), kind="step_7", recipient="clinic:0", channel="email",
        due_at=due, next_attempt_at=due,
    )  # fmt: skip
    for _ in range(3):  # a monitor polling every minute
        response, records = healthz(client, caplog)
        assert response.status_code == 503
        body = response.json()
        assert body["scheduler"] == {
            "ok": False, "last_tick_age_seconds": None, "error": "no tick recorded yet", "starting": True,
        }  # fmt: skip
        assert body["deliveries"]["ok"] is False
        assert [r.levelname for r in records] == ["WARNING"]
        assert "the scheduler has not ticked yet" in records[0].getMessage()
        assert records[0].status_code == 503


@pytest.mark.django_db
def test_a_scheduler_that_never_ticked_past_the_grace_is_an_error(client, caplog, up_past_the_grace):
    response, records = healthz(client, caplog)
    assert response.status_code == 503
    assert response.json()["scheduler"]["starting"] is False
    assert [r.levelname for r in records] == ["ERROR"]
    assert records[0].getMessage() == "Service Unavailable: /healthz"


@pytest.mark.django_db
def test_a_stalled_scheduler_is_still_an_error_at_once(client, caplog, just_started):
    SchedulerHeartbeat.objects.create(name="beat", last_tick_at=timezone.now() - timedelta(minutes=6))
    response, records = healthz(client, caplog)
    assert response.status_code == 503
    assert "starting" not in response.json()["scheduler"]
    assert [r.levelname for r in records] == ["ERROR"]


@pytest.mark.django_db
def test_a_broker_that_is_down_on_a_fresh_start_is_an_error(client, caplog, settings, just_started):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/10"
    response, records = healthz(client, caplog)
    assert response.status_code == 503
    assert response.json()["redis"]["ok"] is False
    assert [r.levelname for r in records] == ["ERROR"]


# --- The workers' watch on a fresh start ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_watching_a_scheduler_that_never_ticked_logs_no_error_and_sends_nothing(tmp_path, settings):
    """A real worker with the dead man's switch on, checking every 0.1 s with no heartbeat row yet."""
    assert not SchedulerHeartbeat.objects.exists()
    log_path = tmp_path / "worker.log"
    queue = f"test-fresh-{uuid.uuid4().hex}"
    with SmtpServer(Keeper()) as smtp:
        worker = start_worker(queue, smtp, log_path, interval=0.1, broker_url=settings.REDIS_URL)
        try:
            wait_until(lambda: " ready." in log_path.read_text(), "the worker", [worker])
            time.sleep(2.0)  # about twenty checks
            assert worker.poll() is None
            assert smtp.handler.count() == 0
            text = log_path.read_text()
            assert "ERROR" not in text and "CRITICAL" not in text
            assert "Scheduler watch: check failed" not in text
        except AssertionError:
            show_logs([log_path])
            raise
        finally:
            stop_worker(worker)
            forget_queue(queue)
