"""Notification choices, checking a phone number, STOP / START texts, the test message and the
in-app inbox (SPEC §5, Channels)."""

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import textstat
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.test import Client, RequestFactory

from patients.context_processors import roles
from patients.models import AuditEvent, CaregiverLink
from refills import phone
from refills.models import Delivery, InboxMessage
from refills.notify import recipients
from tests.factories import CaregiverLinkFactory, PatientFactory
from tests.helpers import client_for
from tests.refills.helpers import tick_and_send as run

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
PAGE = "/account/notifications/"
TOKEN = "inbound-secret-1234"
NUMBER = "+15550101234"


@pytest.fixture(autouse=True)
def frozen(request):
    if request.node.get_closest_marker("browser"):
        yield None  # a frozen clock would stall the browser's own timers
        return
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def sms_file(settings, tmp_path):
    settings.SMS_FILE = str(tmp_path / "sms.jsonl")
    settings.SMS_BACKEND = "refills.notify.channels.sms.FileBackend"
    settings.SMS_INBOUND_TOKEN = TOKEN
    return tmp_path / "sms.jsonl"


def texts(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def body(response) -> str:
    return unescape(response.content.decode())


def choices(**values) -> dict:
    data = {"channels": ["email", "inbox"], "language": "en", "phone": "", "time_zone": ""}
    data.update(values)
    return data


def verified(record, number=NUMBER):
    record.phone = number
    record.phone_verified_at = NOW - timedelta(days=1)
    record.save()
    return record


# --- Saving choices -----------------------------------------------------------------------------


def test_a_patient_s_choices_are_stored_on_their_patient_record_and_audited(world):
    client = client_for(world.patient_user)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert 'name="time_zone"' not in body(page), "a patient's zone is set by their clinic"
    response = client.post(PAGE, choices(channels=["sms", "email"], language="es", phone="(555) 010-1234"))
    assert response.status_code == 302
    world.patient.refresh_from_db()
    world.patient_user.refresh_from_db()
    assert world.patient.notification_channels == ["email", "sms"]
    assert world.patient.language == "es"
    assert world.patient.phone == NUMBER
    assert world.patient.phone_verified_at is None
    # The User copy follows, for messages about anyone they might look after.
    assert (world.patient_user.notification_channels, world.patient_user.language) == (["email", "sms"], "es")
    assert AuditEvent.objects.filter(
        actor=world.patient_user, action="update", what="patient", patient_id=world.patient.pk
    ).exists()


def test_a_caregiver_s_choices_are_stored_on_their_user_with_call_clinic_per_person(world):
    second = CaregiverLinkFactory(caregiver=world.caregiver, patient=PatientFactory(clinic=world.clinic))
    client = client_for(world.caregiver)
    page = body(client.get(PAGE))
    assert world.patient.full_name in page and second.patient.full_name in page
    assert world.other_patient.full_name not in page
    data = choices(channels=["inbox", "email"], language="fr", time_zone="Europe/Paris")
    data[f"call_clinic_{world.link.pk}"] = "on"
    assert client.post(PAGE, data).status_code == 302
    world.caregiver.refresh_from_db()
    assert world.caregiver.notification_channels == ["email", "inbox"]
    assert (world.caregiver.language, world.caregiver.time_zone) == ("fr", "Europe/Paris")
    assert CaregiverLink.objects.get(pk=world.link.pk).notify_call_clinic is True
    assert CaregiverLink.objects.get(pk=second.pk).notify_call_clinic is False
    assert AuditEvent.objects.filter(what="caregiver_link_notifications", patient_id=world.patient.pk).count() == 1
    world.patient.refresh_from_db()
    assert world.patient.language == "en", "a caregiver's choices never touch the patient's record"
    # Blank zone again: messages use the patient's zone.
    assert client.post(PAGE, choices()).status_code == 302
    world.caregiver.refresh_from_db()
    assert world.caregiver.time_zone == ""
    assert recipients.for_caregiver(world.caregiver, world.patient).zone == "America/Chicago"


def test_a_patient_who_also_looks_after_someone_sets_one_set_of_choices(world):
    link = CaregiverLinkFactory(caregiver=world.patient_user, patient=world.other_patient)
    client = client_for(world.patient_user)
    assert 'name="time_zone"' in body(client.get(PAGE)), "their caregiver messages may use their own zone"
    data = choices(channels=["email"], language="es", time_zone="America/Denver")
    data[f"call_clinic_{link.pk}"] = "on"
    client.post(PAGE, data)
    world.patient.refresh_from_db()
    world.patient_user.refresh_from_db()
    assert (world.patient.notification_channels, world.patient.language) == (["email"], "es")
    caregiver = recipients.for_caregiver(world.patient_user, world.other_patient)
    assert (caregiver.channels, caregiver.language, caregiver.zone) == (("email",), "es", "America/Denver")
    assert CaregiverLink.objects.get(pk=link.pk).notify_call_clinic is True


def test_a_caregiver_cannot_set_call_clinic_on_someone_else_s_link(world):
    client = client_for(world.caregiver)
    other_link = CaregiverLink.objects.get(caregiver=world.other_caregiver)
    client.post(PAGE, {**choices(), f"call_clinic_{other_link.pk}": "on"})
    assert CaregiverLink.objects.get(pk=other_link.pk).notify_call_clinic is False


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"channels": ["email", "pigeon"]}, "channels", "is not a way we can reach you"),
        ({"channels": []}, "channels", "Choose at least one way"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Choose a time zone from the list"),
        ({"language": "de"}, "language", "Choose English, Spanish or French"),
        ({"phone": "call me maybe"}, "phone", "Write the whole number"),
        ({"phone": "12345"}, "phone", "Write the whole number"),
        ({"channels": ["sms"], "phone": ""}, "phone", "write your mobile phone number here"),
    ],
)
def test_bad_input_shows_a_field_error_and_saves_nothing(world, values, field, message):
    client = client_for(world.caregiver)
    data = choices(language="fr", time_zone="Europe/Paris", phone="555 010 9999")
    data[f"call_clinic_{world.link.pk}"] = "on"
    data.update(values)
    before = (list(AuditEvent.objects.values_list("pk", flat=True)), world.caregiver.language)
    response = client.post(PAGE, data)
    assert response.status_code == 200
    assert message in body(response)
    assert field in response.context["form"].errors
    world.caregiver.refresh_from_db()
    assert world.caregiver.language == "en" and world.caregiver.time_zone == "" and world.caregiver.phone == ""
    assert CaregiverLink.objects.get(pk=world.link.pk).notify_call_clinic is False
    assert (list(AuditEvent.objects.values_list("pk", flat=True)), world.caregiver.language) == before


