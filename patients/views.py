"""Pages for people and access. Thin: each view asks access.py for the patient, calls a
service, renders."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from . import audit, permissions, services
from .access import (
    can_manage_caregivers,
    get_visible_patient,
    is_clinic_staff,
    own_record,
    relation_to,
    staff_clinics,
    visible_patients,
)
from .forms import (
    AcceptInvitationForm,
    ClinicSettingsForm,
    InviteCaregiverForm,
    InvitePatientForm,
    LoginForm,
    PatientContactsForm,
)
from .invitations import load_invitation
from .models import AuditEvent, CaregiverLink, ClinicMembership, Invitation, User


class LoginView(auth_views.LoginView):
    """Django's log-in, in the app's words (LoginForm), also saying why a session ended
    (inactivity) when it did."""

    authentication_form = LoginForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["signed_out_reason"] = self.request.session.pop("signed_out_reason", None)
        return context


def home_context(request) -> dict:
    """What every home page shows: the user's own record, the people they look after and
    their clinics' patients. Other apps add to it (refills.web.views.home adds the refill cards)."""
    user = request.user
    own = own_record(user)
    cared_for = list(
        visible_patients(user)
        .filter(caregiver_links__caregiver=user, caregiver_links__revoked_at__isnull=True)
        .select_related("clinic")
        .order_by("full_name")
    )
    memberships = list(ClinicMembership.objects.filter(user=user).select_related("clinic").order_by("clinic__name"))
    clinics = [m.clinic for m in memberships]
    clinic_patients = []
    if clinics:
        clinic_patients = list(
            visible_patients(user).filter(clinic__in=clinics).select_related("clinic").order_by("full_name")[:50]
        )
        if clinic_patients:
            audit.record(user, AuditEvent.Action.LIST, "patient", clinic_patients, path=request.path)
    return {
        "own": own,
        "cared_for": cared_for,
        "memberships": memberships,
        "clinics": clinics,
        "clinic_patients": clinic_patients,
    }


