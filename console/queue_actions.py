"""The two actions on a queue item from the console's pages: acknowledge ("I'm on it") and
resolve (an outcome and a note, typed on the item's own page). patients.queue holds the rules and
audits the writes; the API's own are in console/queue_api.py.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from patients import queue as queue_services

from .queue import ResolveForm, render_item_page


@login_required
@require_POST
def queue_acknowledge(request, item_id):
    item = queue_services.get_item(request.user, item_id)
    item, _changed = queue_services.acknowledge(by=request.user, item=item)
    label = queue_services.kind_label(item.kind).lower()
    if item.resolved_at:
        messages.warning(request, queue_services.resolved_message(item))
    elif item.acknowledged_by_id == request.user.pk:
        messages.success(
            request, _("You are on it: %(name)s, %(what)s.") % {"name": item.patient.full_name, "what": label}
        )
    else:
        messages.warning(
            request,
            _("%(who)s is already on it: %(name)s, %(what)s.")
            % {"who": queue_services.person(item.acknowledged_by), "name": item.patient.full_name, "what": label},
        )
    if request.POST.get("back") == "item":
        return redirect("console-queue-item", item_id=item.pk)
    return redirect("console-queue")


@login_required
@require_POST
def queue_resolve(request, item_id):
    item = queue_services.get_item(request.user, item_id)
    form = ResolveForm(request.POST)
    if not form.is_valid():
        return render_item_page(request, item, form=form, status_code=400)
    try:
        item = queue_services.resolve(
            by=request.user, item=item, outcome=form.cleaned_data["outcome"], note=form.cleaned_data["note"]
        )
    except queue_services.AlreadyResolved as conflict:
        return render_item_page(request, conflict.item, form=form, conflict=str(conflict), status_code=409)
    messages.success(
        request,
        _("Resolved: %(name)s, %(what)s.")
        % {"name": item.patient.full_name, "what": queue_services.kind_label(item.kind).lower()},
    )
    return redirect("console-queue")