def test_a_patient_s_bad_input_saves_nothing_on_their_record(world):
    client = client_for(world.patient_user)
    response = client.post(PAGE, choices(channels=["email", "fax"], language="es", phone="555 010 1234"))
    assert response.status_code == 200
    world.patient.refresh_from_db()
    assert (world.patient.language, world.patient.phone) == ("en", "")


def test_a_new_phone_number_must_be_checked_again(world):
    verified(world.patient)
    client = client_for(world.patient_user)
    client.post(PAGE, choices(channels=["sms"], phone=NUMBER))
    world.patient.refresh_from_db()
    assert world.patient.phone_verified_at is not None, "the same number, written again, stays checked"
    client.post(PAGE, choices(channels=["sms"], phone="555 010 7777"))
    world.patient.refresh_from_db()
    assert world.patient.phone == "+15550107777" and world.patient.phone_verified_at is None
    assert "sms" not in recipients.for_patient(world.patient).channels


def test_a_stop_from_the_old_number_does_not_block_a_new_one(world):
    verified(world.caregiver)
    world.caregiver.sms_opted_out_at = NOW
    world.caregiver.save()
    client = client_for(world.caregiver)
    client.post(PAGE, choices(channels=["sms"], phone=NUMBER))
    world.caregiver.refresh_from_db()
    assert world.caregiver.sms_opted_out_at is not None, "the same number keeps its STOP"
    client.post(PAGE, choices(channels=["sms"], phone="555 010 7777"))
    world.caregiver.refresh_from_db()
    assert world.caregiver.sms_opted_out_at is None and world.caregiver.phone_verified_at is None


