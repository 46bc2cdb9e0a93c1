"""Factories and named personas shared by every test."""

import factory
from django.utils import timezone

from patients.models import CaregiverLink, Clinic, ClinicMembership, Patient, User

PASSWORD = "correct horse battery 9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Clinic {n}")
    phone = "+1 555 0100"
    after_hours_phone = "+1 555 0199"
    time_zone = "America/Chicago"
    alert_email = factory.Sequence(lambda n: f"alerts{n}@clinic.example")
    opening_hours = factory.LazyFunction(lambda: {"mon": [["08:00", "17:00"]]})


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClinicMembership

    user = factory.SubFactory(UserFactory)
    clinic = factory.SubFactory(ClinicFactory)
    role = ClinicMembership.Role.STAFF


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    user = factory.SubFactory(UserFactory)
    full_name = factory.Faker("name")
    time_zone = "America/Chicago"
    email = factory.LazyAttribute(lambda p: p.user.email if p.user else "")


class CaregiverLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaregiverLink

    caregiver = factory.SubFactory(UserFactory)
    patient = factory.SubFactory(PatientFactory)


def revoke(link: CaregiverLink) -> CaregiverLink:
    link.revoked_at = timezone.now()
    link.save(update_fields=["revoked_at"])
    return link


SIMPLE_PROGRAM = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}


def pump_with_refill(patient, *, by, at, volume="20", aspirated="0", program=None):
    """A SynchroMed II 20 mL pump (alarm at 2 mL) and one refill at `at`. With the default
    program (250 mcg/day at 500 mcg/mL = 0.5 mL/day) the alarm falls 36 days later."""
    from datetime import date, timedelta

    from refills import services
    from refills.models import PumpProfile, RefillCycle

    PumpProfile.objects.create(
        patient=patient, model="synchromed2_20", capacity_ml=20, alarm_volume_ml=2, implant_date=date(2025, 1, 1)
    )
    services.record_event(
        patient=patient,
        kind="refill",
        by=by,
        occurred_at=at,
        now=at + timedelta(minutes=5),
        values={"volume_ml": volume, "aspirated_ml": aspirated, "program": program or SIMPLE_PROGRAM},
    )
    return RefillCycle.objects.get(patient=patient, ended_at__isnull=True)
