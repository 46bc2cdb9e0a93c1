"""Reminder deliveries under faults (SPEC §5, issue 4), against real services: PostgreSQL,
Redis (a private `redis-server` per test, on its own port and folder), Celery worker processes,
and an SMTP server on loopback (aiosmtpd, tests/refills/smtp_server.py).

What must hold: the database is the source of truth, so a killed worker or a broker that goes
away loses no message; a resend after a crash is at most one per send in flight and carries
the row's own Message-ID; transient SMTP errors back off, permanent ones end the row as dead
with a clinic queue item; and one bad row never blocks the rest.

The real-worker tests use `transaction=True` (see tests/test_healthz.py): the worker is another
process and only sees committed rows.
"""

import logging
import os
import signal
import subprocess
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import kombu
import pytest
import time_machine
from django.utils import timezone

from ibt_companion.celery import app as celery_app
from patients.models import CaregiverLink, Patient, QueueItem
from refills import services, tasks
from refills.models import Delivery, PumpProfile, RefillCycle
from refills.notify import outbox

from ..factories import UserFactory
from ..fault_fixtures import (
    CONCURRENCY,
    WAIT,
    PrivateRedis,
    broker,
    kill_group,
    print_log,
    restore_unacked,
    start_worker,
    stop_worker,
    wait_until,
)
from .helpers import due_rows
from .helpers import tick_and_send_at as run
from .smtp_server import Recorder, SmtpServer, free_port

# --- Waiting on a worker (the processes themselves: tests/fault_fixtures.py) ---------------


def wait_for_progress(count, target: int, what: str, *, process: subprocess.Popen, stall: float = WAIT) -> None:
    """Wait until count() reaches target; fail if it stops moving for `stall` seconds (a big
    batch on a busy two-core machine may take longer than one bound in all)."""
    last, moved = count(), time.monotonic()
    while last < target:
        assert process.poll() is None, f"the worker exited while waiting for {what}"
        assert time.monotonic() - moved < stall, f"no progress for {stall} s towards {what} ({last}/{target})"
        time.sleep(0.2)
        now = count()
        if now != last:
            last, moved = now, time.monotonic()


# --- Rows --------------------------------------------------------------------------------


def message_ids(rows) -> dict[int, str]:
    return {row.pk: row.message_id for row in Delivery.objects.filter(pk__in=[r.pk for r in rows])}


