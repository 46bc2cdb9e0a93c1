"""Demo data for the run command: a clinic with staff and an admin, two patients and a
caregiver. Safe to run twice: it finds what exists and resets the demo passwords."""

from django.core.management.base import BaseCommand
from django.db import transaction

from patients.models import CaregiverLink, Clinic, ClinicMembership, Patient, User

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
        caregiver = users["casey@riverside.example"]
        if not CaregiverLink.objects.filter(
            caregiver=caregiver, patient=patients["pat@riverside.example"], revoked_at__isnull=True
        ).exists():
            CaregiverLink.objects.create(
                caregiver=caregiver, patient=patients["pat@riverside.example"], relationship="spouse"
            )
        for role, email, password, _ in LOGINS:
            self.stdout.write(f"{role:<10} {email:<28} {password}")
