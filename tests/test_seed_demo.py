"""The demo data (`manage.py seed_demo`, run by `make run`) gives every part of the app
something to show, and running it twice changes nothing it should not."""

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from patients.models import Patient, QueueItem
from refills.domain.statuses import statuses
from refills.models import RefillCycle
from refills.notify import outbox
from refills.selectors import annotate, facts_of
from symptoms.models import CheckIn

pytestmark = pytest.mark.django_db


def test_the_demo_fills_the_triage_queue_and_is_safe_to_run_twice():
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())
    sam, lee = Patient.objects.get(full_name="Sam Okafor"), Patient.objects.get(full_name="Lee Chen")
    assert CheckIn.objects.filter(patient=sam).count() == 1
    assert CheckIn.objects.get(patient=sam).level in ("call_clinic", "emergency")
    assert QueueItem.objects.filter(patient=sam, kind__startswith="checkin_", resolved_at__isnull=True).count() == 1
    assert QueueItem.objects.filter(patient=lee, kind="nobody_to_remind", resolved_at__isnull=True).exists()
    assert RefillCycle.objects.filter(patient=lee).count() == 2
    outbox.tick(timezone.now())  # the minute tick opens the overdue item
    assert QueueItem.objects.filter(patient=lee, kind="overdue", resolved_at__isnull=True).exists()
    lee = annotate(Patient.objects.filter(pk=lee.pk)).get()
    assert statuses(facts_of(lee), timezone.now()) == ["overdue"]


def test_nobody_to_remind_is_one_open_item_per_patient_across_refills():
    call_command("seed_demo", stdout=io.StringIO())
    lee = Patient.objects.get(full_name="Lee Chen")
    assert RefillCycle.objects.filter(patient=lee).count() == 2  # two refills, each planned
    assert QueueItem.objects.filter(patient=lee, kind="nobody_to_remind", resolved_at__isnull=True).count() == 1
