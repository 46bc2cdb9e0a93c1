"""The dead man's switch (issue 12, item 3): when the scheduler stops ticking, the workers e-mail the
operations address once, then hourly while it lasts, and once when it ticks again; each tick can
also ping an external heartbeat URL.

- The rules (patients/scheduler_alarm.py) with fixed instants.
- The service (patients/scheduler_watch.check) against PostgreSQL with a frozen clock.
- Real Celery worker processes, no beat, a real SMTP server on loopback (aiosmtpd): one worker
  sends one notice and one recovery note; two workers checking at once still send one notice.
- The heartbeat ping at an HTTP server on loopback; a monitor that refuses, hangs or fails never
  stops the tick from claiming and sending its rows.
"""

from __future__ import annotations

import ast
import asyncio
import email
import email.policy
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import time_machine
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.utils import timezone

from ibt_companion.celery import app as celery_app
from ibt_companion.worker_steps import SchedulerWatch
from patients import scheduler_alarm, scheduler_watch
from patients.models import SchedulerHeartbeat
from patients.scheduler_alarm import RECOVERED, STALLED, STILL_STALLED, Decision, decide, duration_in_words
from patients.services import record_heartbeat
from refills import tasks
from refills.models import Delivery
from tests.refills.helpers import due_rows

from .refills.smtp_server import Recorder, SmtpServer, free_port

REPO = Path(__file__).resolve().parent.parent
OPS = "ops@ibt-operations.example"
MAX_AGE = timedelta(minutes=5)
HOUR = timedelta(hours=1)
T = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)  # the last tick before the stall


# --- The rules: pure, fixed instants --------------------------------------------------------


def step(now, last_tick, state: Decision) -> Decision:
    return decide(
        now=now,
        last_tick_at=last_tick,
        stalled_since=state.stalled_since,
        alarm_sent_at=state.alarm_sent_at,
        max_age=MAX_AGE,
        repeat_every=HOUR,
    )


QUIET = Decision(None, None, None)


def test_a_tick_exactly_five_minutes_old_is_not_stale_and_one_second_more_is():
    assert step(T + MAX_AGE, T, QUIET) == QUIET
    assert step(T + MAX_AGE + timedelta(seconds=1), T, QUIET) == Decision(
        STALLED, T, T + MAX_AGE + timedelta(seconds=1)
    )


def test_a_fresh_tick_with_no_alarm_sends_nothing():
    assert step(T + timedelta(seconds=30), T, QUIET) == QUIET


def test_a_heartbeat_never_written_sends_nothing():
    assert step(T + timedelta(days=3), None, QUIET) == QUIET


def test_one_notice_then_one_an_hour_while_it_lasts_then_one_recovery_note():
    sent = []
    state = QUIET
    # A check every minute for three hours of silence after the tick at T, then a tick at T+3h05.
    for minute in range(0, 3 * 60 + 10):
        now = T + timedelta(minutes=minute, seconds=1)
        last_tick = T if minute < 185 else T + timedelta(minutes=185)
        state = step(now, last_tick, state)
        if state.notice:
            sent.append((state.notice, now - T))
    assert sent == [
        (STALLED, timedelta(minutes=5, seconds=1)),  # the first check past 5 minutes
        (STILL_STALLED, timedelta(minutes=65, seconds=1)),
        (STILL_STALLED, timedelta(minutes=125, seconds=1)),
        (RECOVERED, timedelta(minutes=185, seconds=1)),  # the first check after the tick
    ]


def test_the_repeat_is_due_exactly_one_hour_after_the_last_notice():
    first = T + MAX_AGE + timedelta(seconds=1)
    state = step(first, T, QUIET)
    assert state.notice == STALLED
    state = step(first + HOUR - timedelta(seconds=1), T, state)
    assert state.notice is None
    assert state.alarm_sent_at == first  # nothing sent, nothing moved
    state = step(first + HOUR, T, state)
    assert state == Decision(STILL_STALLED, T, first + HOUR)


