"""Load on the clinic console (SPEC §7): the triage queue page and the queue API under 10
concurrent connections, beside a bare Django view on the same server, against real PostgreSQL.

Never run by the test command. In its own database (`ibt_bench_console`, dropped and made
again, dropped at the end unless --keep):

1. migrate, then seed with bulk_create one clinic with a staff member (a confirmed TOTP device),
   2,000 active patients, each with a pump profile, a refill and an open refill cycle (so the
   queue's status columns read real rows), and 5,000 symptom check-ins spread over them, with one
   open queue item per check-in of level emergency or call_clinic (as symptoms.services opens);
2. a staff session made the way a real log-in leaves it (the auth keys, and django-otp's
   `otp_device_id` for the verified second factor), sent as the session cookie;
3. collectstatic into a scratch directory, then gunicorn (2 sync workers) on a free loopback
   port with the production settings (DEBUG off, persistent DB connections, Argon2, the
   manifest static storage) except the SSL redirect, serving bench/bare_app.py: the real app
   plus two bare views, /bare/ (a plain HttpResponse straight to WSGI) and /bare-django/ (a
   plain HttpResponse through the whole middleware stack, with the staff session);
4. wrk, 10 connections for --seconds each (after a short warm-up): /bare/, /bare-django/,
   /clinic/queue/ (the patient home page `/` instead when the queue page is missing),
   /api/v1/queue/.

   Then gunicorn again with QUEUE_SNAPSHOT_SECONDS=0, and the queue page and API once more: the
   rows made on every request, as when the queue changes between every two requests.

It prints, for each, requests/s, p50 and p99 latency and the ratio to the bare Django view's
request rate (and to the bare WSGI view's, for scale), and checks the targets for the queue page
and API as the product runs them: p99 under 150 ms at 10 connections and at least 10% of the bare
Django view's rate. The issue names "a bare Django view" as the floor; /bare/ skips Django
altogether, and no page that reads a session can come near 10% of it.
About two minutes on two cores; wrk is Debian's `wrk` package.

    .venv/bin/python bench/console_load.py [--patients 2000] [--checkins 5000] [--seconds 20] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BENCH_DB = "ibt_bench_console"
SERVER = "postgres://postgres@127.0.0.1:5432"
DATABASE_URL = f"{SERVER}/{BENCH_DB}"
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ["DJANGO_SETTINGS_MODULE"] = "ibt_companion.settings.test"  # seeding only; the server runs production

import psycopg2  # noqa: E402

CONNECTIONS = 10
WORKERS = 2
WARM_UP_SECONDS = 3
P99_TARGET_MS = 150.0
RATE_TARGET = 0.10  # of the bare Django view's requests/s
ZONES = ("America/Chicago", "America/New_York", "Europe/Paris", "America/Los_Angeles")
NOW = datetime.now(UTC).replace(microsecond=0)
PRODUCTION_COOKIE = "__Host-sessionid"  # SESSION_COOKIE_NAME of the production settings

WRK_SCRIPT = r"""
done = function(summary, latency, requests)
  io.write(string.format(
    "WRK_JSON {\"requests\":%d,\"duration_us\":%d,\"p50_us\":%d,\"p99_us\":%d,\"mean_us\":%f,"
    .. "\"max_us\":%d,\"non_2xx_3xx\":%d,\"connect\":%d,\"read\":%d,\"write\":%d,\"timeout\":%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    latency.max, summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
"""


def say(text: str) -> None:
    print(text, flush=True)


# --- The database -------------------------------------------------------------------------------


def admin_sql(statement: str) -> None:
    connection = psycopg2.connect(f"{SERVER}/postgres")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


def drop_database() -> None:
    admin_sql(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def make_database() -> None:
    drop_database()
    admin_sql(f"CREATE DATABASE {BENCH_DB}")
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "DJANGO_SETTINGS_MODULE": "ibt_companion.settings.test"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True, timeout=600
    )


def seed(patient_count: int, checkin_count: int) -> dict:
    """Bulk-create the clinic, its staff member, patients with a pump and an open cycle, the
    check-ins and their queue items; return the staff session's key and the counts."""
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from patients.middleware import LAST_SEEN, STARTED
    from patients.models import Clinic, ClinicMembership, Patient, QueueItem, User
    from refills.domain.clock import utc_offset_minutes
    from refills.models import PumpEvent, PumpProfile, RefillCycle
    from symptoms import triage
    from symptoms.models import CheckIn

    clinic = Clinic.objects.create(
        name="Bench Clinic",
        phone="+1 555 0100",
        after_hours_phone="+1 555 0199",
        alert_email="alerts@bench.example",
        time_zone="America/Chicago",
        opening_hours={"mon": [["08:00", "17:00"]]},
    )
    staff = User.objects.create_user("staff@bench.example", "bench staff password 9", full_name="Bench Staff")
    ClinicMembership.objects.create(user=staff, clinic=clinic, role=ClinicMembership.Role.STAFF)
    device = TOTPDevice.objects.create(user=staff, name="bench", confirmed=True)

    patients = Patient.objects.bulk_create(
        [
            Patient(
                clinic=clinic,
                full_name=f"Bench Patient {i:04d}",
                time_zone=ZONES[i % len(ZONES)],
                email=f"patient{i}@bench.example",
                notification_channels=["email"],
            )
            for i in range(patient_count)
        ],
        batch_size=1000,
    )
    PumpProfile.objects.bulk_create(
        [
            PumpProfile(
                patient=p,
                model="synchromed2_20",
                capacity_ml=Decimal(20),
                alarm_volume_ml=Decimal(2),
                implant_date=date(2024, 1, 1),
                eri_date=date(2030, 1, 1),
            )
            for p in patients
        ],
        batch_size=1000,
    )
    program = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250", "boluses": []}
    fills = []
    for i, p in enumerate(patients):
        at = NOW - timedelta(days=i % 45, hours=i % 24)
        fills.append(
            PumpEvent(
                patient=p,
                kind=PumpEvent.Kind.REFILL,
                occurred_at=at,
                zone=p.time_zone,
                utc_offset_minutes=utc_offset_minutes(p.time_zone, at),
                capacity_ml=Decimal(20),
                values={"volume_ml": "20", "aspirated_ml": "1", "program": program},
                recorded_by=staff,
                recorded_at=at,
                volume_ml=Decimal(20),
                discrepancy=i % 50 == 0,
            )
        )
    fills = PumpEvent.objects.bulk_create(fills, batch_size=1000)
    RefillCycle.objects.bulk_create(
        [
            RefillCycle(
                patient_id=e.patient_id,
                started_by=e,
                started_at=e.occurred_at,
                refill_due_at=e.occurred_at + timedelta(days=36),
                refill_due_reason="low_reservoir_alarm",
                low_reservoir_alarm_at=e.occurred_at + timedelta(days=36),
                empty_at=e.occurred_at + timedelta(days=40),
                stability_limit_at=e.occurred_at + timedelta(days=180),
                reminder_at=e.occurred_at + timedelta(days=29),
                daily_dose_mcg=Decimal(250),
                daily_volume_ml=Decimal("0.5"),
                computed_at=NOW,
                sequence=1,
            )
            for e in fills
        ],
        batch_size=1000,
    )

    tiers = {triage.EMERGENCY: QueueItem.Tier.EMERGENCY, triage.CALL_CLINIC: QueueItem.Tier.CALL_CLINIC}
    checkins = []
    for i in range(checkin_count):
        level = triage.EMERGENCY if i % 10 == 0 else triage.CALL_CLINIC if i % 10 in (1, 2, 3) else triage.ROUTINE
        observed = NOW - timedelta(minutes=7 * i + 3)
        checkins.append(
            CheckIn(
                patient=patients[(i * 7) % patient_count],
                logged_by=staff,
                logged_by_role=CheckIn.Role.STAFF,
                observed_at=observed,
                created_at=observed,
                symptoms=["itching"] if level == triage.ROUTINE else ["fever"],
                level=level,
                reasons=[],
                rule_set_version=triage.RULE_SET_VERSION,
            )
        )
    checkins = CheckIn.objects.bulk_create(checkins, batch_size=1000)
    items = [
        QueueItem(
            patient_id=c.patient_id,
            clinic=clinic,
            kind=f"checkin_{c.level}",
            tier=tiers[c.level],
            source=f"checkin:{c.pk}",
            dedupe_key=f"checkin_{c.level}:{c.patient_id}:checkin:{c.pk}",
            opened_at=c.observed_at,
        )
        for c in checkins
        if c.level in tiers
    ]
    QueueItem.objects.bulk_create(items, batch_size=1000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    # The session a real log-in with a verified second factor leaves behind.
    session = SessionStore()
    now = time.time()
    session.update(
        {
            SESSION_KEY: str(staff.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: staff.get_session_auth_hash(),
            DEVICE_ID_SESSION_KEY: device.persistent_id,
            STARTED: now,
            LAST_SEEN: now,
        }
    )
    session.create()
    from django.conf import settings

    connection.close()
    return {
        "session_key": session.session_key,
        "secret_key": settings.SECRET_KEY,  # the session and its auth hash are signed with it
        "patients": len(patients),
        "checkins": len(checkins),
        "open_items": len(items),
    }


# --- The server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(secret_key: str, var_dir: str) -> dict:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))},
        "DJANGO_SETTINGS_MODULE": "ibt_companion.settings.production",
        "DATABASE_URL": DATABASE_URL,
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "False",
        "DEBUG": "False",
        "IBT_VAR_DIR": var_dir,
        "EMAIL_URL": "consolemail://",
        "PYTHONPATH": str(REPO),
    }


def start_server(env: dict, port: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "bench.bare_app:application",
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(REPO),
        "--log-level",
        "warning",
        "--timeout",
        "60",
    ]
    server = subprocess.Popen(command, cwd=REPO, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/bare/", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    server.terminate()
    raise RuntimeError("gunicorn did not answer within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def probe(port: int, path: str, cookie: str) -> tuple[int, str]:
    """(status, the start of the body) of one GET, redirects not followed."""
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Cookie": cookie})
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, answer.read(4000).decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location", "") or ""


# --- The load -----------------------------------------------------------------------------------


def wrk(url: str, seconds: int, cookie: str, script: str) -> dict:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s", "-s", script, url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")
    figures = json.loads(line.removeprefix("WRK_JSON "))
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["p50_ms"] = figures["p50_us"] / 1000
    figures["p99_ms"] = figures["p99_us"] / 1000
    figures["errors"] = sum(figures[k] for k in ("non_2xx_3xx", "connect", "write", "timeout"))
    return figures


def drive(port: int, name: str, path: str, cookie: str, seconds: int, script: str) -> dict:
    url = f"http://127.0.0.1:{port}{path}"
    wrk(url, WARM_UP_SECONDS, cookie, script)
    r = wrk(url, seconds, cookie, script)
    say(
        f"  {name:<18} {path:<16} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.1f} ms  "
        f"p99 {r['p99_ms']:7.1f} ms  ({r['requests']} requests, {r['errors']} errors)"
    )
    return r


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--checkins", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=20, help="per target")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        say("wrk is missing: apt-get install -y wrk")
        return 2

    started = time.monotonic()
    say(f"database {BENCH_DB}: migrate")
    make_database()
    t = time.monotonic()
    seeded = seed(args.patients, args.checkins)
    say(
        f"seeded {seeded['patients']} patients, {seeded['checkins']} check-ins, "
        f"{seeded['open_items']} open queue items in {time.monotonic() - t:.1f} s"
    )
    cookie = f"{PRODUCTION_COOKIE}={seeded['session_key']}"
    var_dir = tempfile.mkdtemp(prefix="ibt-bench-console-")
    env = server_env(seeded["secret_key"], var_dir)
    server = None
    try:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=REPO,
            env=env,
            check=True,
            timeout=300,
        )
        port = free_port()
        server = start_server(env, port)
        say(f"gunicorn: {WORKERS} sync workers on 127.0.0.1:{port}, production settings, SSL redirect off")

        page = "/clinic/queue/"
        status, body = probe(port, page, cookie)
        if status == 404:
            say("the queue page /clinic/queue/ is missing (404): measuring the home page / instead")
            page = "/"
            status, body = probe(port, page, cookie)
        targets = [("bare WSGI", "/bare/", "")]
        for name, path in (("bare Django", "/bare-django/"), ("queue page", page), ("queue API", "/api/v1/queue/")):
            status, body = probe(port, path, cookie)
            if status != 200:
                raise RuntimeError(f"{path} answered {status} {body[:200]!r}: the staff session is not accepted")
            targets.append((name, path, cookie))

        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(WRK_SCRIPT)
            script = handle.name
        results: dict[str, dict] = {}
        for name, path, send_cookie in targets:
            results[name] = drive(port, name, path, send_cookie, args.seconds, script)
        # The same two targets with the rows made on every request (no snapshot kept): the cost
        # when the queue changes between every two requests, the worst case.
        stop_server(server)
        server = start_server({**env, "QUEUE_SNAPSHOT_SECONDS": "0"}, port)
        say("gunicorn again with QUEUE_SNAPSHOT_SECONDS=0: every request makes its rows")
        for name, path, send_cookie in targets[2:]:
            results[f"{name} (made)"] = drive(port, f"{name} (made)", path, send_cookie, args.seconds, script)
        os.unlink(script)
    finally:
        if server is not None:
            stop_server(server)
        shutil.rmtree(var_dir, ignore_errors=True)
        if not args.keep:
            drop_database()

    bare_wsgi = results["bare WSGI"]["rps"]
    bare_django = results["bare Django"]["rps"]
    say("")
    say(
        f"{'target':<18} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'of bare Django':>15} {'of bare WSGI':>13}"
        f"  p99<{P99_TARGET_MS:.0f}ms  >=10%"
    )
    ok = True
    for name, figures in results.items():
        ratio = figures["rps"] / bare_django if bare_django else 0.0
        p99_ok = figures["p99_ms"] < P99_TARGET_MS
        rate_ok = ratio >= RATE_TARGET
        if name in ("queue page", "queue API"):
            ok = ok and p99_ok and rate_ok and figures["errors"] == 0
        say(
            f"{name:<18} {figures['rps']:9.1f} {figures['p50_ms']:8.1f} {figures['p99_ms']:8.1f} {ratio:15.1%}"
            f" {figures['rps'] / bare_wsgi:13.1%}  {'yes' if p99_ok else 'NO':>9}  {'yes' if rate_ok else 'NO':>5}"
        )
    for name, figures in results.items():
        key = name.replace(" (made)", "_made").replace(" ", "_")
        say(
            f"{key}_rps={figures['rps']:.1f} {key}_p50_ms={figures['p50_ms']:.1f} {key}_p99_ms={figures['p99_ms']:.1f}"
            f" {key}_ratio_to_bare_django={figures['rps'] / bare_django:.3f}"
            f" {key}_ratio_to_bare_wsgi={figures['rps'] / bare_wsgi:.3f} {key}_errors={figures['errors']}"
        )
    say(f"targets_met={'yes' if ok else 'no'} total_seconds={time.monotonic() - started:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
