"""Check-in pages: the form, the guidance pages (emergency first and biggest, call clinic with the
number of the hour, routine), the staff script, the public checker, a check-in posted after the
session ended, the history, and who may see a saved check-in."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from html.parser import HTMLParser

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from patients.models import AuditEvent
from symptoms import services
from symptoms.models import CheckIn
from tests.factories import PASSWORD
from tests.helpers import client_for

from .test_checkin_fixtures import QUIET

pytestmark = pytest.mark.django_db


MONDAY_NOON = datetime(2026, 3, 9, 17, 0, tzinfo=UTC)  # 12:00 CDT: Home Clinic is open Mon 08:00-17:00
MONDAY_EVENING = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)  # 18:30 CDT: closed


class MainReader(HTMLParser):
    """The start tags inside <main> in document order, and the text of the first link there."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.tags: list[tuple[str, dict]] = []
        self.first_link_text = ""
        self._in_first_link = False

    def handle_starttag(self, tag, attrs):
        if tag == "main":
            self.depth = 1
            return
        if self.depth:
            self.tags.append((tag, dict(attrs)))
            if tag == "a" and len([t for t, _ in self.tags if t == "a"]) == 1:
                self._in_first_link = True

    def handle_endtag(self, tag):
        if tag == "main":
            self.depth = 0
        if tag == "a":
            self._in_first_link = False

    def handle_data(self, data):
        if self._in_first_link:
            self.first_link_text += data


def main_of(response) -> MainReader:
    reader = MainReader()
    reader.feed(response.content.decode())
    return reader


def text(response) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def form_url(patient):
    return f"/patients/{patient.pk}/checkin/"


def post_form(client, patient, **data):
    data.setdefault("temperature_unit", "F")
    return client.post(form_url(patient), data=data)


@pytest.fixture(autouse=True)
def monday_noon():
    with time_machine.travel(MONDAY_NOON, tick=False):
        yield


# --- The form ---------------------------------------------------------------------------------


def test_the_form_puts_danger_signs_first_and_works_without_javascript(pump):
    response = client_for(pump.caregiver).get(form_url(pump.patient))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script" not in html
    legends = re.findall(r"<legend>([^<]+)", html)
    assert legends[0].strip() == "Danger signs"
    assert legends.index("Danger signs") < legends.index("Changes in your muscles and body")
    assert 'type="checkbox" name="symptoms" value="seizure"' in html
    assert 'value="pump_alarm_critical"' not in html  # asked as one question instead
    assert 'name="pump_alarm" value="two_tone"' in html
    assert re.search(r'name="temperature_unit" value="F"[^>]*checked', html)  # 911 clinic: °F first
    assert "How is Pat Home?" in text(response) and "See what to do" in text(response)
    assert 'href="tel:911"' in html
    assert 'name="observed_date"' not in html  # only staff may back-date


def test_staff_get_the_phone_call_form_with_a_time(pump):
    response = client_for(pump.staff).get(form_url(pump.patient))
    assert "Log a phone call about Pat Home" in text(response)
    assert 'name="observed_date"' in response.content.decode() and 'name="observed_time"' in response.content.decode()
    assert AuditEvent.objects.filter(actor=pump.staff, what="checkin_form").count() == 1


# --- The guidance pages ---------------------------------------------------------------------------


def test_a_red_flag_leads_to_the_emergency_page_with_the_call_first(pump):
    client = client_for(pump.caregiver)
    response = post_form(client, pump.patient, symptoms=["seizure", "itching"])
    checkin = CheckIn.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/checkins/{checkin.pk}/"
    page = client.get(response["Location"])
    assert page.status_code == 200
    main = main_of(page)
    first_tag, first_attrs = main.tags[0]
    assert (first_tag, first_attrs["href"]) == ("a", "tel:911") and main.first_link_text.strip() == "Call 911 now"
    assert main.tags[1][0] == "h1"
    words = text(page)
    # The caregiver logged it: the page speaks to them about Pat (it spoke to Pat as "you" before).
    assert "Get help now" in words
    assert "Say: “Pat has an intrathecal baclofen pump.”" in words
    assert "Bring Pat's pump card and the latest programmer printout." in words
    assert "Pat's clinic has been told, but do not wait for them." in words
    assert "Pat has a danger sign: a seizure." in words
    assert "You reported" not in words and "your pump card" not in words
    assert "emergency-strip" not in page.content.decode()  # nothing between the person and the call


