"""Each process keeps one SMTP connection open across its sends (refills/notify/channels/smtp.py),
checked against a real SMTP server on loopback (aiosmtpd) that counts the connections it
accepts, the ones that end, and the QUITs it hears.

What must hold: many sends in one process go over one connection; a connection the server
closed (idle timeout, a restart, a 421) is replaced and the message still arrives exactly once;
a forked child never writes on its parent's socket; a connection idle too long is closed; and a
worker's processes close theirs (QUIT) when the worker shuts down.
"""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from django.core.mail import EmailMessage
from django.db import connection
from django.utils import timezone

from ibt_companion.celery import app as celery_app
from refills import tasks
from refills.models import Delivery
from refills.notify import outbox
from refills.notify.channels import smtp

from .helpers import due_rows
from .smtp_server import Recorder, free_port

REPO = Path(__file__).resolve().parents[2]
WAIT = 60  # seconds: the bound on every wait for another thread or process


# --- A mail server that counts connections --------------------------------------------------


class Counting(Recorder):
    """The recording handler, also counting QUITs, and answering 421 to the next MAIL FROM when
    told to (then closing, as a server that times out an idle client does)."""

    def __init__(self):
        super().__init__()
        self.quits = 0
        self.say_421 = False

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.say_421:
            self.say_421 = False
            server.loop.call_soon(server.transport.close)  # after the answer is written
            return "421 4.4.2 idle too long, closing"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        with self.lock:
            self.quits += 1
        return "221 Bye"


class Server:
    """aiosmtpd on 127.0.0.1 with a protocol that counts connections made and lost, and can
    close every open connection from the server's side. `idle_timeout`: seconds after which the
    server drops a silent client (aiosmtpd's own timeout)."""

    def __init__(self, idle_timeout: float = 300):
        self.handler = Counting()
        self.port = free_port()
        self.lock = threading.Lock()
        self.made = 0
        self.lost = 0
        self.open: set[SMTP] = set()
        server = self

        class Protocol(SMTP):
            def connection_made(self, transport):
                with server.lock:
                    server.made += 1
                    server.open.add(self)
                super().connection_made(transport)

            def connection_lost(self, error):
                with server.lock:
                    server.lost += 1
                    server.open.discard(self)
                super().connection_lost(error)

        class Counted(Controller):
            def factory(self):
                return Protocol(self.handler, **self.SMTP_kwargs)

        self.controller = Counted(self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10)
        self.controller.SMTP_kwargs["timeout"] = idle_timeout

    def start(self) -> Server:
        self.controller.start()
        # aiosmtpd connects once itself to see that the server is up: not counted.
        wait_until(lambda: self.made == self.lost == 1, "aiosmtpd's own start-up connection to end")
        self.made = self.lost = 0
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def counts(self) -> tuple[int, int]:
        """(connections made, connections lost) so far."""
        with self.lock:
            return self.made, self.lost

    def close_all(self) -> None:
        """The server hangs up on every client (as a restart or an idle timeout does)."""
        with self.lock:
            protocols = list(self.open)
        for protocol in protocols:
            self.controller.loop.call_soon_threadsafe(protocol.transport.close)
        wait_until(lambda: self.counts()[1] == self.counts()[0], "the server to close every connection")


def wait_until(predicate, what: str, *, timeout: float = WAIT, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if process is not None:
            assert process.poll() is None, f"the process exited while waiting for {what}"
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.05)
    return value


@pytest.fixture
def server(settings):
    """A counting server, and this process's settings pointed at it. The process's kept
    connection is closed before and after, so each test starts with none."""
    smtp.close()
    mail_server = Server().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", mail_server.port, 10
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield mail_server
    smtp.close()
    mail_server.stop()


def send_due(now: datetime) -> dict[int, str]:
    """Claim what is due and send it in this process, as a worker process does."""
    return {pk: outbox.deliver(pk, now, token=token) for pk, token in outbox.tick_claims(now)}


def message_ids(rows) -> set[str]:
    return {row.message_id for row in Delivery.objects.filter(pk__in=[r.pk for r in rows])}


def assert_each_arrived_once(server: Server, rows) -> None:
    received = server.handler.message_ids()
    assert set(received) == message_ids(rows)
    assert set(received.values()) == {1}, received