# --- 1. A worker killed with SIGKILL in the middle of a batch ------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_nothing_and_resends_only_what_was_in_flight(world, tmp_path):
    world.patient.notification_channels = ["email"]
    world.patient.save()
    private = PrivateRedis(tmp_path / "redis").start()
    smtp = SmtpServer().start()
    queue = f"faults-{uuid.uuid4().hex}"
    log_path = tmp_path / "worker.log"
    workers = []
    try:
        now = timezone.now()
        rows = due_rows(world.patient, 1000, now, prefix="kill")
        expected = message_ids(rows)
        claims = outbox.tick_claims(now)
        assert sorted(pk for pk, _token in claims) == sorted(expected)
        with broker(private.url()):
            for pk, token in claims:
                tasks.send_delivery.apply_async((pk, token), queue=queue)
        assert private.client().llen(queue) == 1000

        workers.append(start_worker(queue=queue, broker_url=private.url(), smtp_url=smtp.url, log_path=log_path))
        first = workers[0]
        # SIGKILL the worker's whole group as the mail server takes the 100th message, before it
        # answers 250: that sender dies after handing its message over (the other may be anywhere).
        smtp.handler.on_accept = lambda accepted: accepted == 100 and os.killpg(first.pid, signal.SIGKILL)
        started = time.monotonic()
        wait_until(lambda: first.poll() is not None, "the worker to be killed at the 100th message")
        before_kill = time.monotonic() - started
        smtp.handler.on_accept = None
        kill_group(first)
        time.sleep(1)  # let the server finish a message whose end of data was already on the wire

        # Measure what was in flight at the kill: mail the server accepted for rows still `sending`.
        received_at_kill = set(smtp.handler.message_ids())
        sending_at_kill = dict(
            Delivery.objects.filter(status=Delivery.Status.SENDING).values_list("pk", "lease_expires_at")
        )
        in_flight = {pk for pk in sending_at_kill if expected[pk] in received_at_kill}
        sent_at_kill = Delivery.objects.filter(status=Delivery.Status.SENT).count()
        assert 100 - CONCURRENCY <= sent_at_kill < 1000, "the kill was not in the middle of the batch"
        assert sent_at_kill + len(sending_at_kill) == 1000
        # Each of the two pool processes holds one task at a time (prefetch multiplier 1).
        assert 1 <= len(in_flight) <= CONCURRENCY, in_flight

        # Both ways back must be safe together: Redis redelivers what the dead worker held
        # (here at once, as after the visibility timeout) and the tick reclaims expired leases.
        # A row a worker took has a lease renewed at the take; one still queued, its claim's.
        held = restore_unacked(private.url())
        first_lease, last_lease = min(sending_at_kill.values()), max(sending_at_kill.values())
        assert outbox.tick(first_lease - outbox.TICK_SLACK - timedelta(seconds=1)) == []  # leases still valid
        reclaimed = outbox.tick_claims(last_lease + timedelta(seconds=1))
        assert {pk for pk, _token in reclaimed} == set(sending_at_kill)
        with broker(private.url()):
            for pk, token in reclaimed:
                tasks.send_delivery.apply_async((pk, token), queue=queue)

        workers.append(start_worker(queue=queue, broker_url=private.url(), smtp_url=smtp.url, log_path=log_path))
        started = time.monotonic()
        client = private.client()
        wait_for_progress(
            Delivery.objects.filter(status=Delivery.Status.SENT).count, 1000, "every row sent", process=workers[1]
        )
        # Drain: every copy of every message handled, so a late duplicate would be counted.
        wait_for_progress(
            lambda: -client.llen(queue) - client.hlen("unacked"), 0, "the queue to drain", process=workers[1]
        )
        after_restart = time.monotonic() - started
        stop_worker(workers[1])

        received = smtp.handler.message_ids()
        assert set(received) == set(expected.values()), "a row's Message-ID never reached the server"
        duplicates = {message_id: n - 1 for message_id, n in received.items() if n > 1}
        # At most one duplicate per send in flight, each with its own row's Message-ID.
        assert sum(duplicates.values()) <= len(in_flight), (duplicates, in_flight)
        assert set(duplicates) <= {expected[pk] for pk in in_flight}
        for row in Delivery.objects.all():
            assert row.status == Delivery.Status.SENT
            assert row.provider_message_id == row.message_id == expected[row.pk]
            assert row.lease_expires_at is None
        print(
            f"kill: {sent_at_kill} sent, {len(sending_at_kill)} sending, {len(in_flight)} in flight, "
            f"{held} unacknowledged; duplicates {sum(duplicates.values())}; "
            f"{before_kill:.1f} s to the kill, {after_restart:.1f} s for the rest"
        )
    except AssertionError:
        for worker in workers:
            stop_worker(worker)
        print_log(log_path)
        raise
    finally:
        for worker in workers:
            stop_worker(worker)
        smtp.stop()
        private.kill()