def test_choosing_texts_without_a_checked_phone_shows_a_clear_note(world):
    client = client_for(world.caregiver)
    client.post(PAGE, choices(channels=["sms"], phone="555 010 1234"))
    page = body(client.get(PAGE))
    assert "Text messages start after you check your phone number" in page
    assert "Send me a code" in page
    assert "Right now we can only reach you inside this app" in page


def test_an_unchanged_save_says_so(world):
    client = client_for(world.caregiver)
    assert "Your choices are saved." in body(client.post(PAGE, choices(), follow=True))
    assert "Nothing changed." in body(client.post(PAGE, choices(), follow=True))


def test_pages_need_a_log_in(db):
    for url in (PAGE, "/inbox/", "/inbox/1/"):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- Checking a phone number ---------------------------------------------------------------------


def ask_for_code(client, sms_file) -> str:
    response = client.post("/account/notifications/phone/send-code/")
    assert response.status_code == 302
    return re.search(r"\b(\d{6})\b", texts(sms_file)[-1]["text"]).group(1)


@pytest.fixture
def unchecked(world):
    world.patient.phone = NUMBER
    world.patient.notification_channels = ["sms", "email"]
    world.patient.save()
    return world


def test_the_right_code_checks_the_number(unchecked, sms_file):
    client = client_for(unchecked.patient_user)
    code = ask_for_code(client, sms_file)
    sent = texts(sms_file)[-1]
    assert sent["to"] == NUMBER and "10 minutes" in sent["text"]
    assert code not in json.dumps(dict(client.session)), "only a keyed hash of the code is kept"
    assert "sms" not in recipients.for_patient(unchecked.patient).channels
    response = client.post("/account/notifications/phone/verify/", {"code": f"{code[:3]} {code[3:]}"}, follow=True)
    assert "Your phone number is checked" in body(response)
    unchecked.patient.refresh_from_db()
    assert unchecked.patient.phone_verified_at == NOW
    assert set(recipients.for_patient(unchecked.patient).channels) == {"email", "sms"}
    assert AuditEvent.objects.filter(what="patient_phone_verified", patient_id=unchecked.patient.pk).exists()
    again = client.post("/account/notifications/phone/verify/", {"code": code}, follow=True)
    assert "already checked" in body(again)
    # A code works once: after a new number and back, the old code is gone.
    client.post(PAGE, choices(channels=["sms"], phone="555 010 7777"))
    client.post(PAGE, choices(channels=["sms"], phone=NUMBER))
    assert "Ask for a code first" in body(client.post("/account/notifications/phone/verify/", {"code": code}))


def test_a_wrong_code_is_a_form_error(unchecked, sms_file):
    client = client_for(unchecked.patient_user)
    code = ask_for_code(client, sms_file)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    response = client.post("/account/notifications/phone/verify/", {"code": wrong})
    assert response.status_code == 200
    assert "That code is not right" in body(response)
    assert response.context["code_form"].errors["code"]
    unchecked.patient.refresh_from_db()
    assert unchecked.patient.phone_verified_at is None


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦"])
def test_a_malformed_code_is_a_form_error_and_costs_no_try(unchecked, sms_file, typed):
    client = client_for(unchecked.patient_user)
    code = ask_for_code(client, sms_file)
    for _ in range(6):
        response = client.post("/account/notifications/phone/verify/", {"code": typed})
        assert "Type the 6 numbers" in body(response)
    client.post("/account/notifications/phone/verify/", {"code": code})
    unchecked.patient.refresh_from_db()
    assert unchecked.patient.phone_verified_at is not None


