"""The pages of the foundation: a home page per role, forms with clear field errors."""

import pytest
from django.core import mail
from django.test import Client

from patients.models import Patient
from tests.factories import PASSWORD, PatientFactory
from tests.helpers import client_for


def test_home_per_role(world):
    patient_home = client_for(world.patient_user).get("/").content.decode()
    assert "Your pump" in patient_home and f"/patients/{world.patient.pk}/caregivers/" in patient_home
    carer_home = client_for(world.caregiver).get("/").content.decode()
    assert "People you look after" in carer_home and world.patient.full_name in carer_home
    assert world.other_patient.full_name not in carer_home
    staff_home = client_for(world.staff).get("/").content.decode()
    assert "Add a patient" in staff_home and world.other_patient.full_name in staff_home
    admin_home = client_for(world.admin).get("/").content.decode()
    assert "/clinic/audit/" in admin_home
    assert "/clinic/audit/" not in staff_home
    outsider_home = client_for(world.other_clinic_staff).get("/").content.decode()
    assert world.patient.full_name not in outsider_home


def test_base_layout_is_accessible_by_construction(world):
    html = client_for(world.patient_user).get("/").content.decode()
    assert html.index('class="skip-link" href="#main"') < html.index("<main")
    assert '<main id="main"' in html and "<nav" in html and "<header" in html and "<footer" in html
    assert 'lang="en"' in html and 'name="viewport"' in html
    assert 'href="tel:911"' in html  # the emergency number is one tap away on every page


def test_home_page_queries_do_not_grow_with_patients(world, django_assert_max_num_queries):
    client = client_for(world.staff)
    client.get("/")
    with django_assert_max_num_queries(12) as few:
        client.get("/")
    PatientFactory.create_batch(40, clinic=world.clinic)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/")


