"""How the minute tick scales with the number of reminder plans (SPEC §5), against real
PostgreSQL, and how fast two worker processes send through a local SMTP server.

Never run by the test command. In its own database (`ibt_bench`, dropped and made again):

1. seed 100,000 open refill cycles (patients, refill events, cycles and their four-step
   e-mail plans, the past steps already sent) with server-side bulk INSERT … SELECT;
2. make the same 10,000 reminders due and time one catch-up: `outbox.tick` claims (1,000
   a tick) and each claimed row recorded as sent the way a worker records it (`_finish`, one
   conditional UPDATE; no rendering, no transport), beside the bare SQL query that selects the
   due ids (the floor); and, on a sample, the worker's whole DB path (`outbox.deliver` with
   rendering and transport stubbed out);
3. grow to 1,000,000 cycles, make the same 10,000 due again, and time it again; then, at that
   size, make 10,000 of the cycles overdue (their patients all on one clock) and let the tick
   take them once (queue items; each cycle's `next_overdue_at` moves to the next reminder
   hour), time an ordinary minute's tick with them and without them (101 ticks each), and time
   the ticks of the reminder-hour minute when their 10,000 daily repeats fall due;
4. send 2,000 e-mails with a real Celery worker (prefork, two processes), a private
   redis-server and an aiosmtpd server on loopback, and the same rendered messages through a
   bare smtplib loop over one connection to the same server (bench/smtp_rate.py).

It prints `ratio_1m_to_100k=<x>` (catch-up time at 1M over 100k), the catch-up DB time, the
EXPLAIN of the due query (asserting it uses the partial index `delivery_due`),
`overdue_tick_ratio=<x>` (an ordinary minute's tick with 10,000 overdue cycles over one with
none; target <= 1.5), `repeat_ms_per_row=<x>` (the reminder-hour minute's ticks, per repeat row
they make and claim) beside `catchup_ms_per_row=<x>` (the catch-up's DB time per row; the
repeat must not cost more), `smtp_sends_per_second=<x>` and `smtp_ratio=<x>` (the worker's
rate over the bare loop's). About eight minutes on two cores (wall time
is printed).

    .venv/bin/python bench/reminder_scan.py [--sizes 100000,1000000] [--due 10000] [--overdue 10000]
        [--smtp 2000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BENCH_DB = os.environ.get("BENCH_DB", "ibt_bench")  # another name keeps two runs apart
SERVER = "postgres://postgres@127.0.0.1:5432"
os.environ["DATABASE_URL"] = f"{SERVER}/{BENCH_DB}"
os.environ["DJANGO_SETTINGS_MODULE"] = "ibt_companion.settings.test"

import psycopg2  # noqa: E402

STEPS = (14, 7, 3, 1)
ZONES = ("America/Chicago", "Europe/Paris", "America/New_York", "Asia/Tokyo")
CLINICS = 100
PAST = "c.refill_due_at - make_interval(days => s.n) <= %(now)s"
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
    """Patients, refill events, open cycles and four-step plans for ids first..last. The bench
    database is ours: foreign-key triggers are off and the big tables' secondary indexes are
    built once after the load instead of row by row."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        saved = drop_secondary_indexes(cursor, ["refills_delivery", "refills_refillcycle", "patients_patient"])
        _seed(first, last)
        for statement in saved:
            cursor.execute(statement)


def drop_secondary_indexes(cursor, tables: list[str]) -> list[str]:
    """Drop every index but the primary keys (unique constraints too); return the statements
    that make them again."""
    again = []
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'u' AND conrelid::regclass::text = ANY(%s)",
        [tables],
    )
    for table, name, definition in cursor.fetchall():
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        again.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        [tables],
    )
    for name, definition in cursor.fetchall():
        cursor.execute(f"DROP INDEX {name}")
        again.append(definition)
    return again


