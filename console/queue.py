"""The triage queue of the clinic console (SPEC §7, §8): the page, one item's page, and the API.

Thin: patients.queue selects the items a user may work and holds the two actions (acknowledge,
resolve); refills.statuses gives each patient's statuses. Everything outside the user's clinics
is a 404. A list read is one audit row per request; the actions audit their own writes.

The page refreshes itself every 30 seconds without JavaScript (a meta refresh to `?auto=1`).
Those requests do not count as activity (patients.middleware), so an unattended screen still
signs out; the refresh after that shows "You were signed out" instead of a log-in form.
Resolving needs typing, so its form lives on the item's own page, which does not refresh.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from math import ceil

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import InvalidPage
from django.db.models import Prefetch, prefetch_related_objects
from django.http import Http404
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import escape, format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.response import Response

from ibt_companion.pagination import PageNumberPagination
from patients import audit
from patients import queue as queue_services
from patients.middleware import is_automatic
from patients.models import AuditEvent, Patient, QueueItem
from refills import statuses as patient_statuses

from . import snapshot

PAGE_SIZE = 25  # the most urgent first; a short page renders fast and reads fast
REFRESH_SECONDS = 30
NEW_WINDOW = timedelta(minutes=2)  # "new" without an earlier visit to compare with


# --- What one row shows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    item: QueueItem
    age_seconds: int
    age: str
    tier_name: str
    kind_label: str
    statuses: list[dict]
    source_url: str
    source_label: str
    acknowledged: str
    resolved: str
    is_new: bool = False
    badge: str = ""  # the "New" mark, as HTML


def new_badge() -> str:
    return format_html('<strong class="level level-emergency">{}</strong> ', _("New"))


def is_new(item: QueueItem | KeptRow, new_since: datetime | None) -> bool:
    """An emergency nobody has picked up, opened after `new_since`."""
    return (
        new_since is not None
        and item.tier == QueueItem.Tier.EMERGENCY
        and item.resolved_at is None
        and item.acknowledged_at is None
        and item.opened_at > new_since
    )


def age_in_words(seconds: int) -> str:
    """ "less than a minute", "12 minutes", "3 hours 5 minutes", "2 days 4 hours"."""
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 1:
        return _("less than a minute")
    if hours < 1:
        return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
    if days < 1:
        rest = minutes - hours * 60
        text = ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
        return text + (" " + ngettext("%(n)d minute", "%(n)d minutes", rest) % {"n": rest} if rest else "")
    rest = hours - days * 24
    text = ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    return text + (" " + ngettext("%(n)d hour", "%(n)d hours", rest) % {"n": rest} if rest else "")


def statuses_of(patient: Patient, now: datetime) -> list[dict]:
    """The patient's statuses, most urgent first (a patient annotated by refills.statuses)."""
    found = []
    if not patient.is_active:
        found.append({"code": patient.status, "label": patient.get_status_display()})
    codes = patient_statuses.statuses(patient_statuses.facts_of(patient), now)
    found += [{"code": code, "label": patient_statuses.LABELS[code]} for code in codes]
    return found


def source_link(item: QueueItem) -> tuple[str, str]:
    """Where the item came from, as (url, words); ("", "") when there is nothing to open."""
    kind, ident = queue_services.source_parts(item.source)
    patient_id = item.patient_id
    if kind == "checkin" and ident is not None:
        return reverse("checkin-detail", args=[ident]), _("Open the check-in and its guidance")
    if kind == "event":
        return reverse("event-history", args=[patient_id]), _("Open the pump events")
    if kind in ("cycle", "delivery"):
        return reverse("reminder-plan", args=[patient_id]), _("Open the refill plan and reminders")
    return "", ""


def row_of(item: QueueItem, now: datetime, *, new_since: datetime | None = None) -> Row:
    zone = item.clinic.time_zone
    age = queue_services.age_seconds(item, now)
    url, label = source_link(item)
    acknowledged = resolved = ""
    if item.acknowledged_at and not item.resolved_at:
        acknowledged = _("%(who)s is on it since %(when)s") % {
            "who": queue_services.person(item.acknowledged_by),
            "when": queue_services.clock(item.acknowledged_at, zone, now),
        }
    if item.resolved_at:
        resolved = _("Resolved by %(who)s at %(when)s: %(outcome)s") % {
            "who": queue_services.person(item.resolved_by),
            "when": queue_services.clock(item.resolved_at, zone, now),
            "outcome": queue_services.outcome_label(item.outcome),
        }
    new = is_new(item, new_since)
    return Row(
        item=item,
        age_seconds=age,
        age=age_in_words(age),
        tier_name=queue_services.tier_name(item.tier),
        kind_label=queue_services.kind_label(item.kind),
        statuses=statuses_of(item.patient, now),
        source_url=url,
        source_label=label,
        acknowledged=acknowledged,
        resolved=resolved,
        is_new=new,
        badge=new_badge() if new else "",
    )


def without_patient(items):
    """The items without their patient joined: attach_statuses fetches the patients."""
    return items.select_related(None).select_related("clinic", "acknowledged_by", "resolved_by")


