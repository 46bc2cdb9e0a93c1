"""Who may change what about a patient (SPEC §10): one rule for the pages and the API alike.
Pure: the caller passes the person's relation to the patient (access.relation_to).

- the patient (SELF) changes their own contacts, emergency contacts, notification channels and
  language, and invites and removes their caregivers;
- a caregiver changes nothing on the patient's record (only their own account and preferences,
  which live on their own log-in);
- clinic staff and admins of the patient's clinic change every field, and the caregivers.

Seeing a patient is access.py's question (404 outside it); this rule answers only for people who
can see the patient, and a field it refuses is a 403.
"""

from __future__ import annotations

from collections.abc import Iterable

# A person's relation to one patient; one person may hold several (staff who is also a caregiver).
SELF = "self"
CAREGIVER = "caregiver"
STAFF = "staff"
ADMIN = "admin"

CONTACT_FIELDS = frozenset({"email", "phone", "emergency_contacts", "notification_channels", "language"})
CLINICAL_FIELDS = frozenset({"full_name", "date_of_birth", "status", "time_zone"})
PATIENT_FIELDS = CONTACT_FIELDS | CLINICAL_FIELDS
# Not a column: the patient's caregiver links and invitations.
CAREGIVERS = "caregivers"


def editable_fields(relation: Iterable[str]) -> frozenset[str]:
    """What this relation to a patient may change: patient fields, and CAREGIVERS."""
    relation = set(relation)
    fields: set[str] = set()
    if SELF in relation:
        fields |= CONTACT_FIELDS | {CAREGIVERS}
    if relation & {STAFF, ADMIN}:
        fields |= PATIENT_FIELDS | {CAREGIVERS}
    return frozenset(fields)


def refused_fields(relation: Iterable[str], wanted: Iterable[str]) -> list[str]:
    """The patient fields asked for that this relation may not change, sorted."""
    return sorted(set(wanted) & PATIENT_FIELDS - editable_fields(relation))


def may_edit_contacts(relation: Iterable[str]) -> bool:
    return CONTACT_FIELDS <= editable_fields(relation)


def may_manage_caregivers(relation: Iterable[str]) -> bool:
    return CAREGIVERS in editable_fields(relation)


def is_clinic_staff(relation: Iterable[str]) -> bool:
    return bool(set(relation) & {STAFF, ADMIN})
