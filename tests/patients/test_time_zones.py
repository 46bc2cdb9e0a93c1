"""A time zone must be a place a person can live in (patients/zones.py), everywhere one is set:
the patient API and form, enrolment, a clinic's settings, and a caregiver's own choices.
`localtime` (the server's clock), `Factory`, `posixrules`, fixed offsets and old aliases are
refused with a field message, never stored."""

import json

import pytest

from patients import zones
from patients.models import Patient
from tests.helpers import client_for

NOT_PLACES = ["localtime", "Factory", "posixrules", "Etc/GMT+5", "EST5EDT", "US/Eastern", "Japan", "GMT", "posix/UTC"]
PLACES = ["America/Chicago", "America/Argentina/Buenos_Aires", "Europe/Paris", "Arctic/Longyearbyen", "UTC"]


@pytest.mark.parametrize("name", [*NOT_PLACES, "", "America/", None, 5])
def test_names_that_are_not_places_are_refused(name):
    assert not zones.is_livable(name)


@pytest.mark.parametrize("name", PLACES)
def test_places_are_accepted(name):
    assert zones.is_livable(name)


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules"])
def test_api_refuses_a_zone_that_is_not_a_place(world, zone):
    client = client_for(world.staff)
    created = client.post(
        "/api/v1/patients/", data=json.dumps({"full_name": "A", "time_zone": zone}), content_type="application/json"
    )
    assert created.status_code == 400
    assert "is not a known time zone" in created.json()["errors"]["time_zone"][0]
    changed = client.patch(
        f"/api/v1/patients/{world.patient.pk}/",
        data=json.dumps({"time_zone": zone}),
        content_type="application/json",
    )
    assert changed.status_code == 400 and set(changed.json()["errors"]) == {"time_zone"}
    world.patient.refresh_from_db()
    assert world.patient.time_zone != zone
    assert not Patient.objects.filter(time_zone=zone).exists()


@pytest.mark.django_db
def test_clinic_settings_refuse_localtime(world):
    admin = client_for(world.admin)
    url = f"/clinic/{world.clinic.pk}/settings/"
    data = {
        "name": "Home Clinic",
        "phone": "555-0100",
        "after_hours_phone": "555-0199",
        "emergency_number": "911",
        "alert_email": "alerts@home.example",
        "time_zone": "localtime",
        "reminder_hour": "9",
        "reminder_steps": "14, 7, 3, 1",
    }
    response = admin.post(url, data)
    assert response.status_code == 200 and "is not a known time zone" in response.content.decode()
    world.clinic.refresh_from_db()
    assert world.clinic.time_zone != "localtime"


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["Factory", "localtime"])
def test_a_caregiver_cannot_choose_a_zone_that_is_not_a_place(world, zone):
    before = world.caregiver.time_zone
    response = client_for(world.caregiver).post(
        "/account/notifications/", {"channels": ["email"], "language": "en", "phone": "", "time_zone": zone}
    )
    assert response.status_code == 200
    assert "Choose a time zone from the list" in response.content.decode()
    world.caregiver.refresh_from_db()
    assert world.caregiver.time_zone == before


@pytest.mark.django_db
def test_the_zone_list_offers_only_places(world):
    page = client_for(world.caregiver).get("/account/notifications/").content.decode()
    assert 'value="America/Chicago"' in page and 'value="UTC"' in page
    for name in NOT_PLACES:
        assert f'value="{name}"' not in page
