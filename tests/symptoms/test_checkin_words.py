"""What the check-in pages say, and to whom: the reasons in the reader's words (the patient, a
caregiver opening an alert, staff), the temperature as it was typed, and the emergency check for
a patient who is logged in."""

import re
from datetime import timedelta
from html import unescape

import pytest
import time_machine
from django.test import Client

from symptoms import services
from symptoms.models import CheckIn
from tests.helpers import client_for

from .test_checkin_fixtures import QUIET, T0

pytestmark = pytest.mark.django_db


def text(response) -> str:
    html = response.content.decode()
    html = html[html.index("<main") : html.index("</main>")]
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
def quiet():
    with time_machine.travel(QUIET, tick=False):
        yield


@pytest.fixture
def seizure(pump, quiet):
    """An emergency check-in Pat logged, with a fever typed in °F."""
    return services.record_checkin(
        patient=pump.patient,
        by=pump.patient_user,
        symptoms=["seizure", "itching"],
        temperature="102",
        temperature_unit="F",
    ).checkin


def test_the_patient_reads_you_reported(pump, seizure):
    words = text(client_for(pump.patient_user).get(f"/checkins/{seizure.pk}/"))
    assert "You reported a danger sign: a seizure." in words
    assert "You have a high fever of 102 °F (38.9 °C) and a sign of too little medicine: itching." in words
    assert "Temperature: 102 °F (38.9 °C)" in words  # what was reported, as typed
    assert "Say: “I have an intrathecal baclofen pump.”" in words


def test_a_caregiver_opening_the_alert_reads_about_the_patient(pump, seizure):
    words = text(client_for(pump.caregiver).get(f"/checkins/{seizure.pk}/"))
    assert "Pat has a danger sign: a seizure." in words
    assert "Pat has a high fever of 102 °F (38.9 °C) and a sign of too little medicine: itching." in words
    assert "Say: “Pat has an intrathecal baclofen pump.”" in words
    assert "Pat's clinic has been told, but do not wait for them." in words
    assert "You reported" not in words and "You have" not in words and "your pump" not in words


def test_staff_read_what_the_app_told_the_patient(pump, seizure):
    pump.patient.phone = "+1 555 0123"
    pump.patient.save()
    response = client_for(pump.staff).get(f"/checkins/{seizure.pk}/")
    words = text(response)
    assert "Emergency signs: check on Pat Home now" in words
    assert 'href="tel:+15550123"' in response.content.decode() and "Call Pat Home: +1 555 0123" in words
    assert "The app told them to call 911 now, or to go to the nearest emergency department." in words
    assert "Pat Home has a danger sign: a seizure." in words
    assert "You reported" not in words and "Do not drive yourself" not in words and "your " not in words


def test_the_history_shows_the_temperature_as_typed(pump, quiet):
    for value, unit in (("102", "F"), ("38.9", "C")):
        services.record_checkin(
            patient=pump.patient, by=pump.patient_user, symptoms=[], temperature=value, temperature_unit=unit
        )
    words = text(client_for(pump.patient_user).get(f"/patients/{pump.patient.pk}/checkins/"))
    assert "Temperature: 102 °F (38.9 °C)" in words
    assert "Temperature: 38.9 °C (102.0 °F)" in words


def test_a_check_in_of_another_rule_set_shows_its_reasons_as_saved(pump, seizure):
    CheckIn.objects.filter(pk=seizure.pk).update(rule_set_version="2025.9")
    words = text(client_for(pump.caregiver).get(f"/checkins/{seizure.pk}/"))
    assert "You reported a danger sign: a seizure." in words  # the record as it was, never rewritten


# --- "Is this an emergency?" for a patient who is logged in ----------------------------------------


@pytest.fixture
def own_clinic(pump):
    """Pat's clinic dials 112 and answers on its own number."""
    clinic = pump.clinic
    clinic.emergency_number = "112"
    clinic.phone = "+44 20 7946 0000"
    clinic.after_hours_phone = "+44 20 7946 0999"
    clinic.opening_hours = {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    clinic.save()
    return pump


def test_a_logged_in_patient_gets_their_clinics_numbers(own_clinic, quiet):
    client = client_for(own_clinic.patient_user)
    form = client.get("/emergency-check/")
    assert 'href="tel:112"' in form.content.decode() and "Call 112 now" in text(form)
    assert re.search(r'name="temperature_unit" value="C"[^>]*checked', form.content.decode())  # not a 911 clinic
    emergency = client.post("/emergency-check/", {"symptoms": ["seizure"], "temperature_unit": "C"})
    assert 'class="call-now" href="tel:112"' in emergency.content.decode()
    words = text(emergency)
    assert "Call 112 now" in words and "911" not in words
    assert "This check-in was not saved, so your clinic has not been told. Do not wait." in words
    call = client.post("/emergency-check/", {"symptoms": ["itching"], "temperature_unit": "C"})
    assert 'href="tel:+442079460000"' in call.content.decode() and "Call +44 20 7946 0000 now" in text(call)
    assert "Their number is on your pump card" not in text(call)
    assert 'href="tel:911"' not in call.content.decode()  # not in the strip on top either
    assert f'href="/patients/{own_clinic.patient.pk}/checkin/"' in call.content.decode()  # to save it
    assert not CheckIn.objects.exists()


def test_a_logged_in_patients_check_reads_their_pump_data(own_clinic):
    # A day after the refill: any symptom is "recent refill or dose change" (rule 13) for them,
    # while the anonymous checker, with no pump data, finds nothing urgent.
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        mine = text(client_for(own_clinic.patient_user).post("/emergency-check/", {"symptoms": ["headache"]}))
        anonymous = text(Client().post("/emergency-check/", {"symptoms": ["headache"]}))
    assert "Call your pump clinic now" in mine and "You have symptoms within 2 days after a refill." in mine
    assert "We could not check your pump data" not in mine
    assert "Nothing urgent right now" in anonymous and "We could not check your pump data" in anonymous
    assert not CheckIn.objects.exists()


@pytest.mark.parametrize("who", ["caregiver", "staff"])
def test_anyone_else_logged_in_gets_the_anonymous_answer(own_clinic, quiet, who):
    response = client_for(getattr(own_clinic, who)).post("/emergency-check/", {"symptoms": ["seizure"]})
    assert 'href="tel:911"' in response.content.decode()
    assert "We could not check your pump data" in text(response)


def test_a_typed_name_in_the_readers_words_is_escaped(pump, seizure):
    pump.patient.full_name = '<script>x</script> & "Eve"'
    pump.patient.phone = "<b>555</b>"
    pump.patient.save()
    for who in (pump.caregiver, pump.staff):
        html = client_for(who).get(f"/checkins/{seizure.pk}/").content.decode()
        assert "<script>x" not in html and "<b>555" not in html
        assert "&lt;script&gt;x&lt;/script&gt;" in html