def test_an_expired_code_is_refused(unchecked, sms_file, frozen):
    client = client_for(unchecked.patient_user)
    code = ask_for_code(client, sms_file)
    frozen.shift(timedelta(minutes=10))
    response = client.post("/account/notifications/phone/verify/", {"code": code})
    assert "This code is too old" in body(response)
    unchecked.patient.refresh_from_db()
    assert unchecked.patient.phone_verified_at is None


def test_a_code_just_inside_ten_minutes_works(unchecked, sms_file, frozen):
    client = client_for(unchecked.patient_user)
    code = ask_for_code(client, sms_file)
    frozen.shift(timedelta(minutes=9, seconds=59))
    client.post("/account/notifications/phone/verify/", {"code": code})
    unchecked.patient.refresh_from_db()
    assert unchecked.patient.phone_verified_at is not None


def test_five_wrong_tries_void_the_code(unchecked, sms_file, frozen):
    client = client_for(unchecked.patient_user)
    code = ask_for_code(client, sms_file)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for attempt in range(1, 6):
        response = client.post("/account/notifications/phone/verify/", {"code": wrong})
        assert ("last try" in body(response)) == (attempt == 5)
    response = client.post("/account/notifications/phone/verify/", {"code": code})
    assert "Too many tries" in body(response)
    unchecked.patient.refresh_from_db()
    assert unchecked.patient.phone_verified_at is None
    # A new code (after the one-minute wait) works.
    frozen.shift(timedelta(minutes=1))
    new_code = ask_for_code(client, sms_file)
    client.post("/account/notifications/phone/verify/", {"code": new_code})
    unchecked.patient.refresh_from_db()
    assert unchecked.patient.phone_verified_at is not None


def test_codes_are_limited_to_one_a_minute_and_five_an_hour(unchecked, sms_file, frozen):
    client = client_for(unchecked.patient_user)
    ask_for_code(client, sms_file)
    response = client.post("/account/notifications/phone/send-code/", follow=True)
    assert "Please wait a minute" in body(response)
    for _ in range(4):
        frozen.shift(timedelta(minutes=1))
        ask_for_code(client, sms_file)
    frozen.shift(timedelta(minutes=1))
    response = client.post("/account/notifications/phone/send-code/", follow=True)
    assert "many codes this hour" in body(response)
    assert len(texts(sms_file)) == 5


def test_a_code_is_bound_to_the_number_it_was_sent_to(unchecked, sms_file):
    client = client_for(unchecked.patient_user)
    code = ask_for_code(client, sms_file)
    client.post(PAGE, choices(channels=["sms"], phone="555 010 7777"))
    response = client.post("/account/notifications/phone/verify/", {"code": code})
    assert "another phone number" in body(response)
    unchecked.patient.refresh_from_db()
    assert unchecked.patient.phone_verified_at is None


def test_a_caregiver_checks_their_own_number(world, sms_file):
    client = client_for(world.caregiver)
    client.post(PAGE, choices(channels=["sms"], phone=NUMBER))
    code = ask_for_code(client, sms_file)
    client.post("/account/notifications/phone/verify/", {"code": code})
    world.caregiver.refresh_from_db()
    assert world.caregiver.phone_verified_at == NOW
    assert recipients.for_caregiver(world.caregiver, world.patient).channels == ("sms",)


def test_no_code_without_a_number_or_after_stop(world, sms_file):
    client = client_for(world.caregiver)
    response = client.post("/account/notifications/phone/send-code/", follow=True)
    assert "First save your mobile phone number" in body(response)
    world.caregiver.phone = NUMBER
    world.caregiver.sms_opted_out_at = NOW
    world.caregiver.save()
    response = client.post("/account/notifications/phone/send-code/", follow=True)
    assert "You texted STOP" in body(response)
    assert texts(sms_file) == []


# --- STOP and START ------------------------------------------------------------------------------


def inbound(data, token=TOKEN, **kwargs):
    headers = {"X-Sms-Token": token} if token is not None else {}
    return Client(enforce_csrf_checks=True).post("/sms/inbound/", data, headers=headers, **kwargs)


