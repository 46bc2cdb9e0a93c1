"""Staff reads and every write of patient data land in the append-only audit log."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.utils import InternalError

from patients.models import AuditEvent
from tests.helpers import client_for


def test_staff_read_is_audited_patient_read_is_not(world):
    client_for(world.staff).get(f"/patients/{world.patient.pk}/")
    event = AuditEvent.objects.get()
    assert (event.actor, event.action, event.what, event.patient_id) == (
        world.staff,
        "read",
        "patient",
        world.patient.pk,
    )
    assert event.clinic == world.clinic and event.at.tzinfo is not None
    client_for(world.patient_user).get(f"/patients/{world.patient.pk}/")
    client_for(world.caregiver).get(f"/patients/{world.patient.pk}/")
    assert AuditEvent.objects.count() == 1


def test_a_list_read_is_one_row_naming_every_patient(world):
    client_for(world.staff).get("/api/v1/patients/")
    event = AuditEvent.objects.get()
    assert event.action == "list"
    assert event.patient_ids == sorted([world.patient.pk, world.other_patient.pk])
    client_for(world.staff).get("/")
    assert AuditEvent.objects.filter(action="list").count() == 2


def test_writes_are_audited_without_free_text(world):
    client = client_for(world.patient_user)
    client.post(
        f"/patients/{world.patient.pk}/contacts/",
        {"email": "p@example.org", "phone": "555", "emergency_contacts": "Sam Secret, 555-0100", "language": "en"},
    )
    event = AuditEvent.objects.get(action="update")
    assert event.actor == world.patient_user and event.patient_id == world.patient.pk
    # Not the time: its microseconds could hold "555" by chance.
    dumped = str({k: v for k, v in AuditEvent.objects.values().get(pk=event.pk).items() if k != "at"})
    assert "Sam Secret" not in dumped and "555" not in dumped


def test_audit_rows_are_append_only(world):
    event = AuditEvent.objects.create(actor=world.staff, actor_email=world.staff.email, action="read", what="patient")
    with pytest.raises(ValidationError):
        event.save()
    with pytest.raises(ValidationError):
        event.delete()
    assert connection.vendor == "postgresql"
    with pytest.raises(InternalError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(what="changed")
    with pytest.raises(InternalError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).what == "patient"


def test_only_clinic_admins_see_the_log_and_only_their_clinic(world):
    client_for(world.staff).get(f"/patients/{world.patient.pk}/")
    client_for(world.other_clinic_staff).get("/")  # nothing to list in their clinic
    page = client_for(world.admin).get("/clinic/audit/")
    assert page.status_code == 200
    assert world.staff.email.encode() in page.content
    for outsider in (world.staff, world.patient_user, world.caregiver, world.other_clinic_staff):
        assert client_for(outsider).get("/clinic/audit/").status_code == 404