def attach_statuses(items: list[QueueItem]) -> list[QueueItem]:
    """Each item's patient, annotated for its statuses: one query for any number of items."""
    prefetch_related_objects(items, Prefetch("patient", queryset=patient_statuses.annotate(Patient.objects.all())))
    return items


def annotated_patient(item: QueueItem) -> QueueItem:
    item.patient = patient_statuses.annotate(Patient.objects.filter(pk=item.patient_id)).get()
    return item


# --- Pages ----------------------------------------------------------------------------------------


def _new_since(request, now: datetime) -> tuple[datetime, datetime]:
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
        data = super().clean()
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


# --- Kept rows (console.snapshot) -----------------------------------------------------------------
# A row is kept as it renders, with marks where the request fills in the age, the "New" mark and
# the CSRF token. A mark is an HTML comment: what people type is escaped, so it cannot forge one.

AGE_MARK = mark_safe("<!--queue:age-->")
NEW_MARK = mark_safe("<!--queue:new-->")
CSRF_MARK = mark_safe("<!--queue:csrf-->")


@dataclass(frozen=True)
class KeptRow:
    """One row as kept: its HTML (the page) or its data (the API), and what the request needs."""

    content: str | dict
    tier: int
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    patient_id: int
    clinic_id: int


def kept_row(item: QueueItem, content) -> KeptRow:
    return KeptRow(
        content=content,
        tier=item.tier,
        opened_at=item.opened_at,
        acknowledged_at=item.acknowledged_at,
        resolved_at=item.resolved_at,
        patient_id=item.patient_id,
        clinic_id=item.clinic_id,
    )


def row_html(item: QueueItem, now: datetime) -> KeptRow:
    row = replace(row_of(item, now), age=AGE_MARK, badge=NEW_MARK)
    html = render_to_string("console/queue_row.html", {"row": row, "back": "queue", "csrf_token": CSRF_MARK})
    return kept_row(item, html)


def filled(row: KeptRow, now: datetime, new_since: datetime, csrf_token: str) -> SafeString:
    age = age_in_words(queue_services.age_seconds(row, now))
    badge = new_badge() if is_new(row, new_since) else ""
    html = row.content.replace(AGE_MARK, escape(age)).replace(NEW_MARK, badge).replace(CSRF_MARK, escape(csrf_token))
    return mark_safe(html)  # noqa: S308 - our own rendered template, and every fill is escaped


def audit_list(request, rows: list[KeptRow]) -> None:
    """One audit row for the request, listing the patients shown (the user is staff: the queue
    shows nobody else anything)."""
    if rows:
        shown = {row.patient_id for row in rows}
        audit.record_ids(
            request.user, AuditEvent.Action.LIST, "queue", shown, clinic_id=rows[0].clinic_id, path=request.path
        )


def page_rows(user, page: Page) -> tuple[list[KeptRow], list[KeptRow]]:
    """The open items of this page and the recently resolved ones, rendered."""
    start = (page.number - 1) * PAGE_SIZE
    items = list(without_patient(queue_services.open_items(user))[start : start + PAGE_SIZE])
    resolved_items = list(without_patient(queue_services.recently_resolved(user)))
    attach_statuses(items + resolved_items)
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
    keep = {"page": page.number} if page.number > 1 else {}
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


def _item_page(request, item: QueueItem, *, form=None, conflict: str = "", status_code: int = 200):
    audit.record_staff_read(request, item.patient, "queue_item")
    item = annotated_patient(item)
    return render(
        request,
        "console/queue_item.html",
        {"row": row_of(item, timezone.now()), "form": form or ResolveForm(), "conflict": conflict},
        status=status_code,
    )


@login_required
@require_GET
def queue_item_page(request, item_id):
    return _item_page(request, queue_services.get_item(request.user, item_id))


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
        return _item_page(request, item, form=form, status_code=400)
    try:
        item = queue_services.resolve(
            by=request.user, item=item, outcome=form.cleaned_data["outcome"], note=form.cleaned_data["note"]
        )
    except queue_services.AlreadyResolved as conflict:
        return _item_page(request, conflict.item, form=form, conflict=str(conflict), status_code=409)
    messages.success(
        request,
        _("Resolved: %(name)s, %(what)s.")
        % {"name": item.patient.full_name, "what": queue_services.kind_label(item.kind).lower()},
    )
    return redirect("console-queue")


# --- API ------------------------------------------------------------------------------------------


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This item was resolved already."
    default_code = "conflict"


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    full_name = serializers.CharField()


class PatientRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    full_name = serializers.CharField()


class StatusSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="empty, overdue, due_soon, discrepancy, end_of_service_near, ok;"
        " or the patient's status when not active (transferred, explanted, deceased)."
    )
    label = serializers.CharField()


