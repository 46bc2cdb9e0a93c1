"""The reminder scenarios end to end under faults (issue 11, item 3; SPEC §5).

One scenario, driven step by step: a patient and one caregiver (e-mail each) on a refill cycle
recorded through `refills.services`; the clock moved to each planned step (14, 7, 3 and 1 days
before the due date, the due date, the next day's overdue repeat); at each, the real tick task
(`refills.tasks.tick`, what beat runs) hands the due rows to a real Celery worker process, which
sends them through a real SMTP server on loopback (tests/refills/smtp_server.py). The caregiver
acknowledges after the 7-day step, which cancels the 3-day step for both.

Run once without a fault, the scenario sends exactly the messages of EXPECTED, each once. Run
again with one fault mid-scenario, it must send the same messages: none lost, none before its due
time, none twice except at most one resend per worker process killed while it sent (SPEC §5:
"at most one duplicate per send in flight"), and every row ends as in the run without faults.
The faults: a worker SIGKILLed while the mail server takes a message, the broker (a private
redis-server) restarted empty while it holds the tick's tasks, the mail server answering 451
for a while, and the database (a private PostgreSQL cluster) stopped after a tick handed out its
claims and during the next tick. The shared PostgreSQL and Redis are never stopped.

Time: this process travels the clock (time_machine) and passes it to the tick; the worker
process sees the real clock. The scenario is set two months ahead of the real clock, so what the
worker stamps (a lease it renews, a retry's next attempt) is already past at the scenario's next
tick, as it would be once that much time had passed; leases the tick sets are on the scenario's
clock, and a row they hold is handed out again only once its lease has run out. The driver runs a
tick only once the worker has finished what the last one handed out, as a worker keeping up with
beat would have.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import OperationalError, connection
from django.db.models import Q
from django.test import Client

from ibt_companion.celery import app as celery_app
from patients.models import QueueItem
from refills import tasks
from refills.models import Acknowledgement, Delivery, RefillCycle
from refills.notify import acks, outbox

from .factories import pump_with_refill
from .fault_fixtures import (
    PG_BIN,
    PrivatePostgres,
    PrivateRedis,
    broker,
    kill_group,
    print_log,
    private_postgres_cluster,
    restore_unacked,
    start_worker,
    stop_worker,
    wait_until,
)
from .refills.smtp_server import SmtpServer

# Two months ahead of the real clock, at 15:00 UTC (the refill), so that every instant of the
# scenario is later than anything the worker stamps with the real clock while the module runs.
START = datetime.combine(datetime.now(UTC).date() + timedelta(days=60), clock(15), tzinfo=UTC)
TICK = outbox.TICK  # beat's interval for the tick task
QUEUE = celery_app.conf.task_default_queue  # where the tick hands out sends (the broker is private)
WORKER_PROCESSES = 1  # pool processes per worker: a kill leaves at most one send in flight
BRPOP_TIMEOUT = 1  # seconds: how long kombu's Redis transport waits on an empty queue
MORE_TICKS = 6  # ticks a minute apart after a step's own, at most, to send what is due
SENT, SKIPPED, SENDING, FAILED, PENDING = (
    Delivery.Status.SENT,
    Delivery.Status.SKIPPED,
    Delivery.Status.SENDING,
    Delivery.Status.FAILED,
    Delivery.Status.PENDING,
)

# What the scenario sends, as (recipient, kind, occasion): the overdue repeats by day after the
# due date. The 3-day step is acknowledged away; the 1-day step and overdue messages are not.
EXPECTED = {
    *((role, kind, "") for role in ("patient", "caregiver") for kind in ("step_14", "step_7", "step_1")),
    *((role, "overdue", day) for role in ("patient", "caregiver") for day in ("due day", "day after")),
    ("clinic", "overdue_clinic", ""),
}
# How every row ends: the sent ones, the 3-day step skipped for both people, and the empty-date
# message still waiting (it falls after the scenario's last day).
EXPECTED_STATUSES = {
    **dict.fromkeys(EXPECTED, SENT),
    ("patient", "step_3", ""): SKIPPED,
    ("caregiver", "step_3", ""): SKIPPED,
    ("patient", "empty", ""): PENDING,
    ("caregiver", "empty", ""): PENDING,
}


class Scenario:
    """The driver: one patient, one caregiver, one refill cycle, one worker at a time."""

    def __init__(self, world, smtp: SmtpServer, redis_server: PrivateRedis, log_path):
        self.world = world
        self.smtp = smtp
        self.redis = redis_server
        self.log_path = log_path
        self.database: PrivatePostgres | None = None  # the private cluster, in the database fault's run
        self.workers: list[subprocess.Popen] = []
        self.arrivals: list[tuple[str, datetime]] = []  # (Message-ID, the tick it came after)
        self.filed = 0  # messages of the mail server filed into arrivals
        self.abandoned: set[int] = set()  # rows a killed worker had taken
        self.resends_allowed = 0  # one per pool process killed
        self.in_flight: set[str] = set()  # Message-IDs the mail server had when their worker died
        self.cycle: RefillCycle | None = None
        self.roles = {
            f"user:{world.patient_user.pk}": "patient",
            f"user:{world.caregiver.pk}": "caregiver",
            f"clinic:{world.clinic.pk}": "clinic",
        }

    @property
    def worker(self) -> subprocess.Popen:
        return self.workers[-1]

    def start_worker(self) -> None:
        self.workers.append(
            start_worker(
                queue=QUEUE,
                broker_url=self.redis.url(),
                smtp_url=self.smtp.url,
                log_path=self.log_path,
                concurrency=WORKER_PROCESSES,
            )
        )

    # --- The cycle ---

    def record_refill(self) -> None:
        """The patient and the caregiver hear by e-mail; the refill goes through the services."""
        self.world.patient.notification_channels = ["email"]
        self.world.patient.save()
        self.world.caregiver.notification_channels = ["email"]
        self.world.caregiver.save()
        with time_machine.travel(START + timedelta(minutes=5), tick=False):
            self.cycle = pump_with_refill(self.world.patient, by=self.world.staff, at=START)

    def phases(self) -> list[tuple[str, datetime]]:
        """(name, instant) in order: each planned step, the acknowledgement a day after the 7-day
        step, the due date, and the next day's overdue repeat at the reminder hour."""
        planned = dict(Delivery.objects.filter(cycle=self.cycle, status=PENDING).values_list("kind", "due_at"))
        assert set(planned) == {"step_14", "step_7", "step_3", "step_1", "overdue", "overdue_clinic", "empty"}, planned
        due = self.cycle.refill_due_at
        assert planned["overdue"] == planned["overdue_clinic"] == due
        zone = ZoneInfo(self.world.patient.time_zone)
        next_day = due.astimezone(zone).date() + timedelta(days=1)
        repeat = datetime.combine(next_day, clock(self.world.clinic.reminder_hour), tzinfo=zone).astimezone(UTC)
        phases = [
            ("step_14", planned["step_14"]),
            ("step_7", planned["step_7"]),
            ("acknowledgement", planned["step_7"] + timedelta(days=1)),
            ("step_3", planned["step_3"]),
            ("step_1", planned["step_1"]),
            ("due", due),
            ("day after", repeat),
        ]
        assert [at for _, at in phases] == sorted(at for _, at in phases)
        return phases

    def acknowledge(self, at: datetime) -> None:
        """The caregiver follows the link in a message and presses the button (its POST)."""
        token = acks.make_token(self.cycle, f"user:{self.world.caregiver.pk}")
        with time_machine.travel(at, tick=False):
            response = Client().post(f"/r/ack/{token}/")
        assert response.status_code == 200
        assert Acknowledgement.objects.filter(cycle=self.cycle).count() == 1

    # --- Ticks and the worker ---

    def tick(self, at: datetime) -> int:
        """The tick task, with the clock at `at`: claims and hands out what is due."""
        with time_machine.travel(at, tick=False):
            return tasks.tick()

    def broker_idle(self) -> bool:
        client = self.redis.client()
        return client.llen(QUEUE) == 0 and client.hlen("unacked") == 0

    def worker_idle(self) -> bool:
        """Nothing waits in the broker, and no row is taken by a live worker (a row a worker took
        has a lease on the real clock, before START; the tick's leases are on the scenario's)."""
        taken = Delivery.objects.filter(status=SENDING, lease_expires_at__lt=START).exclude(pk__in=self.abandoned)
        return self.broker_idle() and not taken.exists()

    def settle(self, at: datetime) -> None:
        """Wait until the worker has done what it was given, then file what reached the mail
        server since as having arrived after the tick at `at`."""
        wait_until(
            lambda: self.worker_idle() and (time.sleep(0.2) or self.worker_idle()),
            "the worker to finish what it was handed",
            process=self.worker,
        )
        with self.smtp.handler.lock:
            new = [message_id for message_id, _ in self.smtp.handler.accepted[self.filed :]]
        self.filed += len(new)
        self.arrivals += [(message_id, at) for message_id in new]

    def unsent(self, at: datetime) -> bool:
        return Delivery.objects.filter(
            Q(status__in=(SENDING, FAILED)) | Q(status=PENDING, next_attempt_at__lte=at)
        ).exists()

    def deliver(self, at: datetime) -> None:
        """The tick at `at`, then one a minute (as beat runs it) until nothing due is unsent."""
        for n in range(1 + MORE_TICKS):
            tick_at = at + n * TICK
            self.tick(tick_at)
            self.settle(tick_at)
            if not self.unsent(tick_at):
                return
        raise AssertionError(f"rows still unsent {MORE_TICKS} minutes after {at}")

    def run(self, fault: Fault | None) -> None:
        self.record_refill()
        for name, at in self.phases():
            if name == "acknowledgement":
                self.acknowledge(at)
                continue
            assert self.tick(at - TICK) == 0, f"a tick a minute before {name} handed something out"
            self.settle(at - TICK)
            if fault is not None and fault.phase == name:
                fault.strike(self, at)
            else:
                self.deliver(at)

    # --- What happened ---

    def label(self, row: Delivery) -> tuple[str, str, str]:
        occasion = row.occasion
        if row.kind == "overdue":
            due_day = self.cycle.refill_due_at.astimezone(ZoneInfo(self.world.patient.time_zone)).date()
            occasion = {0: "due day", 1: "day after"}.get((date.fromisoformat(occasion) - due_day).days, occasion)
        return self.roles.get(row.recipient, row.recipient), row.kind, occasion

    def check(self) -> None:
        """Every expected message arrived, none before its due time, none twice but for the
        resends a killed worker allows, and every row ended as it should."""
        rows = list(Delivery.objects.filter(patient=self.world.patient))
        by_message_id = {row.message_id: row for row in rows}
        assert {message_id for message_id, _ in self.arrivals} <= set(by_message_id), "mail for no row"
        early = [
            (self.label(row), row.due_at, at)
            for message_id, at in self.arrivals
            if (row := by_message_id[message_id]).due_at > at
        ]
        assert not early, f"sent before its due time: {early}"
        arrived = Counter(self.label(by_message_id[message_id]) for message_id, _ in self.arrivals)
        assert set(arrived) == EXPECTED, f"missing {EXPECTED - set(arrived)}, not expected {set(arrived) - EXPECTED}"
        twice = {label: n - 1 for label, n in arrived.items() if n > 1}
        assert sum(twice.values()) <= self.resends_allowed, twice
        assert set(twice) <= {self.label(by_message_id[message_id]) for message_id in self.in_flight}, twice
        statuses = {self.label(row): row.status for row in rows}
        assert len(statuses) == len(rows) and statuses == EXPECTED_STATUSES, statuses
        assert [row for row in rows if row.lease_expires_at is not None] == []
        assert {row.provider_message_id == row.message_id for row in rows if row.status == SENT} == {True}
        assert set(Acknowledgement.objects.filter(cycle=self.cycle).values_list("recipient", flat=True)) == {
            f"user:{self.world.caregiver.pk}"
        }
        items = QueueItem.objects.filter(patient=self.world.patient, resolved_at__isnull=True)
        assert sorted(items.values_list("kind", flat=True)) == ["overdue"]  # once, and no dead delivery


