"""Acknowledging a reminder: the link in a message opens a page with one large button; only
its POST acknowledges, because mail scanners fetch links."""

from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from ..notify import acks, planning
from ..words import date_in_words


@require_http_methods(["GET", "POST"])
def acknowledge_page(request, token):
    found = acks.load(token)
    if found is None:
        return render(request, "refills/ack_invalid.html", status=404)
    cycle, recipient = found
    assert cycle.refill_due_at is not None  # acks.load gives only cycles with a refill date
    zone = cycle.patient.time_zone
    context = {
        "cycle": cycle,
        "due_words": date_in_words(cycle.refill_due_at, zone, year=False, translated=False),
        "clinic": cycle.patient.clinic,
    }
    if request.method == "POST":
        planning.acknowledge(cycle, recipient)
        return render(request, "refills/ack_done.html", context)
    return render(request, "refills/ack_confirm.html", context)


@extend_schema(
    request=None,
    responses={
        200: inline_serializer(
            "Acknowledged", {"acknowledged": serializers.BooleanField(), "refill_due_at": serializers.DateTimeField()}
        ),
        404: OpenApiResponse(description="The link is not valid or has expired."),
    },
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def acknowledge_api(request, token):
    found = acks.load(token)
    if found is None:
        return Response(
            {"errors": {"token": ["This link is not valid or has expired."]}}, status=status.HTTP_404_NOT_FOUND
        )
    cycle, recipient = found
    planning.acknowledge(cycle, recipient)
    return Response({"acknowledged": True, "refill_due_at": cycle.refill_due_at})
