"""Demo data for the run command (SPEC §9): a clinic with staff and an admin, three patients
with pumps and refill history (Pat's refill falls due within a week; Lee, who has no log-in
and no caregiver, is a day overdue, so nobody can be reminded), a caregiver linked to Pat, and
a check-in of Sam's that asks the clinic to call, so the triage queue has work in it. Safe to
run twice: it finds what exists, resets the demo passwords, and adds refills and the check-in
only to a patient who has none."""

import base64
from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from patients.models import CaregiverLink, Clinic, ClinicMembership, Patient, User
from refills import services
from refills.models import PumpEvent
from symptoms.models import CheckIn
from symptoms.services import record_checkin

# (patient: e-mail, or name without a log-in; pump model, implant date, daily dose mcg,
#  concentration, volume after each refill, mL aspirated at the second refill, days between the
#  refills, days since the last refill)
PUMPS = [
    # Pat: 20 mL at 500 mcg/mL and 300 mcg/day = 0.6 mL/day: (20 − 2) / 0.6 = 30 days to the
    # alarm; last refilled 25 days ago, so the refill is due in 5 days.
    ("pat@riverside.example", "synchromed2_20", date(2022, 5, 10), "300", "500", "20", "2.1", 30, 25),
    # Sam: 40 mL at 2000 mcg/mL and 600 mcg/day = 0.3 mL/day: about 126 days to the alarm;
    # after 90 days the app expects 40 − 27 = 13 mL back.
    ("sam@riverside.example", "synchromed2_40", date(2021, 9, 1), "600", "2000", "40", "13.1", 90, 20),
    # Lee: like Pat, but refilled 31 days ago: a day past the alarm date, 2 days from empty.
    ("Lee Chen", "synchromed2_20", date(2023, 3, 1), "300", "500", "20", "1.9", 30, 31),
]
# Sam's check-in: signs that may come from too little baclofen, so the app asks him to call.
SAM_CHECKIN: dict[str, Any] = {"symptoms": ["itching", "spasticity_increase"], "note": "More spasms since yesterday."}

CLINIC = {
    "name": "Riverside Pump Clinic",
    "phone": "+1 555 0100",
    "after_hours_phone": "+1 555 0199",
    "time_zone": "America/Chicago",
    "emergency_number": "911",
    "alert_email": "alerts@riverside.example",
    "reminder_hour": 9,
    "opening_hours": {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
}

# Demo staff get a known two-step key (hex), printed as base32 for authenticator apps.
DEMO_DEVICE = "demo"
DEMO_TOTP_KEYS = {
    "admin": "3132333435363738393031323334353637383930",
    "staff": "3031323334353637383930313233343536373839",
}

# (role, e-mail, password, full name)
LOGINS = [
    ("admin", "admin@riverside.example", "demo-admin-2026", "Avery Admin"),
    ("staff", "nurse@riverside.example", "demo-staff-2026", "Noor Nurse"),
    ("patient", "pat@riverside.example", "demo-patient-2026", "Pat Rivera"),
    ("patient", "sam@riverside.example", "demo-patient-2026", "Sam Okafor"),
    ("caregiver", "casey@riverside.example", "demo-caregiver-2026", "Casey Rivera"),
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo clinic, staff, patients and caregiver."

    @transaction.atomic
    def handle(self, *args, **options):
        clinic, _ = Clinic.objects.update_or_create(name=CLINIC["name"], defaults=CLINIC)
        users = {}
        for role, email, password, name in LOGINS:
            user, _ = User.objects.get_or_create(email=email, defaults={"full_name": name})
            user.full_name = name
            user.set_password(password)
            user.save()
            users[email] = user
            if role in ("staff", "admin"):
                ClinicMembership.objects.update_or_create(user=user, clinic=clinic, defaults={"role": role})
                TOTPDevice.objects.update_or_create(
                    user=user, name=DEMO_DEVICE, defaults={"key": DEMO_TOTP_KEYS[role], "confirmed": True}
                )
        patients = {}
        for email, zone in (
            ("pat@riverside.example", "America/Chicago"),
            ("sam@riverside.example", "America/New_York"),
        ):
            user = users[email]
            patient, _ = Patient.objects.update_or_create(
                user=user,
                defaults={
                    "clinic": clinic,
                    "full_name": user.full_name,
                    "time_zone": zone,
                    "email": email,
                    "notification_channels": ["email", "inbox"],
                    "status": Patient.Status.ACTIVE,
                },
            )
            patients[email] = patient
        # No log-in, no caregiver, an unchecked phone: nobody can be reminded (a queue item says so).
        patients["Lee Chen"], _ = Patient.objects.update_or_create(
            clinic=clinic,
            full_name="Lee Chen",
            user=None,
            defaults={"time_zone": "America/Chicago", "phone": "+1 555 0142", "status": Patient.Status.ACTIVE},
        )
        caregiver = users["casey@riverside.example"]
        if not CaregiverLink.objects.filter(
            caregiver=caregiver, patient=patients["pat@riverside.example"], revoked_at__isnull=True
        ).exists():
            CaregiverLink.objects.create(
                caregiver=caregiver, patient=patients["pat@riverside.example"], relationship="spouse"
            )
        self._pumps(patients, users["nurse@riverside.example"])
        sam = patients["sam@riverside.example"]
        if not CheckIn.objects.filter(patient=sam).exists():
            record_checkin(patient=sam, by=users["sam@riverside.example"], **SAM_CHECKIN)
        for role, email, password, _ in LOGINS:
            self.stdout.write(f"{role:<10} {email:<28} {password}")
        self.stdout.write(
            "Clinic staff also type a code (two-step log-in): add the key below to an authenticator app,\n"
            "or print the current code with: python manage.py two_factor_code <e-mail>"
        )
        for role in ("admin", "staff"):
            secret = base64.b32encode(bytes.fromhex(DEMO_TOTP_KEYS[role])).decode().rstrip("=")
            self.stdout.write(f"{role:<10} two-step key {secret}")

    def _pumps(self, patients, nurse):
        now = timezone.now().replace(microsecond=0)
        for key, model, implanted, dose, concentration, volume, aspirated, interval, since in PUMPS:
            patient = patients[key]
            services.save_profile(
                patient=patient,
                by=nurse,
                values={
                    "model": model,
                    "implant_date": implanted,
                    "alarm_volume_ml": None,
                    "eri_date": implanted + timedelta(days=365 * 6),
                },
            )
            if PumpEvent.objects.filter(patient=patient).exists():
                continue
            program = {"concentration_mcg_per_ml": concentration, "mode": "simple", "daily_dose_mcg": dose}
            last = now - timedelta(days=since)
            for at, back in ((last - timedelta(days=interval), "0"), (last, aspirated)):
                services.record_event(
                    patient=patient,
                    kind="refill",
                    by=nurse,
                    occurred_at=at,
                    now=at + timedelta(minutes=5),
                    values={"volume_ml": volume, "aspirated_ml": back, "program": program},
                )