# --- The faults ----------------------------------------------------------------------------


def smtp_answers_451_for_a_while(scenario: Scenario, at: datetime) -> None:
    """The mail server answers 451 to each person's first two tries of the 14-day step."""
    people = [scenario.world.patient_user.email, scenario.world.caregiver.email]
    with scenario.smtp.handler.lock:
        scenario.smtp.handler.transient.update(dict.fromkeys(people, 2))
    scenario.deliver(at)
    answers = scenario.smtp.handler.answers
    assert {person: answers[(person, 451)] for person in people} == dict.fromkeys(people, 2)
    retried = Delivery.objects.filter(cycle=scenario.cycle, kind="step_14")
    assert sorted(retried.values_list("attempts", flat=True)) == [3, 3]


def worker_killed_mid_send(scenario: Scenario, at: datetime) -> None:
    """SIGKILL the worker's group as the mail server takes the 7-day step's first message, before
    it answers 250; Redis gives the dead worker's task back, a new worker starts."""
    worker, killed = scenario.worker, []

    def kill(accepted: int) -> None:
        if not killed:
            os.killpg(worker.pid, signal.SIGKILL)
            killed.append(accepted)

    scenario.smtp.handler.on_accept = kill
    assert scenario.tick(at) == 2
    wait_until(lambda: worker.poll() is not None, "the worker to be killed as the mail server takes a message")
    scenario.smtp.handler.on_accept = None
    kill_group(worker)
    received = set(scenario.smtp.handler.message_ids())
    sending = list(Delivery.objects.filter(status=SENDING))
    in_flight = {row.message_id for row in sending if row.message_id in received}
    assert len(in_flight) == 1, "the kill was not while a message was on its way"
    scenario.in_flight |= in_flight
    scenario.resends_allowed += WORKER_PROCESSES
    scenario.abandoned = {row.pk for row in sending if row.lease_expires_at < START}
    restore_unacked(scenario.redis.url())  # what Redis does once the visibility timeout passes
    scenario.start_worker()
    scenario.settle(at)
    scenario.deliver(at + TICK)
    scenario.abandoned = set()


