"""Rules about clinics and people's contact details that are plain functions (no Django here)."""

MAX_STEP_DAYS = 60


def validate_reminder_steps(days: object) -> tuple[int, ...]:
    """A clinic's reminder steps (SPEC §5): 1–6 different whole days before the refill date,
    the earliest at least 7, and the 1-day step kept. Returns them latest-first; raises
    ValueError with a plain message."""
    if not isinstance(days, list | tuple) or any(isinstance(d, bool) or not isinstance(d, int) for d in days):
        raise ValueError("Write whole numbers of days, for example 14, 7, 3, 1.")
    steps = tuple(sorted(set(days), reverse=True))
    if len(steps) != len(days) or not 1 <= len(steps) <= 6:
        raise ValueError("Choose 1 to 6 different steps.")
    if any(d < 1 or d > MAX_STEP_DAYS for d in steps):
        raise ValueError(f"Each step is a whole number of days from 1 to {MAX_STEP_DAYS}.")
    if steps[0] < 7:
        raise ValueError("The earliest step must be at least 7 days before the refill date.")
    if 1 not in steps:
        raise ValueError("The 1-day step cannot be removed.")
    return steps


def with_new_number(current_phone: str, changes: dict[str, object]) -> dict[str, object]:
    """A new phone number is unchecked, and a STOP sent from the old number no longer applies:
    `changes` with the number's checked and STOP times cleared when it changes the number."""
    if "phone" in changes and changes["phone"] != current_phone:
        return {**changes, "phone_verified_at": None, "sms_opted_out_at": None}
    return changes