@pytest.fixture
def patient(world):
    world.patient.notification_channels = ["email"]
    world.patient.save()
    return world.patient


# --- In one process ------------------------------------------------------------------------


def test_many_sends_in_one_process_use_one_connection(server, patient):
    opened = smtp.connections_opened()
    rows = due_rows(patient, 25, timezone.now(), prefix="one")
    assert set(send_due(timezone.now()).values()) == {"sent"}
    assert_each_arrived_once(server, rows)
    assert server.counts() == (1, 0)  # one connection, still open
    assert smtp.connections_opened() == opened + 1
    smtp.close()
    wait_until(lambda: server.counts() == (1, 1), "the connection to close")
    assert server.handler.quits == 1


def test_a_connection_the_server_closed_is_replaced_and_the_message_goes_once(server, patient):
    first = due_rows(patient, 3, timezone.now(), prefix="before")
    assert set(send_due(timezone.now()).values()) == {"sent"}
    server.close_all()  # e.g. the mail server restarted, or dropped us as idle
    assert server.counts() == (1, 1)
    second = due_rows(patient, 3, timezone.now(), prefix="after")
    assert set(send_due(timezone.now()).values()) == {"sent"}
    assert server.counts() == (2, 1)  # one new connection, not one a message
    assert_each_arrived_once(server, [*first, *second])
    for row in Delivery.objects.filter(pk__in=[r.pk for r in second]):
        assert (row.status, row.attempts, row.last_error) == ("sent", 1, "")


def test_a_server_that_times_out_idle_clients(settings, patient):
    """aiosmtpd's own idle timeout: it hangs up on a client silent for 0.3 s."""
    smtp.close()
    mail_server = Server(idle_timeout=0.3).start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", mail_server.port, 10
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        rows = []
        for round_ in range(3):
            rows += due_rows(patient, 2, timezone.now(), prefix=f"idle-{round_}")
            assert set(send_due(timezone.now()).values()) == {"sent"}
            wait_until(lambda: mail_server.counts()[1] == round_ + 1, "the server to drop the idle client")
        assert mail_server.counts() == (3, 3)
        assert_each_arrived_once(mail_server, rows)
    finally:
        smtp.close()
        mail_server.stop()


def test_a_421_at_the_start_of_a_message_on_a_kept_connection(server, patient):
    """A server closing the connection answers 421 to the next command: the message goes over
    a new connection, once, and the row is sent at its first attempt."""
    first = due_rows(patient, 2, timezone.now(), prefix="before-421")
    send_due(timezone.now())
    server.handler.say_421 = True
    second = due_rows(patient, 2, timezone.now(), prefix="after-421")
    assert set(send_due(timezone.now()).values()) == {"sent"}
    assert server.handler.say_421 is False  # the 421 was given
    assert server.counts()[0] == 2
    assert_each_arrived_once(server, [*first, *second])
    assert set(Delivery.objects.filter(pk__in=[r.pk for r in second]).values_list("attempts", flat=True)) == {1}


def test_a_421_on_a_new_connection_is_still_a_transient_error(server, patient):
    """Only a kept connection is retried at once; a new one that gets 421 fails as before."""
    server.handler.say_421 = True
    [row] = due_rows(patient, 1, timezone.now(), prefix="fresh-421")
    assert send_due(timezone.now()) == {row.pk: "failed"}
    row.refresh_from_db()
    assert row.last_error == "SMTP 421" and row.attempts == 1
    assert server.handler.count() == 0


def test_a_refusal_keeps_the_connection(server):
    """After a refusal (550 at RCPT, 451 at DATA) smtplib resets the transaction: the next
    message goes over the same connection."""
    server.handler.refuse.add("gone@home.example")
    server.handler.transient["later@home.example"] = 1

    def mail(to: str, n: int) -> EmailMessage:
        return EmailMessage("s", "b", to=[to], headers={"Message-ID": f"<refusal-{n}@test>"})

    assert smtp.send(mail("p@home.example", 1)) == 1
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        smtp.send(mail("gone@home.example", 2))
    with pytest.raises(smtplib.SMTPDataError):
        smtp.send(mail("later@home.example", 3))
    assert smtp.send(mail("later@home.example", 4)) == 1
    assert server.counts() == (1, 0)
    assert server.handler.message_ids() == {"<refusal-1@test>": 1, "<refusal-4@test>": 1}