def test_the_call_clinic_page_in_opening_hours(pump):
    client = client_for(pump.patient_user)
    response = client.get(post_form(client, pump.patient, symptoms=["itching"])["Location"])
    html, words = response.content.decode(), text(response)
    assert 'href="tel:+15550100"' in html and "Call +1 555 0100 now" in words
    assert "The app does not call you." in words
    assert (
        "If you cannot talk to them within 30 minutes, or anything gets worse, go to the emergency department." in words
    )


def test_the_call_clinic_page_gives_the_after_hours_number_when_closed(pump):
    with time_machine.travel(MONDAY_EVENING, tick=False):
        client = client_for(pump.patient_user)
        response = client.get(post_form(client, pump.patient, symptoms=["itching"])["Location"])
    assert 'href="tel:+15550199"' in response.content.decode() and "Call +1 555 0199 now" in text(response)
    assert "tel:+15550100" not in response.content.decode()


def test_the_routine_page(pump):
    client = client_for(pump.patient_user)
    response = client.get(post_form(client, pump.patient, symptoms=["constipation"])["Location"])
    words = text(response)
    assert "Nothing urgent right now" in words
    assert "You reported a common side effect: constipation." in words
    assert "Keep your next refill visit." in words and "Call your clinic at +1 555 0100 if anything changes" in words


def test_without_pump_data_the_page_says_so(world):
    client = client_for(world.patient_user)
    response = client.get(post_form(client, world.patient, symptoms=["constipation"])["Location"])
    assert "We could not check your pump data" in text(response)


def test_an_unsure_alarm_is_explained(pump):
    client = client_for(pump.patient_user)
    response = client.get(post_form(client, pump.patient, pump_alarm="unsure")["Location"])
    assert "So we treated it as the more serious two-tone alarm." in text(response)


def test_staff_logging_a_call_see_the_script_first(pump):
    client = client_for(pump.staff)
    response = post_form(
        client, pump.patient, symptoms=["hard_to_wake"], observed_date="2026-03-09", observed_time="11:30"
    )
    checkin = CheckIn.objects.get()
    assert checkin.logged_by_role == "staff"
    assert checkin.observed_at == datetime(2026, 3, 9, 16, 30, tzinfo=UTC)  # 11:30 CDT
    page = client.get(response["Location"])
    main = main_of(page)
    assert main.tags[0] == ("section", {"class": "staff-script", "aria-labelledby": "script-heading"})
    assert "Tell the caller to call 911 now" in text(page)
    # The patient reading the same check-in gets the call first, and no script.
    patient_page = client_for(pump.patient_user).get(response["Location"])
    assert main_of(patient_page).tags[0][1]["href"] == "tel:911" and "Tell the caller" not in text(patient_page)


def test_staff_time_errors_are_form_errors(pump):
    client = client_for(pump.staff)
    too_old = post_form(client, pump.patient, symptoms=["seizure"], observed_date="2026-03-08", observed_time="11:59")
    assert too_old.status_code == 200 and "up to 24 hours back" in text(too_old)
    half = post_form(client, pump.patient, symptoms=["seizure"], observed_date="2026-03-09")
    assert "Give both the date and the time." in text(half)
    assert not CheckIn.objects.exists()


# --- Form errors and a second press ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"temperature": "abc", "temperature_unit": "C"}, "Enter the temperature as a number"),
        ({"temperature": "45.1", "temperature_unit": "C"}, "That temperature looks wrong"),
        ({"temperature": "113.1", "temperature_unit": "F"}, "That temperature looks wrong"),
        ({"temperature": "9e999999999", "temperature_unit": "C"}, "That temperature looks wrong"),
        ({"temperature": "38", "temperature_unit": ""}, "Choose °C or °F for the temperature."),
        ({"symptoms": ["sneezing"]}, "Select a valid choice"),
        ({"symptoms": ["itching", "itching"]}, "repeated: itching"),
    ],
)
def test_bad_input_on_the_form_shows_errors_and_saves_nothing(pump, data, words):
    response = client_for(pump.patient_user).post(form_url(pump.patient), data=data)
    assert response.status_code == 200
    assert "Please fix these problems" in text(response) and words in text(response)
    assert not CheckIn.objects.exists()


def test_pressing_twice_saves_once(pump):
    client = client_for(pump.patient_user)
    first = post_form(client, pump.patient, symptoms=["seizure"], client_token="f" * 32)
    second = post_form(client, pump.patient, symptoms=["seizure"], client_token="f" * 32)
    assert first["Location"] == second["Location"] and CheckIn.objects.count() == 1