def test_recovery_closes_the_alarm_and_a_new_stall_is_a_new_alarm():
    first = T + timedelta(minutes=6)
    state = step(first, T, QUIET)
    back = T + timedelta(minutes=20)
    state = step(back + timedelta(seconds=10), back, state)
    assert state == Decision(RECOVERED, None, None)
    assert step(back + timedelta(minutes=1), back, state) == QUIET  # one note, not one per check
    again = back + timedelta(minutes=5, seconds=1)
    assert step(again, back, state) == Decision(STALLED, back, again)


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(seconds=59), "less than a minute"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(minutes=7, seconds=59), "7 minutes"),
        (timedelta(hours=1, minutes=5), "1 hour 5 minutes"),
        (timedelta(hours=2), "2 hours"),
        (timedelta(days=2, hours=3, minutes=4), "2 days 3 hours"),
        (timedelta(days=1, minutes=4), "1 day 4 minutes"),
    ],
)
def test_durations_in_words(delta, words):
    assert duration_in_words(delta) == words


def test_the_watch_is_a_worker_bootstep():
    assert SchedulerWatch in celery_app.steps["worker"]


# --- The service: PostgreSQL, a frozen clock, Django's test outbox -------------------------


@pytest.fixture
def ops(settings):
    settings.OPERATIONS_EMAIL = OPS
    settings.SITE_URL = "https://ibt.example.org"
    return settings


def beat_row() -> SchedulerHeartbeat:
    return SchedulerHeartbeat.objects.get(name="beat")


def check_at(moment: datetime) -> str | None:
    with time_machine.travel(moment, tick=False):
        return scheduler_watch.check(noticed_by="celery@host-a")


@pytest.mark.django_db
def test_the_service_sends_one_notice_an_hourly_repeat_and_one_recovery_note(ops):
    record_heartbeat("beat", T)
    assert check_at(T + MAX_AGE) is None
    assert mail.outbox == []

    first = T + MAX_AGE + timedelta(seconds=20)
    assert check_at(first) == STALLED
    assert (beat_row().stalled_since, beat_row().alarm_sent_at) == (T, first)
    [notice] = mail.outbox
    assert notice.to == [OPS]
    assert notice.subject == "IBT Companion: the scheduler has stopped (no tick for 5 minutes)"
    assert notice.extra_headers["Auto-Submitted"] == "auto-generated"
    assert "has not ticked since 2026-03-08 09:00:00 UTC, 5 minutes ago" in notice.body
    assert "refill reminders, overdue notices and retries of alerts are not being sent on time" in notice.body
    assert "Check the scheduler process (celery -A ibt_companion beat)" in notice.body
    assert "https://ibt.example.org/healthz" in notice.body
    assert "You will get this message again every hour while the scheduler stays stopped" in notice.body
    assert "celery@host-a" in notice.body

    # Every minute for the next hour: nothing more.
    for minute in range(1, 60):
        assert check_at(first + timedelta(minutes=minute)) is None
    assert len(mail.outbox) == 1

    assert check_at(first + HOUR) == STILL_STALLED
    repeat = mail.outbox[1]
    assert repeat.subject == "IBT Companion: the scheduler is still stopped (no tick for 1 hour 5 minutes)"
    assert "open since the last tick at 2026-03-08 09:00:00 UTC" in repeat.body
    assert (beat_row().stalled_since, beat_row().alarm_sent_at) == (T, first + HOUR)

    back = T + timedelta(hours=2)
    record_heartbeat("beat", back)  # beat runs again
    assert (beat_row().stalled_since, beat_row().alarm_sent_at) == (T, first + HOUR)  # the heartbeat keeps the alarm
    assert check_at(back + timedelta(seconds=30)) == RECOVERED
    recovery = mail.outbox[2]
    assert recovery.to == [OPS]
    assert recovery.subject == "IBT Companion: the scheduler is ticking again"
    assert "its last tick was at 2026-03-08 11:00:00 UTC" in recovery.body
    assert "stopped after its tick at 2026-03-08 09:00:00 UTC: about 2 hours without a tick" in recovery.body
    assert (beat_row().stalled_since, beat_row().alarm_sent_at) == (None, None)
    assert check_at(back + timedelta(minutes=1)) is None
    assert len(mail.outbox) == 3