# --- 2. The broker stopped and started during a tick ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_broker_restarting_during_a_tick_loses_no_claim(world, tmp_path):
    world.patient.notification_channels = ["email"]
    world.patient.save()
    private = PrivateRedis(tmp_path / "redis").start()
    smtp = SmtpServer().start()
    queue = celery_app.conf.task_default_queue  # where the tick task sends: the broker is private
    log_path = tmp_path / "worker.log"
    worker = None
    sent = Delivery.objects.filter(status=Delivery.Status.SENT)
    try:
        with broker(private.url()):
            worker = start_worker(queue=queue, broker_url=private.url(), smtp_url=smtp.url, log_path=log_path)
            # The loop works end to end before the outage.
            before = due_rows(world.patient, 20, timezone.now(), prefix="before")
            assert tasks.tick() == 20
            wait_until(lambda: sent.count() == 20, "the first rows to be sent", process=worker)

            # Rows fall due, the broker goes away, and the tick runs.
            during = due_rows(world.patient, 30, timezone.now(), prefix="during")
            private.shutdown()
            started = time.monotonic()
            with pytest.raises(kombu.exceptions.OperationalError):
                tasks.tick()
            assert time.monotonic() - started < 15, "the tick hung on the missing broker"
            # The claim was committed before the enqueue failed: the rows hold a lease, not lost.
            claimed = Delivery.objects.filter(pk__in=[r.pk for r in during])
            assert set(claimed.values_list("status", "attempts")) == {
                (Delivery.Status.SENDING, 0)
            }  # claimed, not yet tried
            lease = claimed.values_list("lease_expires_at", flat=True).first()
            assert timezone.now() < lease <= timezone.now() + outbox.LEASE

            private.start()  # the same port, the same folder, nothing kept
            after = due_rows(world.patient, 10, timezone.now(), prefix="after")
            # The next tick that runs once the leases have expired hands out everything due.
            with time_machine.travel(lease + timedelta(seconds=1), tick=True):
                assert tasks.tick() == 40
            wait_until(lambda: sent.count() == 60, "every row to be sent after the outage", process=worker)
        stop_worker(worker)

        received = smtp.handler.message_ids()
        expected = message_ids([*before, *during, *after])
        assert set(received) == set(expected.values())
        assert max(received.values()) == 1  # nothing was in flight, so nothing went twice
    except AssertionError:
        if worker is not None:
            stop_worker(worker)
        print_log(log_path)
        print_log(private.folder / "redis.log")
        raise
    finally:
        if worker is not None:
            stop_worker(worker)
        smtp.stop()
        private.kill()


# --- 2b. How soon a stranded alert goes out (issue 10) --------------------------------------


def emergency_alerts(world, now: datetime) -> list[int]:
    """An emergency check-in's alert rows (the caregiver's e-mail, the clinic's alert address),
    handed to the broker after the commit as refills.notify.alerts does."""
    from django.db import transaction

    from refills.notify import recipients
    from refills.notify.alerts import hand_over

    with transaction.atomic():
        ids = outbox.create_alerts(
            patient=world.patient,
            scope=f"faults-{uuid.uuid4().hex[:8]}",
            kind="alert_emergency",
            people=[recipients.for_caregiver(world.caregiver, world.patient), recipients.for_clinic(world.clinic)],
            due_at=now,
            payload={"observed_at": now.isoformat(), "logged_by_role": "patient", "path": "/"},
        )
    hand_over(ids)
    return ids


