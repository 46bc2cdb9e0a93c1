"""How fast reminder e-mails leave through one Celery worker, against the transport's own speed.

Never run by the test command. One run, against one aiosmtpd server on loopback
(tests/refills/smtp_server.py):

1. the worker: N e-mails (default 2,000) claimed by the tick and sent by a real Celery worker
   (prefork, two processes) fed by a private redis-server, each send the whole production path
   (`send_delivery` → `outbox.deliver` → render → the e-mail channel);
2. the transport: the same N messages, rendered and built beforehand exactly as the e-mail
   channel builds them, sent by a bare `smtplib` loop over one connection from a process of its
   own (as the worker's processes are), to the same server.

It prints `smtp_sends_per_second=<worker rate>`, `smtp_bare_sends_per_second=<bare rate>` and
`smtp_ratio=<worker rate / bare rate>`.

`measure()` needs Django set up on a migrated database; bench/reminder_scan.py calls it in its
own database. Run alone, this script makes its own database (`ibt_smtp_bench`, or $BENCH_DB),
dropped again at the end unless --keep:

    .venv/bin/python bench/smtp_rate.py [--n 2000] [--keep]
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SERVER = "postgres://postgres@127.0.0.1:5432"
WORKER_PROCESSES = 2


def log(text: str) -> None:
    print(text, flush=True)


# --- Processes ----------------------------------------------------------------------------


def free_port() -> int:
    from tests.refills.smtp_server import free_port as port

    return port()


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    """A private redis-server (no persistence) on a free port; returns it and a broker URL."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
         "--appendonly", "no", "--logfile", str(folder / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    return process, f"redis://127.0.0.1:{port}/10"


def database_url() -> str:
    """The URL of the database this process uses, for the worker."""
    from django.db import connection

    settings = connection.settings_dict
    user = quote(settings["USER"] or "postgres")
    if settings["PASSWORD"]:
        user += ":" + quote(settings["PASSWORD"], safe="")
    return f"postgres://{user}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"


def start_worker(
    *, queue: str, broker_url: str, smtp_url: str, log_path: Path, settings: str | None = None
) -> subprocess.Popen:
    """A prefork worker with two processes, in its own process group. `settings`: its settings
    module (by default this process's); with "production", what a deployment keeps between
    tasks, its database connection above all, is kept (the test settings close it after each)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": broker_url,
        "TEST_EMAIL_URL": smtp_url,
        "PYTHONUNBUFFERED": "1",
    }
    if settings == "production":
        env.update(
            DJANGO_SETTINGS_MODULE="ibt_companion.settings.production",
            SECRET_KEY="bench-only-" + uuid.uuid4().hex * 2,
            ALLOWED_HOSTS="127.0.0.1",
            EMAIL_URL=smtp_url,
        )
    elif settings:
        env["DJANGO_SETTINGS_MODULE"] = settings
    with log_path.open("w") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("celery")), "-A", "ibt_companion", "worker", "--pool=prefork",
             f"--concurrency={WORKER_PROCESSES}", "-Q", queue, "-n", f"{queue}@%h", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "--loglevel=WARNING"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def stop(worker: subprocess.Popen) -> None:
    """Warm shutdown of the worker's group (SIGTERM); SIGKILL if it lingers."""
    if worker.poll() is None:
        os.killpg(worker.pid, 15)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, 9)
            worker.wait()


# --- Rows and messages --------------------------------------------------------------------


def make_patients(n: int) -> list[int]:
    """A clinic and n active patients who take reminders by e-mail."""
    from patients.models import Clinic, Patient

    clinic = Clinic.objects.create(
        name="Bench clinic", phone="+1 555 0100", after_hours_phone="+1 555 0199", alert_email="alerts@bench.example"
    )
    patients = Patient.objects.bulk_create(
        Patient(
            clinic=clinic,
            full_name=f"Bench patient {i}",
            time_zone="America/Chicago",
            email=f"p{i}@bench.example",
            notification_channels=["email"],
        )
        for i in range(n)
    )
    return [p.pk for p in patients]


def make_rows(patient_ids: list[int], now: datetime, tag: str):
    """One due test e-mail to each patient (the row shape bench/reminder_scan.py has used)."""
    from refills.models import Delivery

    return Delivery.objects.bulk_create(
        Delivery(
            key=f"bench-smtp-{tag}:{pk}:test::patient:{pk}:email",
            patient_id=pk,
            kind="test",
            recipient=f"patient:{pk}",
            channel="email",
            due_at=now,
            next_attempt_at=now,
        )
        for pk in patient_ids
    )


def wire_messages(ids: list[int], now: datetime) -> list[tuple[str, list[str], bytes]]:
    """(from, to, bytes) of each row's e-mail, rendered and built as the e-mail channel does."""
    from django.conf import settings

    from refills.models import Delivery
    from refills.notify import content, recipients
    from refills.notify.channels import email

    out = []
    rows = Delivery.objects.select_related("patient__clinic", "patient__user", "cycle").filter(pk__in=ids)
    for row in rows.order_by("pk"):
        recipient = recipients.by_key(row.recipient, row.patient)
        message = content.render(row, recipient, now)
        mail = email.build(recipient, message, row)  # the very e-mail the channel sends
        out.append((settings.EMAIL_FROM_ADDRESS, mail.recipients(), mail.message().as_bytes(linesep="\r\n")))
    return out


BARE_CLIENT = """
import pickle, smtplib, sys, time
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "rb") as f:
    messages = pickle.load(f)
started = time.perf_counter()
smtp = smtplib.SMTP(host, port, timeout=15)
for sender, to, data in messages:
    smtp.sendmail(sender, to, data)
smtp.quit()
print(time.perf_counter() - started)
"""


