"""Real processes for the fault tests (issue 11): a private redis-server, Celery worker processes,
a private PostgreSQL cluster, each on its own port on 127.0.0.1. None of them is the shared
PostgreSQL or Redis, which the tests never stop.

Used by tests/refills/test_delivery_faults.py, tests/test_database_outage.py and
tests/test_reminder_scenarios_under_faults.py.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import kombu
import kombu.pools
import redis
from django.db import connection

from ibt_companion.celery import app as celery_app

from .refills.smtp_server import free_port

REPO = Path(__file__).resolve().parent.parent
CONCURRENCY = 2
WAIT = 60  # seconds: the bound on every wait for another process


def wait_until(predicate, what: str, *, timeout: float = WAIT, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if process is not None:
            assert process.poll() is None, f"the process exited while waiting for {what}"
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.1)


def print_log(path: Path) -> None:
    if path.exists():
        print(f"--- {path.name} ---\n" + path.read_text()[-20_000:])


# --- Redis and Celery ----------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of the test's own: its own port and folder, no persistence, so a
    SHUTDOWN NOSAVE loses everything the broker held, as a crash would."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 10) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 10) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=5)

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--save", "", "--appendonly", "no", "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_until(self._answers, "the private redis-server to answer", process=self.process)
        return self

    def _answers(self) -> bool:
        try:
            return self.client().ping()
        except redis.ConnectionError:
            return False

    def shutdown(self) -> None:
        try:
            self.client().shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it goes
        self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def start_worker(
    *, queue: str, broker_url: str, smtp_url: str, log_path: Path, concurrency: int = CONCURRENCY, pool="prefork"
) -> subprocess.Popen:
    """A worker (prefork unless `pool` says otherwise) in its own process group (so the test can
    kill it and its children), on the database Django's connection points at now."""
    settings_dict = connection.settings_dict
    database_name = settings_dict["NAME"]
    assert database_name.startswith("test_"), database_name  # never let a worker write elsewhere
    user = quote(settings_dict["USER"] or "postgres")
    if settings_dict["PASSWORD"]:
        user += ":" + quote(settings_dict["PASSWORD"], safe="")
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or 5432
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ibt_companion.settings.test",
        "DATABASE_URL": f"postgres://{user}@{host}:{port}/{database_name}",
        "REDIS_URL": broker_url,
        "TEST_EMAIL_URL": smtp_url,
        "PYTHONUNBUFFERED": "1",
    }
    celery = Path(sys.executable).with_name("celery")
    with log_path.open("a") as log:
        return subprocess.Popen(
            [str(celery), "-A", "ibt_companion", "worker", f"--pool={pool}", f"--concurrency={concurrency}",
             "-Q", queue, "-n", f"{uuid.uuid4().hex[:8]}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def group_alive(process: subprocess.Popen) -> bool:
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_group(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
    """Signal the worker and its pool children at once, then wait until none is left."""
    if group_alive(process):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    deadline = time.monotonic() + 15
    while group_alive(process) and time.monotonic() < deadline:
        time.sleep(0.05)
    if group_alive(process):
        os.killpg(process.pid, signal.SIGKILL)


def stop_worker(process: subprocess.Popen) -> None:
    """Warm shutdown (SIGTERM) of the whole group; SIGKILL if it lingers."""
    if process.poll() is None or group_alive(process):
        kill_group(process, signal.SIGTERM)


@contextmanager
def broker(url: str):
    """Point this process's Celery app (and so `send_delivery.delay`) at another broker."""

    def drop_pools():
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        kombu.pools.reset()  # close every pooled connection and forget the pools

    saved = celery_app.conf.broker_url
    drop_pools()
    celery_app.conf.broker_url = url
    try:
        yield
    finally:
        drop_pools()
        celery_app.conf.broker_url = saved


def restore_unacked(url: str) -> int:
    """What Redis does for a lost worker once the visibility timeout passes: put every message
    it held unacknowledged back on its queue. Returns how many there were."""
    with kombu.Connection(url, transport_options={"visibility_timeout": 0}) as conn:
        channel = conn.default_channel
        held = channel.client.hlen(channel.qos.unacked_key)
        channel.qos.restore_visible(num=10_000)
        return held


# --- PostgreSQL ----------------------------------------------------------------------------

PG_BIN = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]) if glob.glob("/usr/lib/postgresql/*/bin") else None
PG_WAIT = 30  # seconds: the bound on pg_ctl's waits


def as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, in a temporary folder, on a free port."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def init(self) -> None:
        initdb = [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"]
        subprocess.run(as_postgres([*initdb, "-E", "UTF8", "--locale=C"]), check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "postgres.log")]
        subprocess.run(as_postgres([*pg_ctl, "-w", "-t", str(PG_WAIT), "-o", options, "start"]), check=True)

    def stop(self) -> None:
        pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", str(PG_WAIT), "-m", "fast", "stop"]
        subprocess.run(as_postgres(pg_ctl), check=True, capture_output=True)

    def running(self) -> bool:
        status = subprocess.run(
            as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"]), capture_output=True
        )
        return status.returncode == 0


@contextmanager
def private_postgres_cluster(prefix: str = "ibt-outage-"):
    """A started PrivatePostgres in a folder the postgres user owns; stopped and removed after."""
    assert PG_BIN is not None, "PostgreSQL's server tools are not installed (/usr/lib/postgresql/*/bin)"
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    cluster = PrivatePostgres(folder)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
