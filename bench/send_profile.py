"""Where one e-mail send's time goes: the worker's path (`send_delivery` → `outbox.deliver`),
run in this process against an aiosmtpd server on loopback (tests/refills/smtp_server.py), with
each SQL statement and each step of `deliver` timed (wall and CPU). Never run by the test command.

    .venv/bin/python bench/send_profile.py [--n 300] [--close-each]

--close-each closes the database connection before and after each send, as Celery's Django
fixup did in every worker task before ibt_companion/worker_db.py; without it the connection is
kept as a worker's pool process keeps it now (CONN_MAX_AGE, health checks). It makes its own
database (`ibt_send_profile`, or $BENCH_DB), dropped at the end. Medians over the sends after
the first; the CPU is this process's, the SMTP server's thread included.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

SERVER = "postgres://postgres@127.0.0.1:5432"


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="e-mails to send")
    parser.add_argument("--close-each", action="store_true", help="a new database connection for each send")
    args = parser.parse_args()

    from tests.refills.smtp_server import SmtpServer

    smtp = SmtpServer().start()
    name = os.environ.get("BENCH_DB", "ibt_send_profile")
    os.environ.update(
        TEST_EMAIL_URL=smtp.url, DATABASE_URL=f"{SERVER}/{name}", DJANGO_SETTINGS_MODULE="ibt_companion.settings.test"
    )
    import psycopg2

    def admin(sql: str) -> None:
        conn = psycopg2.connect(f"{SERVER}/postgres")
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(sql)
        conn.close()

    admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin(f"CREATE DATABASE {name}")
    try:
        import django

        django.setup()
        import smtp_rate
        from django.core.management import call_command
        from django.db import close_old_connections, connection, connections
        from django.utils import timezone

        from refills import tasks
        from refills.notify import channels, content, outbox, recipients

        call_command("migrate", verbosity=0)
        now = timezone.now()
        smtp_rate.make_rows(smtp_rate.make_patients(args.n + 1), now, "profile")
        claims = outbox.tick_claims(now)
        connections.close_all()
        if not args.close_each:  # as ibt_companion/worker_db.py sets a pool process up
            connection.settings_dict["CONN_MAX_AGE"] = 60
            connection.settings_dict["CONN_HEALTH_CHECKS"] = True

        wall: dict[str, list[float]] = defaultdict(list)
        cpu: dict[str, list[float]] = defaultdict(list)
        steps = [  # those this checkout has (before outbox._take, `take` ran after a SELECT)
            ("outbox.take", outbox, "take"),
            ("outbox._take", outbox, "_take"),
            ("outbox._finish", outbox, "_finish"),
            ("recipients.by_key", recipients, "by_key"),
            ("content.render", content, "render"),
            ("channels.send (SMTP)", channels, "send"),
        ]
        for label, module, attr in steps:
            original = getattr(module, attr, None)
            if original is None:
                continue

            def timed(*a, _original=original, _label=label, **k):
                started, started_cpu = time.perf_counter(), time.process_time()
                try:
                    return _original(*a, **k)
                finally:
                    wall[_label].append(time.perf_counter() - started)
                    cpu[_label].append(time.process_time() - started_cpu)

            setattr(module, attr, timed)

        statements: dict[str, list[float]] = defaultdict(list)
        totals, totals_cpu, connects = [], [], []
        for i, (pk, token) in enumerate(claims):
            started, started_cpu = time.perf_counter(), time.process_time()
            if args.close_each:
                connection.close()  # the fixup's task_prerun
            else:
                close_old_connections()  # worker_db's task_prerun
            connect_started = time.perf_counter()
            connection.ensure_connection()
            connected = time.perf_counter()
            seen: list[tuple[str, float]] = []

            def wrapper(execute, sql, params, many, context, seen=seen):
                at = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    seen.append((sql, time.perf_counter() - at))

            with connection.execute_wrapper(wrapper):
                assert tasks.send_delivery.run(pk, token) == "sent"
            if args.close_each:
                connection.close()  # the fixup's task_postrun
            if i == 0:  # the first send warms up this process
                wall.clear()
                cpu.clear()
                continue
            totals.append(time.perf_counter() - started)
            totals_cpu.append(time.process_time() - started_cpu)
            connects.append(connected - connect_started)
            for sql, seconds in seen:
                statements[re.sub(r"\s+", " ", sql.split(" WHERE")[0])[:80]].append(seconds)

        sends = len(totals)
        print(f"{sends} sends, {'a new connection each' if args.close_each else 'connection kept'}")
        print(f"a send: {ms(totals)} (CPU {ms(totals_cpu)})")
        print(f"  connecting: {ms(connects)}")
        for label in wall:
            print(f"  {label}: {ms(wall[label])} (CPU {ms(cpu[label])})")
        print(f"SQL statements a send: {sum(map(len, statements.values())) / sends:.1f} (health checks not counted)")
        for sql, seconds in statements.items():
            print(f"  {len(seconds) / sends:.1f} × {ms(seconds)}  {sql}")
    finally:
        from django.db import connections

        connections.close_all()
        smtp.stop()
        admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
