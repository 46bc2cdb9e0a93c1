"""What a person reads after a triage (SPEC §6), as plain data. Pure: no Django here.

One page per level, written at about a 6th-grade reading level. Numbers are placeholders filled
in by `fill_page`: `{emergency_number}` (the clinic's, 911 by default) and `{phone}` (the clinic's
number right now: `clinic_phone_now` picks the after-hours one outside opening hours).

Order matters on the emergency page: the call comes first and biggest, then what to say, what
to bring, and that the clinic has been told but must not be waited for.

Two facts change the words, never the level:
- `clinic_told`: a saved check-in alerts the clinic; the public checker saves nothing, so its
  page must not claim the clinic knows.
- `pump_data_checked`: without pump data the page says so, so nobody reads "routine" as
  "my pump is fine".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from .triage import Reason

EMERGENCY = "emergency"
CALL_CLINIC = "call_clinic"
ROUTINE = "routine"

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order

DANGER_SIGNS_SENTENCE = (
    "Call {emergency_number} now if you see a danger sign: a seizure, trouble breathing, being very "
    "hard to wake, confusion, a very stiff body, or fainting."
)


@dataclass(frozen=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Page:
    level: str
    title: str
    call_label: str  # the first and biggest thing on the page, a tel: link to call_number
    call_number: str  # which number the link dials: "emergency_number" or "phone"
    lead: tuple[str, ...]  # right under the call link
    reasons_heading: str
    sections: tuple[Section, ...]
    staff_script: str  # what clinic staff logging a phone call tell the caller
    call_first: bool = False  # the call link comes before the title


_SAY = "Say: “I have an intrathecal baclofen pump.”"
_BRING = "Bring your pump card and the latest programmer printout."

PAGES: dict[str, Page] = {
    EMERGENCY: Page(
        level=EMERGENCY,
        title="Get help now",
        call_label="Call {emergency_number} now",
        call_number="emergency_number",
        lead=(
            "Or go to the nearest emergency department now.",
            "Do not drive yourself.",
        ),
        reasons_heading="Why we say this",
        sections=(
            Section("What to say", (_SAY, "Tell them what you see and when it started.")),
            Section("What to bring", (_BRING,)),
            Section("Your clinic", ("Your clinic has been told, but do not wait for them.",)),
        ),
        staff_script=(
            "Tell the caller to call {emergency_number} now, or to go to the nearest emergency department. "
            "Tell them to say they have an intrathecal baclofen pump. "
            "Tell them to bring the pump card and the latest programmer printout. "
            "Then end the call so they can call {emergency_number}."
        ),
        call_first=True,
    ),
    CALL_CLINIC: Page(
        level=CALL_CLINIC,
        title="Call your pump clinic now",
        call_label="Call {phone} now",
        call_number="phone",
        lead=(
            "The app does not call you. You need to call them.",
            "If you cannot talk to them within 30 minutes, or anything gets worse, go to the emergency department.",
        ),
        reasons_heading="Why we say this",
        sections=(
            Section(
                "When you call",
                (
                    _SAY,
                    "Tell them what you see and when it started.",
                    "Have your pump card and the latest programmer printout with you.",
                    "Your clinic can see this check-in. But they may not see it right away, so call them.",
                ),
            ),
            Section("Danger signs", (DANGER_SIGNS_SENTENCE,)),
        ),
        staff_script=(
            "Get the caller to the pump team now. "
            "Tell the caller: if you cannot talk to the pump team within 30 minutes, or anything gets worse, "
            "go to the emergency department. "
            "If a danger sign appears, call {emergency_number} now."
        ),
    ),
    ROUTINE: Page(
        level=ROUTINE,
        title="Nothing urgent right now",
        call_label="Your clinic: {phone}",
        call_number="phone",
        lead=("What you told us does not look urgent.",),
        reasons_heading="What you told us",
        sections=(
            Section(
                "What this usually means",
                (
                    "Constipation, dry mouth, trouble peeing, headache, trouble sleeping and swollen ankles "
                    "are common side effects of baclofen.",
                    "They are not usually a sign of a pump problem.",
                ),
            ),
            Section(
                "What to do",
                (
                    "Keep your next refill visit. Do not skip it.",
                    "Tell your clinic about this at your next visit.",
                ),
            ),
            Section(
                "When to call",
                (
                    "Call your clinic at {phone} if anything changes, gets worse, or new signs appear.",
                    DANGER_SIGNS_SENTENCE,
                ),
            ),
        ),
        staff_script=(
            "Tell the caller this does not look urgent. Remind them of their next refill date. "
            "Tell them to call back if anything changes, and to call {emergency_number} for any danger sign."
        ),
    ),
}

# Replaces "your clinic has been told" when nothing was saved (the public checker).
_CLINIC_NOT_TOLD = Section(
    "Your clinic", ("This check-in was not saved, so your clinic has not been told. Do not wait.",)
)
_NO_PUMP_DATA = Section(
    "Your pump",
    (
        "We could not check your pump data, such as your refill date or how much medicine is left.",
        "If your refill is late or your pump beeps, call your clinic.",
    ),
)


def _format(text: str, numbers: Mapping[str, str]) -> str:
    return text.format_map(dict(numbers))


def fill_page(
    level: str, numbers: Mapping[str, str], *, clinic_told: bool = True, pump_data_checked: bool = True
) -> Page:
    """The page for `level` with its numbers filled in.

    `numbers` holds `emergency_number` and `phone` (see `clinic_phone_now`).
    """
    page = PAGES[level]
    sections = []
    for section in page.sections:
        if not clinic_told and section.heading == "Your clinic":
            section = _CLINIC_NOT_TOLD
        elif not clinic_told and level == CALL_CLINIC and section.heading == "When you call":
            section = replace(section, paragraphs=tuple(p for p in section.paragraphs if "check-in" not in p))
        sections.append(section)
    if not pump_data_checked:
        sections.append(_NO_PUMP_DATA)
    return Page(
        level=level,
        title=_format(page.title, numbers),
        call_label=_format(page.call_label, numbers),
        call_number=numbers[page.call_number],
        lead=tuple(_format(p, numbers) for p in page.lead),
        reasons_heading=page.reasons_heading,
        sections=tuple(Section(s.heading, tuple(_format(p, numbers) for p in s.paragraphs)) for s in sections),
        staff_script=_format(page.staff_script, numbers),
        call_first=page.call_first,
    )


def _reason_text(reason: Reason | str) -> str:
    return reason if isinstance(reason, str) else reason.text


def page_text(
    level: str,
    reasons: Iterable[Reason | str],
    numbers: Mapping[str, str],
    *,
    clinic_told: bool = True,
    pump_data_checked: bool = True,
) -> str:
    """Everything a person reads on the page, in reading order, as plain text.

    `reasons` are `triage.Reason`s or their texts.
    """
    page = fill_page(level, numbers, clinic_told=clinic_told, pump_data_checked=pump_data_checked)
    top = [page.call_label, page.title] if page.call_first else [page.title, page.call_label]
    lines = [*top, *page.lead, "", page.reasons_heading]
    lines += [f"- {_reason_text(r)}" for r in reasons]
    for section in page.sections:
        lines += ["", section.heading, *section.paragraphs]
    return "\n".join(lines)


def staff_script(level: str, numbers: Mapping[str, str]) -> str:
    """What staff logging a phone check-in say to the caller."""
    return _format(PAGES[level].staff_script, numbers)


def tel_href(number: str) -> str:
    """A `tel:` link target: digits, with a leading + kept ("+1 (555) 010-2000" → "tel:+15550102000")."""
    text = number.strip()
    digits = re.sub(r"\D", "", text)
    return f"tel:{'+' if text.startswith('+') else ''}{digits}"


def clinic_phone_now(
    opening_hours: Mapping[str, list[Any]], zone: str, now: datetime, phone: str, after_hours_phone: str
) -> str:
    """The clinic's number to call at `now`: `phone` within opening hours, else `after_hours_phone`.

    `opening_hours` is {"mon": [["08:00", "17:00"]], ...} on the clinic's wall clock in `zone`;
    each span includes its opening minute and excludes its closing one. When in doubt (an
    unknown zone, unreadable hours) the after-hours line is given, as it answers at all hours.
    A missing number falls back to the other one.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not after_hours_phone:
        return phone
    if not phone:
        return after_hours_phone
    try:
        local = now.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return after_hours_phone
    clock = local.strftime("%H:%M")
    for span in (opening_hours or {}).get(WEEKDAYS[local.weekday()], []):
        try:
            opens, closes = span
        except (TypeError, ValueError):
            continue
        if isinstance(opens, str) and isinstance(closes, str) and opens <= clock < closes:
            return phone
    return after_hours_phone