@pytest.mark.django_db(transaction=True)
def test_stranded_alerts_reach_the_mail_server_within_90_s_of_a_killed_worker_or_an_emptied_broker(world, tmp_path):
    """Production leases and the production urgent tick (beat's 15 s, run here by the test): a
    worker SIGKILLed while it sends an alert, and a broker that restarts empty while it holds
    another alert's tasks. Each alert reaches the mail server within 90 s of its fault."""
    world.caregiver.notification_channels = ["email"]
    world.caregiver.save()
    private = PrivateRedis(tmp_path / "redis").start()
    smtp = SmtpServer().start()
    queue = celery_app.conf.task_default_queue
    log_path = tmp_path / "worker.log"
    workers = []
    try:
        with broker(private.url()):
            workers.append(start_worker(queue=queue, broker_url=private.url(), smtp_url=smtp.url, log_path=log_path))
            killed_at = []

            def kill_while_sending(address):  # at RCPT: the worker dies before the server has the message
                if not killed_at:
                    os.killpg(workers[0].pid, signal.SIGKILL)
                    killed_at.append(time.monotonic())

            smtp.handler.on_rcpt = kill_while_sending
            first = emergency_alerts(world, timezone.now())
            wait_until(lambda: killed_at, "the worker to be killed while it sends the first alert")
            smtp.handler.on_rcpt = None
            kill_group(workers[0])
            assert smtp.handler.count() == 0
            taken = Delivery.objects.filter(pk__in=first, attempts=1, status=Delivery.Status.SENDING)
            assert taken.exists(), "no alert was being sent at the kill"

            # With no worker running, a second emergency: its tasks wait in the broker, which
            # then restarts with nothing (no persistence).
            second = emergency_alerts(world, timezone.now())
            assert private.client().llen(queue) >= len(second)
            private.shutdown()
            private.start()
            emptied_at = time.monotonic()
            assert private.client().llen(queue) == 0

            workers.append(start_worker(queue=queue, broker_url=private.url(), smtp_url=smtp.url, log_path=log_path))
            expected = message_ids(Delivery.objects.filter(pk__in=[*first, *second]))
            interval = beat_schedule_seconds("refills.tasks.tick_urgent")
            next_tick = time.monotonic()
            while set(smtp.handler.first_seen) != set(expected.values()):
                assert time.monotonic() - killed_at[0] < 120, ("stranded alerts not sent", smtp.handler.first_seen)
                assert workers[1].poll() is None, "the second worker exited"
                if time.monotonic() >= next_tick:
                    tasks.tick_urgent()  # what beat runs every 15 s
                    next_tick += interval
                time.sleep(0.1)
            # The worker records each send just after the server has it: let it finish before
            # the warm shutdown, whose SIGTERM reaches the pool children too.
            wait_until(
                lambda: (
                    set(Delivery.objects.filter(pk__in=[*first, *second]).values_list("status", flat=True)) == {"sent"}
                ),
                "the worker to record every send",
            )
        stop_worker(workers[1])

        seen = smtp.handler.first_seen
        after_kill = max(seen[expected[pk]] for pk in first) - killed_at[0]
        after_restart = max(seen[expected[pk]] for pk in second) - emptied_at
        print(f"stranded alerts: {after_kill:.1f} s after the kill, {after_restart:.1f} s after the broker restart")
        assert after_kill <= 90 and after_restart <= 90
        # Neither reached the server before its fault, so each went exactly once.
        assert max(smtp.handler.message_ids().values()) == 1
        assert set(Delivery.objects.filter(pk__in=[*first, *second]).values_list("status", flat=True)) == {"sent"}
    except AssertionError:
        for worker in workers:
            stop_worker(worker)
        print_log(log_path)
        raise
    finally:
        for worker in workers:
            stop_worker(worker)
        smtp.stop()
        private.kill()


def beat_schedule_seconds(task: str) -> float:
    [entry] = [e for e in celery_app.conf.beat_schedule.values() if e["task"] == task]
    return entry["schedule"]


# --- 3. A mail server that refuses for a while, or for good (in-process) --------------------

T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
SIMPLE = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}
STEP_14 = datetime(2026, 3, 23, 14, 0, tzinfo=UTC)  # the 14-day step of the cycle below


@pytest.fixture
def cycle(world):
    """The patient (e-mail and inbox) and two caregivers (e-mail) on one refill cycle."""
    world.patient.notification_channels = ["email", "inbox"]
    world.patient.save()
    world.caregiver.notification_channels = ["email"]
    world.caregiver.save()
    second = UserFactory(email="second@home.example", notification_channels=["email"])
    CaregiverLink.objects.create(caregiver=second, patient=world.patient)
    PumpProfile.objects.create(
        patient=world.patient, model="synchromed2_20", capacity_ml=20, alarm_volume_ml=2, implant_date=date(2025, 1, 1)
    )
    with time_machine.travel(T0, tick=False):
        services.record_event(
            patient=world.patient,
            kind="refill",
            values={"volume_ml": "20", "aspirated_ml": "0", "program": SIMPLE},
            occurred_at=T0,
            by=world.staff,
            now=T0 + timedelta(minutes=5),
        )
    return RefillCycle.objects.get(patient=world.patient, ended_at__isnull=True)


