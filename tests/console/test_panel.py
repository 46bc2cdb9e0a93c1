"""The patient panel: everything about one patient for the staff of their clinic (profile, pump,
the forecast with every input and the reservoir chart, events with discrepancies in words, the
reminder plan, check-ins, caregivers, the audit trail); 404 for everyone else; audited; the
same queries however much history there is."""

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.test import Client

from patients.models import AuditEvent, Patient
from refills.models import PumpProfile
from symptoms.models import CheckIn
from tests.factories import CaregiverLinkFactory, MembershipFactory, PatientFactory

from .test_patients_fixtures import NOW, client_for, refill, with_discrepancy

pytestmark = pytest.mark.usefixtures("frozen")  # tests/console/conftest.py: time stands still at NOW
SVG = "{http://www.w3.org/2000/svg}"


def url(patient) -> str:
    return f"/clinic/patients/{patient.pk}/"


def text(response) -> str:
    html = response.content.decode()
    html = html[html.index("<main") : html.index("</main>")]
    html = re.sub(r"<svg.*?</svg>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'")


def section(response, heading_id: str) -> str:
    html = response.content.decode()
    start = html.index(f'id="{heading_id}"')
    html = html[start : html.index("</section>", start)].replace("&#x27;", "'")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def checkin(patient, by, level="routine", hours_ago=1, symptoms=()):
    return CheckIn.objects.create(
        patient=patient,
        logged_by=by,
        logged_by_role=CheckIn.Role.STAFF,
        observed_at=NOW - timedelta(hours=hours_ago),
        symptoms=list(symptoms),
        level=level,
        reasons=[],
        rule_set_version="2026.1",
    )


@pytest.fixture
def patient(world):
    """The world's patient, refilled 25 days ago (due in 11 days, 7.5 mL left now)."""
    PumpProfile.objects.create(
        patient=world.patient,
        model="synchromed2_20",
        capacity_ml=20,
        alarm_volume_ml=2,
        implant_date="2025-01-01",
        eri_date="2031-12-01",
        catheter_tip_level="T10",
        risk_prior_withdrawal=True,
    )
    world.patient.notification_channels = ["email"]
    world.patient.save()
    refill(world.patient, world.staff, NOW - timedelta(days=25))
    return world.patient


def test_profile_pump_and_status(world, patient):
    response = client_for(world.staff).get(url(patient))
    assert response.status_code == 200
    page = text(response)
    assert "Pat Home" in page
    assert "Status: Refill due soon." in page
    pump = section(response, "pump-heading")
    assert "Medtronic SynchroMed II 8637-20 (20 mL)" in pump
    assert "Reservoir size 20 mL" in pump
    assert "Low-reservoir alarm volume 2 mL" in pump
    assert "Most days the medicine may stay in the pump 180" in pump
    assert "End of service Thursday 1 January 2032" in pump  # implant + 7 years, before ERI + 90 days
    assert "Catheter tip level T10" in pump
    assert "Risk markers prior baclofen withdrawal" in pump


def test_the_forecast_and_every_input(world, patient):
    response = client_for(world.staff).get(url(patient))
    forecast = section(response, "forecast-heading")
    assert "Refill due Wednesday 2 December 2026 at 09:00 CST, set by the low-reservoir alarm" in forecast
    assert "Days until the refill is due in 11 days" in forecast
    assert "Medicine in the pump now 7.5 mL" in forecast
    assert "Predicted empty Sunday 6 December 2026 at 09:00 CST" in forecast
    for label, value in [
        ("Start of the forecast: the latest refill, new program or new pump", "Tuesday 27 October 2026 at 10:00 CDT"),
        ("Medicine in the pump at the start (V0)", "20 mL"),
        ("Strength", "500 mcg/mL"),
        ("Daily dose", "250 mcg/day"),
        ("Pump clock", "UTC−05:00"),
        ("Low-reservoir alarm volume", "2 mL"),
        ("Last refill (the stability limit counts from it)", "Tuesday 27 October 2026 at 10:00 CDT"),
        ("Most days the medicine may stay in the pump", "180"),
        ("Patient's time zone", "America/Chicago"),
        ("Clinic reminder hour", "09:00"),
        ("Programmer printout alarm date", "None given"),
        ("Pump alarms reported since the start", "None"),
    ]:
        assert f"{label} {value}" in forecast, label


def test_the_chart_is_inline_svg_with_a_title_a_summary_and_the_limits(world, patient):
    response = client_for(world.staff).get(url(patient))
    html = response.content.decode()
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", html, flags=re.S).group(0))
    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text.startswith("Predicted medicine in the pump")
    assert "reach 4 mL on Saturday 28 November 2026" in svg.find(f"{SVG}desc").text
    classes = {g.get("class") for g in svg.iter(f"{SVG}g")}
    assert {"limit limit-alarm", "limit limit-floor", "limit limit-now"} <= classes
    assert "The stability limit is after the end of the chart." in text(response)
    assert "<script" not in html.split("<main", 1)[1]