@pytest.fixture
def texting(world):
    verified(world.patient, "+1 (555) 010-1234")
    world.patient.notification_channels = ["sms", "email"]
    world.patient.save()
    verified(world.caregiver)
    world.caregiver.notification_channels = ["sms"]
    world.caregiver.save()
    return world


@pytest.mark.parametrize("word", ["STOP", "stop", " Stop. ", "STOPALL", "unsubscribe", "Cancel", "END", "quit"])
def test_stop_turns_texts_off_for_everyone_with_that_number(texting, word):
    response = inbound({"from": NUMBER, "text": word})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert "no more texts" in response.content.decode()
    texting.patient.refresh_from_db()
    texting.caregiver.refresh_from_db()
    assert texting.patient.sms_opted_out_at == NOW and texting.caregiver.sms_opted_out_at == NOW
    assert recipients.for_patient(texting.patient).channels == ("email",)
    assert recipients.for_caregiver(texting.caregiver, texting.patient).channels == ()
    assert AuditEvent.objects.filter(what="patient_sms_opt_out", patient_id=texting.patient.pk).exists()


@pytest.mark.parametrize("word", ["START", "unstop"])
def test_start_turns_texts_back_on(texting, word):
    inbound({"from": NUMBER, "text": "STOP"})
    response = inbound({"from": NUMBER, "text": word})
    assert response.status_code == 200 and "on again" in response.content.decode()
    texting.patient.refresh_from_db()
    assert texting.patient.sms_opted_out_at is None
    assert "sms" in recipients.for_patient(texting.patient).channels


def test_other_texts_change_nothing_and_unknown_numbers_get_the_same_answer(texting):
    assert "cannot read replies" in inbound({"from": NUMBER, "text": "please stop the pump"}).content.decode()
    texting.patient.refresh_from_db()
    assert texting.patient.sms_opted_out_at is None
    known = inbound({"from": NUMBER, "text": "STOP"}).content
    assert inbound({"from": "+15559999999", "text": "STOP"}).content == known


def test_a_json_body_works_too(texting):
    response = inbound(json.dumps({"from": NUMBER, "text": "stop"}), content_type="application/json")
    assert response.status_code == 200
    texting.caregiver.refresh_from_db()
    assert texting.caregiver.sms_opted_out_at is not None


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x"])
def test_the_inbound_endpoint_needs_the_token(texting, token):
    assert inbound({"from": NUMBER, "text": "STOP"}, token=token).status_code == 403
    texting.patient.refresh_from_db()
    assert texting.patient.sms_opted_out_at is None


def test_the_inbound_endpoint_is_closed_when_no_token_is_set(texting, settings):
    settings.SMS_INBOUND_TOKEN = ""
    assert inbound({"from": NUMBER, "text": "STOP"}, token="").status_code == 403


@pytest.mark.parametrize(
    "data",
    [{"text": "STOP"}, {"from": NUMBER}, {"from": " ", "text": "STOP"}, {}],
    ids=["no-from", "no-text", "blank", "empty"],
)
def test_the_inbound_endpoint_needs_from_and_text(texting, data):
    assert inbound(data).status_code == 400


def test_the_inbound_endpoint_refuses_bad_json_and_get(texting):
    assert inbound("{not json", content_type="application/json").status_code == 400
    assert inbound("[1]", content_type="application/json").status_code == 400
    assert Client().get("/sms/inbound/", headers={"X-Sms-Token": TOKEN}).status_code == 405


def test_the_page_shows_stop_and_turns_texts_back_on(texting):
    inbound({"from": NUMBER, "text": "STOP"})
    client = client_for(texting.patient_user)
    page = body(client.get(PAGE))
    assert "You texted STOP on 2 March 2026" in page and "Start texts again" in page
    response = client.post("/account/notifications/texts-on/", follow=True)
    assert "Texts are on again" in body(response)
    texting.patient.refresh_from_db()
    assert texting.patient.sms_opted_out_at is None
    texting.caregiver.refresh_from_db()
    assert texting.caregiver.sms_opted_out_at is not None, "only the person's own records change"