# --- The public checker ----------------------------------------------------------------------------


def test_the_public_checker_needs_no_log_in_and_saves_nothing():
    client = Client()
    form = client.get("/emergency-check/")
    assert form.status_code == 200 and "Is this an emergency?" in text(form)
    response = client.post("/emergency-check/", {"symptoms": ["seizure"], "temperature_unit": "F"})
    assert response.status_code == 200
    main = main_of(response)
    assert main.tags[0][1]["href"] == "tel:911" and main.first_link_text.strip() == "Call 911 now"
    words = text(response)
    assert "This check-in was not saved, so your clinic has not been told. Do not wait." in words
    assert "We could not check your pump data" in words
    assert not CheckIn.objects.exists()


def test_the_public_checker_call_clinic_page_points_to_the_pump_card():
    response = Client().post("/emergency-check/", {"symptoms": ["itching"], "temperature_unit": "F"})
    words = text(response)
    assert "Call your pump clinic now" in words and "Their number is on your pump card." in words
    assert "Your clinic can see this check-in" not in words


def test_an_absurd_temperature_on_the_public_checker_is_a_form_error():
    response = Client().post("/emergency-check/", {"temperature": "9e999999999", "temperature_unit": "C"})
    assert response.status_code == 200
    assert "That temperature looks wrong" in text(response)


def test_the_public_checker_is_in_the_navigation():
    assert 'href="/emergency-check/"' in Client().get("/accounts/login/").content.decode()


# --- A check-in posted after the session ended -------------------------------------------------------


def test_an_expired_session_still_gets_its_guidance_and_saves_after_log_in(pump):
    client = client_for(pump.caregiver)
    assert client.get(form_url(pump.patient)).status_code == 200
    client.logout()  # the session ends while the form is open

    response = post_form(client, pump.patient, symptoms=["seizure"], note="fell at 9")
    assert response.status_code == 200
    main = main_of(response)
    assert main.tags[0][1]["href"] == "tel:911"
    words = text(response)
    assert "Get help now" in words and "Log in to save this check-in" in words
    assert "This check-in was not saved" in words
    assert "Pat Home" not in words and "Home Clinic" not in words  # nothing about the patient is shown
    assert not CheckIn.objects.exists()
    resume = f"/patients/{pump.patient.pk}/checkin/?resume=1"
    assert f'href="/accounts/login/?next={resume.replace("/", "%2F").replace("?", "%3F").replace("=", "%3D")}"' in (
        response.content.decode()
    )

    with time_machine.travel(MONDAY_NOON + timedelta(minutes=4), tick=False):
        logged_in = client.post(
            "/accounts/login/", {"username": pump.caregiver.email, "password": PASSWORD, "next": resume}
        )
        assert logged_in.status_code == 302 and logged_in["Location"] == resume
        confirm = client.get(resume)
        assert confirm.status_code == 200
        assert "Had a seizure (a fit)" in text(confirm) and "fell at 9" in text(confirm)
        saved = client.post(form_url(pump.patient), {"resume": "save"})
        again = client.post(form_url(pump.patient), {"resume": "save"})
    checkin = CheckIn.objects.get()
    assert saved.status_code == 302 and saved["Location"] == f"/checkins/{checkin.pk}/"
    assert again.status_code == 302 and again["Location"] == form_url(pump.patient)  # the draft is gone
    assert checkin.level == "emergency" and checkin.logged_by == pump.caregiver and checkin.note == "fell at 9"
    assert checkin.observed_at == MONDAY_NOON  # when it was posted, not when it was saved


def test_staff_keep_the_time_they_gave_when_their_session_ended(pump):
    client = Client()
    post_form(client, pump.patient, symptoms=["itching"], observed_date="2026-03-09", observed_time="08:15")
    client.force_login(pump.staff)
    confirm = client.get(form_url(pump.patient) + "?resume=1")
    assert "Monday 9 March at 08:15" in text(confirm)
    client.post(form_url(pump.patient), {"resume": "save"})
    checkin = CheckIn.objects.get()
    assert checkin.logged_by_role == "staff" and checkin.observed_at == datetime(2026, 3, 9, 13, 15, tzinfo=UTC)


