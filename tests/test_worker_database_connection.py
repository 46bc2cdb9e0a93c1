"""A worker keeps its database connection between tasks (ibt_companion/worker_db.py), even under
the test settings' CONN_MAX_AGE 0, and replaces one the server has dropped before the task uses
it (health checks) instead of failing the task: a prefork pool process, and a solo worker's own
process. A real worker, a private redis-server and an SMTP server on loopback, as in
tests/refills/test_delivery_faults.py.
"""

import uuid

import pytest
from django.db import connection
from django.utils import timezone

from refills import tasks
from refills.models import Delivery
from refills.notify import outbox

from .fault_fixtures import PrivateRedis, broker, print_log, start_worker, stop_worker, wait_until
from .refills.helpers import due_rows
from .refills.smtp_server import SmtpServer


def other_backends() -> set[int]:
    """The server processes of the other clients of the test database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        )
        return {pid for (pid,) in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_a_worker_keeps_its_connection_between_sends_and_replaces_a_dropped_one(world, tmp_path, pool):
    world.patient.notification_channels = ["email"]
    world.patient.save()
    private = PrivateRedis(tmp_path / "redis").start()
    smtp = SmtpServer().start()
    queue = f"conn-{uuid.uuid4().hex}"
    log_path = tmp_path / "worker.log"
    already = other_backends()  # e.g. a connection an earlier test's thread left to the suite

    def worker_backends() -> set[int]:
        return other_backends() - already

    worker = start_worker(
        queue=queue, broker_url=private.url(), smtp_url=smtp.url, log_path=log_path, concurrency=1, pool=pool
    )
    try:
        now = timezone.now()
        rows = due_rows(world.patient, 3, now, prefix="conn")
        claims = outbox.tick_claims(now)
        assert [pk for pk, _token in claims] == [row.pk for row in rows]

        def send(claim) -> set[int]:
            with broker(private.url()):
                tasks.send_delivery.apply_async(claim, queue=queue)
            sent = Delivery.objects.filter(pk=claim[0], status=Delivery.Status.SENT)
            wait_until(sent.exists, f"row {claim[0]} sent", process=worker)
            return worker_backends()

        first = send(claims[0])
        assert len(first) == 1, first  # still connected after the task
        assert send(claims[1]) == first  # and the next task used that connection
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [next(iter(first))])
        wait_until(lambda: not worker_backends() & first, "the worker's connection to be gone")
        after = send(claims[2])  # the task checks the kept connection first and opens a new one
        assert len(after) == 1 and not after & first, (first, after)
        assert sorted(smtp.handler.message_ids().values()) == [1, 1, 1]
    except BaseException:
        print_log(log_path)
        raise
    finally:
        stop_worker(worker)
        smtp.stop()
        private.shutdown()