def test_a_stopped_number_gets_no_pending_texts(texting):
    client = client_for(texting.patient_user)
    client.post("/account/notifications/test/")
    inbound({"from": NUMBER, "text": "STOP"})
    run(NOW)
    statuses = dict(Delivery.objects.filter(kind="test").values_list("channel", "status"))
    assert statuses == {"email": "sent", "sms": "skipped"}


def test_numbers_match_however_they_were_written():
    assert phone.same_number("+1 (555) 010-1234", "15550101234")
    assert phone.same_number("555.010.1234", "+15550101234")
    assert not phone.same_number("+15550101234", "+15550101235")
    assert phone.normalize("+33 6 12 34 56 78") == "+33612345678"
    assert phone.normalize("555-0101") is None


# --- The test message ---------------------------------------------------------------------------


def test_a_patient_s_test_message_goes_out_on_each_usable_channel(texting, sms_file):
    client = client_for(texting.patient_user)
    texting.patient.notification_channels = ["email", "sms", "inbox"]
    texting.patient.save()
    response = client.post("/account/notifications/test/", follow=True)
    assert "Sent to the queue: it arrives within a minute" in body(response)
    rows = Delivery.objects.filter(kind="test")
    assert sorted(rows.values_list("channel", flat=True)) == ["email", "inbox", "sms"]
    assert {row.patient_id for row in rows} == {texting.patient.pk}
    assert {row.status for row in rows} == {"pending"} and {row.due_at for row in rows} == {NOW}
    assert run(NOW) == ["sent", "sent", "sent"]
    assert len(mail.outbox) == 1 and mail.outbox[0].subject == "Test message from IBT Companion"
    assert mail.outbox[0].to == [texting.patient.email]
    assert texts(sms_file)[-1]["to"] == texting.patient.phone and "test" in texts(sms_file)[-1]["text"]
    assert InboxMessage.objects.filter(user=texting.patient_user, subject__startswith="Test message").count() == 1


def test_only_usable_channels_get_a_test_message(unchecked):
    client = client_for(unchecked.patient_user)
    client.post("/account/notifications/test/")
    assert list(Delivery.objects.filter(kind="test").values_list("channel", flat=True)) == ["email"]


def test_each_click_is_a_new_test_message_but_not_more_than_one_a_minute(world, frozen):
    client = client_for(world.patient_user)
    client.post("/account/notifications/test/")
    response = client.post("/account/notifications/test/", follow=True)
    assert "Please wait a minute" in body(response)
    frozen.shift(timedelta(minutes=1))
    client.post("/account/notifications/test/")
    assert Delivery.objects.filter(kind="test").count() == 4  # (e-mail + inbox) × 2 clicks
    assert run(NOW + timedelta(minutes=1)) == ["sent"] * 4


def test_a_caregiver_s_test_message_is_about_the_person_they_look_after(world):
    world.caregiver.notification_channels = ["email", "inbox"]
    world.caregiver.save()
    client_for(world.caregiver).post("/account/notifications/test/")
    rows = Delivery.objects.filter(kind="test")
    assert {(row.patient_id, row.recipient, row.channel) for row in rows} == {
        (world.patient.pk, f"user:{world.caregiver.pk}", "email"),
        (world.patient.pk, f"user:{world.caregiver.pk}", "inbox"),
    }
    assert run(NOW) == ["sent", "sent"]
    assert mail.outbox[0].to == [world.caregiver.email]
    assert InboxMessage.objects.get(user=world.caregiver).patient_id == world.patient.pk


def test_staff_with_no_patient_get_one_e_mail_at_once(world):
    response = client_for(world.staff).post("/account/notifications/test/", follow=True)
    assert "We sent a test e-mail to staff@home.example" in body(response)
    assert not Delivery.objects.filter(kind="test").exists()
    assert [m.to for m in mail.outbox] == [["staff@home.example"]]