def _seed(first: int, last: int) -> None:
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
            # As planning sets it: the tick looks at the cycle again from its refill date.
            "next_overdue_at": "%(now)s + make_interval(days => 1 + g %% 60, mins => g %% 1440)",
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
            # The steps already past are history: sent when they fell due.
            "status": f"CASE WHEN {PAST} THEN 'sent' ELSE 'pending' END",
            "attempts": f"CASE WHEN {PAST} THEN 1 ELSE 0 END",
            "sent_at": f"CASE WHEN {PAST} THEN c.refill_due_at - make_interval(days => s.n) END",
        },
        "FROM refills_refillcycle c CROSS JOIN (VALUES (1, 14), (2, 7), (3, 3), (4, 1)) AS s(k, n) "
        "WHERE c.id BETWEEN %(lo)s AND %(hi)s",
        p,
    )


def fix_sequences_and_analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("patients_patient", "refills_pumpevent", "refills_refillcycle", "refills_delivery"):
            sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            cursor.execute(sql)
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
            "due_at = %(now)s - make_interval(mins => (id %% 120)::int), "
            "next_attempt_at = %(now)s - make_interval(mins => (id %% 120)::int) "
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


def explain_analyze(sql: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS), rolled back (the query may lock rows)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


def floor(n_due: int, *, plain: bool = False) -> float:
    """The bare due query, warm: median of five. `plain`: with JIT and parallel workers off
    for the transaction, which the planner reaches for when it overestimates the due rows."""
    from django.db import connection, transaction

    times = []
    for _ in range(6):
        with transaction.atomic(), connection.cursor() as cursor:
            if plain:
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            started = time.perf_counter()
            cursor.execute(DUE_SQL, [NOW])
            rows = cursor.fetchall()
            times.append(time.perf_counter() - started)
        assert len(rows) == n_due, len(rows)
    return statistics.median(times[1:])


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def catch_up(n_due: int) -> dict:
    """One catch-up: the tick claims (a batch a tick, as every minute), and each claimed row is
    recorded as sent the way the worker records it (`_finish`, one conditional UPDATE), with no
    rendering and no transport."""
    from django.db import connection

    from refills.models import Delivery
    from refills.notify import outbox

    claim = record = 0.0
    claimed, ticks = 0, 0
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        while True:
            started = time.perf_counter()
            ids = outbox.tick(NOW)
            claim += time.perf_counter() - started
            ticks += 1
            if not ids:
                break
            claimed += len(ids)
            started = time.perf_counter()
            for pk in ids:
                outbox._finish(Delivery(pk=pk), Delivery.Status.SENT, provider_id=f"bench-{pk}", sent_at=NOW)
            record += time.perf_counter() - started
    assert claimed == n_due, claimed
    assert not Delivery.objects.filter(status="sending").exists()
    return {"claim": claim, "record": record, "total": claim + record, "ticks": ticks, "queries": counter.count}


def claim_sql() -> str:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from refills.notify import outbox

    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        outbox._claim(NOW, outbox.BATCH)
        transaction.set_rollback(True)
    return next(q["sql"] for q in queries.captured_queries if "SKIP LOCKED" in q["sql"])


def deliver_sample(ids: list[int]) -> float:
    """Seconds a row for the worker's whole DB path, `outbox.deliver` (load the row and its
    patient, find the recipient, record the outcome), with rendering and transport stubbed out."""
    from refills.models import Delivery
    from refills.notify import outbox
    from refills.notify.channels import Message

    message = Message(subject="s", text="t", html="<p>t</p>", sms="t")
    Delivery.objects.filter(pk__in=ids).update(status="sending", lease_expires_at=NOW + outbox.LEASE)
    with (
        mock.patch("refills.notify.content.render", return_value=message),
        mock.patch("refills.notify.channels.send", side_effect=lambda channel, recipient, msg, row: row.message_id),
    ):
        started = time.perf_counter()
        for pk in ids:
            assert outbox.deliver(pk, NOW) == "sent"
        return (time.perf_counter() - started) / len(ids)