def test_events_flag_discrepancies_in_words(world):
    patient = with_discrepancy(world.clinic, world.staff, "Dee Screp")
    response = client_for(world.staff).get(url(patient))
    events = section(response, "events-heading")
    assert "Refill discrepancy : expected 11 mL, taken out 5 mL — not resolved" in events
    assert "Warning: Refill discrepancy" in events
    assert events.count("Refill discrepancy :") == 1  # the first refill had none


def test_plan_checkins_caregivers_and_links(world, patient):
    emergency = checkin(patient, world.staff, level="emergency", symptoms=["seizure"])
    checkin(patient, world.staff, level="call_clinic", hours_ago=30, symptoms=["itching"])
    response = client_for(world.staff).get(url(patient))
    html = response.content.decode()
    plan = section(response, "plan-heading")
    assert "Book your refill (14 days before) Wednesday 18 November 2026 at 09:00 CST" in plan
    assert "Refill due in 3 days" in plan
    assert f'href="/patients/{patient.pk}/reminders/"' in html
    checkins = section(response, "checkins-heading")
    assert "Emergency" in checkins and "Call the clinic" in checkins
    assert f'href="/checkins/{emergency.pk}/"' in html
    carers = section(response, "caregivers-heading")
    assert world.caregiver.full_name in carers
    assert "Removed on" in carers  # the revoked caregiver, marked in words


def test_a_patient_without_a_pump_or_forecast_still_has_a_panel(world):
    response = client_for(world.staff).get(url(world.other_patient))
    assert response.status_code == 200
    assert "No pump profile yet." in text(response)
    assert "No forecast yet." in text(response)
    Patient.objects.filter(pk=world.other_patient.pk).update(status=Patient.Status.DECEASED)
    assert "No forecast: this patient is marked “Deceased”." in text(
        client_for(world.staff).get(url(world.other_patient))
    )


def test_each_view_is_audited_and_the_trail_shows_who_looked(world, patient):
    before = AuditEvent.objects.filter(patient_id=patient.pk, action="read", what="clinic_panel").count()
    client_for(world.admin).get(url(patient))
    response = client_for(world.staff).get(url(patient))
    rows = AuditEvent.objects.filter(patient_id=patient.pk, action="read", what="clinic_panel")
    assert rows.count() == before + 2
    trail = section(response, "audit-heading")
    assert "admin@home.example Looked at: clinic panel" in trail
    assert "staff@home.example Looked at: clinic panel" in trail
    # Another patient's reads are not in this trail.
    client_for(world.staff).get(url(world.other_patient))
    trail = section(client_for(world.staff).get(url(patient)), "audit-heading")
    assert f"/patients/{world.other_patient.pk}" not in trail


@pytest.mark.parametrize(
    "who", ["other_clinic_staff", "patient_user", "caregiver", "revoked_caregiver", "other_caregiver"]
)
def test_everyone_else_gets_404_and_nothing_is_audited(world, patient, who):
    before = AuditEvent.objects.count()
    response = client_for(getattr(world, who)).get(url(patient))
    assert response.status_code == 404
    assert "Pat Home" not in response.content.decode()
    assert AuditEvent.objects.count() == before


def test_staff_who_also_cares_for_a_patient_elsewhere_gets_404(world):
    """Being a caregiver of a patient of another clinic is not being staff of that clinic."""
    elsewhere = PatientFactory(clinic=world.other_clinic_staff.memberships.get().clinic)
    CaregiverLinkFactory(caregiver=world.staff, patient=elsewhere)
    assert client_for(world.staff).get(url(elsewhere)).status_code == 404
    assert client_for(world.staff).get(f"/patients/{elsewhere.pk}/").status_code == 200  # as a caregiver


def test_unknown_and_anonymous(world, patient):
    assert client_for(world.staff).get("/clinic/patients/999999/").status_code == 404
    response = Client().get(url(patient))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client_for(world.staff).post(url(patient)).status_code == 405


def test_the_patient_page_links_staff_to_the_panel(world, patient):
    link = f'href="/clinic/patients/{patient.pk}/"'
    assert link in client_for(world.staff).get(f"/patients/{patient.pk}/").content.decode()
    assert link not in client_for(world.patient_user).get(f"/patients/{patient.pk}/").content.decode()
    assert link not in client_for(world.caregiver).get(f"/patients/{patient.pk}/").content.decode()


def test_the_same_queries_for_little_and_much_history(world, patient, django_assert_max_num_queries):
    client = client_for(world.staff)
    client.get(url(patient))
    with django_assert_max_num_queries(16) as little:
        client.get(url(patient))
    for days in range(24, 0, -1):
        refill(patient, world.staff, NOW - timedelta(days=days), aspirated="19.5")
    for hours in range(2, 40):
        checkin(patient, world.staff, hours_ago=hours)
    for _ in range(5):
        CaregiverLinkFactory(patient=patient)
    MembershipFactory(clinic=world.clinic)
    with django_assert_max_num_queries(len(little)) as much:
        response = client.get(url(patient))
    assert len(much) == len(little)
    assert response.content.decode().count("Volume taken out (aspirated)") == 25
