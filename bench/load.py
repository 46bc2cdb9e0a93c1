"""Load on the whole app (issue 11, item 4): a mixed workload of patients, caregivers and clinic
staff against gunicorn with the production settings and real PostgreSQL, beside a bare Django
view on the same server, in two runs:

(a) steady: LOAD_USERS users (default 50), each pausing 1–3 s between requests, for
    LOAD_SECONDS (default 60). Patients read their home page and post check-ins (API and form),
    caregivers read the home page and the patient's check-ins, staff work the queue (page, API,
    acknowledge, resolve) and record refills; two users read the bare Django view. Targets: no
    errors and p99 under 250 ms for every endpoint.
(b) saturation: each endpoint in turn, LOAD_SAT_CONNECTIONS clients (default 10) with no pause
    for LOAD_SAT_SECONDS each (default 10), the bare views first. Target: each endpoint's
    requests/s at least 15% of the bare Django view's, measured just before and just after it
    (LOAD_SAT_BARE_SECONDS, default 5, between every two endpoints), so that drifting
    background load on a shared machine does not pass for a slow endpoint. The bare WSGI view
    (/bare/, no Django) shows the ceiling of this client and gunicorn on the machine.

It prints requests/s, p50/p95/p99 and errors per endpoint, and counts the check-in rows in the
database afterwards: check-ins saved must equal check-ins answered (201 from the API, the
redirect to the saved check-in from the form).

Never run by the test command. Reuses bench/console_load.py's set-up: its own database
(`ibt_load`, dropped and made again, dropped at the end unless LOAD_KEEP=1), the seed of one
clinic with patients, pumps, refills, check-ins and open queue items, sessions made the way a
log-in with a passed second factor leaves them, and gunicorn (2 sync workers) serving
bench/bare_app.py with the production settings except the SSL redirect. The load generator is
plain Python (threads, http.client), traffic to 127.0.0.1 only, so it shares the two cores
with the server: the rates are a floor of what the server alone would do.

    .venv/bin/python bench/load.py                                  # about 3.5 minutes
    LOAD_SECONDS=10 LOAD_SAT_SECONDS=1 LOAD_PATIENTS=300 LOAD_CHECKINS=1500 \\
        .venv/bin/python bench/load.py                              # a ~20 s trial (plus set-up)

Other knobs: LOAD_USERS, LOAD_SAT_CONNECTIONS, LOAD_REDIS_URL (default redis://127.0.0.1:6379/4),
LOAD_ONLY (a comma list of endpoints, e.g. refill: only those and the bare views).
Figures and the machine they came from: docs/performance.md.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict, deque
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import console_load as base  # noqa: E402  (sets DATABASE_URL for its own database)

DB = "ibt_load"
base.BENCH_DB = DB
base.DATABASE_URL = f"{base.SERVER}/{DB}"
os.environ["DATABASE_URL"] = base.DATABASE_URL

import psycopg2  # noqa: E402


def knob(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


USERS = knob("LOAD_USERS", 50)
SECONDS = knob("LOAD_SECONDS", 60)
SAT_SECONDS = knob("LOAD_SAT_SECONDS", 10)
BARE_SECONDS = knob("LOAD_SAT_BARE_SECONDS", 5)  # the bare Django view between endpoints
SAT_CONNECTIONS = knob("LOAD_SAT_CONNECTIONS", 10)
PATIENTS = knob("LOAD_PATIENTS", 2000)
CHECKINS = knob("LOAD_CHECKINS", 6000)
KEEP = os.environ.get("LOAD_KEEP") == "1"
REDIS_URL = os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/4")
P99_TARGET_MS = 250.0
RATE_TARGET = 0.15
CSRF_COOKIE = "__Host-csrftoken"  # CSRF_COOKIE_NAME of the production settings
ROUTINE_SIGNS = (["itching"], ["constipation"], ["dry_mouth"], ["trouble_sleeping"], [])
REFILL_PROGRAM = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250", "boluses": []}
say = base.say


# --- Set-up: users and sessions on top of console_load's seed -------------------------------------


def add_people(staff_session: str, patients: int, caregivers: int, staff: int) -> dict:
    """Accounts for the first `patients` patients, `caregivers` caregivers linked to them, and
    `staff` more staff members, each with a confirmed TOTP device and a session that passed it."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from patients.middleware import LAST_SEEN, STARTED
    from patients.models import CaregiverLink, Clinic, ClinicMembership, Patient, QueueItem, User

    clinic = Clinic.objects.get()
    password = "bench load password 9"

    def session_for(user) -> str:
        device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
        session = SessionStore()
        now = time.time()
        session.update(
            {
                SESSION_KEY: str(user.pk),
                BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: user.get_session_auth_hash(),
                DEVICE_ID_SESSION_KEY: device.persistent_id,
                STARTED: now,
                LAST_SEEN: now,
            }
        )
        session.create()
        return session.session_key

    people: dict[str, list[dict]] = {"patient": [], "caregiver": [], "staff": [{"session": staff_session}]}
    chosen = list(Patient.objects.order_by("pk")[:patients])
    for i, patient in enumerate(chosen):
        user = User.objects.create_user(f"p{i}@load.example", password, full_name=patient.full_name)
        Patient.objects.filter(pk=patient.pk).update(user=user)
        people["patient"].append({"session": session_for(user), "patient_id": patient.pk})
    for i in range(caregivers):
        user = User.objects.create_user(f"c{i}@load.example", password, full_name=f"Load Caregiver {i}")
        patient = chosen[i % len(chosen)]
        CaregiverLink.objects.create(caregiver=user, patient=patient, relationship="spouse")
        people["caregiver"].append({"session": session_for(user), "patient_id": patient.pk})
    for i in range(staff - 1):
        user = User.objects.create_user(f"s{i}@load.example", password, full_name=f"Load Staff {i}")
        ClinicMembership.objects.create(user=user, clinic=clinic, role=ClinicMembership.Role.STAFF)
        people["staff"].append({"session": session_for(user)})
    for person in (p for group in people.values() for p in group):
        person["csrf"] = secrets.token_hex(16)  # 32 characters: Django compares an unmasked secret as is
    items = list(QueueItem.objects.filter(resolved_at__isnull=True).order_by("-pk").values_list("pk", flat=True))
    others = list(Patient.objects.order_by("pk").values_list("pk", flat=True)[patients:])
    connection.close()
    return {"people": people, "items": items, "refill_patients": others or [p["patient_id"] for p in people["patient"]]}


