"""The private calendar feed follows access (SPEC §1, §10): a link is made for one person, and
each fetch checks that this person may still see the patient, so a revoked caregiver, staff who
left the clinic, staff whose patient moved to another clinic, or a closed account lose the
feed at once, without anyone having to ask for a new link."""

import pytest
from django.core import signing
from django.test import Client

from patients import services as patient_services
from patients.models import ClinicMembership, Patient
from refills.web.plan_views import FEED_SALT, feed_token
from tests.factories import ClinicFactory, MembershipFactory


def fetch(patient, user) -> int:
    return Client().get(f"/calendar/{feed_token(patient, user)}.ics").status_code


def page_link(patient, user) -> str:
    client = Client()
    client.force_login(user)
    return client.get(f"/patients/{patient.pk}/calendar/").content.decode()


@pytest.mark.parametrize("who", ["patient_user", "caregiver", "staff", "admin"])
def test_everyone_who_sees_the_patient_gets_their_own_working_link(world, who):
    person = getattr(world, who)
    assert f"/calendar/{feed_token(world.patient, person)}.ics" in page_link(world.patient, person)
    assert fetch(world.patient, person) == 200


@pytest.mark.parametrize("who", ["other_clinic_staff", "revoked_caregiver", "other_caregiver", "other_patient_user"])
def test_a_link_for_someone_who_cannot_see_the_patient_is_404(world, who):
    person = world.other_patient.user if who == "other_patient_user" else getattr(world, who)
    assert fetch(world.patient, person) == 404


def test_a_revoked_caregivers_link_stops_at_once(world):
    assert fetch(world.patient, world.caregiver) == 200
    patient_services.revoke_caregiver(by=world.patient_user, link=world.link)
    assert fetch(world.patient, world.caregiver) == 404
    # Nobody else's link changed.
    assert fetch(world.patient, world.patient_user) == 200
    assert fetch(world.patient, world.staff) == 200


def test_staff_removed_from_the_clinic_lose_the_feed(world):
    assert fetch(world.patient, world.staff) == 200
    ClinicMembership.objects.filter(user=world.staff, clinic=world.clinic).delete()
    assert fetch(world.patient, world.staff) == 404
    assert fetch(world.patient, world.admin) == 200


def test_a_patient_moved_to_another_clinic_leaves_the_old_staffs_calendars(world):
    new_clinic = ClinicFactory(name="New Clinic")
    new_staff = MembershipFactory(clinic=new_clinic).user
    assert fetch(world.patient, world.staff) == 200
    Patient.objects.filter(pk=world.patient.pk).update(clinic=new_clinic, status=Patient.Status.ACTIVE)
    world.patient.refresh_from_db()
    assert fetch(world.patient, world.staff) == 404
    assert fetch(world.patient, world.admin) == 404
    assert fetch(world.patient, new_staff) == 200
    assert fetch(world.patient, world.caregiver) == 200 and fetch(world.patient, world.patient_user) == 200


def test_a_closed_account_loses_the_feed(world):
    world.caregiver.is_active = False
    world.caregiver.save()
    assert fetch(world.patient, world.caregiver) == 404


@pytest.mark.parametrize(
    "payload",
    [
        {"p": 0},  # filled in below: an old link that names no person
        {"p": 0, "u": "1"},
        {"p": 0, "u": True},
        {"p": 0, "u": 10**9},
    ],
)
def test_links_that_name_no_real_person_are_404(world, payload):
    payload = {**payload, "p": world.patient.pk}
    if payload.get("u") == "1":
        payload["u"] = str(world.patient_user.pk)
    token = signing.Signer(salt=FEED_SALT).sign_object(payload)
    assert Client().get(f"/calendar/{token}.ics").status_code == 404


def test_the_feed_is_never_stored_by_a_cache(world):
    response = Client().get(f"/calendar/{feed_token(world.patient, world.patient_user)}.ics")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
