"""refills.domain.reminders.first_step_at: the instant a refill becomes "due soon" (SPEC §7), pure."""

from datetime import UTC, datetime, timedelta

import pytest

from refills.domain import reminders

DUE = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)  # Friday 20 March, 10:00 in Chicago (CDT)


def facts(**changes) -> reminders.CycleFacts:
    values = {
        "refill_due_at": DUE,
        "empty_at": None,
        "appointment_booked": False,
        "reminder_hour": 9,
        "zone": "America/Chicago",
        "steps": (14, 7, 3, 1),
    }
    return reminders.CycleFacts(**{**values, **changes})


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # 14 days before, at 09:00 on the patient's clock: 6 March is still CST (UTC-6).
        ({}, datetime(2026, 3, 6, 15, 0, tzinfo=UTC)),
        # With an appointment booked there is no "book your refill" step: 7 days before, CDT.
        ({"appointment_booked": True}, datetime(2026, 3, 13, 14, 0, tzinfo=UTC)),
        ({"steps": (10, 1)}, datetime(2026, 3, 10, 14, 0, tzinfo=UTC)),
        ({"zone": "Europe/Paris", "reminder_hour": 18}, datetime(2026, 3, 5, 17, 0, tzinfo=UTC)),
    ],
)
def test_the_first_step_is_the_earliest_planned_one(changes, expected):
    assert reminders.first_step_at(facts(**changes)) == expected


@pytest.mark.parametrize(
    ("end", "hour", "zone", "expected"),
    [
        # End of service 15 January 2027, 09:00 CST. 90 days before is 17 October, still CDT.
        (
            datetime(2027, 1, 15, 15, 0, tzinfo=UTC),
            9,
            "America/Chicago",
            {"eos_90": datetime(2026, 10, 17, 14, 0, tzinfo=UTC), "eos_30": datetime(2026, 12, 16, 15, 0, tzinfo=UTC)},
        ),
        # 15 April 2027, 18:00 CEST in Paris: both notices fall in winter time (CET, UTC+1).
        (
            datetime(2027, 4, 15, 16, 0, tzinfo=UTC),
            18,
            "Europe/Paris",
            {"eos_90": datetime(2027, 1, 15, 17, 0, tzinfo=UTC), "eos_30": datetime(2027, 3, 16, 17, 0, tzinfo=UTC)},
        ),
    ],
)
def test_end_of_service_notices_keep_the_reminder_hour_across_a_clock_change(end, hour, zone, expected):
    notices = reminders.end_of_service_notices(end, hour, zone)
    assert {n.kind: n.due_at for n in notices} == expected


@pytest.mark.parametrize(
    ("kind", "due_hours_before_ack", "skipped", "covered"),
    [
        ("step_7", 1, False, True),  # acknowledged an hour after it was due
        ("step_7", 0, False, True),  # the same instant
        ("step_1", -1, False, False),  # due after the acknowledgement: still goes
        ("overdue", 1, False, False),  # only a refill ends the overdue messages
        ("empty", 1, False, False),
        ("step_14", 1, True, False),  # already stored as skipped: nothing to cover
    ],
)
def test_an_acknowledgement_covers_the_steps_due_by_then(kind, due_hours_before_ack, skipped, covered):
    ack = DUE - timedelta(days=5)
    planned = reminders.Planned(kind, "", ack - timedelta(hours=due_hours_before_ack), skipped=skipped)
    assert reminders.covered_by_acknowledgement(planned, ack) is covered
    assert reminders.covered_by_acknowledgement(planned, None) is False  # nobody acknowledged
