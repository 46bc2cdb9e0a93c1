"""Fixtures shared by the refills tests (plain helpers: tests/refills/helpers.py)."""

import pytest

from refills.models import RefillCycle
from tests.factories import pump_with_refill


@pytest.fixture
def people(world):
    """The patient hears by e-mail and inbox, the caregiver by e-mail: three rows a message."""
    world.patient.notification_channels = ["email", "inbox"]
    world.patient.save()
    world.caregiver.notification_channels = ["email"]
    world.caregiver.save()
    return world


@pytest.fixture
def cycle(request, world):
    """The patient (e-mail and inbox) and the caregiver (e-mail) on the open cycle of a pump
    refilled at the test module's T0."""
    world.patient.notification_channels = ["email", "inbox"]
    world.patient.save()
    world.caregiver.notification_channels = ["email"]
    world.caregiver.save()
    pump_with_refill(world.patient, by=world.staff, at=request.module.T0)
    return RefillCycle.objects.get(patient=world.patient, ended_at__isnull=True)
