"""The triage queue in the API (SPEC §7, §8): the open items of the user's clinics, and
acknowledge and resolve. Rows as on the page (console/queue_rows.py), kept by console.snapshot;
everything outside the user's clinics is a 404.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import InvalidPage
from django.utils import timezone
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.response import Response

from ibt_companion.pagination import PageNumberPagination
from patients import audit
from patients import queue as queue_services
from patients.models import QueueItem

from . import selectors, snapshot
from .queue_rows import KeptRow, age_in_words, audit_list, kept_row, row_of


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
    # DRF's metaclass takes declared fields out of the class body, so a field may share a name with
    # an attribute of Field (label, source); the stubs cannot see that.
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.label


class QueueItemSerializer(serializers.Serializer):
    """One queue item (built from a Row)."""

    id = serializers.IntegerField(source="item.pk")
    tier = serializers.IntegerField(source="item.tier", help_text="1 (most urgent) to 6.")
    tier_label = serializers.CharField(source="tier_name")
    kind = serializers.CharField(source="item.kind", help_text="checkin_emergency, predicted_empty, overdue, …")
    kind_label = serializers.CharField()
    source = serializers.CharField(  # type: ignore[assignment]  # a declared field (see StatusSerializer)
        source="item.source", help_text="What opened it: checkin:<id>, cycle:<id>, …"
    )
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
        page_size = self.get_page_size(request)
        assert page_size is not None  # REST_FRAMEWORK["PAGE_SIZE"] is set
        paginator = self.django_paginator_class(range(count), page_size)
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
        return selectors.without_patient(queue_services.open_items(self.request.user))

    def rows(self, start: int, stop: int) -> list[KeptRow[dict[str, Any]]]:
        items = selectors.attach_statuses(list(self.get_queryset()[start:stop]))
        now = timezone.now()
        data = QueueItemSerializer([row_of(item, now) for item in items], many=True).data
        return [kept_row(item, dict(fields)) for item, fields in zip(items, data, strict=True)]

    def list(self, request, *args, **kwargs):
        clinics = snapshot.queue_clinics(request.user)
        if not clinics:
            raise NotFound("No queue for you.")
        pagination = self.paginator
        assert isinstance(pagination, QueuePagination)  # pagination_class
        start, stop = pagination.window(request, sum(clinic.open_count for clinic in clinics))
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
        row = row_of(selectors.annotated_patient(item), timezone.now())
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
