import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import call_command
from hypothesis import HealthCheck, settings

from patients.models import ClinicMembership

from .factories import (
    PASSWORD,
    CaregiverLinkFactory,
    ClinicFactory,
    MembershipFactory,
    PatientFactory,
    UserFactory,
    revoke,
)

pytest_plugins = ["tests.browser_fixtures", "tests.log_privacy"]

# Playwright's sync API runs an event loop in the test thread; Django's ORM must be allowed there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def verify_second_factor(client, user) -> None:
    """Mark a test client's session as having passed two-step log-in (a confirmed TOTP device)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="test", confirmed=True
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache: nothing one test kept can answer another."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def staff_logins_pass_two_factor(request, monkeypatch):
    """`client.force_login(staff)` stands for a full log-in, second factor included, so tests
    of other behaviour need not repeat it. Tests of two-step log-in itself opt out with
    @pytest.mark.real_two_factor."""
    if request.node.get_closest_marker("real_two_factor"):
        return
    from django.test import Client

    from patients.access import is_clinic_staff

    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        if is_clinic_staff(user) or user.is_staff:
            verify_second_factor(self, user)

    monkeypatch.setattr(Client, "force_login", force_login)


@dataclass
class World:
    """Named personas: a clinic with staff, an admin, a patient and their caregiver, plus
    outsiders who must see nothing of that patient."""

    clinic: object
    staff: object
    admin: object
    patient: object
    patient_user: object
    caregiver: object
    link: object
    other_clinic_staff: object
    other_patient: object
    other_caregiver: object
    revoked_caregiver: object


@pytest.fixture
def world(db):
    clinic = ClinicFactory(name="Home Clinic")
    staff = MembershipFactory(clinic=clinic, user__email="staff@home.example").user
    admin = MembershipFactory(clinic=clinic, role=ClinicMembership.Role.ADMIN, user__email="admin@home.example").user
    patient = PatientFactory(clinic=clinic, user__email="patient@home.example", full_name="Pat Home")
    caregiver = UserFactory(email="carer@home.example")
    link = CaregiverLinkFactory(caregiver=caregiver, patient=patient)
    other_clinic = ClinicFactory(name="Other Clinic")
    other_staff = MembershipFactory(clinic=other_clinic, user__email="staff@other.example").user
    other_patient = PatientFactory(clinic=clinic, user__email="other-patient@home.example")
    other_caregiver = CaregiverLinkFactory(patient=other_patient, caregiver__email="carer@other.example").caregiver
    revoked = revoke(CaregiverLinkFactory(patient=patient, caregiver__email="revoked@home.example")).caregiver
    return World(
        clinic=clinic,
        staff=staff,
        admin=admin,
        patient=patient,
        patient_user=patient.user,
        caregiver=caregiver,
        link=link,
        other_clinic_staff=other_staff,
        other_patient=other_patient,
        other_caregiver=other_caregiver,
        revoked_caregiver=revoked,
    )


@pytest.fixture
def password():
    return PASSWORD


EARLY_MARCH = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # Monday 2 March 2026, 06:00 in Chicago


@pytest.fixture
def early_march():
    """Time stands still at EARLY_MARCH (tokens and pages use the real clock; ticks get `now`
    passed in). A module asks for it with `pytestmark = pytest.mark.usefixtures("early_march")`;
    a test that moves the clock asks for it by name too and gets the traveller."""
    with time_machine.travel(EARLY_MARCH, tick=False) as traveller:
        yield traveller


@pytest.fixture
def demo(transactional_db):
    """The demo data of `manage.py seed_demo`, committed (for a live server in another thread)."""
    call_command("seed_demo", stdout=io.StringIO())
