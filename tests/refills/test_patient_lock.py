"""Recording a pump event locks the patient's row, and only that: two patients of one clinic are
refilled side by side, and a check-in or queue item for the locked patient is not held up. (The
lock used to cover the clinic's row too, which put every refill of a clinic in one line.)"""

import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from patients import services as patient_services
from patients.models import QueueItem, QueueKind
from refills import services
from refills.models import PumpEvent
from tests.factories import pump_with_refill

pytestmark = pytest.mark.django_db(transaction=True)

PROGRAM = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250", "boluses": []}


def hold_lock(patient, held: threading.Event, release: threading.Event) -> None:
    """In another connection: lock the patient as record_event does, until told to let go."""
    try:
        with transaction.atomic():
            services.lock_patient(patient, "clinic", "user")
            held.set()
            release.wait(10)
    finally:
        connection.close()


def with_lock_timeout():
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '2s'")


@pytest.fixture
def locked(world):
    """world.patient locked by another transaction for the length of the test."""
    held, release = threading.Event(), threading.Event()
    thread = threading.Thread(target=hold_lock, args=(world.patient, held, release))
    thread.start()
    assert held.wait(10)
    yield world
    release.set()
    thread.join(10)


def test_another_patient_of_the_same_clinic_is_refilled_meanwhile(locked):
    world = locked
    now = timezone.now()
    pump_with_refill(world.other_patient, by=world.staff, at=now - timedelta(days=30))
    with transaction.atomic():
        with_lock_timeout()
        recorded = services.record_event(
            patient=world.other_patient,
            kind=PumpEvent.Kind.REFILL,
            values={"volume_ml": "20", "aspirated_ml": "5", "program": PROGRAM},
            occurred_at=now,
            by=world.staff,
        )
    assert recorded.event.pk is not None


def test_a_queue_item_for_the_locked_patient_is_opened_meanwhile(locked):
    world = locked
    with transaction.atomic():
        with_lock_timeout()
        patient_services.open_queue_item(
            patient=world.patient, kind=QueueKind.DEAD_DELIVERY, tier=QueueItem.Tier.FOLLOW_UP, source="t"
        )
    assert QueueItem.objects.filter(patient=world.patient, kind=QueueKind.DEAD_DELIVERY).count() == 1


def test_a_second_change_to_the_locked_patient_waits(locked):
    world = locked
    with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
        with_lock_timeout()
        services.lock_patient(world.patient, "clinic")
