"""Who e-mails come from: the clinic's name at the app's own address (EMAIL_FROM_ADDRESS). A clinic
name is typed by an admin, so commas, quotes, line breaks and letters outside ASCII must come out
as that name in the From header, and never as another header or another address."""

import email
from datetime import UTC, datetime, timedelta
from email import policy

import pytest
from django.core import mail

from patients import services as patient_services
from patients.emails import sender
from patients.models import Invitation
from refills.models import Delivery
from refills.notify import content, recipients
from refills.notify.channels import email as email_channel
from tests.factories import pump_with_refill

from .helpers import tick_and_send
from .smtp_server import Recorder, SmtpServer

ADDRESS = "reminders@ibt.example.org"
T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)

NAMES = [
    "Lakeside Pump Clinic",
    'St. Mary\'s "Pump" Clinic, North',  # a comma and quotes: one name, not two addresses
    "Clínica São José – Bombas",  # outside ASCII: encoded, not mangled
    "Evil Clinic\r\nBcc: victim@example.org",  # a line break: no new header
    "Clinic <admin@evil.example>",  # angle brackets: still our address
    "back\\slash; (comment) @ clinic",
]
EXPECTED = {"Evil Clinic\r\nBcc: victim@example.org": "Evil Clinic Bcc: victim@example.org"}


def parsed_from(message_bytes: bytes):
    message = email.message_from_bytes(message_bytes, policy=policy.default)
    (address,) = message["From"].addresses
    return message, address


@pytest.fixture
def from_address(settings):
    settings.EMAIL_FROM_ADDRESS = ADDRESS
    return ADDRESS


@pytest.mark.parametrize("name", NAMES)
def test_the_clinics_name_is_the_senders_name_whatever_it_holds(from_address, name):
    header = sender(name)
    assert "\n" not in header and "\r" not in header
    message = mail.EmailMessage("Subject", "Body", from_email=header, to=["p@home.example"]).message()
    parsed, address = parsed_from(message.as_bytes())
    assert address.display_name == EXPECTED.get(name, name)
    assert address.addr_spec == ADDRESS
    assert parsed["Bcc"] is None and parsed.get_all("To") == ["p@home.example"]


def test_mail_about_no_clinic_comes_from_the_app(from_address):
    _, address = parsed_from(
        mail.EmailMessage("s", "b", from_email=sender(), to=["p@home.example"]).message().as_bytes()
    )
    assert (address.display_name, address.addr_spec) == ("IBT Companion", ADDRESS)
    assert sender("  \t ") == sender()


@pytest.mark.django_db
@pytest.mark.parametrize("name", NAMES)
def test_a_reminder_comes_from_the_patients_clinic(world, from_address, name):
    world.clinic.name = name
    world.clinic.save()
    cycle = pump_with_refill(world.patient, by=world.staff, at=T0)
    row = Delivery(pk=1, patient=world.patient, cycle=cycle, kind="step_7", key="k")
    person = recipients.for_patient(world.patient)
    built = email_channel.build(person, content.render(row, person, T0 + timedelta(days=29)), row)
    parsed, address = parsed_from(built.message().as_bytes())
    assert address.display_name == " ".join(EXPECTED.get(name, name).split())
    assert address.addr_spec == ADDRESS
    assert parsed["Bcc"] is None


class KeepsSender(Recorder):
    """The recording SMTP server, also keeping each envelope's sender and the message."""

    def __init__(self):
        super().__init__()
        self.arrived = []

    async def handle_DATA(self, server, session, envelope):
        self.arrived.append((envelope.mail_from, envelope.content))
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.django_db
def test_over_smtp_the_envelope_and_the_header_carry_the_apps_address(world, settings, from_address):
    world.clinic.name = 'Clínica "Norte", Lakeside'
    world.clinic.save()
    handler = KeepsSender()
    with SmtpServer(handler) as smtp:
        for key, value in smtp.django_settings().items():
            setattr(settings, key, value)
        cycle = pump_with_refill(world.patient, by=world.staff, at=T0)
        assert "sent" in tick_and_send(cycle.refill_due_at - timedelta(days=3))
    assert len(handler.arrived) >= 2  # the patient and the caregiver
    for envelope_sender, data in handler.arrived:
        assert envelope_sender == ADDRESS
        _, address = parsed_from(data)
        assert (address.display_name, address.addr_spec) == ('Clínica "Norte", Lakeside', ADDRESS)


@pytest.mark.django_db
def test_an_invitation_comes_from_the_clinic(world, from_address, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        patient_services.invite(
            by=world.staff,
            patient=world.patient,
            kind=Invitation.Kind.CAREGIVER,
            email="new@home.example",
            full_name="New Carer",
        )
    (message,) = mail.outbox
    assert message.from_email == sender("Home Clinic") == f"Home Clinic <{ADDRESS}>"