def count_checkins() -> int:
    connection = psycopg2.connect(base.DATABASE_URL)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM symptoms_checkin")
            return cursor.fetchone()[0]
    finally:
        connection.close()


# --- The client ------------------------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.samples: dict[str, str] = {}
        self.checkins_answered = 0

    def add(self, name: str, ms: float, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.latency[name].append(ms)
            if not ok:
                self.errors[name] += 1
                self.samples.setdefault(name, detail[:300])


class Shared:
    """What the staff clients share: the open queue items (a fresh one for each acknowledgement,
    the acknowledged ones for resolving) and the patients to record refills for."""

    def __init__(self, items: list[int], refill_patients: list[int]):
        self.lock = threading.Lock()
        self.fresh = deque(items)
        self.acknowledged: deque[int] = deque()
        self.refill_patients = refill_patients
        self.next_refill = 0

    def take_fresh(self) -> int | None:
        with self.lock:
            return self.fresh.popleft() if self.fresh else None

    def take_for_resolve(self) -> int | None:
        with self.lock:
            if self.acknowledged:
                return self.acknowledged.popleft()
            return self.fresh.popleft() if self.fresh else None

    def refill_patient(self) -> int:
        with self.lock:
            self.next_refill += 1
            return self.refill_patients[self.next_refill % len(self.refill_patients)]


class Client:
    def __init__(self, port: int, person: dict, stats: Stats, shared: Shared):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.person = person
        self.stats = stats
        self.shared = shared
        self.cookie = f"{base.PRODUCTION_COOKIE}={person['session']}; {CSRF_COOKIE}={person['csrf']}"

    def request(self, name: str, method: str, path: str, expect: int, body=None, form=False):
        headers = {"Cookie": self.cookie, "Host": "127.0.0.1"}
        payload = None
        if body is not None:
            headers["X-CSRFToken"] = self.person["csrf"]
            if form:
                from urllib.parse import urlencode

                payload = urlencode(body, doseq=True)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                payload = json.dumps(body)
                headers["Content-Type"] = "application/json"
                headers["Accept"] = "application/json"
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=payload, headers=headers)
            answer = self.connection.getresponse()
            content = answer.read()
            status, location = answer.status, answer.getheader("Location", "")
            if answer.getheader("Connection", "").lower() == "close":
                self.connection.close()
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            self.stats.add(name, (time.perf_counter() - started) * 1000, False, repr(error))
            return None, b"", ""
        ms = (time.perf_counter() - started) * 1000
        ok = status == expect
        self.stats.add(name, ms, ok, f"{status} {location} {content[:200]!r}")
        return (status if ok else None), content, location

    # Patients
    def patient_home(self):
        self.request("patient: home page", "GET", "/", 200)

    def checkin_api(self):
        pid = self.person["patient_id"]
        status, _, _ = self.request(
            "patient: check-in (API)",
            "POST",
            f"/api/v1/patients/{pid}/checkins/",
            201,
            body={"symptoms": random.choice(ROUTINE_SIGNS), "note": "bench"},
        )
        if status:
            with self.stats.lock:
                self.stats.checkins_answered += 1

    def checkin_form(self):
        pid = self.person["patient_id"]
        status, _, location = self.request(
            "patient: check-in (form)",
            "POST",
            f"/patients/{pid}/checkin/",
            302,
            body={
                "csrfmiddlewaretoken": self.person["csrf"],
                "symptoms": random.choice(ROUTINE_SIGNS),
                "client_token": uuid.uuid4().hex,
                "note": "bench",
            },
            form=True,
        )
        if status and re.search(r"/checkins/\d+/$", location):
            with self.stats.lock:
                self.stats.checkins_answered += 1

    # Caregivers
    def caregiver_home(self):
        self.request("caregiver: home page", "GET", "/", 200)

    def caregiver_checkins(self):
        path = f"/api/v1/patients/{self.person['patient_id']}/checkins/"
        self.request("caregiver: check-ins (API)", "GET", path, 200)

    # Staff
    def queue_page(self):
        self.request("staff: queue page", "GET", "/clinic/queue/", 200)

    def queue_api(self):
        self.request("staff: queue (API)", "GET", "/api/v1/queue/", 200)

    def acknowledge(self):
        item = self.shared.take_fresh()
        if item is None:
            return self.queue_api()
        status, _, _ = self.request("staff: acknowledge (API)", "POST", f"/api/v1/queue/{item}/acknowledge/", 200, {})
        if status:
            with self.shared.lock:
                self.shared.acknowledged.append(item)

    def resolve(self):
        item = self.shared.take_for_resolve()
        if item is None:
            return self.queue_api()
        body = {"outcome": "spoke_to_patient", "note": "Called back; fine."}
        self.request("staff: resolve (API)", "POST", f"/api/v1/queue/{item}/resolve/", 200, body)

    def refill(self):
        pid = self.shared.refill_patient()
        body = {"kind": "refill", "values": {"volume_ml": "20", "aspirated_ml": "1.5", "program": REFILL_PROGRAM}}
        self.request("staff: record refill (API)", "POST", f"/api/v1/patients/{pid}/events/", 201, body)

    def bare(self):
        self.request("bare Django view", "GET", "/bare-django/", 200)

    def bare_wsgi(self):
        self.request("bare WSGI (no Django)", "GET", "/bare/", 200)


