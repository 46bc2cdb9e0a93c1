"""What people type (names, clinic names, phone numbers) reaches every message as typed: escaped
in HTML (an e-mail's HTML part, a page), never escaped in plain text (an e-mail's text part, an
SMS, the in-app inbox), where `&lt;` and `&amp;` would be shown to the reader as they are."""

import email
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.template.loader import render_to_string
from django.test import Client

from patients import services as patient_services
from patients.emails import render_text
from patients.models import Invitation, Patient
from refills.models import Delivery, InboxMessage
from refills.notify import content, outbox, recipients
from symptoms import services as checkins
from tests.factories import CaregiverLinkFactory, ClinicFactory, PatientFactory, UserFactory, pump_with_refill

from .refills.smtp_server import Recorder, SmtpServer

pytestmark = pytest.mark.usefixtures("early_march")  # tests/conftest.py: time stands still at EARLY_MARCH

NAME = '<b>Eve</b> & "Co" <script>x</script>'
CLINIC = 'Clinic <b>Eve</b> & "Co" <script>x</script>'
PHONE = '<i>555</i> & "0100"'
EMERGENCY = '<u>9</u>&"11"'
TYPED = (NAME, CLINIC, PHONE, EMERGENCY)
ENTITIES = re.compile(r"&(lt|gt|amp|quot|#x27|#39|#34);")
T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # EARLY_MARCH: the clock stands still here


def assert_html_escaped(html: str) -> None:
    assert "<script" not in html and "<b>" not in html and "<i>" not in html and "<u>" not in html, html
    assert "&lt;b&gt;Eve&lt;/b&gt;" in html, html


def assert_plain(text: str, *typed: str) -> None:
    assert not ENTITIES.search(text), text
    for value in typed:
        assert value in text, (value, text)


@pytest.fixture
def hostile(db):
    """A clinic, a patient and a caregiver whose every typed value is markup."""
    clinic = ClinicFactory(name=CLINIC, phone=PHONE, after_hours_phone=PHONE, emergency_number=EMERGENCY)
    staff = UserFactory(email="staff@hostile.example")
    clinic.memberships.create(user=staff, role="staff")
    patient = PatientFactory(
        clinic=clinic, full_name=NAME, user__email="eve@hostile.example", notification_channels=["email", "inbox"]
    )
    carer = UserFactory(
        email="carer@hostile.example",
        full_name=NAME,
        phone="+15550101234",
        phone_verified_at=T0,
        notification_channels=["email", "sms", "inbox"],
    )
    CaregiverLinkFactory(caregiver=carer, patient=patient, notify_call_clinic=True)
    pump_with_refill(patient, by=staff, at=T0)
    return patient


@pytest.fixture
def sms_file(settings, tmp_path):
    settings.SMS_FILE = str(tmp_path / "sms.jsonl")
    settings.SMS_BACKEND = "refills.notify.channels.sms.FileBackend"
    return Path(settings.SMS_FILE)


def everyone(patient: Patient):
    return [*recipients.people(patient), recipients.for_clinic(patient.clinic)]


def messages_of_every_kind(patient: Patient):
    """Each kind of message as each recipient reads it (alerts as logged by each role)."""
    cycle = patient.refill_cycles.get(ended_at__isnull=True)
    cycle.appointment_at = T0 + timedelta(days=30)
    for kind in content.SUBJECTS:
        roles = ("patient", "caregiver", "staff") if kind.startswith("alert_") else ("",)
        for role in roles:
            payload = {"end_of_service_date": "Monday 1 June"}
            if role:
                payload = {"observed_at": NOW.isoformat(), "path": "/checkins/1/", "logged_by_role": role}
            row = Delivery(patient=patient, cycle=None if role else cycle, kind=kind, payload=payload)
            for person in everyone(patient):
                yield (kind, role, person.role), person, content.render(row, person, NOW)


def test_every_kind_of_message_escapes_html_and_only_html(hostile):
    seen = set()
    for label, person, message in messages_of_every_kind(hostile):
        seen.add(label[0])
        assert_html_escaped(message.html)
        # "Hello <name>," opens every text part: the name exactly as typed.
        assert_plain(message.text, NAME if person.role != "clinic" else CLINIC)
        assert_plain(message.sms)
        assert_plain(message.subject)
    assert seen == set(content.SUBJECTS)


def test_the_sms_shows_the_clinic_number_as_typed(hostile):
    row = Delivery(patient=hostile, cycle=hostile.refill_cycles.get(ended_at__isnull=True), kind="overdue")
    message = content.render(row, recipients.for_patient(hostile), NOW)
    assert_plain(message.sms, PHONE)
    row = Delivery(patient=hostile, kind="alert_emergency", payload={"observed_at": NOW.isoformat()})
    message = content.render(row, recipients.for_patient(hostile), NOW)
    assert_plain(message.sms, "<b>Eve</b>", EMERGENCY)


def test_reminders_sent_by_the_tick(hostile, sms_file):
    """The 14-day step through every channel: e-mail (both parts), SMS and the inbox."""
    ids = outbox.tick(datetime(2026, 3, 23, 14, 0, tzinfo=UTC))
    assert sorted(outbox.deliver(pk, NOW) for pk in ids) == ["sent"] * 5
    assert len(mail.outbox) == 2
    for message in mail.outbox:
        html = dict((mimetype, body) for body, mimetype in message.alternatives)["text/html"]
        assert_html_escaped(html)
        assert_plain(message.body, NAME, CLINIC, PHONE, EMERGENCY)
    (text,) = [json.loads(line)["text"] for line in sms_file.read_text().splitlines()]
    assert_plain(text, PHONE)
    for row in InboxMessage.objects.all():
        assert_plain(row.body, NAME, CLINIC)