@contextmanager
def paused(worker: subprocess.Popen):
    """SIGSTOP the worker's group (it takes nothing) until the block ends."""
    os.killpg(worker.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(worker.pid, signal.SIGCONT)


def broker_restarted_empty(scenario: Scenario, at: datetime) -> None:
    """The tick hands the 1-day step to the broker, which restarts with nothing (no persistence)
    before a worker takes it."""
    with paused(scenario.worker):
        time.sleep(BRPOP_TIMEOUT + 0.5)  # a wait on the queue it had open runs out: it holds none
        claimed = scenario.tick(at)
        assert claimed == 2 and scenario.redis.client().llen(QUEUE) == claimed
        scenario.redis.shutdown()
        scenario.redis.start()  # the same port, nothing kept
        assert scenario.redis.client().llen(QUEUE) == 0
    scenario.settle(at)
    scenario.deliver(at + TICK)


def database_stopped_during_a_tick(scenario: Scenario, at: datetime) -> None:
    """The tick at the due date claims the overdue messages and hands them out; the database
    stops before a worker takes them, and is still down at the next tick."""
    with paused(scenario.worker):
        assert scenario.tick(at) == 3
        scenario.database.stop()
    # The worker gets the sends with the database gone: each fails, nothing is taken or sent.
    wait_until(
        lambda: scenario.broker_idle() and (time.sleep(0.5) or scenario.broker_idle()),
        "the worker to try the sends without the database",
        process=scenario.worker,
    )
    assert scenario.smtp.handler.count() == scenario.filed
    with pytest.raises(OperationalError):
        scenario.tick(at + TICK)
    scenario.database.start()
    connection.close()
    stuck = Delivery.objects.filter(status=SENDING)
    assert sorted(stuck.values_list("kind", "attempts")) == [("overdue", 0), ("overdue", 0), ("overdue_clinic", 0)]
    scenario.settle(at)
    scenario.deliver(at + 2 * TICK)


class Fault(NamedTuple):
    phase: str  # the phase it strikes in
    strike: Callable[[Scenario, datetime], None]


FAULTS = {
    "smtp 451 for a while": Fault("step_14", smtp_answers_451_for_a_while),
    "worker killed mid-send": Fault("step_7", worker_killed_mid_send),
    "broker restarted empty": Fault("step_1", broker_restarted_empty),
    "database stopped during a tick": Fault("due", database_stopped_during_a_tick),
}


# --- The runs ------------------------------------------------------------------------------


@contextmanager
def private_database():
    """Django's connection (and so the worker's) on a private cluster holding a copy of the test
    database as it is now; back on the test database after."""
    source = dict(connection.settings_dict)
    with private_postgres_cluster(prefix="ibt-scenario-") as cluster:
        env = {**os.environ, "PGPASSWORD": source["PASSWORD"] or ""}
        host, port, user = source["HOST"] or "127.0.0.1", str(source["PORT"] or 5432), source["USER"] or "postgres"
        where = ["-h", host, "-p", port, "-U", user]
        dump = subprocess.run(
            [str(PG_BIN / "pg_dump"), *where, source["NAME"]], env=env, check=True, capture_output=True
        ).stdout
        private = ["-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres"]
        subprocess.run([str(PG_BIN / "createdb"), *private, source["NAME"]], check=True)
        subprocess.run(
            [str(PG_BIN / "psql"), *private, "-q", "-v", "ON_ERROR_STOP=1", "-d", source["NAME"]],
            input=dump,
            check=True,
            capture_output=True,
        )
        connection.close()
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(cluster.port))
        try:
            yield cluster
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(source)


