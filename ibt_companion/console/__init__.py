"""The clinic console (SPEC §7): the triage queue, the patient list and panel, the refill
board and enrolment. It lives with the wiring because it reads every app (patients, refills,
symptoms); the apps import nothing from here."""