# What each kind of user does, with weights.
MIX = {
    "patient": [(Client.patient_home, 2), (Client.checkin_api, 1), (Client.checkin_form, 1)],
    "caregiver": [(Client.caregiver_home, 1), (Client.caregiver_checkins, 1)],
    "staff": [
        (Client.queue_page, 3),
        (Client.queue_api, 2),
        (Client.acknowledge, 2),
        (Client.resolve, 2),
        (Client.refill, 1),
    ],
    "bare": [(Client.bare, 1)],
}
# Saturation: each endpoint alone, with the kind of user that calls it.
ENDPOINTS = [
    ("bare", Client.bare_wsgi),  # the ceiling of this client with gunicorn: no Django at all
    ("bare", Client.bare),
    ("patient", Client.patient_home),
    ("patient", Client.checkin_api),
    ("patient", Client.checkin_form),
    ("caregiver", Client.caregiver_home),
    ("caregiver", Client.caregiver_checkins),
    ("staff", Client.queue_page),
    ("staff", Client.queue_api),
    ("staff", Client.acknowledge),
    ("staff", Client.resolve),
    ("staff", Client.refill),
]
# LOAD_ONLY=refill,checkin_api: only these endpoints (and the bare views), to look at one change.
ONLY = {name for name in os.environ.get("LOAD_ONLY", "").split(",") if name}
if ONLY:
    ENDPOINTS = [(k, a) for k, a in ENDPOINTS if a in (Client.bare, Client.bare_wsgi) or a.__name__ in ONLY]


