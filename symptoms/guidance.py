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

from patients.wording import CAREGIVER, PATIENT, STAFF, Reader, Words, fill, template_for

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
    """A guidance page as one reader reads it, every number and name filled in."""

    level: str
    title: str
    call_label: str  # the first and biggest thing on the page, a tel: link to call_number
    call_number: str  # the number the link dials (empty: show call_label as text)
    lead: tuple[str, ...]  # right under the call link
    reasons_heading: str
    sections: tuple[Section, ...]
    staff_script: str  # what clinic staff logging a phone call tell the caller
    call_first: bool = False  # the call link comes before the title


@dataclass(frozen=True)
class SectionWords:
    heading: Words
    paragraphs: tuple[Words, ...]
    key: str = ""  # "clinic", "when_you_call": the sections a page without a saved check-in changes


@dataclass(frozen=True)
class PageWords:
    """A page's templates: the reader's slots (patients/wording.py) and the numbers are filled
    in by `fill_page`."""

    level: str
    title: Words
    call_label: Words
    call_number: str  # which number the link dials: "emergency_number", "phone" or "patient_phone"
    lead: tuple[Words, ...]
    reasons_heading: Words
    sections: tuple[SectionWords, ...]
    staff_script: str
    call_first: bool = False


# The person with the patient is the patient or a caregiver: they call, say, bring. Each sentence
# is one template with the reader's slots ("Bring {your} pump card": "Bring Sam's pump card"), or
# one per reader where the words differ.
_SAY: Words = {
    PATIENT: "Say: “I have an intrathecal baclofen pump.”",
    CAREGIVER: "Say: “{Name} has an intrathecal baclofen pump.”",
    STAFF: "Say: “{Name} has an intrathecal baclofen pump.”",
}
_BRING = "Bring {your} pump card and the latest programmer printout."
_TELL = "Tell them what you see and when it started."
_DO_NOT_DRIVE: Words = {
    PATIENT: "Do not drive yourself.",
    CAREGIVER: "Do not let {name} drive.",
    STAFF: "Do not let {name} drive.",
}

