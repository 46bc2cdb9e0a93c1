"""How the minute tick scales with the number of reminder plans (SPEC §5), against real
PostgreSQL, and how fast two worker processes send through a local SMTP server.

Never run by the test command. In its own database (`ibt_bench`, dropped and made again):

1. seed 100,000 open refill cycles (patients, refill events, cycles and their four-step
   e-mail plans, the past steps already sent) with server-side bulk INSERT … SELECT;
2. make the same 10,000 reminders due and time one catch-up: `delivery.tick` claims (1,000
   a tick) and the worker's record of each send (`delivery.deliver` with rendering and the
   transport stubbed out), beside the bare SQL query that selects the due ids (the floor);
3. grow to 1,000,000 cycles, make the same 10,000 due again, and time it again;
4. send 2,000 e-mails with a real Celery worker (prefork, two processes), a private
   redis-server and an aiosmtpd server on loopback.

It prints `ratio_1m_to_100k=<x>` (catch-up time at 1M over 100k), the catch-up DB time, the
EXPLAIN of the due query (asserting it uses the partial index `delivery_due`), and sends per
second. About five minutes on two cores.

    .venv/bin/python bench/reminder_scan.py [--sizes 100000,1000000] [--due 10000] [--smtp 2000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BENCH_DB = "ibt_bench"
SERVER = "postgres://postgres@127.0.0.1:5432"
os.environ["DATABASE_URL"] = f"{SERVER}/{BENCH_DB}"
os.environ["DJANGO_SETTINGS_MODULE"] = "ibt_companion.settings.test"

import psycopg2  # noqa: E402

STEPS = (14, 7, 3, 1)
ZONES = ("America/Chicago", "Europe/Paris", "America/New_York", "Asia/Tokyo")
CLINICS = 100
NOW = datetime.now(UTC).replace(microsecond=0)

DUE_SQL = (
    "SELECT id FROM refills_delivery WHERE status IN ('pending', 'failed') AND next_attempt_at <= %s "
    "ORDER BY next_attempt_at"
)


def log(text: str) -> None:
    print(text, flush=True)


# --- The database -------------------------------------------------------------------------


def recreate_database() -> None:
    admin = psycopg2.connect(f"{SERVER}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {BENCH_DB}")
    admin.close()


def drop_database() -> None:
    from django.db import connection

    connection.close()
    admin = psycopg2.connect(f"{SERVER}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    admin.close()


def literal(field) -> str | None:
    """An SQL literal for a NOT NULL column the seed does not set (Django keeps defaults in
    Python, not in the schema)."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return "now()"
    value = field.get_default()  # the default, or "" for a text field without one
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return f"'{json.dumps(value)}'::jsonb"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, datetime):
        return "now()"
    return "'" + str(value).replace("'", "''").replace("%", "%%") + "'"


