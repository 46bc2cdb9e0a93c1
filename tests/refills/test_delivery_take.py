"""Taking a claimed row for its send (refills/notify/outbox.py, `take`): one compare-and-set on
the attempt count that counts the attempt, renews the lease and, on PostgreSQL, reads the row
with what its send needs in the same statement. Elsewhere (SQLite, the embedded run) the same
UPDATE, then a read: both ways are checked here, the second by telling outbox it is not on
PostgreSQL. The guarantees under real faults: test_delivery_recovery.py, test_delivery_faults.py.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import connection

from refills.models import Delivery
from refills.notify import outbox

from ..factories import PatientFactory
from .helpers import open_cycle

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
WAYS = ["one statement", "update then read"]


@pytest.fixture(params=WAYS)
def way(request, monkeypatch):
    if request.param == "update then read":

        class Elsewhere:
            vendor = "elsewhere"

            def __getattr__(self, name):
                return getattr(connection, name)

        monkeypatch.setattr(outbox, "connection", Elsewhere())
    return request.param


def _row(patient, *, kind="step_7", recipient=None, cycle=None, payload=None, n=0) -> Delivery:
    recipient = recipient or (f"user:{patient.user_id}" if patient.user_id else f"patient:{patient.pk}")
    return Delivery.objects.create(
        key=f"take:{kind}:{n}:{recipient}",
        patient=patient,
        cycle=cycle,
        kind=kind,
        recipient=recipient,
        recipient_user_id=int(recipient[5:]) if recipient.startswith("user:") else None,
        channel="email",
        due_at=NOW - timedelta(minutes=1),
        next_attempt_at=NOW - timedelta(minutes=1),
        payload=payload or {},
    )


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


@pytest.mark.parametrize("kind", ["alert_emergency", "step_7"])
def test_the_taken_row_is_the_row_as_stored_with_its_patient_clinic_log_in_and_cycle(
    world, way, kind, django_assert_num_queries
):
    cycle = open_cycle(world.patient, NOW + timedelta(days=7))
    row = _row(world.patient, kind=kind, cycle=cycle, payload={"observed_at": NOW.isoformat(), "levels": [1, 2]})
    [(pk, token)] = outbox.claim_now([row.pk], NOW)
    taken_at = NOW + timedelta(seconds=5)
    with django_assert_num_queries(1 if way == "one statement" else 2):
        taken = outbox._take(pk, token, taken_at)
    assert taken is not None
    assert (taken.attempts, taken.lease_expires_at) == (token + 1, taken_at + outbox.lease_for(kind))
    stored = Delivery.objects.select_related("patient__clinic", "patient__user", "cycle").get(pk=pk)
    assert _fields(taken) == _fields(stored)
    assert taken.payload == {"observed_at": NOW.isoformat(), "levels": [1, 2]}
    with django_assert_num_queries(0):  # read with the row, as select_related reads them
        assert _fields(taken.patient) == _fields(stored.patient)
        assert _fields(taken.patient.clinic) == _fields(stored.patient.clinic)
        assert _fields(taken.patient.user) == _fields(stored.patient.user)
        assert _fields(taken.cycle) == _fields(stored.cycle)


def test_a_patient_without_a_log_in_and_a_row_without_a_cycle(world, way, django_assert_num_queries):
    patient = PatientFactory(clinic=world.clinic, user=None, email="nologin@home.example")
    row = _row(patient, kind="test")
    [(pk, token)] = outbox.claim_now([row.pk], NOW)
    taken = outbox._take(pk, token, NOW)
    assert taken is not None
    with django_assert_num_queries(0):
        assert (taken.patient.user, taken.cycle) == (None, None)
        assert taken.patient.clinic.pk == world.clinic.pk


def test_only_the_claims_token_or_a_run_out_lease_takes_the_row(world, way):
    row = _row(world.patient)
    [(pk, token)] = outbox.claim_now([row.pk], NOW)
    assert outbox._take(pk, token + 1, NOW) is None  # not this claim's count
    assert outbox._take(pk, token, NOW) is not None
    assert outbox._take(pk, token, NOW + timedelta(seconds=1)) is None  # an older copy of the task
    stored = Delivery.objects.get(pk=pk)
    assert (stored.attempts, stored.lease_expires_at) == (1, NOW + outbox.LEASE)
    # Stranded: the lease has run out (within the tick's slack): the row is rescued, counted again.
    stranded_at = NOW + outbox.LEASE - outbox.TICK_SLACK
    taken = outbox._take(pk, token, stranded_at)
    assert taken is not None and (taken.attempts, taken.lease_expires_at) == (2, stranded_at + outbox.LEASE)
    # A row no longer being sent is never taken, whatever the token.
    Delivery.objects.filter(pk=pk).update(status=Delivery.Status.SENT, lease_expires_at=None)
    assert outbox._take(pk, 2, NOW + timedelta(hours=1)) is None
    assert Delivery.objects.get(pk=pk).attempts == 2


@pytest.mark.parametrize(
    ("to", "queries", "status"),
    [
        ("the patient", 2, "sent"),  # take (with the read), the outcome
        ("a caregiver", 3, "sent"),  # and whether the caregiver's link is still live
        ("a revoked caregiver", 3, "skipped"),
    ],
)
def test_a_send_costs_two_statements_and_a_caregiver_one_more(world, to, queries, status, django_assert_num_queries):
    world.patient.notification_channels = ["email"]
    world.patient.save()
    world.caregiver.notification_channels = ["email"]
    world.caregiver.save()
    recipient = {
        "the patient": f"user:{world.patient_user.pk}",
        "a caregiver": f"user:{world.caregiver.pk}",
        "a revoked caregiver": f"user:{world.revoked_caregiver.pk}",
    }[to]
    row = _row(world.patient, kind="test", recipient=recipient)
    [(pk, token)] = outbox.claim_now([row.pk], NOW)
    with django_assert_num_queries(queries):
        assert outbox.deliver(pk, NOW, token=token) == status
    assert len(mail.outbox) == (status == "sent")
    stored = Delivery.objects.get(pk=pk)
    assert (stored.status, stored.attempts, stored.lease_expires_at) == (status, 1, None)
    if status == "sent":
        assert mail.outbox[0].to == [{"the patient": "patient@home.example", "a caregiver": "carer@home.example"}[to]]
        assert (stored.sent_at, stored.provider_message_id) == (NOW, stored.message_id)
    else:
        assert stored.last_error == "recipient or channel no longer chosen"