class KeepsContent(Recorder):
    """The recording SMTP server, also keeping each message as it arrived."""

    def __init__(self):
        super().__init__()
        self.contents = []

    async def handle_DATA(self, server, session, envelope):
        self.contents.append(email.message_from_bytes(envelope.content))
        return await super().handle_DATA(server, session, envelope)


def parts(message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }


def test_the_clinics_emergency_email_over_smtp(hostile, settings, sms_file):
    """An emergency check-in: the clinic's alert address and the caregiver get it through a real
    SMTP server; what arrives is parsed as any mail program would."""
    handler = KeepsContent()
    with SmtpServer(handler) as smtp:
        for name, value in smtp.django_settings().items():
            setattr(settings, name, value)
        at = T0 + timedelta(days=10)
        recorded = checkins.record_checkin(patient=hostile, by=hostile.user, symptoms=["seizure"], now=at)
        for pk, token in outbox.claim_now(recorded.alert_ids, at):
            outbox.deliver(pk, at, token=token)
    received = {message["To"]: parts(message) for message in handler.contents}
    assert set(received) == {hostile.clinic.alert_email, "carer@hostile.example"}
    for body in received.values():
        assert_html_escaped(body["text/html"])
        assert not ENTITIES.search(body["text/plain"])
    # The clinic's address reads the patient's reference, not their name (docs/security.md).
    assert_plain(received[hostile.clinic.alert_email]["text/plain"], CLINIC, f"Patient P{hostile.pk}", EMERGENCY)
    assert "Eve" not in received[hostile.clinic.alert_email]["text/plain"].replace(CLINIC, "")
    assert (
        "Clinic &lt;b&gt;Eve&lt;/b&gt; &amp; &quot;Co&quot; &lt;script&gt;x&lt;/script&gt;"
        in (received[hostile.clinic.alert_email]["text/html"])
    )
    assert_plain(received["carer@hostile.example"]["text/plain"], NAME)


@pytest.mark.parametrize("kind", [Invitation.Kind.CAREGIVER, Invitation.Kind.PATIENT])
def test_invitations(hostile, kind, django_capture_on_commit_callbacks):
    patient = hostile
    if kind == Invitation.Kind.PATIENT:
        patient = Patient.objects.create(clinic=hostile.clinic, full_name=NAME, time_zone="America/Chicago")
    staff = hostile.clinic.memberships.get().user
    with django_capture_on_commit_callbacks(execute=True):
        patient_services.invite(by=staff, patient=patient, kind=kind, email="new@hostile.example", full_name=NAME)
    (message,) = mail.outbox
    assert_plain(message.subject)
    assert_plain(message.body, NAME, CLINIC, PHONE)
    assert_html_escaped(message.alternatives[0][0])


def test_password_reset_email_is_plain_text(hostile):
    response = Client().post("/accounts/password_reset/", {"email": "eve@hostile.example"})
    assert response.status_code == 302
    (message,) = mail.outbox
    assert not message.alternatives
    assert_plain(message.subject)
    assert_plain(message.body, "http://testserver/accounts/reset/")


def test_inbox_pages_escape_the_message(hostile):
    ids = outbox.tick(datetime(2026, 3, 23, 14, 0, tzinfo=UTC))
    for pk in ids:
        outbox.deliver(pk, NOW)
    client = Client()
    client.force_login(UserFactory._meta.model.objects.get(email="carer@hostile.example"))
    row = InboxMessage.objects.get(user__email="carer@hostile.example")
    for url in ("/inbox/", f"/inbox/{row.pk}/"):
        page = client.get(url).content.decode()
        assert "<script>x" not in page and "<b>Eve" not in page, url
        assert "&amp;lt;" not in page, "escaped twice"
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; &quot;Co&quot;" in page


# --- Every e-mail template, with markup in every value it shows --------------------------------

EMAIL_TEMPLATES = Path(django_settings.BASE_DIR) / "templates" / "emails"
# Django's password reset sends this one as the text body, whatever its name says.
TEXT_ONLY = {"registration/password_reset_email.html", "registration/password_reset_subject.txt"}


class Anything(str):
    """A context value that is markup whatever attribute of it a template reads."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self


def hostile_context(kind: str) -> dict:
    value = Anything(NAME)
    return {
        **{key: value for key in ("recipient", "patient", "first_name", "clinic", "invitation", "user", "domain")},
        **{key: value for key in ("due_words", "appointment_words", "appointment_time", "end_of_service")},
        **{key: value for key in ("observed_time", "emergency_number", "url", "link", "site_name", "site_url")},
        "kind": kind,
        "logged_by_role": "patient",
        "days_left": 3,
        "max_age_days": 14,
        "protocol": "https",
    }


def all_email_templates():
    names = [f"emails/{path.name}" for path in sorted(EMAIL_TEMPLATES.iterdir())]
    return [*names, *sorted(TEXT_ONLY)]


@pytest.mark.parametrize("name", all_email_templates())
@pytest.mark.parametrize("kind", ["step_7", "alert_emergency", "eos_90", "caregiver"])
def test_every_email_template(name, kind):
    context = hostile_context(kind)
    if name.endswith(".html") and name not in TEXT_ONLY:
        assert_html_escaped(render_to_string(name, context))
    elif name in TEXT_ONLY:  # rendered by Django itself, with autoescape on: the template turns it off
        assert not ENTITIES.search(render_to_string(name, {**context, "uid": "MQ", "token": "t-1"}))
    else:
        assert not ENTITIES.search(render_text(name, context))