@pytest.mark.django_db
def test_no_operations_address_or_no_heartbeat_sends_nothing(settings):
    settings.OPERATIONS_EMAIL = ""
    record_heartbeat("beat", T)
    assert check_at(T + timedelta(hours=1)) is None
    assert beat_row().alarm_sent_at is None

    settings.OPERATIONS_EMAIL = OPS
    SchedulerHeartbeat.objects.all().delete()
    assert check_at(T + timedelta(hours=1)) is None
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_notice_that_cannot_be_sent_is_stored_as_unsent_and_sent_at_the_next_check(ops):
    record_heartbeat("beat", T)
    ops.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    ops.EMAIL_HOST, ops.EMAIL_PORT, ops.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 5  # nothing listens
    ops.EMAIL_HOST_USER = ops.EMAIL_HOST_PASSWORD = ""
    ops.EMAIL_USE_TLS = ops.EMAIL_USE_SSL = False
    with pytest.raises(OSError):
        check_at(T + timedelta(minutes=6))
    assert (beat_row().stalled_since, beat_row().alarm_sent_at) == (None, None)

    ops.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert check_at(T + timedelta(minutes=7)) == STALLED
    assert len(mail.outbox) == 1


# --- Real workers, no beat, a real SMTP server -----------------------------------------------