# --- Overdue cycles: the tick reads only the ones due ------------------------------------------

OVERDUE_ZONE = ZONES[0]  # patient g's zone is ZONES[g % 4]: the overdue ones are every 4th


def overdue_sql(at: datetime) -> str:
    """The tick's own query for the overdue cycles due at `at` (run once, rolled back)."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from refills.notify import planning

    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        planning._open_overdue(at)
        transaction.set_rollback(True)
    return next(
        q["sql"] for q in queries.captured_queries if "next_overdue_at" in q["sql"] and "SKIP LOCKED" in q["sql"]
    )


def overdue_ids(n: int, n_cycles: int) -> list[int]:
    """n cycles spread over the table, all of patients on OVERDUE_ZONE's clock (none of the
    catch-up's, which are 1 modulo the stride)."""
    stride = max(4, (n_cycles // n) // 4 * 4)
    ids = [4 + i * stride for i in range(n)]
    assert ids[-1] <= n_cycles, (n, n_cycles)
    return ids


def timed_ticks(at: datetime, runs: int) -> tuple[float, float]:
    """The median and the least time of `runs` ticks at `at` that find nothing to claim (after
    one warm-up)."""
    from refills.notify import outbox

    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        assert outbox.tick(at) == []
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:]), min(times[1:])


def ticks_until_done(at: datetime, ids: list[int]) -> dict:
    """Tick at `at` until none of these overdue cycles is due and nothing is left to claim, as
    the minute tick would within that minute; the claimed rows are left as claimed. (Whether
    they are due is read by primary key: a scan of the tick's own index here would mark the
    entries it left behind as dead, which the tick's query does not do by itself.)"""
    from django.db import connection

    from refills.models import RefillCycle
    from refills.notify import outbox

    elapsed, claimed, ticks = 0.0, 0, 0
    counter = QueryCounter()
    while True:
        with connection.execute_wrapper(counter):
            started = time.perf_counter()
            claims = outbox.tick(at)
            elapsed += time.perf_counter() - started
        ticks += 1
        claimed += len(claims)
        if not claims and min(RefillCycle.objects.filter(pk__in=ids).values_list("next_overdue_at", flat=True)) > at:
            break
    return {"time": elapsed, "claimed": claimed, "ticks": ticks, "queries": counter.count}


