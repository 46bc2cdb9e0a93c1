"""Delivery.kind holds every kind of message: the MessageKind values and a clinic's own reminder
steps (step_<days>, refills/notify/kinds.py), so full_clean passes on every row the app makes
and fails on a code that names no kind."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from refills.models import Delivery
from refills.notify.kinds import MessageKind, is_kind, step_kind

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def delivery(patient, kind: str) -> Delivery:
    return Delivery(
        key=f"p{patient.pk}:{kind}::patient:{patient.pk}:email",
        patient=patient,
        kind=kind,
        recipient=f"patient:{patient.pk}",
        channel=Delivery.Channel.EMAIL,
        due_at=AT,
        next_attempt_at=AT,
    )


@pytest.mark.parametrize("kind", ["step_21", "step_5", "step_60", *MessageKind.values])
def test_every_kind_of_message_passes_full_clean(world, kind):
    delivery(world.patient, kind).full_clean()


@pytest.mark.parametrize("kind", ["step_x", "nonsense", "step_", "step_0", "step_07", "step_-3", "STEP_14", "alert_"])
def test_a_code_that_names_no_kind_fails_full_clean(world, kind):
    with pytest.raises(ValidationError) as raised:
        delivery(world.patient, kind).full_clean()
    assert set(raised.value.message_dict) == {"kind"}


def test_a_clinic_step_is_a_kind_as_step_kind_writes_it():
    assert all(is_kind(step_kind(days)) for days in range(1, 61))
    assert not is_kind("step_1.5") and not is_kind("step_٣")  # an Arabic-Indic 3: a digit, not ours
