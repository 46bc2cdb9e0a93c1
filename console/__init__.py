"""The clinic console (SPEC §7): the triage queue, the patient list and panel, the refill
board and enrolment. An app of its own above the others: it reads every app (patients,
refills, symptoms), the apps import nothing from here, and ibt_companion/urls.py only wires
its routes (console/urls.py)."""