class QueueItemSerializer(serializers.Serializer):
    """One queue item (built from a Row)."""

    id = serializers.IntegerField(source="item.pk")
    tier = serializers.IntegerField(source="item.tier", help_text="1 (most urgent) to 6.")
    tier_label = serializers.CharField(source="tier_name")
    kind = serializers.CharField(source="item.kind", help_text="checkin_emergency, predicted_empty, overdue, …")
    kind_label = serializers.CharField()
    source = serializers.CharField(source="item.source", help_text="What opened it: checkin:<id>, cycle:<id>, …")
    source_url = serializers.CharField(help_text="The page of what opened it; empty when there is none.")
    opened_at = serializers.DateTimeField(source="item.opened_at")
    age_seconds = serializers.IntegerField()
    age = serializers.CharField(help_text="The age in words, such as “12 minutes”.")
    patient = PatientRefSerializer(source="item.patient")
    statuses = StatusSerializer(many=True, help_text="The patient's statuses, most urgent first.")
    acknowledged_by = PersonSerializer(source="item.acknowledged_by", allow_null=True)
    acknowledged_at = serializers.DateTimeField(source="item.acknowledged_at", allow_null=True)
    resolved_by = PersonSerializer(source="item.resolved_by", allow_null=True)
    resolved_at = serializers.DateTimeField(source="item.resolved_at", allow_null=True)
    outcome = serializers.CharField(source="item.outcome", help_text="Empty while open.")
    note = serializers.CharField(source="item.note")


class ResolveInputSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=[code for code, _label in queue_services.OUTCOMES],
        error_messages={
            "required": gettext_lazy("Choose what happened."),
            "invalid_choice": gettext_lazy("Choose one of the listed outcomes."),
        },
    )
    note = serializers.CharField(
        max_length=queue_services.NOTE_MAX_LENGTH,
        error_messages={
            "required": gettext_lazy("Write a short note: what you did or decided."),
            "blank": gettext_lazy("Write a short note: what you did or decided."),
        },
    )


class QueuePagination(PageNumberPagination):
    """Page numbers over a list whose length is known before its rows are read."""

    def window(self, request, count: int) -> tuple[int, int]:
        """Check the page asked for against `count` rows; the slice of rows it shows."""
        self.request = request
        paginator = self.django_paginator_class(range(count), self.get_page_size(request))
        number = self.get_page_number(request, paginator)
        try:
            self.page = paginator.page(number)
        except InvalidPage as error:
            raise NotFound(self.invalid_page_message.format(page_number=number, message=str(error))) from None
        start = (self.page.number - 1) * paginator.per_page
        return start, start + paginator.per_page


class QueueListView(generics.ListAPIView):
    """Open items of the clinics you work for, most urgent tier first, oldest first within a tier.
    Anyone who works for no clinic gets 404: there is no queue to see."""

    serializer_class = QueueItemSerializer
    pagination_class = QueuePagination

    def get_queryset(self):
        return without_patient(queue_services.open_items(self.request.user))

    def rows(self, start: int, stop: int) -> list[KeptRow]:
        items = attach_statuses(list(self.get_queryset()[start:stop]))
        now = timezone.now()
        data = QueueItemSerializer([row_of(item, now) for item in items], many=True).data
        return [kept_row(item, dict(fields)) for item, fields in zip(items, data, strict=True)]

    def list(self, request, *args, **kwargs):
        clinics = snapshot.queue_clinics(request.user)
        if not clinics:
            raise NotFound("No queue for you.")
        start, stop = self.paginator.window(request, sum(clinic.open_count for clinic in clinics))
        rows = snapshot.kept(snapshot.key("api", clinics, start, stop), lambda: self.rows(start, stop))
        now = timezone.now()
        data = []
        for row in rows:
            age = queue_services.age_seconds(row, now)
            data.append({**row.content, "age_seconds": age, "age": age_in_words(age)})
        audit_list(request, rows)
        return self.get_paginated_response(data)


class QueueItemActionView(generics.GenericAPIView):
    serializer_class = QueueItemSerializer

    def item(self) -> QueueItem:
        return queue_services.get_item(self.request.user, self.kwargs["item_id"])

    def answer(self, item: QueueItem) -> Response:
        row = row_of(annotated_patient(item), timezone.now())
        return Response(QueueItemSerializer(row).data)


class QueueAcknowledgeView(QueueItemActionView):
    @extend_schema(
        request=None,
        responses={200: QueueItemSerializer},
        description="“I'm on it.” Idempotent: the first person to acknowledge stays on it, and acknowledging"
        " a resolved item changes nothing. 404 for an item outside your clinics.",
    )
    def post(self, request, item_id):
        item, changed = queue_services.acknowledge(by=request.user, item=self.item())
        if not changed:  # nothing written (and audited): the answer is still a staff read
            audit.record_staff_read(request, item.patient, "queue_item")
        return self.answer(item)


class QueueResolveView(QueueItemActionView):
    @extend_schema(
        request=ResolveInputSerializer,
        responses={
            200: QueueItemSerializer,
            409: OpenApiResponse(description="Resolved already; the message names who resolved it and when."),
        },
        description="Resolve with an outcome and a note. Two people resolving at once cannot both win: the"
        " second gets 409 naming the first.",
    )
    def post(self, request, item_id):
        item = self.item()
        serializer = ResolveInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            item = queue_services.resolve(by=request.user, item=item, **serializer.validated_data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        except queue_services.AlreadyResolved as conflict:
            raise Conflict(str(conflict)) from None
        return self.answer(item)
