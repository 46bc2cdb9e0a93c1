"""The refill board (SPEC §7): refills due in the next 30 days, grouped by day on the clinic's
clock, with what needs action now on top; and the same rows as a CSV file. One audited list
read per request; the same queries for 1 patient or 200."""

from __future__ import annotations

import csv
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from patients import audit
from refills.words import date_in_words

from . import selectors
from .patients import require_staff

CSV_COLUMNS = ("patient_id", "name", "status", "refill_due", "empty_at", "appointment", "end_of_service")
# A cell starting with one of these is a formula to a spreadsheet: written as text instead.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@login_required
@require_GET
def refill_board(request):
    require_staff(request)
    now = timezone.now()
    board = selectors.refill_board(request.user, now)
    audit.record_staff_list(request, [row.patient for row in board.rows], "refill_board")
    zones = sorted({row.clinic_zone for row in board.rows})
    return render(
        request,
        "console/board.html",
        {
            "board": board,
            "days": [(day, _day_words(day, rows[0].clinic_zone, now), rows) for day, rows in board.days],
            "zones": zones,
            "window_days": selectors.BOARD_DAYS,
        },
    )


def _day_words(day: date, zone: str, now: datetime) -> str:
    return date_in_words(day, zone, now=now)


def _iso(at: datetime | None, zone: str) -> str:
    """ISO 8601 with the patient's UTC offset at that instant (SPEC §4)."""
    return at.astimezone(ZoneInfo(zone)).isoformat() if at else ""


def _cell(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_rows(board: selectors.Board) -> list[list[str]]:
    """The board's rows, in the board's order. Facts only: no notes or other free text."""
    return [
        [
            str(row.patient.pk),
            _cell(row.patient.full_name),
            "; ".join(str(selectors.LABELS[s]) for s in row.statuses),
            _iso(row.refill_due_at, row.patient.time_zone),
            _iso(row.empty_at, row.patient.time_zone),
            _iso(row.appointment_at, row.patient.time_zone),
            row.end_of_service_on.isoformat() if row.end_of_service_on else "",
        ]
        for row in board.rows
    ]


@login_required
@require_GET
def refill_board_csv(request):
    require_staff(request)
    now = timezone.now()
    board = selectors.refill_board(request.user, now)
    audit.record_staff_list(request, [row.patient for row in board.rows], "refill_board_csv")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="refill-board-{now.date().isoformat()}.csv"'
    response["Cache-Control"] = "private, no-store"
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(board))
    return response