def test_contacts_form_bad_input(world):
    client = client_for(world.patient_user)
    url = f"/patients/{world.patient.pk}/contacts/"
    response = client.post(url, {"email": "bad", "phone": "", "emergency_contacts": "Only a name", "language": "xx"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Please fix these problems" in body
    assert "Enter a valid email address" in body
    assert "write a name, a comma, then a phone number" in body
    assert "Select a valid choice" in body
    world.patient.refresh_from_db()
    assert world.patient.email == "patient@home.example"


def test_contacts_form_saves(world):
    client = client_for(world.patient_user)
    url = f"/patients/{world.patient.pk}/contacts/"
    response = client.post(
        url,
        {
            "email": "new@home.example",
            "phone": "555-0123",
            "emergency_contacts": "Sam Lee, 555-0100, brother",
            "notification_channels": ["sms", "email"],
            "language": "fr",
        },
    )
    assert response.status_code == 302
    world.patient.refresh_from_db()
    assert world.patient.emergency_contacts == [{"name": "Sam Lee", "phone": "555-0100", "relation": "brother"}]
    assert world.patient.notification_channels == ["email", "sms"]
    assert world.patient.language == "fr"


def test_caregiver_cannot_edit_contacts(world):
    # They can see the patient, so it is a 403, not a 404 (SPEC §10; tests/patients/test_edit_rule.py).
    assert client_for(world.caregiver).get(f"/patients/{world.patient.pk}/contacts/").status_code == 403


def test_the_old_create_form_sends_staff_to_enrolment_and_creates_nobody(world):
    """A patient is added only through enrolment, which records the pump and the first refill."""
    client = client_for(world.staff)
    for answer in (client.get("/patients/new/"), client.post("/patients/new/", {"full_name": "Dana Diaz"})):
        assert answer.status_code == 302 and answer["Location"] == "/clinic/enrol/"
    assert Patient.objects.count() == 2


@pytest.mark.parametrize("who", ["patient_user", "caregiver"])
def test_only_staff_reach_the_create_form(world, who):
    assert client_for(getattr(world, who)).get("/patients/new/").status_code == 404


def test_login_bad_input_is_a_form_error(world):
    response = Client().post("/accounts/login/", {"username": "", "password": ""})
    assert response.status_code == 200 and b"This field is required" in response.content
    response = Client().post("/accounts/login/", {"username": world.staff.email, "password": "nope"})
    assert response.status_code == 200 and b"That e-mail and password do not match" in response.content


def test_password_reset_by_email_and_change(world):
    response = Client().post("/accounts/password_reset/", {"email": world.patient_user.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/accounts/reset/" in line).strip()
    path = link.split("testserver", 1)[1]
    client = Client()
    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200 and b"Choose a new password" in form_page.content
    set_url = form_page.redirect_chain[-1][0]
    mismatch = client.post(set_url, {"new_password1": "another long secret 7", "new_password2": "other"})
    assert b"didn\xe2\x80\x99t match" in mismatch.content or b"didn't match" in mismatch.content
    done = client.post(set_url, {"new_password1": "another long secret 7", "new_password2": "another long secret 7"})
    assert done.status_code == 302
    world.patient_user.refresh_from_db()
    assert world.patient_user.check_password("another long secret 7")

    logged_in = client_for(world.staff)
    bad = logged_in.post(
        "/accounts/password_change/", {"old_password": "wrong", "new_password1": "x", "new_password2": "y"}
    )
    assert bad.status_code == 200 and b"Please fix these problems" in bad.content
    ok = logged_in.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": "brand new secret 11", "new_password2": "brand new secret 11"},
    )
    assert ok.status_code == 302


def test_clinic_admin_edits_settings_with_field_errors(world):
    admin = client_for(world.admin)
    url = f"/clinic/{world.clinic.pk}/settings/"
    page = admin.get(url)
    assert page.status_code == 200 and b"08:00-17:00" in page.content
    base = {
        "name": "Home Clinic",
        "phone": "555-0100",
        "after_hours_phone": "555-0199",
        "emergency_number": "911",
        "alert_email": "alerts@home.example",
        "time_zone": "America/Chicago",
        "reminder_hour": "9",
        "reminder_steps": "14, 7, 3, 1",
    }
    bad = admin.post(
        url, {**base, "reminder_hour": "21", "alert_email": "nope", "hours_mon": "17:00-08:00", "time_zone": "X"}
    )
    assert bad.status_code == 200
    body = bad.content.decode()
    assert "Select a valid choice" in body and "Enter a valid email" in body and "start must be before the end" in body
    world.clinic.refresh_from_db()
    assert world.clinic.reminder_hour == 9 and world.clinic.opening_hours == {"mon": [["08:00", "17:00"]]}
    good = admin.post(
        url, {**base, "reminder_hour": "7", "hours_mon": "08:00-12:00, 13:00-17:00", "hours_sat": "09:00-12:00"}
    )
    assert good.status_code == 302
    world.clinic.refresh_from_db()
    assert world.clinic.reminder_hour == 7
    assert world.clinic.opening_hours == {"mon": [["08:00", "12:00"], ["13:00", "17:00"]], "sat": [["09:00", "12:00"]]}
    for outsider in (world.staff, world.other_clinic_staff, world.patient_user, world.caregiver):
        assert client_for(outsider).get(url).status_code == 404
        assert client_for(outsider).post(url, base).status_code == 404


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("14, 7, 3", "1-day step cannot be removed"),
        ("5, 3, 1", "at least 7 days"),
        ("21, 14, 10, 7, 3, 2, 1", "1 to 6"),
        ("7, 7, 1", "1 to 6 different"),
        ("seven, 1", "whole numbers"),
    ],
)
def test_reminder_steps_rules(world, steps, message):
    admin = client_for(world.admin)
    url = f"/clinic/{world.clinic.pk}/settings/"
    base = {
        "name": "Home Clinic",
        "phone": "555-0100",
        "after_hours_phone": "555-0199",
        "emergency_number": "911",
        "alert_email": "alerts@home.example",
        "time_zone": "America/Chicago",
        "reminder_hour": "9",
    }
    response = admin.post(url, {**base, "reminder_steps": steps})
    assert response.status_code == 200 and message in response.content.decode()
    world.clinic.refresh_from_db()
    assert world.clinic.reminder_steps == [14, 7, 3, 1]
    assert admin.post(url, {**base, "reminder_steps": "21, 7, 1"}).status_code == 302
    world.clinic.refresh_from_db()
    assert world.clinic.reminder_steps == [21, 7, 1]


def test_staff_links_on_a_patient_page_only_for_staff_of_that_clinic(world):
    from patients.models import CaregiverLink

    # Staff of another clinic who also looks after this patient as a caregiver.
    CaregiverLink.objects.create(caregiver=world.other_clinic_staff, patient=world.patient)
    page = client_for(world.other_clinic_staff).get(f"/patients/{world.patient.pk}/").content.decode()
    assert (
        f"/clinic/patients/{world.patient.pk}/" not in page and f"/patients/{world.patient.pk}/reminders/" not in page
    )
    staff_page = client_for(world.staff).get(f"/patients/{world.patient.pk}/").content.decode()
    assert f"/clinic/patients/{world.patient.pk}/" in staff_page


def test_update_clinic_takes_plain_values_and_recomputes_only_on_a_forecast_input(world):
    """The service behind the settings page: a dict of changes, no form. Steps are checked again
    (nothing saved when they break the rule); only a new reminder hour or new steps recompute."""
    from django.core.exceptions import ValidationError

    from patients import services
    from patients.models import AuditEvent, Clinic
    from patients.signals import forecast_inputs_changed

    heard = []

    def listener(sender, clinic, **kwargs):
        heard.append(clinic.pk)

    forecast_inputs_changed.connect(listener, sender=Clinic)
    try:
        with pytest.raises(ValidationError) as raised:
            services.update_clinic(by=world.admin, clinic=world.clinic, changes={"reminder_steps": [5, 1]})
        assert set(raised.value.message_dict) == {"reminder_steps"}
        services.update_clinic(by=world.admin, clinic=world.clinic, changes={"phone": "555-0111"})
        assert heard == []
        services.update_clinic(by=world.admin, clinic=world.clinic, changes={"reminder_steps": [1, 21, 7]})
        assert heard == [world.clinic.pk]
    finally:
        forecast_inputs_changed.disconnect(listener, sender=Clinic)
    world.clinic.refresh_from_db()
    assert world.clinic.phone == "555-0111" and world.clinic.reminder_steps == [21, 7, 1]
    assert AuditEvent.objects.filter(clinic=world.clinic, what="clinic_settings").count() == 2


def test_an_optional_field_says_so_once(world):
    """The caregiver form's relationship field: its label does not carry "(optional)" too."""
    page = client_for(world.patient_user).get(f"/patients/{world.patient.pk}/caregivers/").content.decode()
    assert "How they know the patient" in page
    assert "(optional)" in page
    assert "(optional) <span" not in page and "(optional) (optional)" not in page
    label = page[page.index("How they know the patient") : page.index("</label>", page.index("How they know"))]
    assert label.count("optional") == 1, label