# --- When the clinic is not known -----------------------------------------------------------------

_NO_CLINIC = "\x00clinic\x00"  # stands in for {phone} while the page is filled, then reworded
_NO_CLINIC_WORDS = (
    (f"Call {_NO_CLINIC} now", "Call your pump clinic now"),
    (f"Your clinic: {_NO_CLINIC}", "Your clinic’s number is on your pump card"),
    (f" at {_NO_CLINIC}", ""),
    (_NO_CLINIC, "your pump clinic"),
)
NO_CLINIC_NUMBER_HINT = "Their number is on your pump card."


def _without_clinic(text: str) -> str:
    for old, new in _NO_CLINIC_WORDS:
        text = text.replace(old, new)
    return text


def fill_page_no_clinic(level: str, emergency_number: str, *, pump_data_checked: bool = False) -> Page:
    """The page for someone whose clinic is not known (the public checker, or a check-in posted
    after the session ended): nothing was saved, so the clinic has not been told, and there is
    no clinic number to dial. `call_number` is empty: show `call_label` as text, not as a link."""
    page = fill_page(
        level,
        {"emergency_number": emergency_number, "phone": _NO_CLINIC},
        clinic_told=False,
        pump_data_checked=pump_data_checked,
    )
    lead = tuple(_without_clinic(p) for p in page.lead)
    if level == CALL_CLINIC:
        lead = (NO_CLINIC_NUMBER_HINT, *lead)
    return replace(
        page,
        title=_without_clinic(page.title),
        call_label=_without_clinic(page.call_label),
        call_number=emergency_number if page.call_number == emergency_number else "",
        lead=lead,
        sections=tuple(Section(s.heading, tuple(_without_clinic(p) for p in s.paragraphs)) for s in page.sections),
        staff_script=_without_clinic(page.staff_script),
    )
