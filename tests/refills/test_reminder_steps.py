"""refills.reminders.first_step_at: the instant a refill becomes "due soon" (SPEC §7), pure."""

from datetime import UTC, datetime

import pytest

from refills import reminders

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