def test_a_failing_mail_server_is_a_message_not_an_error(world, settings):
    settings.EMAIL_BACKEND = "tests.refills.test_preferences.BrokenMail"
    response = client_for(world.staff).post("/account/notifications/test/", follow=True)
    assert response.status_code == 200 and "could not send the e-mail" in body(response)


class BrokenMail:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("connection refused")


# --- The inbox ------------------------------------------------------------------------------------


def inbox_messages(user, patient, count, *, read=False):
    return InboxMessage.objects.bulk_create(
        InboxMessage(
            user=user,
            patient=patient,
            subject=f"Message {n}",
            body=f"Body {n}\nOpen: https://example.org/r/ack/x/",
            created_at=NOW - timedelta(hours=count - n),
            read_at=NOW if read else None,
        )
        for n in range(count)
    )


def test_the_inbox_lists_newest_first_and_marks_new_ones(world):
    inbox_messages(world.patient_user, world.patient, 2, read=True)
    inbox_messages(world.patient_user, world.patient, 1)
    inbox_messages(world.caregiver, world.patient, 1)
    page = body(client_for(world.patient_user).get("/inbox/"))
    assert page.count("Message ") == 3
    assert (
        page.index("New:</strong> Message 0")
        < page.index("Message 1")
        < page.index("Message 0", page.index("Message 1"))
    )
    assert page.count("New:</strong>") == 1
    assert "Mark all as read" in page


def test_opening_a_message_marks_it_read(world):
    [message] = inbox_messages(world.patient_user, world.patient, 1)
    client = client_for(world.patient_user)
    response = client.get(f"/inbox/{message.pk}/")
    assert response.status_code == 200
    assert "Body 0" in body(response) and 'href="https://example.org/r/ack/x/"' in body(response)
    message.refresh_from_db()
    assert message.read_at == NOW


def test_someone_else_s_message_is_404_and_stays_unread(world):
    [message] = inbox_messages(world.caregiver, world.patient, 1)
    for person in (world.patient_user, world.staff, world.admin, world.other_caregiver):
        assert client_for(person).get(f"/inbox/{message.pk}/").status_code == 404
    assert client_for(world.patient_user).get("/inbox/999999/").status_code == 404
    message.refresh_from_db()
    assert message.read_at is None


def test_mark_all_as_read_touches_only_the_person_s_own_messages(world):
    inbox_messages(world.patient_user, world.patient, 3)
    inbox_messages(world.caregiver, world.patient, 2)
    client = client_for(world.patient_user)
    assert client.get("/inbox/read-all/").status_code == 405
    response = client.post("/inbox/read-all/")
    assert response.status_code == 302 and response["Location"] == "/inbox/"
    assert not InboxMessage.objects.filter(user=world.patient_user, read_at__isnull=True).exists()
    assert InboxMessage.objects.filter(user=world.caregiver, read_at__isnull=True).count() == 2


def test_the_inbox_shows_who_a_caregiver_s_message_is_about(world):
    inbox_messages(world.caregiver, world.patient, 1)
    assert "About Pat Home" in body(client_for(world.caregiver).get("/inbox/"))
    inbox_messages(world.patient_user, world.patient, 1)
    assert "About Pat Home" not in body(client_for(world.patient_user).get("/inbox/"))


def test_inbox_queries_do_not_grow_with_messages(world, django_assert_max_num_queries):
    client = client_for(world.caregiver)
    inbox_messages(world.caregiver, world.patient, 1)
    client.get("/inbox/")  # the first request of a session also sets up its idle timer
    with django_assert_max_num_queries(12) as one:
        client.get("/inbox/")
    second = CaregiverLinkFactory(caregiver=world.caregiver, patient=PatientFactory(clinic=world.clinic))
    inbox_messages(world.caregiver, second.patient, 15)
    inbox_messages(world.caregiver, world.patient, 14)
    with django_assert_max_num_queries(len(one.captured_queries)) as thirty:
        response = client.get("/inbox/")
    assert body(response).count('href="/inbox/') >= 30
    assert len(thirty.captured_queries) == len(one.captured_queries)