def bare_loop(messages, port: int, folder: Path) -> float:
    """Seconds a bare smtplib loop (its own process, one connection) takes to send `messages`."""
    path = folder / "messages.pickle"
    path.write_bytes(pickle.dumps(messages))
    out = subprocess.run(
        [sys.executable, "-c", BARE_CLIENT, "127.0.0.1", str(port), str(path)],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return float(out.stdout.strip())


# --- Measuring ----------------------------------------------------------------------------


@dataclass
class Result:
    n: int
    worker_seconds: float
    worker_rate: float
    bare_seconds: float
    bare_rate: float
    connections: int  # SMTP connections the worker opened, as the server counted them

    @property
    def ratio(self) -> float:
        return self.worker_rate / self.bare_rate

    def lines(self) -> list[str]:
        return [
            f"smtp_sends_per_second={self.worker_rate:.1f}",
            f"smtp_bare_sends_per_second={self.bare_rate:.1f}",
            f"smtp_ratio={self.ratio:.3f}",
        ]


def measure(
    n: int = 2000,
    *,
    patient_ids: list[int] | None = None,
    now: datetime | None = None,
    worker_settings: str | None = None,
) -> Result:
    """Send n e-mails through one worker (two processes), then the same n messages through a bare
    smtplib loop, to one aiosmtpd server. `patient_ids`: n patients with an e-mail address (made
    here when not given); `now`: the tick's clock (nothing else may be due then);
    `worker_settings`: see start_worker."""
    from django.utils import timezone

    from ibt_companion.celery import app as celery_app
    from refills import tasks
    from refills.models import Delivery
    from refills.notify import outbox
    from tests.refills.smtp_server import SmtpServer

    now = now or timezone.now()
    patient_ids = patient_ids or make_patients(n)
    assert len(patient_ids) >= n, (len(patient_ids), n)
    folder = Path(tempfile.mkdtemp(prefix="ibt-smtp-rate-"))
    redis_server, broker_url = start_redis(folder)
    saved_broker = celery_app.conf.broker_url
    celery_app.conf.broker_url = broker_url  # before this process publishes anything
    smtp = SmtpServer().start()
    handler = smtp.handler
    sessions = []  # one aiosmtpd session a connection

    async def handle_mail(server, session, envelope, address, options):
        if not getattr(session, "bench_counted", False):
            session.bench_counted = True
            sessions.append(session)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    handler.handle_MAIL = handle_mail  # Recorder has none: this is aiosmtpd's own answer, and a count
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    worker_log = folder / "worker.log"
    worker = None
    try:
        tag = uuid.uuid4().hex[:6]
        rows = make_rows(patient_ids[:n], now, tag)
        ids = [row.pk for row in rows]
        worker = start_worker(
            queue=queue, broker_url=broker_url, smtp_url=smtp.url, log_path=worker_log, settings=worker_settings
        )
        # Warm up: one message through, so start-up is not counted.
        claims = outbox.tick_claims(now)  # each send task carries its claim's token
        tasks.send_delivery.apply_async(claims[0], queue=queue)
        deadline = time.monotonic() + 60
        while handler.count() < 1:
            assert worker.poll() is None and time.monotonic() < deadline, worker_log.read_text()
            time.sleep(0.05)
        started = time.perf_counter()
        for claim in claims[1:]:
            tasks.send_delivery.apply_async(claim, queue=queue)
        while claims := outbox.tick_claims(now):
            for claim in claims:
                tasks.send_delivery.apply_async(claim, queue=queue)
        sent = Delivery.objects.filter(pk__in=ids, status="sent")
        deadline = time.monotonic() + 600
        while sent.count() < n:
            assert worker.poll() is None and time.monotonic() < deadline, worker_log.read_text()[-5000:]
            time.sleep(0.05)
        worker_seconds = time.perf_counter() - started
        assert handler.count() == n, (handler.count(), n)
        assert set(handler.message_ids().values()) == {1}, "a message went twice"
        connections = len(sessions)
        stop(worker)

        messages = wire_messages(ids, now)
        bare_seconds = bare_loop(messages, smtp.port, folder)
        assert handler.count() == 2 * n, (handler.count(), 2 * n)
        result = Result(
            n=n,
            worker_seconds=worker_seconds,
            worker_rate=(n - 1) / worker_seconds,
            bare_seconds=bare_seconds,
            bare_rate=n / bare_seconds,
            connections=connections,
        )
        log(
            f"\n== SMTP ==\n{n - 1:,} e-mails in {worker_seconds:.1f} s through one worker with "
            f"{WORKER_PROCESSES} processes: {result.worker_rate:.1f}/s over {connections:,} SMTP connection(s)\n"
            f"the same {n:,} messages from a bare smtplib loop over one connection: {bare_seconds:.2f} s, "
            f"{result.bare_rate:.1f}/s"
        )
        return result
    finally:
        if worker is not None:
            stop(worker)
        smtp.stop()
        celery_app.conf.broker_url = saved_broker
        redis_server.terminate()
        redis_server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


# --- Main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="e-mails to send")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--worker-settings",
        default=None,
        help='the worker\'s settings module; "production" keeps its database connection between tasks',
    )
    args = parser.parse_args()

    name = os.environ.get("BENCH_DB", "ibt_smtp_bench")
    os.environ["DATABASE_URL"] = f"{SERVER}/{name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ibt_companion.settings.test")
    import psycopg2

    def admin(sql: str) -> None:
        conn = psycopg2.connect(f"{SERVER}/postgres")
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(sql)
        conn.close()

    began = time.perf_counter()
    admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin(f"CREATE DATABASE {name}")
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        result = measure(args.n, worker_settings=args.worker_settings)
        for line in result.lines():
            log(line)
        log(f"bench wall time {time.perf_counter() - began:.0f} s")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