def insert_select(model, exprs: dict[str, str], source: str, params: dict) -> int:
    """INSERT INTO <model's table> (…) SELECT <exprs> <source>: every NOT NULL column gets an
    expression from `exprs` or the field's default."""
    from django.db import connection

    columns, values = [], []
    for field in model._meta.concrete_fields:
        column = field.column
        if column in exprs:
            columns.append(column)
            values.append(exprs[column])
            continue
        if field.null:
            continue
        default = literal(field)
        if default is None:
            raise SystemExit(f"seed: no value for {model._meta.db_table}.{column}")
        columns.append(column)
        values.append(default)
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def seed(first: int, last: int) -> None:
    """Patients, refill events, open cycles and four-step plans for ids first..last."""
    from patients.models import Patient
    from refills.models import Delivery, PumpEvent, RefillCycle

    p = {"lo": first, "hi": last, "now": NOW, "zones": list(ZONES), "clinics": CLINICS}
    series = "FROM generate_series(%(lo)s, %(hi)s) AS g"
    insert_select(
        Patient,
        {
            "id": "g",
            "clinic_id": "1 + g %% %(clinics)s",
            "full_name": "'Bench patient ' || g",
            "status": "'active'",
            "time_zone": "(%(zones)s::text[])[1 + g %% 4]",
            "email": "'p' || g || '@bench.example'",
            "notification_channels": """'["email"]'::jsonb""",
        },
        series,
        p,
    )
    insert_select(
        PumpEvent,
        {
            "id": "g",
            "patient_id": "g",
            "kind": "'refill'",
            "occurred_at": "%(now)s - make_interval(days => 1 + g %% 90)",
            "zone": "(%(zones)s::text[])[1 + g %% 4]",
            "utc_offset_minutes": "0",
            "capacity_ml": "20",
        },
        series,
        p,
    )
    insert_select(
        RefillCycle,
        {
            "id": "g",
            "patient_id": "g",
            "started_by_id": "g",
            "started_at": "%(now)s - make_interval(days => 1 + g %% 90)",
            # Due 1 to 60 days ahead, so some steps of every plan are still to come.
            "refill_due_at": "%(now)s + make_interval(days => 1 + g %% 60, mins => g %% 1440)",
            "refill_due_reason": "'alarm'",
        },
        series,
        p,
    )
    insert_select(
        Delivery,
        {
            "id": "(c.id - 1) * 4 + s.k",
            "key": "'c' || c.id || ':step_' || s.n || '::patient:' || c.id || ':email'",
            "patient_id": "c.patient_id",
            "cycle_id": "c.id",
            "kind": "'step_' || s.n",
            "recipient": "'patient:' || c.id",
            "channel": "'email'",
            "due_at": "c.refill_due_at - make_interval(days => s.n)",
            "next_attempt_at": "c.refill_due_at - make_interval(days => s.n)",
            "status": "CASE WHEN c.refill_due_at - make_interval(days => s.n) <= %(now)s THEN 'sent' ELSE 'pending' END",
            "attempts": "CASE WHEN c.refill_due_at - make_interval(days => s.n) <= %(now)s THEN 1 ELSE 0 END",
            "sent_at": "CASE WHEN c.refill_due_at - make_interval(days => s.n) <= %(now)s "
            "THEN c.refill_due_at - make_interval(days => s.n) END",
        },
        "FROM refills_refillcycle c CROSS JOIN (VALUES (1, 14), (2, 7), (3, 3), (4, 1)) AS s(k, n) "
        "WHERE c.id BETWEEN %(lo)s AND %(hi)s",
        p,
    )


def fix_sequences_and_analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("patients_patient", "refills_pumpevent", "refills_refillcycle", "refills_delivery"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    connection.close()
    raw = psycopg2.connect(f"{SERVER}/{BENCH_DB}")
    raw.autocommit = True
    with raw.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    raw.close()


def seed_clinics() -> None:
    from patients.models import Clinic

    insert_select(
        Clinic,
        {
            "id": "g",
            "name": "'Bench clinic ' || g",
            "phone": "'+1 555 0100'",
            "after_hours_phone": "'+1 555 0199'",
            "time_zone": "'America/Chicago'",
            "alert_email": "'alerts' || g || '@bench.example'",
            "reminder_hour": "9",
        },
        "FROM generate_series(1, %(n)s) AS g",
        {"n": CLINICS},
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('patients_clinic', 'id'), %s)", [CLINICS])


def due_ids(n_due: int, n_cycles: int) -> list[int]:
    """One still-pending step of n_due cycles spread over the first n_cycles."""
    from django.db import connection

    stride = n_cycles // n_due
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ON (cycle_id) id FROM refills_delivery "
            "WHERE cycle_id = ANY(%s) AND status = 'pending' ORDER BY cycle_id, next_attempt_at",
            [[1 + i * stride for i in range(n_due)]],
        )
        ids = [row[0] for row in cursor.fetchall()]
    assert len(ids) == n_due, len(ids)
    return ids


