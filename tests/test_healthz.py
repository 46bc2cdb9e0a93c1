"""/healthz against the real database, the real Redis and a real Celery worker.

The worker test uses `transaction=True`: the worker is another process with its own database
connection, so it only sees committed rows, and the test only sees the worker's write once it is
committed. A plain `django_db` test would wrap everything in a transaction that is never committed.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import time_machine
from django.db import connection
from django.utils import timezone

from ibt_companion.celery import app as celery_app
from patients.models import SchedulerHeartbeat
from patients.tasks import heartbeat
from refills.models import Delivery

from .factories import PatientFactory
from .refills.smtp_server import free_port

REPO = Path(__file__).resolve().parent.parent
TEST_REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")  # as ibt_companion.settings.test


def fresh_beat(at=None) -> SchedulerHeartbeat:
    return SchedulerHeartbeat.objects.create(name="beat", last_tick_at=at or timezone.now())


@pytest.mark.django_db
def test_healthy_with_a_fresh_heartbeat(client):
    fresh_beat()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "vendor": "postgresql"}
    assert body["redis"]["ok"] is True
    assert body["redis"]["kind"] == "redis"
    assert body["scheduler"]["ok"] is True
    assert 0 <= body["scheduler"]["last_tick_age_seconds"] <= 5
    assert "no-cache" in response.headers["Cache-Control"]


@pytest.mark.django_db
def test_no_heartbeat_is_unhealthy(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["scheduler"]["ok"] is False
    assert body["scheduler"]["last_tick_age_seconds"] is None
    # Only the scheduler is at fault.
    assert body["database"]["ok"] is True
    assert body["redis"]["ok"] is True


@pytest.mark.django_db
def test_stale_heartbeat_is_unhealthy(client, settings):
    fresh_beat()
    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=False):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["scheduler"]["ok"] is False
    assert body["scheduler"]["last_tick_age_seconds"] == 600
    assert body["scheduler"]["last_tick_age_seconds"] > settings.SCHEDULER_TICK_MAX_AGE_SECONDS


@pytest.mark.django_db
def test_heartbeat_just_inside_the_limit_is_healthy(client, settings):
    fresh_beat()
    limit = settings.SCHEDULER_TICK_MAX_AGE_SECONDS
    with time_machine.travel(timezone.now() + timedelta(seconds=limit - 1), tick=False):
        response = client.get("/healthz")
    assert response.status_code == 200, response.json()


@pytest.mark.django_db
def test_unreachable_redis_is_unhealthy_and_answers_quickly(client, settings):
    fresh_beat()
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/15"
    started = time.monotonic()
    response = client.get("/healthz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["redis"]["ok"] is False
    assert body["redis"]["error"] == "ConnectionError"
    assert body["database"]["ok"] is True
    assert body["scheduler"]["ok"] is True
    assert elapsed < 5, f"/healthz took {elapsed:.1f}s with Redis down"


# --- Reminder deliveries -------------------------------------------------------------------


def due_delivery(minutes_ago: float, status: str = "pending") -> Delivery:
    due = timezone.now() - timedelta(minutes=minutes_ago)
    return Delivery.objects.create(
        key=f"healthz:{uuid.uuid4().hex}",
        patient=PatientFactory(),
        kind="step_7",
        recipient="clinic:0",
        channel="email",
        due_at=due,
        next_attempt_at=due,
        status=status,
    )


@pytest.mark.django_db
def test_no_due_deliveries_is_healthy(client):
    fresh_beat()
    due_delivery(-5)  # due in five minutes: not late
    due_delivery(60, status="sent")
    body = client.get("/healthz").json()
    assert body["deliveries"] == {"ok": True, "oldest_due_unsent_age_seconds": None}


@pytest.mark.django_db
def test_a_delivery_due_minutes_ago_is_healthy(client):
    fresh_beat()
    due_delivery(9)
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["deliveries"]["ok"] is True
    assert 535 <= response.json()["deliveries"]["oldest_due_unsent_age_seconds"] <= 545


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["pending", "failed"])
def test_a_delivery_unsent_for_ten_minutes_is_unhealthy(client, status):
    fresh_beat()
    due_delivery(2)
    due_delivery(10, status=status)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["deliveries"]["ok"] is False
    assert 600 <= body["deliveries"]["oldest_due_unsent_age_seconds"] <= 605
    assert body["scheduler"]["ok"] is True  # only the deliveries are at fault


# --- A real worker -----------------------------------------------------------------------


def start_worker(queue: str, database_name: str, log) -> subprocess.Popen:
    settings_dict = connection.settings_dict
    user = quote(settings_dict["USER"] or "postgres")
    if settings_dict["PASSWORD"]:
        user += ":" + quote(settings_dict["PASSWORD"], safe="")
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or 5432
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ibt_companion.settings.test",
        "DATABASE_URL": f"postgres://{user}@{host}:{port}/{database_name}",
        "REDIS_URL": TEST_REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }
    celery = Path(sys.executable).with_name("celery")
    return subprocess.Popen(
        [
            str(celery), "-A", "ibt_companion", "worker",
            "--pool=solo", "--concurrency=1", "-Q", queue, "-n", f"{queue}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO",
        ],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def stop_worker(worker: subprocess.Popen) -> None:
    """SIGTERM (warm shutdown), then SIGKILL if it has not exited."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=5)


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_records_the_heartbeat(client, tmp_path):
    database_name = connection.settings_dict["NAME"]
    assert database_name.startswith("test_"), database_name  # never let the worker write elsewhere
    # The test process sends through the Celery app configured from the test settings.
    assert celery_app.conf.broker_url == TEST_REDIS_URL
    assert heartbeat.app is celery_app

    queue = f"test-healthz-{uuid.uuid4().hex}"
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = start_worker(queue, database_name, log)
    try:
        assert not SchedulerHeartbeat.objects.filter(name="beat").exists()
        assert client.get("/healthz").status_code == 503

        heartbeat.apply_async(queue=queue)
        deadline = time.monotonic() + 60
        while not SchedulerHeartbeat.objects.filter(name="beat").exists():
            assert worker.poll() is None, "the worker exited early"
            assert time.monotonic() < deadline, "the worker did not record a heartbeat within 60 s"
            time.sleep(0.25)

        response = client.get("/healthz")
        assert response.status_code == 200, response.json()
        assert response.json()["scheduler"]["last_tick_age_seconds"] <= 60
    except AssertionError:
        stop_worker(worker)
        print("--- worker log ---\n" + log_path.read_text())
        raise
    finally:
        stop_worker(worker)
        # kombu's Redis transport keeps the queue as a list plus binding keys; leave nothing behind.
        redis.Redis.from_url(TEST_REDIS_URL).delete(
            queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
        )
