"""The page where a person sees their API tokens and revokes any of them (SPEC §10)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from . import api_tokens


@login_required
@require_GET
def token_list(request):
    return render(request, "patients/api_tokens.html", {"tokens": api_tokens.live_tokens(request.user)})


@login_required
@require_POST
def revoke(request, token_id):
    if not api_tokens.revoke(request.user, token_id, path=request.path):
        raise Http404
    messages.success(request, _("The token is removed. The app that used it can no longer get in."))
    return redirect("api-tokens")