def make_due(ids: list[int]) -> None:
    """The same reminders, due within the last two hours, never tried."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE refills_delivery SET status = 'pending', attempts = 0, lease_expires_at = NULL, sent_at = NULL, "
            "provider_message_id = '', last_error = '', "
            "due_at = %(now)s - make_interval(mins => (id %% 120)::int), next_attempt_at = %(now)s - make_interval(mins => (id %% 120)::int) "
            "WHERE id = ANY(%(ids)s)",
            {"now": NOW, "ids": ids},
        )
        cursor.execute("ANALYZE refills_delivery")


# --- Measuring ----------------------------------------------------------------------------


def explain(sql: str, params=()) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def floor(n_due: int) -> float:
    """The bare due query, warm: median of five."""
    from django.db import connection

    times = []
    for _ in range(6):
        with connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(DUE_SQL, [NOW])
            rows = cursor.fetchall()
            times.append(time.perf_counter() - started)
        assert len(rows) == n_due, len(rows)
    return statistics.median(times[1:])


def catch_up(n_due: int) -> dict:
    """One catch-up as the scheduler and the workers do it, minus rendering and transport."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from refills import delivery
    from refills.channels import Message

    message = Message(subject="s", text="t", html="<p>t</p>", sms="t")
    claim = record = 0.0
    claimed, ticks, claim_sql = 0, 0, ""
    with (
        mock.patch("refills.content.render", return_value=message),
        mock.patch("refills.channels.send", side_effect=lambda channel, recipient, msg, row: row.message_id),
        CaptureQueriesContext(connection) as queries,
    ):
        while True:
            started = time.perf_counter()
            ids = delivery.tick(NOW)
            claim += time.perf_counter() - started
            ticks += 1
            if not claim_sql:
                claim_sql = next(q["sql"] for q in queries.captured_queries if "SKIP LOCKED" in q["sql"])
            if not ids:
                break
            claimed += len(ids)
            started = time.perf_counter()
            for pk in ids:
                assert delivery.deliver(pk, NOW) == "sent"
            record += time.perf_counter() - started
    assert claimed == n_due, claimed
    return {
        "claim": claim,
        "record": record,
        "total": claim + record,
        "ticks": ticks,
        "queries": len(queries.captured_queries),
        "claim_sql": claim_sql,
    }