PAGES: dict[str, PageWords] = {
    EMERGENCY: PageWords(
        level=EMERGENCY,
        title="Get help now",
        call_label="Call {emergency_number} now",
        call_number="emergency_number",
        lead=(
            "Or go to the nearest emergency department now.",
            _DO_NOT_DRIVE,
        ),
        reasons_heading="Why we say this",
        sections=(
            SectionWords("What to say", (_SAY, _TELL)),
            SectionWords("What to bring", (_BRING,)),
            SectionWords("{Your_clinic}", ("{Your_clinic} has been told, but do not wait for them.",), key="clinic"),
        ),
        staff_script=(
            "Tell the caller to call {emergency_number} now, or to go to the nearest emergency department. "
            "Tell them to say they have an intrathecal baclofen pump. "
            "Tell them to bring the pump card and the latest programmer printout. "
            "Then end the call so they can call {emergency_number}."
        ),
        call_first=True,
    ),
    CALL_CLINIC: PageWords(
        level=CALL_CLINIC,
        title="Call {your} pump clinic now",
        call_label="Call {phone} now",
        call_number="phone",
        lead=(
            "The app does not call you. You need to call them.",
            "If you cannot talk to them within 30 minutes, or anything gets worse, go to the emergency department.",
        ),
        reasons_heading="Why we say this",
        sections=(
            SectionWords(
                "When you call",
                (
                    _SAY,
                    _TELL,
                    "Have {your} pump card and the latest programmer printout with you.",
                    "{Your_clinic} can see this check-in. But they may not see it right away, so call them.",
                ),
                key="when_you_call",
            ),
            SectionWords("Danger signs", (DANGER_SIGNS_SENTENCE,)),
        ),
        staff_script=(
            "Get the caller to the pump team now. "
            "Tell the caller: if you cannot talk to the pump team within 30 minutes, or anything gets worse, "
            "go to the emergency department. "
            "If a danger sign appears, call {emergency_number} now."
        ),
    ),
    ROUTINE: PageWords(
        level=ROUTINE,
        title="Nothing urgent right now",
        call_label="{Your_clinic}: {phone}",
        call_number="phone",
        lead=("What you told us does not look urgent.",),
        reasons_heading="What you told us",
        sections=(
            SectionWords(
                "What this usually means",
                (
                    "Constipation, dry mouth, trouble peeing, headache, trouble sleeping and swollen ankles "
                    "are common side effects of baclofen.",
                    "They are not usually a sign of a pump problem.",
                ),
            ),
            SectionWords(
                "What to do",
                (
                    "Keep {your} next refill visit. Do not skip it.",
                    "Tell {your_clinic} about this at {your} next visit.",
                ),
            ),
            SectionWords(
                "When to call",
                (
                    "Call {your_clinic} at {phone} if anything changes, gets worse, or new signs appear.",
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

# What staff read on a saved check-in: not the caller's instructions, but what the app told them
# (the patient or the caregiver with them), and a link to call the patient.
STAFF_PAGES: dict[str, PageWords] = {
    EMERGENCY: PageWords(
        level=EMERGENCY,
        title="Emergency signs: check on {name} now",
        call_label="Call {name}: {patient_phone}",
        call_number="patient_phone",
        lead=(
            "The app told them to call {emergency_number} now, or to go to the nearest emergency department.",
            "It told them the clinic has been told, but not to wait for the clinic.",
        ),
        reasons_heading="Why the app said this",
        sections=(),
        staff_script=PAGES[EMERGENCY].staff_script,
    ),
    CALL_CLINIC: PageWords(
        level=CALL_CLINIC,
        title="{Name} needs to talk to the pump team now",
        call_label="Call {name}: {patient_phone}",
        call_number="patient_phone",
        lead=(
            "The app told them to call the clinic at {phone} now.",
            "It told them to go to the emergency department if they cannot talk to you within 30 minutes, "
            "or if anything gets worse.",
        ),
        reasons_heading="Why the app said this",
        sections=(),
        staff_script=PAGES[CALL_CLINIC].staff_script,
    ),
    ROUTINE: PageWords(
        level=ROUTINE,
        title="Nothing urgent for {name}",
        call_label="Call {name}: {patient_phone}",
        call_number="patient_phone",
        lead=(
            "The app told them this does not look urgent.",
            "It told them to keep the next refill visit, and to call the clinic if anything changes.",
        ),
        reasons_heading="What was reported",
        sections=(),
        staff_script=PAGES[ROUTINE].staff_script,
    ),
}

# Replaces "your clinic has been told" when nothing was saved (the public checker).
_CLINIC_NOT_TOLD = SectionWords(
    "{Your_clinic}",
    ("This check-in was not saved, so {your_clinic} has not been told. Do not wait.",),
    key="clinic",
)
_NO_PUMP_DATA = SectionWords(
    "{Your} pump",
    (
        {
            PATIENT: "We could not check your pump data, such as your refill date or how much medicine is left.",
            CAREGIVER: "We could not check {name_s} pump data, such as the refill date or how much medicine is left.",
            STAFF: "The app could not check {name_s} pump data, such as the refill date or how much medicine is left.",
        },
        {
            PATIENT: "If your refill is late or your pump beeps, call your clinic.",
            CAREGIVER: "If {name_s} refill is late or {name_s} pump beeps, call {name_s} clinic.",
            STAFF: "It told them to call the clinic if the refill is late or the pump beeps.",
        },
    ),
)

_YOU = Reader(PATIENT)  # the page of someone whose name is not known: the public checker


def _format(text: Words, numbers: Mapping[str, str], who: Reader) -> str:
    return fill(text, who, **numbers)


def fill_page(
    level: str,
    numbers: Mapping[str, str],
    *,
    clinic_told: bool = True,
    pump_data_checked: bool = True,
    who: Reader = _YOU,
) -> Page:
    """The page for `level` as `who` reads it, with its numbers filled in.

    `numbers` holds `emergency_number` and `phone` (see `clinic_phone_now`), and for staff
    `patient_phone` (may be empty: no call link). The patient and a caregiver read what to do;
    staff read what the app told them (`STAFF_PAGES`).
    """
    page = (STAFF_PAGES if who.role == STAFF else PAGES)[level]
    numbers = {"patient_phone": "", **numbers}
    sections = []
    for section in page.sections:
        if not clinic_told and section.key == "clinic":
            section = _CLINIC_NOT_TOLD
        elif not clinic_told and section.key == "when_you_call":
            section = replace(
                section,
                paragraphs=tuple(p for p in section.paragraphs if "check-in" not in template_for(p, who)),
            )
        sections.append(section)
    if not pump_data_checked:
        sections.append(_NO_PUMP_DATA)
    call_number = numbers[page.call_number]
    return Page(
        level=level,
        title=_format(page.title, numbers, who),
        call_label=_format(page.call_label, numbers, who) if call_number or page.call_number != "patient_phone" else "",
        call_number=call_number,
        lead=tuple(_format(p, numbers, who) for p in page.lead),
        reasons_heading=_format(page.reasons_heading, numbers, who),
        sections=tuple(
            Section(_format(s.heading, numbers, who), tuple(_format(p, numbers, who) for p in s.paragraphs))
            for s in sections
        ),
        staff_script=_format(page.staff_script, numbers, who),
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
    who: Reader = _YOU,
) -> str:
    """Everything a person reads on the page, in reading order, as plain text.

    `reasons` are `triage.Reason`s or their texts.
    """
    page = fill_page(level, numbers, clinic_told=clinic_told, pump_data_checked=pump_data_checked, who=who)
    top = [page.call_label, page.title] if page.call_first else [page.title, page.call_label]
    lines = [*filter(None, top), *page.lead, "", page.reasons_heading]
    lines += [f"- {_reason_text(r)}" for r in reasons]
    for section in page.sections:
        lines += ["", section.heading, *section.paragraphs]
    return "\n".join(lines)


def staff_script(level: str, numbers: Mapping[str, str]) -> str:
    """What staff logging a phone check-in say to the caller."""
    return _format(PAGES[level].staff_script, numbers, _YOU)


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