def overdue(n: int, n_cycles: int, runs: int = 101) -> dict:
    """An ordinary minute's tick with n overdue cycles whose repeat is not due then, against one
    with none; then the reminder-hour minute when their n daily repeats fall due."""
    from django.db import connection

    from refills.domain.clock import first_at_hour_after, latest_at_hour_before
    from refills.models import Delivery, RefillCycle

    hour = 9  # seed_clinics
    repeat_at = latest_at_hour_before(NOW - timedelta(hours=1), hour, OVERDUE_ZONE)  # before NOW:
    due_at = repeat_at - timedelta(hours=20)  # nothing else of the seeded plans is due by then
    first_tick = due_at + timedelta(minutes=1)
    ordinary = repeat_at - timedelta(hours=3)
    assert latest_at_hour_before(first_tick, hour, OVERDUE_ZONE) < due_at < first_tick < ordinary
    assert first_at_hour_after(first_tick, hour, OVERDUE_ZONE) == repeat_at
    ids = overdue_ids(n, n_cycles)

    without, without_least = timed_ticks(ordinary, runs)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE refills_refillcycle SET refill_due_at = %(due)s, next_overdue_at = %(due)s WHERE id = ANY(%(ids)s)",
            {"due": due_at, "ids": ids},
        )
        cursor.execute(  # their steps went out before the refill date
            "UPDATE refills_delivery SET status = 'sent', attempts = 1, sent_at = due_at "
            "WHERE cycle_id = ANY(%s) AND status = 'pending'",
            [ids],
        )
        cursor.execute("ANALYZE refills_refillcycle")
        cursor.execute("ANALYZE refills_delivery")
    first = ticks_until_done(first_tick, ids)  # the first tick after the refill date: the queue items
    moved = RefillCycle.objects.filter(pk__in=ids, next_overdue_at=repeat_at).count()
    assert moved == n, moved
    with_overdue, with_least = timed_ticks(ordinary, runs)
    plan = explain_analyze(overdue_sql(ordinary))
    assert "open_cycle_overdue_due" in plan, plan
    repeat = ticks_until_done(repeat_at, ids)
    made = Delivery.objects.filter(cycle_id__in=ids, kind="overdue", due_at=repeat_at).count()
    assert made == repeat["claimed"] == n, (made, repeat["claimed"], n)
    # Sent, as workers would record them: a claimed row left behind is stranded for a later tick.
    Delivery.objects.filter(cycle_id__in=ids, status="sending").update(
        status="sent", sent_at=repeat_at, lease_expires_at=None
    )

    def indent(text):
        return "  " + text.replace("\n", "\n  ")

    log(
        f"\n== {n:,} overdue cycles among {n_cycles:,} ==\n"
        f"an ordinary minute's tick ({runs} ticks, median / least): {without * 1000:.2f} / {without_least * 1000:.2f}"
        f" ms with none overdue, {with_overdue * 1000:.2f} / {with_least * 1000:.2f} ms with {n:,} overdue"
        f" (none of their repeats due): {with_least / without_least:.2f} by the least\n"
        f"the first tick after their refill date: {first['time']:.2f} s in {first['ticks']} ticks"
        f" ({first['queries']:,} queries; opens their queue items)\n"
        f"the reminder-hour minute: {repeat['time']:.2f} s in {repeat['ticks']} ticks for {made:,} repeat rows"
        f" made and claimed ({repeat['queries']:,} queries)\n"
        f"EXPLAIN ANALYZE of the tick's overdue query in that ordinary minute:\n{indent(plan)}"
    )
    return {"without": without, "with": with_overdue, "repeat": repeat, "rows": made, "first": first}


def measure(size: int, ids: list[int], sample: int) -> dict:
    make_due(ids)
    plan = explain(DUE_SQL + " LIMIT 1000", [NOW])
    assert "delivery_due" in plan, plan
    claim_plan = explain(claim_sql())
    bare, plain = floor(len(ids)), floor(len(ids), plain=True)
    # Best of two catch-ups: each row's commit waits on the disk, which other work on a shared
    # machine disturbs far more than the size of the table does.
    runs = [catch_up(len(ids))]
    make_due(ids)
    runs.append(catch_up(len(ids)))
    result = min(runs, key=lambda run: run["total"])
    per_send = deliver_sample(ids[:sample]) if sample else 0.0
    result.update(size=size, floor=bare, plain_floor=plain, per_send=per_send, runs=[r["total"] for r in runs])

    def indent(text):
        return "  " + text.replace("\n", "\n  ")

    log(
        f"\n== {size:,} cycles, {len(ids):,} due ==\n"
        f"due query (the floor): {bare * 1000:.1f} ms for {len(ids):,} ids"
        f" ({plain * 1000:.1f} ms without JIT and parallel workers)\n"
        f"catch-up DB time: {result['total']:.2f} s (best of {', '.join(f'{t:.2f}' for t in result['runs'])})"
        f" = claim {result['claim']:.2f} s in {result['ticks']} ticks"
        f" + record as sent {result['record']:.2f} s ({result['queries']:,} queries)\n"
        f"claim alone / floor: {result['claim'] / bare:.0f}x\n"
        f"the worker's whole DB path a send (deliver, {sample:,} sampled): {per_send * 1000:.1f} ms\n"
        f"EXPLAIN due query:\n{indent(plan)}\n"
        f"EXPLAIN claim query (the tick's own SQL):\n{indent(claim_plan)}"
    )
    return result


