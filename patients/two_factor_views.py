"""Pages for two-factor log-in: set it up (QR code, no JavaScript), enter a code after the
password, see recovery codes once, turn it off (only for those who may)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from . import two_factor


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    return target if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) else "/"


@login_required
def overview(request):
    return render(
        request,
        "patients/two_factor/overview.html",
        {"enabled": two_factor.has_two_factor(request.user), "required": two_factor.required_for(request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def setup(request):
    device = two_factor.pending_setup(request.user)
    if request.method == "GET" or device is None:
        device = two_factor.start_setup(request.user) if request.method == "GET" or device is None else device
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = two_factor.confirm_setup(request, device, form.cleaned_data["code"])
        if codes is not None:
            return render(request, "patients/two_factor/recovery_codes.html", {"codes": codes, "next": _next(request)})
        form.add_error("code", _("That code is not right. Check the time on your phone and try the newest code."))
    return render(
        request,
        "patients/two_factor/setup.html",
        {"form": form, "qr": two_factor.qr_svg(device), "secret": _spaced(device), "next": _next(request)},
    )


def _spaced(device) -> str:
    import base64

    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@login_required
@require_http_methods(["GET", "POST"])
def verify(request):
    if not two_factor.has_two_factor(request.user):
        return redirect(f"/account/2fa/setup/?next={_next(request)}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if two_factor.verify(request, form.cleaned_data["code"]):
            return redirect(_next(request))
        form.add_error("code", _("That code is not right, or was used already. Try the newest code."))
    return render(request, "patients/two_factor/verify.html", {"form": form, "next": _next(request)})


@login_required
@require_POST
def recovery_codes(request):
    if not request.user.is_verified():
        return redirect("/account/2fa/verify/")
    codes = two_factor.new_recovery_codes(request.user)
    return render(request, "patients/two_factor/recovery_codes.html", {"codes": codes, "next": "/account/2fa/"})


@login_required
@require_POST
def turn_off(request):
    if two_factor.required_for(request.user):
        messages.error(request, _("Clinic staff must keep two-step log-in on."))
    else:
        two_factor.turn_off(request.user)
        messages.success(request, _("Two-step log-in is off."))
    return redirect("/account/2fa/")