def steady(port: int, people: dict, shared: Shared, users: int, seconds: int) -> Stats:
    """Run (a): `users` users, each pausing 1–3 s between requests, for `seconds`."""
    stats = Stats()
    bare_users = 2
    staff_users = max(1, users // 5)
    caregiver_users = max(1, users // 5)
    patient_users = max(1, users - bare_users - staff_users - caregiver_users)
    plan = (
        [("patient", people["patient"][i % len(people["patient"])]) for i in range(patient_users)]
        + [("caregiver", people["caregiver"][i % len(people["caregiver"])]) for i in range(caregiver_users)]
        + [("staff", people["staff"][i % len(people["staff"])]) for i in range(staff_users)]
        + [("bare", people["patient"][i]) for i in range(bare_users)]
    )
    stop_at = time.monotonic() + seconds

    def user(kind: str, person: dict, seed: int):
        rng = random.Random(seed)
        client = Client(port, person, stats, shared)
        actions, weights = zip(*MIX[kind], strict=True)
        time.sleep(rng.uniform(0, 3))  # staggered start
        while time.monotonic() < stop_at:
            rng.choices(actions, weights)[0](client)
            pause = rng.uniform(1, 3)
            if time.monotonic() + pause >= stop_at:
                break
            time.sleep(pause)

    threads = [threading.Thread(target=user, args=(k, p, i), daemon=True) for i, (k, p) in enumerate(plan)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 60)
    stats.elapsed = seconds
    stats.users = {k: sum(1 for kind, _ in plan if kind == k) for k in MIX}
    return stats


def saturate(port: int, people: dict, shared: Shared, connections: int, seconds: int) -> tuple[Stats, dict]:
    """Run (b): each endpoint alone, `connections` clients with no pause, for `seconds` each.
    The bare Django view runs again between endpoints (BARE_SECONDS each), so each endpoint is
    compared with the bare view measured just before and just after it: on a shared machine the
    background load drifts, and a ratio of two windows minutes apart would measure the drift."""
    stats = Stats()
    rates: dict = {}

    def window(kind: str, action, length: float) -> tuple[int, float]:
        group = people["patient" if kind == "bare" else kind]
        stop_at = time.monotonic() + length
        done = [0]
        lock = threading.Lock()

        def loop(person: dict):
            client = Client(port, person, stats, shared)
            n = 0
            while time.monotonic() < stop_at:
                action(client)
                n += 1
            with lock:
                done[0] += n

        started = time.monotonic()
        threads = [
            threading.Thread(target=loop, args=(group[i % len(group)],), daemon=True) for i in range(connections)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=length + 60)
        return done[0], time.monotonic() - started

    bare_windows = [window("bare", Client.bare, BARE_SECONDS)]
    for kind, action in ENDPOINTS:
        if action is Client.bare:
            continue
        rates[action.__name__] = window(kind, action, seconds)
        if action is not Client.bare_wsgi:
            bare_windows.append(window("bare", Client.bare, BARE_SECONDS))
            before, after = bare_windows[-2], bare_windows[-1]
            rates[f"{action.__name__}:bare"] = (before[0] / before[1] + after[0] / after[1]) / 2
    rates["bare"] = (sum(n for n, _ in bare_windows), sum(t for _, t in bare_windows))
    return stats, rates


# --- Report ----------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def report_steady(stats: Stats) -> bool:
    say(f"\n(a) steady: {sum(stats.users.values())} users {stats.users}, 1–3 s pauses, {stats.elapsed} s")
    columns = f"{'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>7}"
    say(f"{'endpoint':<30} {columns}  target")
    ok = True
    for name in sorted(stats.latency):
        values = stats.latency[name]
        p99 = percentile(values, 0.99)
        met = stats.errors[name] == 0 and p99 < P99_TARGET_MS
        ok = ok and met
        say(
            f"{name:<30} {len(values) / stats.elapsed:7.2f} {percentile(values, 0.5):8.1f}"
            f" {percentile(values, 0.95):8.1f} {p99:8.1f} {len(values):9d} {stats.errors[name]:7d}"
            f"  {'yes' if met else 'NO'}"
        )
    return ok


def report_saturation(stats: Stats, rates: dict, connections: int, seconds: int) -> bool:
    say(f"\n(b) saturation: each endpoint alone, {connections} clients with no pause, {seconds} s each")
    say(f"{'endpoint':<30} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'of bare':>8}  ≥15%")
    bare_requests, bare_seconds = rates["bare"]
    bare_rate = bare_requests / bare_seconds
    ok = True
    for _, action in ENDPOINTS:
        requests, elapsed = rates[action.__name__]
        rate = requests / elapsed
        name = LABELS[action.__name__]
        values = stats.latency.get(name, [])
        adjacent = rates.get(f"{action.__name__}:bare", bare_rate)  # the bare view just before and after
        share = rate / adjacent if adjacent else 0.0
        met = share >= RATE_TARGET or action in (Client.bare, Client.bare_wsgi)
        ok = ok and met and stats.errors[name] == 0
        say(
            f"{name:<30} {rate:7.1f} {percentile(values, 0.5):8.1f} {percentile(values, 0.95):8.1f}"
            f" {percentile(values, 0.99):8.1f} {stats.errors[name]:7d} {share:8.1%}  {'yes' if met else 'NO'}"
        )
    return ok


LABELS = {
    "bare": "bare Django view",
    "bare_wsgi": "bare WSGI (no Django)",
    "patient_home": "patient: home page",
    "checkin_api": "patient: check-in (API)",
    "checkin_form": "patient: check-in (form)",
    "caregiver_home": "caregiver: home page",
    "caregiver_checkins": "caregiver: check-ins (API)",
    "queue_page": "staff: queue page",
    "queue_api": "staff: queue (API)",
    "acknowledge": "staff: acknowledge (API)",
    "resolve": "staff: resolve (API)",
    "refill": "staff: record refill (API)",
}


def show_error_samples(stats: Stats) -> None:
    for name, sample in sorted(stats.samples.items()):
        say(f"  first error of {name}: {sample}")


def main() -> int:
    started = time.monotonic()
    say(f"database {DB}: migrate")
    base.make_database()
    t = time.monotonic()
    seeded = base.seed(PATIENTS, CHECKINS)
    patients = min(PATIENTS // 2, max(40, USERS))
    extra = add_people(seeded["session_key"], patients=patients, caregivers=max(10, USERS // 5), staff=10)
    say(
        f"seeded {seeded['patients']} patients ({patients} with accounts), {len(extra['people']['caregiver'])}"
        f" caregivers, {len(extra['people']['staff'])} staff, {seeded['checkins']} check-ins,"
        f" {len(extra['items'])} open queue items in {time.monotonic() - t:.1f} s"
    )
    var_dir = tempfile.mkdtemp(prefix="ibt-bench-load-")
    env = {**base.server_env(seeded["secret_key"], var_dir), "REDIS_URL": REDIS_URL}
    env.pop("LOAD_REDIS_URL", None)
    server = None
    checkins_before = count_checkins()
    shared = Shared(extra["items"], extra["refill_patients"])
    try:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=REPO,
            env=env,
            check=True,
            timeout=300,
        )
        port = base.free_port()
        server = base.start_server(env, port)
        say(f"gunicorn: {base.WORKERS} sync workers on 127.0.0.1:{port}, production settings, SSL redirect off")
        # Every kind of user reaches its pages (a refused session fails here, not as load errors).
        people = extra["people"]
        pages = (("patient", "/"), ("caregiver", "/"), ("staff", "/clinic/queue/"), ("patient", "/bare-django/"))
        for kind, path in pages:
            status, body = base.probe(port, path, f"{base.PRODUCTION_COOKIE}={people[kind][0]['session']}")
            if status != 200:
                raise RuntimeError(f"{kind} {path} answered {status} {body[:200]!r}: the session is not accepted")
        # Warm-up: every endpoint once per worker, then (a) and (b).
        warm = Stats()
        for kind, action in ENDPOINTS:
            for _ in range(base.WORKERS * 2):
                action(Client(port, people["patient" if kind == "bare" else kind][0], warm, shared))
        if warm.errors:
            show_error_samples(warm)
            raise RuntimeError("the warm-up had errors")

        steady_stats = steady(port, people, shared, USERS, SECONDS)
        sat_stats, rates = saturate(port, people, shared, SAT_CONNECTIONS, SAT_SECONDS)
    finally:
        if server is not None:
            base.stop_server(server)
        shutil.rmtree(var_dir, ignore_errors=True)
    saved = count_checkins() - checkins_before
    if not KEEP:
        base.drop_database()

    a_ok = report_steady(steady_stats)
    show_error_samples(steady_stats)
    b_ok = report_saturation(sat_stats, rates, SAT_CONNECTIONS, SAT_SECONDS)
    show_error_samples(sat_stats)
    say(f"open queue items left unused: {len(shared.fresh)} (0 would mean acknowledge/resolve ran out)")
    answered = warm.checkins_answered + steady_stats.checkins_answered + sat_stats.checkins_answered
    say(f"\ncheck-ins answered={answered} saved={saved} {'equal' if answered == saved else 'DIFFERENT'}")
    say(
        f"targets: steady(0 errors, p99<{P99_TARGET_MS:.0f}ms)={'met' if a_ok else 'NOT met'}"
        f" saturation(≥{RATE_TARGET:.0%} of bare Django)={'met' if b_ok else 'NOT met'}"
        f" checkins_equal={'yes' if answered == saved else 'no'} total_seconds={time.monotonic() - started:.0f}"
    )
    return 0 if answered == saved else 1


if __name__ == "__main__":
    sys.exit(main())
