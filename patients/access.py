"""THE place that decides which patients a user can see. Every view, form, API view and
export asks here; anything outside the answer is a 404 (never confirm that a patient exists).

- a patient sees their own record;
- a caregiver sees the patients whose link to them is not revoked;
- clinic staff and admins see the patients of their own clinics.
"""

from django.db import connection
from django.db.models import CharField, Q, QuerySet, Value
from django.http import Http404

from . import permissions, wording
from .models import CaregiverLink, Clinic, ClinicMembership, Patient, User


def visible_patients(user) -> QuerySet[Patient]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Patient.objects.none()
    linked = CaregiverLink.objects.filter(caregiver=user, revoked_at__isnull=True).values("patient_id")
    staffed = ClinicMembership.objects.filter(user=user).values("clinic_id")
    return Patient.objects.filter(Q(user=user) | Q(pk__in=linked) | Q(clinic_id__in=staffed))


def get_visible_patient(user, patient_id) -> Patient:
    """The patient, if this user may see them; else Http404, whatever the reason."""
    try:
        return visible_patients(user).select_related("clinic").get(pk=patient_id)
    except (Patient.DoesNotExist, ValueError, TypeError):
        raise Http404("No such patient.") from None


def own_record(user) -> Patient | None:
    """The patient record that is this user's own, if any (with its clinic)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return visible_patients(user).filter(user=user).select_related("clinic").first()


def staff_clinics(user, *, admin_only: bool = False) -> QuerySet[Clinic]:
    if not getattr(user, "is_authenticated", False):
        return Clinic.objects.none()
    memberships = ClinicMembership.objects.filter(user=user)
    if admin_only:
        memberships = memberships.filter(role=ClinicMembership.Role.ADMIN)
    return Clinic.objects.filter(pk__in=memberships.values("clinic_id"))


def is_clinic_staff(user, patient: Patient | None = None) -> bool:
    """Staff or admin of the patient's clinic (or of any clinic when no patient is given)."""
    if not getattr(user, "is_authenticated", False):
        return False
    memberships = ClinicMembership.objects.filter(user=user)
    if patient is not None:
        memberships = memberships.filter(clinic_id=patient.clinic_id)
    return memberships.exists()


def reader_of(user, patient: Patient) -> wording.Reader:
    """Who this user is when they read about this patient (the caller has checked they may see
    them): the patient themselves, clinic staff, or else a caregiver. The words of pages and
    messages follow it (patients/wording.py)."""
    if patient.user_id is not None and patient.user_id == user.pk:
        role = wording.PATIENT
    elif is_clinic_staff(user, patient):
        role = wording.STAFF
    else:
        role = wording.CAREGIVER
    return wording.reader(role, patient.full_name)


def relation_to(user, patient: Patient) -> frozenset[str]:
    """How this user stands to this patient (permissions.SELF, CAREGIVER, STAFF, ADMIN; may be
    several, or none), for permissions.editable_fields. One query."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    relation = {permissions.SELF} if patient.user_id is not None and patient.user_id == user.pk else set()
    caring = (
        CaregiverLink.objects.filter(caregiver=user, patient_id=patient.pk, revoked_at__isnull=True)
        .annotate(held=Value(permissions.CAREGIVER, output_field=CharField()))
        .values_list("held", flat=True)
    )
    roles = ClinicMembership.objects.filter(user=user, clinic_id=patient.clinic_id).values_list("role", flat=True)
    found = caring.union(roles, all=True)
    return frozenset(relation | set(found))


def can_manage_caregivers(user, patient: Patient) -> bool:
    """The patient themself, or staff of their clinic, may invite and revoke caregivers."""
    return permissions.may_manage_caregivers(relation_to(user, patient))


def roles_of(user) -> set[str]:
    """The roles a user holds (one person may hold several, e.g. staff who is also a caregiver).
    One query."""
    return header_of(user)[0]


def _header_sql() -> str:
    # The inbox lives in refills; its reverse relation keeps patients from importing refills.
    inbox_model = User._meta.get_field("inbox").related_model
    assert isinstance(inbox_model, type)  # a model class, not the string "self"
    inbox = inbox_model._meta.db_table
    membership = ClinicMembership._meta.db_table
    return f"""
        SELECT EXISTS (SELECT 1 FROM {Patient._meta.db_table} WHERE user_id = %(user)s),
               EXISTS (SELECT 1 FROM {CaregiverLink._meta.db_table}
                       WHERE caregiver_id = %(user)s AND revoked_at IS NULL),
               EXISTS (SELECT 1 FROM {membership} WHERE user_id = %(user)s AND role = %(staff)s),
               EXISTS (SELECT 1 FROM {membership} WHERE user_id = %(user)s AND role = %(admin)s),
               (SELECT count(*) FROM {inbox} WHERE user_id = %(user)s AND read_at IS NULL)
    """  # noqa: S608 - table names from the models; every value is a parameter


def header_of(user) -> tuple[set[str], int]:
    """What every page's header shows about the user: their roles, and how many inbox messages
    they have not read. One query, in plain SQL: every page pays for it, and composing it with
    the ORM cost ten times as much as running it."""
    if not getattr(user, "is_authenticated", False):
        return set(), 0
    params = {"user": user.pk, "staff": ClinicMembership.Role.STAFF, "admin": ClinicMembership.Role.ADMIN}
    with connection.cursor() as cursor:
        cursor.execute(_header_sql(), params)
        *flags, unread = cursor.fetchone()
    return {role for role, held in zip(("patient", "caregiver", "staff", "admin"), flags, strict=True) if held}, unread
