"""Who hears about a patient's refills, and through which channels."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from patients.models import CaregiverLink, Clinic, Patient, User


@dataclass(frozen=True)
class Recipient:
    key: str  # user:<id>, patient:<id> or clinic:<id>
    role: str  # patient | caregiver | clinic
    name: str
    email: str
    phone: str
    channels: tuple[str, ...]  # usable now: email needs an address, sms a verified number, inbox a log-in
    zone: str
    language: str
    user: User | None = None

    @property
    def reachable_outside_app(self) -> bool:
        return "email" in self.channels or "sms" in self.channels


def _usable(
    chosen, *, email: str, phone: str, phone_verified: bool, opted_out: bool, has_login: bool
) -> tuple[str, ...]:
    out = []
    for channel in chosen or ["email", "inbox"]:
        if (
            (channel == "email" and email)
            or (channel == "sms" and phone and phone_verified and not opted_out)
            or (channel == "inbox" and has_login)
        ):
            out.append(channel)
    return tuple(out)


def for_patient(patient: Patient) -> Recipient:
    user = patient.user
    email = patient.email or (user.email if user else "")
    return Recipient(
        key=f"user:{user.pk}" if user else f"patient:{patient.pk}",
        role="patient",
        name=patient.full_name,
        email=email,
        phone=patient.phone,
        channels=_usable(
            patient.notification_channels,
            email=email,
            phone=patient.phone,
            phone_verified=patient.phone_verified_at is not None,
            opted_out=patient.sms_opted_out_at is not None,
            has_login=user is not None,
        ),
        zone=patient.time_zone,
        language=patient.language,
        user=user,
    )


def for_caregiver(user: User, patient: Patient) -> Recipient:
    return Recipient(
        key=f"user:{user.pk}",
        role="caregiver",
        name=user.full_name,
        email=user.email,
        phone=user.phone,
        channels=_usable(
            user.notification_channels,
            email=user.email,
            phone=user.phone,
            phone_verified=user.phone_verified_at is not None,
            opted_out=user.sms_opted_out_at is not None,
            has_login=True,
        ),
        zone=user.time_zone or patient.time_zone,
        language=user.language,
        user=user,
    )


def for_clinic(clinic: Clinic) -> Recipient:
    return Recipient(
        key=f"clinic:{clinic.pk}",
        role="clinic",
        name=clinic.name,
        email=clinic.alert_email,
        phone="",
        channels=("email",) if clinic.alert_email else (),
        zone=clinic.time_zone,
        language="en",
    )


def _live_links():
    return CaregiverLink.objects.filter(revoked_at__isnull=True).select_related("caregiver").order_by("pk")


def people(patient: Patient) -> list[Recipient]:
    """The patient and every caregiver whose link is live."""
    links = _live_links().filter(patient=patient)
    return [for_patient(patient), *(for_caregiver(link.caregiver, patient) for link in links)]


def people_of(patients: Iterable[Patient]) -> dict[int, list[Recipient]]:
    """`people` of many patients in one query (the minute tick's batch), by patient id."""
    by_id = {patient.pk: patient for patient in patients}
    out = {pk: [for_patient(patient)] for pk, patient in by_id.items()}
    for link in _live_links().filter(patient_id__in=list(by_id)):
        out[link.patient_id].append(for_caregiver(link.caregiver, by_id[link.patient_id]))
    return out


def by_key(key: str, patient: Patient) -> Recipient | None:
    """The recipient `key` names, as in `people` (or the clinic): the patient needs no query, a
    caregiver one, for a live link of that caregiver."""
    if key.startswith("clinic:"):
        return for_clinic(patient.clinic)
    own = for_patient(patient)
    if key == own.key:
        return own
    user_id = key.removeprefix("user:")
    if user_id == key or not user_id.isdigit():
        return None
    link = _live_links().filter(patient=patient, caregiver_id=int(user_id)).first()
    return for_caregiver(link.caregiver, patient) if link else None
