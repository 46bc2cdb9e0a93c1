"""Pages for two-step log-in: set it up (QR code, no JavaScript), enter a code after the
password, see recovery codes once, turn it off (only for those who may); staff with no device
set one up through a one-time link; clinic admins send those links and reset a lost second
factor. The rules are in two_factor.py; the writes with audit and e-mail in security.py."""

import base64

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from . import permissions, security, two_factor
from .access import get_visible_patient, relation_to, staff_clinics
from .models import ClinicMembership


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


WRONG_SETUP_CODE = gettext_lazy("That code is not right. Check the time on your phone and try the newest code.")


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    return target if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) else "/"


def _to_verify(request, next_url: str):
    return redirect(f"/account/2fa/verify/?{urlencode({'next': next_url})}")


@login_required
def overview(request):
    standing = two_factor.standing(request.user)
    return render(
        request,
        "patients/two_factor/overview.html",
        {
            "enabled": standing.has_device,
            "required": standing.staff,
            "may_change": two_factor.may_change_devices(request),
        },
    )


def _setup_page(request, device, form, *, action: str = ""):
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return render(
        request,
        "patients/two_factor/setup.html",
        {
            "form": form,
            "qr": two_factor.qr_svg(device),
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "next": _next(request),
            "action": action,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def setup(request):
    """Add or replace the authenticator: only from a session that passed the second factor, or
    for someone who need not have one and has none yet. Staff with none use a set-up link."""
    if not two_factor.may_change_devices(request):
        standing = two_factor.standing(request.user)
        if standing.has_device:
            return _to_verify(request, "/account/2fa/setup/")
        return redirect("two-factor-needed")
    device = two_factor.pending_setup(request.user) if request.method == "POST" else None
    device = device or two_factor.start_setup(request.user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = two_factor.confirm_setup(request, device, form.cleaned_data["code"])
        if codes is not None:
            security.record_setup(request.user)
            return render(request, "patients/two_factor/recovery_codes.html", {"codes": codes, "next": _next(request)})
        form.add_error("code", WRONG_SETUP_CODE)
    return _setup_page(request, device, form)


@login_required
def needed(request):
    """A staff member with no second factor: they reach nothing until they use a set-up link."""
    standing = two_factor.standing(request.user)
    if standing.has_device:
        return _to_verify(request, _next(request))
    if not standing.staff:
        return redirect("two-factor")
    return render(request, "patients/two_factor/needed.html")


@login_required
@require_http_methods(["GET", "POST"])
def enrol(request, token):
    """The one-time set-up link from a clinic admin (for the person it names, signed in)."""
    enrolment = two_factor.load_enrolment(token, request.user)
    if enrolment is None:
        return render(request, "patients/two_factor/enrol_invalid.html", status=404)
    device = two_factor.pending_setup(request.user) if request.method == "POST" else None
    device = device or two_factor.start_setup(request.user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = two_factor.use_enrolment(request, enrolment, device, form.cleaned_data["code"])
        if codes is not None:
            security.record_setup(request.user, by_link=True)
            return render(request, "patients/two_factor/recovery_codes.html", {"codes": codes, "next": "/"})
        form.add_error("code", WRONG_SETUP_CODE)
    return _setup_page(request, device, form, action=request.path)


@login_required
@require_http_methods(["GET", "POST"])
def verify(request):
    standing = two_factor.standing(request.user)
    if request.user.is_verified() or not standing.must_verify:
        return redirect(_next(request))
    if not standing.has_device:
        return redirect("two-factor-needed")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        checked = two_factor.verify(request, form.cleaned_data["code"])
        if checked.device is not None:
            return redirect(_next(request))
        if checked.locked:
            form.add_error("code", two_factor.TOO_MANY_CODES)
        else:
            form.add_error("code", _("That code is not right, or was used already. Try the newest code."))
    return render(request, "patients/two_factor/verify.html", {"form": form, "next": _next(request)})


@login_required
@require_POST
def recovery_codes(request):
    if not request.user.is_verified():
        return _to_verify(request, "/account/2fa/")
    codes = two_factor.new_recovery_codes(request.user)
    return render(request, "patients/two_factor/recovery_codes.html", {"codes": codes, "next": "/account/2fa/"})


@login_required
@require_POST
def turn_off(request):
    if two_factor.required_for(request.user):
        messages.error(request, _("Clinic staff must keep two-step log-in on."))
    elif not two_factor.may_change_devices(request):
        return _to_verify(request, "/account/2fa/")
    else:
        security.turn_off(request.user)
        messages.success(request, _("Two-step log-in is off."))
    return redirect("two-factor")


# --- Clinic admins -------------------------------------------------------------------------------


@login_required
def clinic_staff(request, clinic_id):
    """The clinic's staff and whether each has two-step log-in; links and resets."""
    clinic = get_object_or_404(staff_clinics(request.user, admin_only=True), pk=clinic_id)
    members = security.staff_with_second_factor(clinic)
    return render(request, "patients/clinic_staff.html", {"clinic": clinic, "members": members})


def _member(request, clinic_id, user_id) -> ClinicMembership:
    clinic = get_object_or_404(staff_clinics(request.user, admin_only=True), pk=clinic_id)
    return get_object_or_404(ClinicMembership.objects.select_related("user", "clinic"), clinic=clinic, user_id=user_id)


@login_required
@require_POST
def send_staff_link(request, clinic_id, user_id):
    member = _member(request, clinic_id, user_id)
    try:
        security.send_enrolment_link(user=member.user, by=request.user, clinic=member.clinic)
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(
            request,
            _("We e-mailed a set-up link to %(email)s. It works once, for 24 hours.") % {"email": member.user.email},
        )
    return redirect("clinic-staff", clinic_id=clinic_id)


@login_required
@require_POST
def reset_staff(request, clinic_id, user_id):
    member = _member(request, clinic_id, user_id)
    if member.user_id == request.user.pk:
        messages.error(request, _("Another admin must reset your own two-step log-in."))
        return redirect("clinic-staff", clinic_id=clinic_id)
    security.reset_second_factor(user=member.user, by=request.user, clinic=member.clinic)
    messages.success(
        request,
        _("Two-step log-in is reset for %(email)s. We e-mailed them a link to set it up again.")
        % {"email": member.user.email},
    )
    return redirect("clinic-staff", clinic_id=clinic_id)


@login_required
@require_POST
def reset_patient(request, patient_id):
    """A patient who lost their second factor asks the clinic: an admin of their clinic resets it."""
    patient = get_visible_patient(request.user, patient_id)
    if patient.user_id is None or permissions.ADMIN not in relation_to(request.user, patient):
        raise Http404
    assert patient.user is not None  # user_id is set
    security.reset_second_factor(user=patient.user, by=request.user, clinic=patient.clinic, patient=patient)
    messages.success(request, _("Two-step log-in is reset. We e-mailed %(name)s.") % {"name": patient.full_name})
    return redirect("patient-detail", patient_id=patient.pk)