def test_a_kept_check_in_can_be_discarded(pump):
    client = Client()
    post_form(client, pump.patient, symptoms=["itching"])
    client.force_login(pump.patient_user)
    assert "Save your check-in" in text(client.get(form_url(pump.patient) + "?resume=1"))
    response = client.post(form_url(pump.patient), {"resume": "discard"})
    assert response["Location"] == form_url(pump.patient) and not CheckIn.objects.exists()


def test_a_kept_check_in_for_a_patient_you_cannot_see_is_a_404(pump):
    client = Client()
    post_form(client, pump.patient, symptoms=["itching"])
    client.force_login(pump.other_caregiver)
    assert client.get(form_url(pump.patient) + "?resume=1").status_code == 404
    assert client.post(form_url(pump.patient), {"resume": "save"}).status_code == 404
    assert not CheckIn.objects.exists()


def test_pressing_save_logged_out_asks_to_log_in_and_shows_no_made_up_answer(pump):
    response = Client().post(form_url(pump.patient), {"resume": "save"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not CheckIn.objects.exists()


def test_bad_input_after_the_session_ended_shows_the_form_again(pump):
    response = Client().post(form_url(pump.patient), {"temperature": "abc", "temperature_unit": "C"})
    assert response.status_code == 200 and "You are logged out" in text(response)
    assert "Enter the temperature as a number" in text(response) and "Pat Home" not in text(response)


def test_an_idle_timeout_still_gets_its_guidance(pump):
    client = client_for(pump.patient_user)
    client.get(form_url(pump.patient))
    with time_machine.travel(MONDAY_NOON + timedelta(minutes=61), tick=False):
        response = post_form(client, pump.patient, symptoms=["seizure"])
    assert response.status_code == 200 and "Log in to save this check-in" in text(response)


# --- Who may see a check-in ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["other_caregiver", "other_clinic_staff", "revoked_caregiver", "other_patient"])
def test_outsiders_get_404_on_a_saved_check_in(pump, who):
    checkin = services.record_checkin(patient=pump.patient, by=pump.patient_user, symptoms=["seizure"]).checkin
    user = pump.other_patient.user if who == "other_patient" else getattr(pump, who)
    assert client_for(user).get(f"/checkins/{checkin.pk}/").status_code == 404
    assert client_for(user).get(f"/checkins/{checkin.pk + 1000}/").status_code == 404


def test_insiders_see_a_saved_check_in_and_staff_reads_are_audited(pump):
    checkin = services.record_checkin(patient=pump.patient, by=pump.patient_user, symptoms=["seizure"]).checkin
    for user in (pump.patient_user, pump.caregiver, pump.staff, pump.admin):
        assert client_for(user).get(f"/checkins/{checkin.pk}/").status_code == 200
    assert AuditEvent.objects.filter(action="read", what="checkin").count() == 2  # staff and admin
    anonymous = Client().get(f"/checkins/{checkin.pk}/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


# --- The history ---------------------------------------------------------------------------------------


def history_queries(pump, count) -> int:
    CheckIn.objects.all().delete()
    for i in range(count):
        symptoms = [["seizure"], ["itching"], ["constipation"]][i % 3]
        services.record_checkin(
            patient=pump.patient, by=pump.staff, symptoms=symptoms, observed_at=QUIET - timedelta(minutes=i), now=QUIET
        )
    client = client_for(pump.staff)
    client.get("/")  # the session's first request does its own set-up queries
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/patients/{pump.patient.pk}/checkins/")
    assert response.status_code == 200
    assert response.content.decode().count('class="level level-') == count
    return len(queries)


def test_the_history_lists_levels_with_constant_queries(pump):
    assert history_queries(pump, 1) == history_queries(pump, 30)


def test_the_history_shows_each_level_in_words(pump):
    for symptoms in (["seizure"], ["itching"], []):
        services.record_checkin(patient=pump.patient, by=pump.patient_user, symptoms=symptoms)
    response = client_for(pump.caregiver).get(f"/patients/{pump.patient.pk}/checkins/")
    words = text(response)
    assert "Emergency" in words and "Call the clinic" in words and "Routine" in words
    assert "Had a seizure (a fit)" in words and "Nothing" in words


def test_home_and_record_pages_link_to_check_ins(pump):
    home = client_for(pump.caregiver).get("/").content.decode()
    assert f'href="/patients/{pump.patient.pk}/checkin/"' in home and "Log symptoms for Pat Home" in home
    record = client_for(pump.patient_user).get(f"/patients/{pump.patient.pk}/").content.decode()
    assert "Log symptoms" in record and f'href="/patients/{pump.patient.pk}/checkins/"' in record
