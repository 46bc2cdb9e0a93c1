"""With the broker unreachable, an emergency check-in is still saved with its alert rows, and the
alerts go out once the broker is back (SPEC §6: a broker outage delays an alert, never loses it).

`transaction=True`: the check-in must really commit, so that the after-commit hand-over to the
broker runs and fails as it would in production. The broker is pointed at a port nothing listens
on; the shared Redis is never touched.
"""

import socket
import time
from contextlib import contextmanager

import kombu.pools
import pytest
from django.core import mail
from django.utils import timezone

from ibt_companion.celery import app as celery_app
from patients.models import QueueItem
from refills.models import Delivery
from refills.notify import outbox
from symptoms.models import CheckIn
from tests.helpers import client_for, post_json
from tests.refills.helpers import tick_and_send as send_due

from .test_checkin_fixtures import checkins_url

pytestmark = pytest.mark.django_db(transaction=True)


def dead_broker_url() -> str:
    """A Redis URL on a loopback port that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/15"


def _forget_connections():
    """Close and forget every pooled broker connection, kombu's global pools included: the app's
    pool is kombu's pool for the URL, and a producer pool cached there would otherwise keep a
    closed connection pool for the next test that publishes ("Acquire on closed pool")."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    kombu.pools.reset()


@contextmanager
def broker_down(settings):
    before = (celery_app.conf.broker_url, settings.CELERY_BROKER_URL)
    url = dead_broker_url()
    settings.CELERY_BROKER_URL = url
    celery_app.conf.broker_url = url
    _forget_connections()
    try:
        yield
    finally:
        celery_app.conf.broker_url, settings.CELERY_BROKER_URL = before
        _forget_connections()


def alert_rows(checkin):
    return Delivery.objects.filter(key__startswith=f"checkin:{checkin.pk}:")


def test_an_emergency_check_in_survives_a_broker_outage_and_its_alerts_go_out_after(world, settings):
    mail.outbox = []
    with broker_down(settings):
        started = time.monotonic()
        response = post_json(client_for(world.patient_user), checkins_url(world.patient), {"symptoms": ["seizure"]})
        elapsed = time.monotonic() - started
    assert response.status_code == 201, response.content
    assert response.json()["disposition"]["level"] == "emergency"
    assert elapsed < 5, f"the check-in took {elapsed:.1f} s with the broker down"

    checkin = CheckIn.objects.get()
    assert QueueItem.objects.get(patient=world.patient).tier == QueueItem.Tier.EMERGENCY
    rows = alert_rows(checkin)
    # The caregiver (e-mail and inbox by default) and the clinic's alert address.
    assert rows.count() == 3
    assert set(rows.values_list("status", flat=True)) <= {"pending", "sending"}
    assert mail.outbox == []

    # The broker is back: the next tick (here even one a lease later) sends every alert once.
    now = timezone.now() + outbox.LEASE
    assert sorted(send_due(now)) == ["sent"] * 3
    assert set(rows.values_list("status", flat=True)) == {"sent"}
    assert sorted(m.to[0] for m in mail.outbox) == sorted([world.caregiver.email, world.clinic.alert_email])
    assert send_due(now) == []


def test_the_form_saves_an_emergency_with_the_broker_down(world, settings):
    client = client_for(world.caregiver)
    with broker_down(settings):
        response = client.post(f"/patients/{world.patient.pk}/checkin/", {"symptoms": ["breathing_trouble"]})
    checkin = CheckIn.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/checkins/{checkin.pk}/"
    assert checkin.level == "emergency"
    assert set(alert_rows(checkin).values_list("status", flat=True)) == {"pending"}
    assert "broker unavailable" in alert_rows(checkin).first().last_error
    page = client.get(response["Location"])
    assert page.status_code == 200 and b'href="tel:911"' in page.content