@contextmanager
def database_for(fault: Fault | None):
    """The database fault runs on a private cluster; the others on the test database."""
    if fault is not None and fault.strike is database_stopped_during_a_tick:
        with private_database() as cluster:
            yield cluster
    else:
        yield None


def run_scenario(world, tmp_path, fault: Fault | None) -> Scenario:
    redis_server = PrivateRedis(tmp_path / "redis").start()
    smtp = SmtpServer().start()
    scenario = Scenario(world, smtp, redis_server, tmp_path / "worker.log")
    started = time.monotonic()
    try:
        with broker(redis_server.url()), database_for(fault) as database:
            scenario.database = database
            scenario.start_worker()
            scenario.run(fault)
            scenario.check()
        print(f"{len(scenario.arrivals)} messages in {time.monotonic() - started:.1f} s")
        return scenario
    except Exception:
        print_log(scenario.log_path)
        print_log(redis_server.folder / "redis.log")
        raise
    finally:
        for worker in scenario.workers:
            stop_worker(worker)
        smtp.stop()
        redis_server.kill()


@pytest.mark.django_db(transaction=True)
def test_the_reminder_scenario_end_to_end_sends_each_message_once_at_its_time(world, tmp_path):
    """The baseline: no fault."""
    scenario = run_scenario(world, tmp_path, None)
    assert len(scenario.arrivals) == len(EXPECTED)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", FAULTS)
def test_the_reminder_scenario_under_a_fault_loses_nothing_and_sends_nothing_early_or_twice(world, tmp_path, name):
    scenario = run_scenario(world, tmp_path, FAULTS[name])
    assert len(scenario.arrivals) <= len(EXPECTED) + scenario.resends_allowed