def step_14(recipient_email: str) -> Delivery:
    return Delivery.objects.get(kind="step_14", channel="email", recipient_user__email=recipient_email)


@pytest.fixture
def smtp(settings):
    handler = Recorder(transient={"patient@home.example": 4}, refuse={"carer@home.example"})
    with SmtpServer(handler) as server:
        for name, value in server.django_settings().items():
            setattr(settings, name, value)
        yield server


def test_transient_smtp_errors_back_off_then_the_message_goes_once(cycle, world, smtp):
    assert step_14("patient@home.example").status == "pending"
    outcome = run(STEP_14)
    by_row = {Delivery.objects.get(pk=pk).key.split(":", 3)[-1]: status for pk, status in outcome.items()}
    assert sorted(outcome.values()) == ["dead", "failed", "sent", "sent"]
    assert by_row[f"user:{world.patient_user.pk}:inbox"] == "sent"
    assert by_row[f"user:{world.patient_user.pk}:email"] == "failed"

    now, delays = STEP_14, []
    for attempt in range(1, 5):
        row = step_14("patient@home.example")
        assert (row.status, row.attempts) == ("failed", attempt)
        assert row.last_error == "SMTP 451"
        delay = row.next_attempt_at - now
        low, high = outbox.BACKOFF_BASE * 2 ** (attempt - 1) * 0.8, outbox.BACKOFF_BASE * 2 ** (attempt - 1) * 1.2
        assert low <= delay <= high, (attempt, delay)
        delays.append(delay)
        assert run(row.next_attempt_at - timedelta(seconds=1)) == {}  # not before its time
        now = row.next_attempt_at
        assert list(run(now).values()) == ["sent" if attempt == 4 else "failed"]
    assert delays == sorted(delays) and len(set(delays)) == 4  # the waits grow

    row = step_14("patient@home.example")
    assert (row.status, row.attempts, row.last_error, row.sent_at) == ("sent", 5, "", now)
    assert row.provider_message_id == row.message_id
    assert smtp.handler.to("patient@home.example") == [row.message_id]
    assert smtp.handler.answers[("patient@home.example", 451)] == 4


def test_a_permanent_refusal_is_dead_with_a_queue_item_and_others_are_unaffected(cycle, world, smtp):
    smtp.handler.transient.clear()
    run(STEP_14)
    dead = step_14("carer@home.example")
    assert dead.status == "dead" and dead.attempts == 1
    assert "550" in dead.last_error
    item = QueueItem.objects.get(kind="dead_delivery")
    assert (item.patient, item.clinic, item.tier) == (world.patient, world.clinic, QueueItem.Tier.FOLLOW_UP)
    assert item.source == f"delivery:{dead.pk}" and item.resolved_at is None
    # Never tried again, and nobody else is held up.
    second = step_14("second@home.example")
    assert second.status == "sent" and smtp.handler.to("second@home.example") == [second.message_id]
    assert smtp.handler.to("carer@home.example") == []
    later = run(STEP_14 + timedelta(hours=2))
    assert dead.pk not in later
    assert step_14("patient@home.example").status == "sent"
    assert Delivery.objects.get(pk=dead.pk).status == "dead"
    assert QueueItem.objects.filter(kind="dead_delivery").count() == 1