def overdue_probe(n: int, skip: set[int], n_cycles: int) -> float:
    """Seconds one tick spends walking n overdue cycles (rolled back afterwards)."""
    from django.db import transaction

    from refills import delivery
    from refills.models import RefillCycle

    ids = [i for i in range(2, n_cycles, n_cycles // (2 * n)) if i not in skip][:n]
    with transaction.atomic():
        RefillCycle.objects.filter(pk__in=ids).update(refill_due_at=NOW - timedelta(hours=2))
        started = time.perf_counter()
        delivery._open_overdue(NOW)
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def measure(size: int, ids: list[int]) -> dict:
    make_due(ids)
    plan = explain(DUE_SQL + " LIMIT 1000", [NOW])
    assert "delivery_due" in plan, plan
    bare = floor(len(ids))
    result = catch_up(len(ids))
    result.update(size=size, floor=bare, plan=plan, claim_plan=explain(result["claim_sql"]))
    log(
        f"\n== {size:,} cycles, {len(ids):,} due ==\n"
        f"due query (the floor): {bare * 1000:.1f} ms for {len(ids):,} ids\n"
        f"catch-up DB time: {result['total']:.2f} s = claim {result['claim']:.2f} s in {result['ticks']} ticks"
        f" + record {result['record']:.2f} s ({result['queries']:,} queries,"
        f" {result['queries'] / len(ids):.1f} a reminder)\n"
        f"catch-up / floor: {result['total'] / bare:.0f}x\n"
        f"EXPLAIN due query:\n  {plan.replace(chr(10), chr(10) + '  ')}\n"
        f"EXPLAIN claim query (the tick's own SQL):\n  {result['claim_plan'].replace(chr(10), chr(10) + '  ')}"
    )
    return result


# --- Sending through SMTP with two worker processes ----------------------------------------


def free_port() -> int:
    from tests.refills.smtp_server import free_port as port

    return port()


def smtp_throughput(n: int) -> float:
    from django.utils import timezone

    from ibt_companion.celery import app as celery_app
    from refills import delivery, tasks
    from refills.models import Delivery
    from tests.refills.smtp_server import SmtpServer

    folder = Path(tempfile.mkdtemp(prefix="ibt-bench-"))
    port = free_port()
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
         "--appendonly", "no", "--logfile", str(folder / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    broker_url = f"redis://127.0.0.1:{port}/10"
    celery_app.conf.broker_url = broker_url  # before this process publishes anything
    smtp = SmtpServer().start()
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    worker_log = folder / "worker.log"
    worker = None
    try:
        now = timezone.now()
        rows = Delivery.objects.bulk_create(
            Delivery(
                key=f"bench-smtp:{i}:test::patient:{i}:email",
                patient_id=i,
                kind="test",
                recipient=f"patient:{i}",
                channel="email",
                due_at=now,
                next_attempt_at=now,
            )
            for i in range(1, n + 1)
        )
        env = {
            **os.environ,
            "DATABASE_URL": f"{SERVER}/{BENCH_DB}",
            "REDIS_URL": broker_url,
            "TEST_EMAIL_URL": smtp.url,
            "PYTHONUNBUFFERED": "1",
        }
        with worker_log.open("w") as out:
            worker = subprocess.Popen(
                [str(Path(sys.executable).with_name("celery")), "-A", "ibt_companion", "worker", "--pool=prefork",
                 "--concurrency=2", "-Q", queue, "-n", f"{queue}@%h", "--without-gossip", "--without-mingle",
                 "--without-heartbeat", "--loglevel=WARNING"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        # Warm up: one message through, so start-up is not counted.
        ids = delivery.tick(now)
        tasks.send_delivery.apply_async((ids[0],), queue=queue)
        deadline = time.monotonic() + 60
        while smtp.handler.count() < 1:
            assert worker.poll() is None and time.monotonic() < deadline, worker_log.read_text()
            time.sleep(0.05)
        started = time.perf_counter()
        for pk in ids[1:]:
            tasks.send_delivery.apply_async((pk,), queue=queue)
        while ids := delivery.tick(now):
            for pk in ids:
                tasks.send_delivery.apply_async((pk,), queue=queue)
        sent = Delivery.objects.filter(pk__in=[r.pk for r in rows], status="sent")
        deadline = time.monotonic() + 600
        while sent.count() < n:
            assert worker.poll() is None and time.monotonic() < deadline, worker_log.read_text()[-5000:]
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        assert smtp.handler.count() == n
        rate = (n - 1) / elapsed
        log(f"\n== SMTP ==\n{n - 1:,} e-mails in {elapsed:.1f} s through one worker with two processes: {rate:.1f}/s")
        return rate
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, 15)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, 9)
                worker.wait()
        smtp.stop()
        redis_server.terminate()
        redis_server.wait(timeout=10)


# --- Main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--smtp", type=int, default=2_000)
    parser.add_argument("--keep", action="store_true", help="keep the ibt_bench database afterwards")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    began = time.perf_counter()
    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "refills", verbosity=0)  # refills and what it depends on
    seed_clinics()

    results, seeded, ids = [], 0, None
    for size in sizes:
        started = time.perf_counter()
        seed(seeded + 1, size)
        fix_sequences_and_analyze()
        seeded = size
        log(f"\nseeded {size:,} cycles ({size * len(STEPS):,} deliveries) in {time.perf_counter() - started:.0f} s")
        ids = ids or due_ids(args.due, size)
        results.append(measure(size, ids))
    probe = overdue_probe(1000, set(), seeded)
    log(
        f"\n== overdue walk ==\none tick walking 1,000 overdue cycles: {probe:.2f} s"
        f" ({probe:.2f} ms a cycle, on every tick while they stay overdue)"
    )
    rate = smtp_throughput(args.smtp) if args.smtp else 0.0

    log("\n== summary ==")
    for r in results:
        log(f"{r['size']:>9,} cycles: catch-up DB time {r['total']:.2f} s, floor {r['floor'] * 1000:.1f} ms")
    if len(results) >= 2:
        log(f"ratio_1m_to_100k={results[-1]['total'] / results[0]['total']:.2f}")
        log(f"floor_ratio_1m_to_100k={results[-1]['floor'] / results[0]['floor']:.2f}")
    if rate:
        log(f"smtp_sends_per_second={rate:.1f}")
    log(f"bench wall time {time.perf_counter() - began:.0f} s")
    if not args.keep:
        drop_database()


if __name__ == "__main__":
    main()