@login_required
def patient_detail(request, patient_id):
    patient = get_visible_patient(request.user, patient_id)
    audit.record_staff_read(request, patient)
    caregivers = patient.caregiver_links.filter(revoked_at__isnull=True).select_related("caregiver")
    relation = relation_to(request.user, patient)
    return render(
        request,
        "patients/detail.html",
        {
            "patient": patient,
            "caregivers": caregivers,
            "can_manage_caregivers": permissions.may_manage_caregivers(relation),
            "can_edit_contacts": permissions.may_edit_contacts(relation),
            "is_staff_here": permissions.is_clinic_staff(relation),
            "can_reset_second_factor": patient.user_id is not None and permissions.ADMIN in relation,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def patient_contacts(request, patient_id):
    patient = get_visible_patient(request.user, patient_id)
    if not permissions.may_edit_contacts(relation_to(request.user, patient)):
        # They can see the patient, so the page exists for them: 403, not 404 (SPEC §10).
        raise PermissionDenied(_("Only the patient and their clinic can change these contacts."))
    form = PatientContactsForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid():
        changes = {f: form.cleaned_data[f] for f in form.changed_data}
        # The form saved into `patient` already; reload so the service writes from a clean row.
        patient.refresh_from_db()
        services.update_patient(by=request.user, patient=patient, changes=changes)
        messages.success(request, _("Your changes are saved."))
        return redirect("patient-detail", patient_id=patient.pk)
    if request.method == "GET":
        audit.record_staff_read(request, patient, "patient_contacts")
    return render(request, "patients/contacts_form.html", {"patient": patient, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def caregivers(request, patient_id):
    patient = get_visible_patient(request.user, patient_id)
    if not can_manage_caregivers(request.user, patient):
        raise Http404
    form = InviteCaregiverForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.invite(
                by=request.user, patient=patient, kind=Invitation.Kind.CAREGIVER, **form.cleaned_data
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("We sent an invitation to %(email)s.") % {"email": invitation.email})
            return redirect("patient-caregivers", patient_id=patient.pk)
    if request.method == "GET":
        audit.record_staff_read(request, patient, "caregivers")
    links = patient.caregiver_links.select_related("caregiver").order_by("revoked_at", "caregiver__full_name")
    pending = patient.invitations.filter(
        kind=Invitation.Kind.CAREGIVER, accepted_at__isnull=True, revoked_at__isnull=True
    )
    return render(
        request,
        "patients/caregivers.html",
        {"patient": patient, "form": form, "links": links, "pending": [i for i in pending if i.state == "pending"]},
    )


@login_required
@require_http_methods(["GET", "POST"])
def invite_patient(request, patient_id):
    """Clinic staff invite the patient to a log-in of their own."""
    patient = get_visible_patient(request.user, patient_id)
    if not is_clinic_staff(request.user, patient):
        raise Http404
    form = InvitePatientForm(request.POST or None, initial={"email": patient.email})
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.invite(
                by=request.user,
                patient=patient,
                kind=Invitation.Kind.PATIENT,
                email=form.cleaned_data["email"],
                full_name=patient.full_name,
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("We sent an invitation to %(email)s.") % {"email": invitation.email})
            return redirect("patient-detail", patient_id=patient.pk)
    if request.method == "GET":
        audit.record_staff_read(request, patient, "invite_patient")
    return render(request, "patients/invite_patient.html", {"patient": patient, "form": form})


@login_required
@require_POST
def revoke_caregiver(request, patient_id, link_id):
    patient = get_visible_patient(request.user, patient_id)
    if not can_manage_caregivers(request.user, patient):
        raise Http404
    link = get_object_or_404(CaregiverLink, pk=link_id, patient=patient)
    services.revoke_caregiver(by=request.user, link=link)
    messages.success(request, _("%(name)s can no longer see this record.") % {"name": link.caregiver.full_name})
    return redirect("patient-caregivers", patient_id=patient.pk)


@login_required
@require_POST
def revoke_invitation(request, patient_id, invitation_id):
    patient = get_visible_patient(request.user, patient_id)
    if not can_manage_caregivers(request.user, patient):
        raise Http404
    invitation = get_object_or_404(Invitation, pk=invitation_id, patient=patient)
    services.revoke_invitation(by=request.user, invitation=invitation)
    messages.success(request, _("The invitation was cancelled."))
    return redirect("patient-caregivers", patient_id=patient.pk)


@login_required
@require_http_methods(["GET", "POST"])
def patient_create(request):
    """An old address: a patient is added through enrolment, which records the pump and the first
    refill in the same step, so no patient is left without a refill plan."""
    if not staff_clinics(request.user).exists():
        raise Http404
    return redirect("enrol-start")


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token):
    """GET only shows the page (mail scanners fetch links); only the POST accepts."""
    invitation = load_invitation(token, settings.INVITATION_MAX_AGE_DAYS * 86400)
    if invitation is None:
        return render(request, "patients/invitation_invalid.html", {"reason": "invalid"}, status=404)
    if invitation.state != "pending":
        return render(request, "patients/invitation_invalid.html", {"reason": invitation.state}, status=410)
    existing = User.objects.for_address(invitation.email)  # the account log-in would use
    form = AcceptInvitationForm(request.POST or None, invitation=invitation, existing_user=existing, request=request)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.accept_invitation(
                invitation, password=form.cleaned_data["password1"], existing_user=existing
            )
        except ValidationError as error:
            conflict = error.code == services.ACCOUNT_HAS_PATIENT_RECORD
            return render(
                request,
                "patients/invitation_invalid.html",
                {"reason": "conflict" if conflict else "used", "message": error.messages[0]},
                status=409 if conflict else 410,
            )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if form.device is not None:
            otp_login(request, form.device)  # the code was typed on this page
        messages.success(
            request,
            _("Welcome. You can now see %(name)s's pump and reminders.") % {"name": invitation.patient.full_name}
            if invitation.kind == Invitation.Kind.CAREGIVER
            else _("Welcome to IBT Companion."),
        )
        return redirect("home")
    return render(
        request, "patients/invitation_accept.html", {"invitation": invitation, "form": form, "existing": existing}
    )


@login_required
def audit_log(request):
    clinics = list(staff_clinics(request.user, admin_only=True))
    if not clinics:
        raise Http404
    events = AuditEvent.objects.filter(clinic__in=clinics).order_by("-at", "-pk")
    page = Paginator(events, 100).get_page(request.GET.get("page"))
    return render(request, "patients/audit_log.html", {"page": page})


@login_required
@require_http_methods(["GET", "POST"])
def clinic_settings(request, clinic_id):
    clinic = get_object_or_404(staff_clinics(request.user, admin_only=True), pk=clinic_id)
    form = ClinicSettingsForm(request.POST or None, instance=clinic)
    if request.method == "POST" and form.is_valid():
        services.update_clinic(by=request.user, clinic=clinic, changes=form.changes())
        messages.success(request, _("The clinic settings are saved."))
        return redirect("clinic-settings", clinic_id=clinic.pk)
    return render(request, "patients/clinic_settings.html", {"clinic": clinic, "form": form})