# --- Sending through SMTP with two worker processes ----------------------------------------


def smtp_throughput(n: int):
    """Step 4: bench/smtp_rate.py in this run, at NOW (nothing else of the seeded plans is due
    then): e-mails through one worker with two processes, and a bare smtplib loop sending the
    same rendered messages over one connection to the same server."""
    sys.path.insert(0, str(REPO / "bench"))
    import smtp_rate

    result = smtp_rate.measure(n, now=NOW)
    log(
        f"\n== SMTP ==\n{result.n:,} e-mails through one worker with two processes: "
        f"{result.worker_rate:.1f}/s over {result.connections} SMTP connection(s); "
        f"bare smtplib loop {result.bare_rate:.1f}/s"
    )
    return result


# --- Main ---------------------------------------------------------------------------------


def label(size: int) -> str:
    return f"{size // 1_000_000}m" if size % 1_000_000 == 0 else f"{size // 1000}k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--overdue", type=int, default=10_000, help="overdue cycles at the largest size")
    parser.add_argument("--smtp", type=int, default=2_000)
    parser.add_argument("--sample", type=int, default=1_000, help="rows timed through deliver() at each size")
    parser.add_argument("--keep", action="store_true", help="keep the ibt_bench database afterwards")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    began = time.perf_counter()
    recreate_database()
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)  # every app: a later migration may add a column the seed relies on
        seed_clinics()

        results, seeded, ids = [], 0, None
        for size in sizes:
            started = time.perf_counter()
            seed(seeded + 1, size)
            fix_sequences_and_analyze()
            seeded = size
            log(f"\nseeded {size:,} cycles ({size * len(STEPS):,} deliveries) in {time.perf_counter() - started:.0f} s")
            ids = ids or due_ids(args.due, size)
            results.append(measure(size, ids, args.sample))
        late = overdue(args.overdue, seeded) if args.overdue else None
        smtp = smtp_throughput(args.smtp) if args.smtp else None

        log("\n== summary ==")
        for r in results:
            log(
                f"{r['size']:>9,} cycles: catch-up DB time {r['total']:.2f} s (claim {r['claim']:.2f} s), "
                f"floor {r['floor'] * 1000:.1f} ms ({r['plain_floor'] * 1000:.1f} ms plain), "
                f"deliver() DB path {r['per_send'] * 1000:.1f} ms a send"
            )
        if len(results) >= 2:
            big, small = label(results[-1]["size"]), label(results[0]["size"])
            log(f"ratio_{big}_to_{small}={results[-1]['total'] / results[0]['total']:.2f}")
            log(f"claim_ratio_{big}_to_{small}={results[-1]['claim'] / results[0]['claim']:.2f}")
            log(f"floor_ratio_{big}_to_{small}={results[-1]['floor'] / results[0]['floor']:.2f}")
        if late:
            largest = results[-1]
            repeat_ms = late["repeat"]["time"] / late["rows"] * 1000
            catchup_ms = largest["total"] / args.due * 1000
            claim_ms = largest["claim"] / args.due * 1000
            log(f"overdue_tick_ratio={late['with'] / late['without']:.2f}")
            log(f"repeat_ms_per_row={repeat_ms:.3f}")
            log(f"catchup_ms_per_row={catchup_ms:.3f} (claim alone {claim_ms:.3f})")
            log(
                f"repeat_ms_per_row {'<=' if repeat_ms <= catchup_ms else '>'} catchup_ms_per_row"
                f" ({repeat_ms / catchup_ms:.2f} of it; {repeat_ms / claim_ms:.2f} of the claim alone)"
            )
        if smtp:
            for line in smtp.lines():
                log(line)
        log(f"bench wall time {time.perf_counter() - began:.0f} s")
    finally:
        if not args.keep:
            drop_database()


if __name__ == "__main__":
    main()