class Keeper(Recorder):
    """The loopback SMTP server's handler, also keeping each message; `delay` makes every DATA
    take that long (a slow mail server), without blocking the server's other connections."""

    def __init__(self, delay: float = 0.0):
        super().__init__()
        self.delay = delay
        self.messages: list[tuple[tuple[str, ...], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        answer = await super().handle_DATA(server, session, envelope)
        if answer.startswith("250"):
            parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
            with self.lock:
                self.messages.append((tuple(envelope.rcpt_tos), parsed))
        return answer

    def subjects(self, to: str) -> list[str]:
        with self.lock:
            return [str(m["Subject"]) for rcpt, m in self.messages if to in rcpt]


def start_worker(queue: str, smtp: SmtpServer, log_path: Path, interval: float, broker_url: str) -> subprocess.Popen:
    """A prefork worker (one pool process), consuming a queue of its own that nobody sends to."""
    settings_dict = connection.settings_dict
    assert settings_dict["NAME"].startswith("test_"), settings_dict["NAME"]  # never another database
    user = quote(settings_dict["USER"] or "postgres")
    if settings_dict["PASSWORD"]:
        user += ":" + quote(settings_dict["PASSWORD"], safe="")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ibt_companion.settings.test",
        "DATABASE_URL": f"postgres://{user}@{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}"
        f"/{settings_dict['NAME']}",
        "REDIS_URL": broker_url,
        "TEST_EMAIL_URL": smtp.url,
        "OPERATIONS_EMAIL": OPS,
        "SCHEDULER_WATCH_INTERVAL_SECONDS": str(interval),
        "SITE_URL": "https://ibt.example.org",
        "PYTHONUNBUFFERED": "1",
    }
    celery = Path(sys.executable).with_name("celery")
    with log_path.open("w") as log:
        return subprocess.Popen(
            [str(celery), "-A", "ibt_companion", "worker", "--pool=prefork", "--concurrency=1",
             "-Q", queue, "-n", f"{uuid.uuid4().hex[:8]}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def stop_worker(worker: subprocess.Popen) -> None:
    """Warm shutdown of the worker and its pool process; SIGKILL if it lingers."""
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=5)


def wait_until(predicate, what: str, workers, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        for worker in workers:
            assert worker.poll() is None, f"a worker exited while waiting for {what}"
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.05)


def forget_queue(queue: str) -> None:
    redis.Redis.from_url(django_settings.REDIS_URL).delete(
        queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
    )


def show_logs(paths) -> None:
    for path in paths:
        print(f"--- {path.name} ---\n" + path.read_text()[-10_000:])


@pytest.mark.django_db(transaction=True)
def test_a_worker_with_no_beat_sends_one_notice_and_one_note_when_beat_is_back(tmp_path):
    """The worker's broker is unreachable too (a likely reason for beat to stop): the watch
    needs only the database and the mail server."""
    record_heartbeat("beat", timezone.now() - timedelta(minutes=6))  # beat died six minutes ago
    log_path = tmp_path / "worker.log"
    dead_broker = f"redis://127.0.0.1:{free_port()}/9"  # nothing listens there
    with SmtpServer(Keeper()) as smtp:
        worker = start_worker("test-watch", smtp, log_path, interval=0.2, broker_url=dead_broker)
        try:
            wait_until(lambda: smtp.handler.count() >= 1, "the notice", [worker])
            time.sleep(1.0)  # five more checks
            assert smtp.handler.subjects(OPS) == ["IBT Companion: the scheduler has stopped (no tick for 6 minutes)"]
            assert smtp.handler.count() == 1  # to nobody else either
            row = beat_row()
            assert row.alarm_sent_at is not None and row.stalled_since == row.last_tick_at

            record_heartbeat("beat")  # beat ticks again
            wait_until(lambda: smtp.handler.count() >= 2, "the recovery note", [worker])
            time.sleep(0.6)
            assert smtp.handler.subjects(OPS) == [
                "IBT Companion: the scheduler has stopped (no tick for 6 minutes)",
                "IBT Companion: the scheduler is ticking again",
            ]
            assert (beat_row().stalled_since, beat_row().alarm_sent_at) == (None, None)
            [(_, notice), _] = smtp.handler.messages
            body = notice.get_content()
            assert "refill reminders, overdue notices and retries of alerts are not being sent on time" in body
            assert "https://ibt.example.org/healthz" in body
            assert worker.poll() is None
            assert "Cannot connect to redis" in log_path.read_text()  # it really had no broker
        except AssertionError:
            stop_worker(worker)
            show_logs([log_path])
            raise
        finally:
            stop_worker(worker)


@pytest.mark.django_db(transaction=True)
def test_two_workers_checking_at_once_send_one_notice(tmp_path):
    record_heartbeat("beat", timezone.now())  # fresh while the workers start
    queue = f"test-watch-{uuid.uuid4().hex}"
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    # A slow mail server (0.6 s a message) and a check every 0.1 s: while one worker is sending,
    # the other checks about six times; without the row lock it would send a second notice.
    with SmtpServer(Keeper(delay=0.6)) as smtp:
        workers = [start_worker(queue, smtp, log, interval=0.1, broker_url=django_settings.REDIS_URL) for log in logs]
        try:
            wait_until(lambda: all(" ready." in log.read_text() for log in logs), "both workers", workers)
            SchedulerHeartbeat.objects.filter(name="beat").update(last_tick_at=timezone.now() - timedelta(minutes=7))
            wait_until(lambda: smtp.handler.count() >= 1, "the notice", workers)
            time.sleep(1.0)  # ten more checks by each
            assert smtp.handler.subjects(OPS) == ["IBT Companion: the scheduler has stopped (no tick for 7 minutes)"]
            assert smtp.handler.count() == 1
            assert all(worker.poll() is None for worker in workers)
        except AssertionError:
            show_logs(logs)
            raise
        finally:
            for worker in workers:
                stop_worker(worker)
            forget_queue(queue)


# --- The external heartbeat ping -------------------------------------------------------------


class Monitor:
    """A healthchecks.io-like check on loopback: counts the GETs to its ping path, answers `status`."""

    def __init__(self, status: int = 200):
        self.hits: list[str] = []
        self.status = status
        monitor = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                monitor.hits.append(self.path)
                body = b"OK"
                self.send_response(monitor.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> Monitor:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_tick(capture) -> int:
    """One minute tick as the worker runs it: the ping goes out once the tick's writes commit."""
    with capture(execute=True):
        return tasks.tick()


@pytest.mark.django_db
def test_each_tick_pings_the_heartbeat_url_once(settings, django_capture_on_commit_callbacks):
    with Monitor() as monitor:
        settings.SCHEDULER_HEARTBEAT_URL = monitor.url("/ping/5f0c1d2e")
        assert run_tick(django_capture_on_commit_callbacks) == 0
        assert monitor.hits == ["/ping/5f0c1d2e"]
        run_tick(django_capture_on_commit_callbacks)
        assert monitor.hits == ["/ping/5f0c1d2e"] * 2

        settings.SCHEDULER_HEARTBEAT_URL = ""  # off
        run_tick(django_capture_on_commit_callbacks)
        assert len(monitor.hits) == 2


@pytest.mark.django_db
def test_the_ping_waits_for_the_commit(settings, django_capture_on_commit_callbacks):
    with Monitor() as monitor:
        settings.SCHEDULER_HEARTBEAT_URL = monitor.url("/ping/after-commit")
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            tasks.tick()
            assert monitor.hits == []  # the tick's transaction is still open
        assert monitor.hits == []
        for callback in callbacks:
            callback()
        assert monitor.hits == ["/ping/after-commit"]


def hanging_port(stack: list) -> int:
    """A port that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stack.append(listener)
    return listener.getsockname()[1]


@pytest.mark.django_db
@pytest.mark.parametrize("monitor_state", ["refused", "hangs", "answers 500"])
def test_a_tick_whose_ping_fails_still_claims_and_sends_its_rows(
    monitor_state, world, settings, eager_tasks, django_capture_on_commit_callbacks, caplog
):
    world.patient.notification_channels = ["email"]
    world.patient.save()
    rows = due_rows(world.patient, 3, timezone.now(), prefix="watch")
    secret = "c0ffee-check-uuid"
    settings.SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS = 0.5
    sockets: list = []
    with Monitor(status=500) as broken:
        settings.SCHEDULER_HEARTBEAT_URL = {
            "refused": f"http://127.0.0.1:{free_port()}/ping/{secret}",
            "hangs": f"http://127.0.0.1:{hanging_port(sockets)}/ping/{secret}",
            "answers 500": broken.url(f"/ping/{secret}"),
        }[monitor_state]
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="patients.scheduler_watch"):
            claimed = run_tick(django_capture_on_commit_callbacks)
        elapsed = time.monotonic() - started
    for listener in sockets:
        listener.close()

    assert claimed == 3
    sent = Delivery.objects.filter(pk__in=[r.pk for r in rows], status=Delivery.Status.SENT)
    assert sent.count() == 3
    assert len(mail.outbox) == 3
    assert SchedulerHeartbeat.objects.filter(name="tick").exists()  # the tick finished
    assert elapsed < 5, f"the tick took {elapsed:.1f} s with the monitor {monitor_state}"
    [warning] = [r.getMessage() for r in caplog.records if r.name == "patients.scheduler_watch"]
    expected = {
        "refused": "Scheduler heartbeat ping failed (ConnectionRefusedError)",
        "hangs": "Scheduler heartbeat ping failed (TimeoutError)",
        "answers 500": "Scheduler heartbeat ping answered HTTP 500",
    }[monitor_state]
    assert warning == expected
    assert secret not in caplog.text and "127.0.0.1" not in caplog.text  # the check's URL is a secret


def test_only_http_urls_are_pinged(settings, caplog):
    settings.SCHEDULER_HEARTBEAT_URL = f"file://{REPO / 'README.md'}"
    with caplog.at_level(logging.WARNING, logger="patients.scheduler_watch"):
        assert scheduler_watch.ping_heartbeat_url() is False
    assert "not an http(s) URL" in caplog.text


def test_the_rules_module_imports_nothing_from_django():
    tree = ast.parse(Path(scheduler_alarm.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"__future__", "dataclasses", "datetime"}