def test_an_idle_connection_is_closed(server, settings, patient):
    settings.EMAIL_IDLE_SECONDS = 0.3
    rows = due_rows(patient, 2, timezone.now(), prefix="idle-close")
    send_due(timezone.now())
    assert server.counts() == (1, 0)
    wait_until(lambda: server.counts() == (1, 1), "the idle connection to be closed", timeout=10)
    assert server.handler.quits == 1  # closed by us, politely
    rows += due_rows(patient, 1, timezone.now(), prefix="idle-close-after")
    send_due(timezone.now())
    assert server.counts()[0] == 2
    assert_each_arrived_once(server, rows)


def test_a_forked_child_opens_its_own_connection(server):
    """The child of a process that holds a connection (a Celery pool process forked from its
    parent) must not write on its parent's socket: it opens its own, and the parent's connection
    goes on as it was."""

    def mail(n: int) -> EmailMessage:
        return EmailMessage("s", "b", to=["p@home.example"], headers={"Message-ID": f"<fork-{n}@test>"})

    assert smtp.send(mail(1)) == 1
    assert server.counts() == (1, 0)
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        code = 1
        try:
            code = 0 if smtp.connections_opened() == 0 and smtp.send(mail(2)) == 1 else 2
            code = code or (0 if smtp.connections_opened() == 1 else 3)
            smtp.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    wait_until(lambda: server.counts() == (2, 1), "the child's connection to close")
    assert smtp.send(mail(3)) == 1  # the parent's connection still works, and is still the one
    assert server.counts() == (2, 1)
    assert server.handler.message_ids() == {"<fork-1@test>": 1, "<fork-2@test>": 1, "<fork-3@test>": 1}
    assert server.handler.quits == 1  # the child's


def test_other_backends_are_used_as_before(settings, mailoutbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert smtp.send(EmailMessage("s", "b", to=["p@home.example"])) == 1
    assert len(mailoutbox) == 1


# --- A real worker ---------------------------------------------------------------------------


def start_worker(*, queue: str, smtp_url: str, log_path: Path) -> subprocess.Popen:
    """A prefork worker with two processes on this test's broker (REDIS_URL) and database."""
    settings_dict = connection.settings_dict
    assert settings_dict["NAME"].startswith("test_"), settings_dict["NAME"]
    user = quote(settings_dict["USER"] or "postgres")
    if settings_dict["PASSWORD"]:
        user += ":" + quote(settings_dict["PASSWORD"], safe="")
    host, port = settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ibt_companion.settings.test",
        "DATABASE_URL": f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}",
        "REDIS_URL": celery_app.conf.broker_url,
        "TEST_EMAIL_URL": smtp_url,
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("a") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("celery")), "-A", "ibt_companion", "worker", "--pool=prefork",
             "--concurrency=2", "-Q", queue, "-n", f"{queue}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel=INFO"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_worker_sends_over_one_connection_a_process_and_closes_them_at_shutdown(world, tmp_path):
    world.patient.notification_channels = ["email"]
    world.patient.save()
    server = Server().start()
    queue = f"smtp-{uuid.uuid4().hex}"
    log_path = tmp_path / "worker.log"
    worker = None
    try:
        now = timezone.now()
        rows = due_rows(world.patient, 200, now, prefix="worker")
        for claim in outbox.tick_claims(now):
            tasks.send_delivery.apply_async(claim, queue=queue)
        worker = start_worker(queue=queue, smtp_url=server.url, log_path=log_path)
        sent = Delivery.objects.filter(pk__in=[r.pk for r in rows], status=Delivery.Status.SENT)
        wait_until(lambda: sent.count() == 200, "every row to be sent", process=worker, timeout=120)
        made, lost = server.counts()
        assert 1 <= made <= 2 and lost == 0, (made, lost)  # one a pool process, kept open
        assert_each_arrived_once(server, rows)

        os.kill(worker.pid, signal.SIGTERM)  # warm shutdown of the worker (its main process)
        worker.wait(timeout=WAIT)
        wait_until(lambda: server.counts() == (made, made), "the pool processes' connections to close")
        assert server.handler.quits == made  # each closed with QUIT at the pool process's exit
    except AssertionError:
        if log_path.exists():
            print(log_path.read_text()[-10_000:])
        raise
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        server.stop()
