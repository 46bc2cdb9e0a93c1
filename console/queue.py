"""The triage queue of the clinic console (SPEC §7, §8): the queue page and one item's page.

Thin: patients.queue selects the items a user may work and holds the two actions (acknowledge,
resolve); refills.domain.statuses gives each patient's statuses. Everything outside the user's clinics
is a 404. A list read is one audit row per request; the actions audit their own writes.

    queue_rows.py     what a row shows, and a row as console.snapshot keeps it
    queue_actions.py  acknowledge and resolve from the pages
    queue_api.py      the same queue and actions in the API

The page refreshes itself every 30 seconds without JavaScript (a meta refresh to `?auto=1`).
Those requests do not count as activity (patients.middleware), so an unattended screen still
signs out; the refresh after that shows "You were signed out" instead of a log-in form.
Resolving needs typing, so its form lives on the item's own page, which does not refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from patients import audit
from patients import queue as queue_services
from patients.middleware import is_automatic
from patients.models import QueueItem

from . import selectors, snapshot
from .queue_rows import KeptRow, audit_list, filled, is_new, row_html, row_of

PAGE_SIZE = 25  # the most urgent first; a short page renders fast and reads fast
REFRESH_SECONDS = 30
NEW_WINDOW = timedelta(minutes=2)  # "new" without an earlier visit to compare with


# --- Pages ----------------------------------------------------------------------------------------


def _new_since(request, now: datetime) -> datetime:
    """Emergencies opened after this instant are "New"; the next refresh carries it on.

    A person loading the page sees the last two minutes as new. The refreshes after that keep
    the same instant, so an emergency stays "New" until a person loads the page again."""
    since = parse_since(request.GET.get("since")) if is_automatic(request) else None
    return now - NEW_WINDOW if since is None else min(since, now)


def parse_since(text) -> datetime | None:
    try:
        value = parse_datetime(text or "")
    except ValueError:
        return None
    if value is None or timezone.is_naive(value):
        return None
    return value


class ResolveForm(forms.Form):
    """The outcome and note of a resolution; patients.queue.clean_resolution has the last word."""

    outcome = forms.ChoiceField(
        label=gettext_lazy("What happened"),
        choices=[("", gettext_lazy("Choose one")), *queue_services.OUTCOMES],
        error_messages={
            "required": gettext_lazy("Choose what happened."),
            "invalid_choice": gettext_lazy("Choose one of the listed outcomes."),
        },
    )
    note = forms.CharField(
        label=gettext_lazy("Note"),
        max_length=queue_services.NOTE_MAX_LENGTH,
        help_text=gettext_lazy("What you did or decided, for the next person who reads this."),
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": gettext_lazy("Write a short note: what you did or decided.")},
    )

    def clean(self):
        super().clean()  # returns self.cleaned_data
        data = self.cleaned_data
        if not self.errors:
            try:
                data["outcome"], data["note"] = queue_services.clean_resolution(data["outcome"], data["note"])
            except DjangoValidationError as error:
                raise forms.ValidationError(error.message_dict) from None
        return data


@dataclass(frozen=True)
class Page:
    number: int
    count: int
    pages: int

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def page_of(text, count: int) -> Page:
    pages = max(1, ceil(count / PAGE_SIZE))
    number = int(text) if isinstance(text, str) and text.isdigit() else 1
    return Page(number=min(max(number, 1), pages), count=count, pages=pages)


def page_rows(user, page: Page) -> tuple[list[KeptRow[str]], list[KeptRow[str]]]:
    """The open items of this page and the recently resolved ones, rendered."""
    start = (page.number - 1) * PAGE_SIZE
    items = list(selectors.without_patient(queue_services.open_items(user))[start : start + PAGE_SIZE])
    resolved_items = list(selectors.without_patient(queue_services.recently_resolved(user)))
    selectors.attach_statuses(items + resolved_items)
    now = timezone.now()
    return [row_html(item, now) for item in items], [row_html(item, now) for item in resolved_items]


@require_GET
def queue_page(request):
    if not request.user.is_authenticated:
        if is_automatic(request):
            # The refresh of a screen whose session ended: say so, rather than swap in a log-in form.
            reason = request.session.pop("signed_out_reason", None)
            return render(request, "console/queue_signed_out.html", {"reason": reason})
        return redirect_to_login(reverse("console-queue"))
    # The clinics, their open counts and the state of their queues in one query.
    clinics = snapshot.queue_clinics(request.user)
    if not clinics:
        raise Http404("No queue for you.")
    now = timezone.now()
    new_since = _new_since(request, now)
    page = page_of(request.GET.get("page"), sum(clinic.open_count for clinic in clinics))
    rows, resolved = snapshot.kept(snapshot.key("page", clinics, page.number), lambda: page_rows(request.user, page))
    token = get_token(request) if rows else ""
    audit_list(request, rows + resolved)
    keep: dict[str, str | int] = {"page": page.number} if page.number > 1 else {}
    return render(
        request,
        "console/queue.html",
        {
            "rows_html": [filled(row, now, new_since, token) for row in rows],
            "resolved_html": [filled(row, now, new_since, token) for row in resolved],
            "page": page,
            "clinics": clinics,
            "new_count": sum(is_new(row, new_since) for row in rows),
            "refresh_on": request.GET.get("refresh") != "off",
            "refresh_seconds": REFRESH_SECONDS,
            "refresh_url": "?" + urlencode({**keep, "auto": "1", "since": new_since.isoformat()}),
            "refresh_off_url": "?" + urlencode({**keep, "refresh": "off"}),
            "refresh_on_url": "?" + urlencode(keep) if keep else reverse("console-queue"),
            "now_clock": queue_services.clock(now, clinics[0].time_zone, now),
        },
    )


def render_item_page(request, item: QueueItem, *, form=None, conflict: str = "", status_code: int = 200):
    audit.record_staff_read(request, item.patient, "queue_item")
    item = selectors.annotated_patient(item)
    return render(
        request,
        "console/queue_item.html",
        {"row": row_of(item, timezone.now()), "form": form or ResolveForm(), "conflict": conflict},
        status=status_code,
    )


@login_required
@require_GET
def queue_item_page(request, item_id):
    return render_item_page(request, queue_services.get_item(request.user, item_id))