def test_the_inbox_pages_by_fifty(world):
    inbox_messages(world.patient_user, world.patient, 51)
    client = client_for(world.patient_user)
    assert body(client.get("/inbox/")).count("Message ") == 50
    assert body(client.get("/inbox/?page=2")).count("Message ") == 1
    assert client.get("/inbox/?page=zzz").status_code == 200


def test_the_header_shows_how_many_messages_are_new(world):
    client = client_for(world.patient_user)
    assert "Inbox (" not in body(client.get("/"))
    messages = inbox_messages(world.patient_user, world.patient, 2)
    inbox_messages(world.caregiver, world.patient, 5)
    for url in ("/", PAGE, "/inbox/"):
        assert "Inbox (2 new)" in body(client.get(url)), url
    client.get(f"/inbox/{messages[0].pk}/")
    assert "Inbox (1 new)" in body(client.get("/"))
    assert 'href="/account/notifications/"' in body(client.get("/"))


def test_the_unread_count_is_one_query_only_for_logged_in_people(world, django_assert_num_queries):
    inbox_messages(world.patient_user, world.patient, 3)
    request = RequestFactory().get("/")
    request.user = world.patient_user
    context = roles(request)
    with django_assert_num_queries(1):
        assert context["inbox_unread"] and str(context["inbox_unread"]) == "3"
        assert str(context["inbox_unread"]) == "3"  # counted once per page
    request.user = AnonymousUser()
    with django_assert_num_queries(0):
        assert roles(request)["inbox_unread"] == 0


# --- Plain language -------------------------------------------------------------------------------


def test_the_notifications_page_reads_at_about_grade_6(unchecked, sms_file):
    client = client_for(unchecked.patient_user)
    ask_for_code(client, sms_file)
    html = body(client.get(PAGE))
    main = html[html.index('<main id="main"') : html.index("</main>")]
    text = re.sub(r"<(option)[^>]*>.*?</\1>", " ", main, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"\s+", " ", text)
    assert textstat.flesch_kincaid_grade(text) <= 7, text


@pytest.mark.browser
def test_the_page_works_by_keyboard_with_large_targets_and_passes_axe(page, live_server, transactional_db, password):
    from playwright.sync_api import expect

    from tests.test_browser import assert_accessible

    patient = PatientFactory(user__email="kim@example.org", full_name="Kim Board")
    InboxMessage.objects.create(user=patient.user, patient=patient, subject="Test message", body="Hello")
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("E-mail").fill("kim@example.org")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Inbox (1 new)")).to_be_visible()
    page.get_by_role("link", name="Notifications").click()
    assert_accessible(page, "notifications")

    texts_box = page.get_by_label("Text message (SMS)")
    texts_box.focus()
    page.keyboard.press("Space")
    expect(texts_box).to_be_checked()
    page.get_by_label("Mobile phone number for text messages").fill("555 010 1234")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Your choices are saved.")).to_be_visible()
    expect(page.get_by_text("Text messages start after you check your phone number")).to_be_visible()
    for target in (
        page.locator("label[for=id_channels_1]"),
        page.locator("label[for=id_language_1]"),
        page.get_by_role("button", name="Send me a code"),
        page.get_by_role("button", name="Send me a test message"),
    ):
        box = target.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, box
    # base.html's flash list (<ul role="status">) fails axe's "listitem" rule on every page: reported.
    page.reload()
    assert_accessible(page, "notifications after saving")

    page.get_by_role("link", name="Inbox (1 new)").click()
    assert_accessible(page, "inbox")
    page.get_by_role("link", name=re.compile("Test message")).click()
    expect(page.get_by_role("heading", level=1, name="Test message")).to_be_visible()
    expect(page.get_by_role("link", name="Inbox", exact=True)).to_be_visible()
    assert_accessible(page, "inbox message")