def test_a_mail_server_that_is_down_is_a_transient_error(cycle, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 5
    outcome = run(STEP_14)
    assert sorted(outcome.values()) == ["failed", "failed", "failed", "sent"]  # the inbox needs no server
    row = step_14("patient@home.example")
    assert row.last_error.startswith("ConnectionRefusedError") and row.next_attempt_at > STEP_14


def test_a_row_that_never_gets_through_dies_after_max_attempts(cycle, world, settings):
    handler = Recorder(transient={"patient@home.example": 1000})
    with SmtpServer(handler) as server:
        for name, value in server.django_settings().items():
            setattr(settings, name, value)
        now, waits = STEP_14, []
        run(now)
        for _ in range(outbox.MAX_ATTEMPTS - 1):
            waits.append(step_14("patient@home.example").next_attempt_at - now)
            now += waits[-1]
            run(now)
    row = step_14("patient@home.example")
    assert (row.status, row.attempts, row.last_error) == ("dead", outbox.MAX_ATTEMPTS, "SMTP 451")
    assert handler.answers[("patient@home.example", 451)] == outbox.MAX_ATTEMPTS
    assert QueueItem.objects.filter(kind="dead_delivery", source=f"delivery:{row.pk}").count() == 1
    # Capped: the last wait is the cap with its jitter, not 2⁶ minutes.
    assert outbox.BACKOFF_CAP * 0.8 <= waits[-1] <= outbox.BACKOFF_CAP * 1.2, waits


# --- 4. A poison row (in-process) ----------------------------------------------------------


class Captured(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@contextmanager
def captured_errors(name: str):
    handler, logger = Captured(), logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def test_a_poison_row_is_pushed_aside_and_the_rest_go_out(cycle, world):
    now = STEP_14
    poison = world.other_patient
    [bad] = due_rows(poison, 1, now, prefix="poison")
    Patient.objects.filter(pk=poison.pk).update(time_zone="Mars/Olympus_Mons")
    with captured_errors("refills.notify.outbox") as errors:
        outcome = run(now)
    assert outcome.pop(bad.pk) == "failed"
    assert sorted(outcome.values()) == ["sent", "sent", "sent", "sent"]
    bad.refresh_from_db()
    assert bad.status == "failed" and bad.attempts == 1
    assert bad.last_error.startswith("ZoneInfoNotFoundError")
    assert bad.next_attempt_at >= now + outbox.BACKOFF_BASE * 0.8
    assert [r.getMessage() for r in errors] == [f"delivery {bad.pk} failed unexpectedly"]
    assert errors[0].exc_info is not None  # the traceback is logged
    assert run(now + timedelta(seconds=30)) == {}  # pushed aside, not retried at once


def test_a_poison_patient_with_an_overdue_cycle_does_not_stop_the_tick(cycle, world):
    """The tick itself walks every overdue cycle (daily overdue repeat, queue items). A patient
    whose zone cannot be read must not make the whole tick fail, or nobody gets anything."""
    poison = world.other_patient
    PumpProfile.objects.create(
        patient=poison, model="synchromed2_20", capacity_ml=20, alarm_volume_ml=2, implant_date=date(2025, 1, 1)
    )
    with time_machine.travel(T0, tick=False):
        services.record_event(
            patient=poison,
            kind="refill",
            values={"volume_ml": "4", "aspirated_ml": "0", "program": SIMPLE},  # due in 4 days
            occurred_at=T0,
            by=world.staff,
            now=T0 + timedelta(minutes=5),
        )
    assert RefillCycle.objects.get(patient=poison, ended_at__isnull=True).refill_due_at < STEP_14
    Patient.objects.filter(pk=poison.pk).update(time_zone="Mars/Olympus_Mons")
    with captured_errors("refills.notify.planning") as errors:
        outcome = run(STEP_14)
    mine = Delivery.objects.filter(patient=world.patient, kind="step_14").values_list("pk", flat=True)
    assert {outcome.get(pk) for pk in mine} == {"sent"}, outcome
    assert errors, "the poison cycle was not logged"
