"""Who a sentence speaks to, and the words for each reader. Pure: no Django here.

Three people read about one patient (SPEC §1): the patient, a caregiver, and the clinic's staff
(a clinic's alert address reads as staff). The same fact is said to each of them in their own
words: "your pump will start beeping" to the patient, "Sam's pump will start beeping" to a
caregiver, "Sam Rivera's pump alarm" to staff.

`fill(words, reader, **facts)` is the one way to say something to a reader. `words` is either
one template for every reader, written with the slots below, or a mapping with one template per
reader where the sentence itself differs (a caregiver is told to help, staff to act). `SENTENCES`
is the table of what the pages and messages say; the triage reasons (symptoms/triage.py) and the
guidance pages (symptoms/guidance.py) keep their templates in their own tables and are filled here
with the same slots.

Slots a template may use besides its facts:
    {you} {You}          you / Sam
    {your} {Your}        your / Sam's
    {have} {are} {were}  have, are, were / has, is, was
    {your_clinic} {Your_clinic}  your clinic / Sam's clinic / the clinic (staff are the clinic)
    {name} {Name} {name_s}       the patient's name as this reader knows them, and its possessive

A name or any other fact is put in as it is: a brace in a typed name is never read as a slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PATIENT = "patient"
CAREGIVER = "caregiver"
STAFF = "staff"
READERS = (PATIENT, CAREGIVER, STAFF)

Words = str | Mapping[str, str]

NO_NAME = "the patient"


@dataclass(frozen=True)
class Reader:
    """Who reads, and the patient's name as they read it (see `name_for`)."""

    role: str  # PATIENT, CAREGIVER or STAFF
    name: str = ""

    def __post_init__(self) -> None:
        if self.role not in READERS:
            raise ValueError(f"A reader is one of {READERS}, not {self.role!r}")


def name_for(role: str, full_name: str) -> str:
    """How a reader names the patient on a page: a caregiver by the first name, staff by the full
    name. (E-mails to the clinic use `clinic_name`, never the name.)"""
    full_name = " ".join((full_name or "").split())
    if not full_name:
        return NO_NAME
    return full_name.split(" ")[0] if role == CAREGIVER else full_name


def reader(role: str, full_name: str = "") -> Reader:
    """The reader `role` of a patient called `full_name` ("clinic" reads as staff)."""
    role = STAFF if role == "clinic" else role
    return Reader(role, name_for(role, full_name))


def patient_reference(patient_id: int) -> str:
    """The reference that names a patient in e-mails to the clinic ("P42"): meaningless outside
    the app, found in the clinic console (docs/security.md, "Patients in e-mails")."""
    return f"P{patient_id}"


def patient_id_of_reference(text: str) -> int | None:
    """The patient id a typed reference names ("P42", "p42" → 42), or None."""
    text = text.strip()
    if len(text) < 2 or text[0] not in "Pp" or not text[1:].isdigit() or len(text) > 12:
        return None
    return int(text[1:])


def clinic_reader(patient_id: int) -> Reader:
    """The clinic's alert address, reading about a patient it knows only by reference."""
    return Reader(STAFF, f"patient {patient_reference(patient_id)}")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def possessive(name: str) -> str:
    return f"{name}'s"


def _slots(who: Reader) -> dict[str, str]:
    if who.role == PATIENT:
        return {
            "you": "you",
            "your": "your",
            "have": "have",
            "are": "are",
            "were": "were",
            "your_clinic": "your clinic",
            "name": who.name or "you",
            "name_s": possessive(who.name) if who.name else "your",
        }
    name = who.name or NO_NAME
    return {
        "you": name,
        "your": possessive(name),
        "have": "has",
        "are": "is",
        "were": "was",
        "your_clinic": "the clinic" if who.role == STAFF else f"{possessive(name)} clinic",
        "name": name,
        "name_s": possessive(name),
    }


def slots(who: Reader) -> dict[str, str]:
    """Every slot for this reader, with its capitalised form ({You}, {Your}, {Name}, ...)."""
    values = _slots(who)
    return {**values, **{_capital(key): _capital(value) for key, value in values.items()}}


def template_for(words: Words, who: Reader) -> str:
    """The template this reader reads."""
    if isinstance(words, str):
        return words
    return words[who.role]


def fill(words: Words, who: Reader, **facts: object) -> str:
    """`words` said to `who`, with the facts put in. A fact may not take a slot's name."""
    values = slots(who)
    clash = set(values) & set(facts)
    if clash:
        raise ValueError(f"Facts may not be named like slots: {sorted(clash)}")
    return template_for(words, who).format_map({**values, **facts})


def say(key: str, who: Reader, **facts: object) -> str:
    """The sentence `key` of `SENTENCES`, said to `who`."""
    return fill(SENTENCES[key], who, **facts)


# --- Time in words -------------------------------------------------------------------------------


def days_words(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def when_words(days: int) -> str:
    """How far a date is, in whole days on the reader's calendar: "in 3 days", "tomorrow",
    "today", "2 days ago". A message's subject and its body both take it from here."""
    if days > 1:
        return f"in {days} days"
    if days == 1:
        return "tomorrow"
    if days == 0:
        return "today"
    return f"{days_words(-days)} ago"


def days_left_words(days: int, who: Reader) -> str:
    """The refill card's "when": a late date also says who to call."""
    if days >= 0:
        return when_words(days)
    return say("refill.overdue_days", who, ago=when_words(days))


# --- The table -------------------------------------------------------------------------------------

SENTENCES: dict[str, Words] = {
    # The refill card and the staff previews (refills/templatetags/refill_tags.py).
    "refill.reason.low_reservoir_alarm": {
        PATIENT: "This is when your pump will start beeping because it is low. Get your refill before then.",
        CAREGIVER: "This is when {name_s} pump will start beeping because it is low. "
        "Make sure {name} gets the refill before then.",
        STAFF: "This is when {name_s} pump will start its low-reservoir alarm. Refill it before then.",
    },
    "refill.reason.stability_limit": "The medicine can stay in the pump for {days} days at most.",
    "refill.reason.printout_alarm": {
        PATIENT: "This is the date on your clinic's pump printout.",
        CAREGIVER: "This is the date on the pump printout from {name_s} clinic.",
        STAFF: "This is the alarm date on {name_s} programmer printout.",
    },
    "refill.reason.alarm_reported": {
        PATIENT: "Your pump alarm went off. Call your clinic today.",
        CAREGIVER: "{Name_s} pump alarm went off. Call {name_s} clinic today.",
        STAFF: "{Name_s} pump alarm went off. Call {name} today to plan the refill.",
    },
    "refill.overdue_days": {
        PATIENT: "{ago} — call your clinic today",
        CAREGIVER: "{ago} — call {name_s} clinic today",
        STAFF: "{ago} — call {name} today",
    },
    "refill.no_appointment": {
        PATIENT: "No refill appointment is booked yet. Call your clinic to book one before this date.",
        CAREGIVER: "No refill appointment is booked yet. Call {name_s} clinic to book one before this date.",
        STAFF: "No refill appointment is booked yet. Book one with {name} before this date.",
    },
    "refill.no_date_yet": {
        PATIENT: "There is no refill date yet. It will show here after the clinic records a refill.",
        CAREGIVER: "There is no refill date yet. It will show here after the clinic records a refill.",
        STAFF: "There is no refill date yet. It will show here after you record a refill.",
    },
    "refill.no_date_status": "There is no refill date because this record is marked “{status}”.",
    # The guidance page (templates/symptoms/guidance.html).
    "checkin.unsure_alarm": {
        PATIENT: "You were not sure which alarm the pump made. So we treated it as the more serious two-tone alarm.",
        CAREGIVER: "The answer was “not sure” about which alarm the pump made. "
        "So the app treated it as the more serious two-tone alarm.",
        STAFF: "The answer was “not sure” about which alarm the pump made. "
        "So the app treated it as the more serious two-tone alarm.",
    },
    # Message subjects (refills/notify/content.py). No symptoms, doses or full names (SPEC §5).
    "subject.step_14": {
        PATIENT: "Time to book your pump refill: due {when}",
        CAREGIVER: "Time to book a pump refill: due {when}",
        STAFF: "Pump refill due {when} for {name}",
    },
    "subject.step": {
        PATIENT: "Pump refill due {when}",
        CAREGIVER: "Pump refill due {when}",
        STAFF: "Pump refill due {when} for {name}",
    },
    "subject.overdue": {
        PATIENT: "Pump refill overdue: call your clinic today",
        CAREGIVER: "Pump refill overdue: call the clinic today",
        STAFF: "Overdue pump refill: {name}",
    },
    "subject.overdue_clinic": "Overdue pump refill: {name}",
    "subject.empty": {
        PATIENT: "Your pump may be empty now: watch for warning signs",
        CAREGIVER: "A pump may be empty now: watch for warning signs",
        STAFF: "Pump may be empty now: {name}",
    },
    "subject.date_changed": {
        PATIENT: "Your pump refill date changed",
        CAREGIVER: "A pump refill date changed",
        STAFF: "Pump refill date changed: {name}",
    },
    "subject.eos_90": {
        PATIENT: "Pump battery replacement: book it now",
        CAREGIVER: "Pump battery replacement: book it now",
        STAFF: "Pump battery replacement due: {name}",
    },
    "subject.eos_30": {
        PATIENT: "Pump battery replacement is close",
        CAREGIVER: "Pump battery replacement is close",
        STAFF: "Pump battery replacement is close: {name}",
    },
    "subject.test": "Test message from IBT Companion",
    "subject.nobody_alert": "IBT Companion",
    "subject.alert_emergency": {
        PATIENT: "Urgent: check-in alert",
        CAREGIVER: "Urgent: check on someone you care for",
        STAFF: "Urgent: emergency check-in for {name}",
    },
    "subject.alert_call_clinic": {
        PATIENT: "Check-in alert",
        CAREGIVER: "Please check on someone you care for",
        STAFF: "Check-in: call {name}",
    },
    # Message bodies (templates/emails/reminder.txt shows these lines).
    "message.test": "This is a test message from IBT Companion. If you can read it, this way of reaching you works.",
    "message.due": {
        PATIENT: "Your pump refill is due on {due}, {when}.",
        CAREGIVER: "{Name_s} pump refill is due on {due}, {when}.",
        STAFF: "{Name_s} pump refill is due on {due}, {when}.",
    },
    "message.due_past": {
        PATIENT: "Your pump refill was due on {due}, {when}.",
        CAREGIVER: "{Name_s} pump refill was due on {due}, {when}.",
        STAFF: "{Name_s} pump refill was due on {due}, {when}.",
    },
    "message.book_now": {
        PATIENT: "Please book the refill now.",
        CAREGIVER: "Please make sure the refill is booked now.",
        STAFF: "Please book the refill with them now.",
    },
    "message.appointment": {
        PATIENT: "Your refill appointment is on {day} at {time}.",
        CAREGIVER: "{Name_s} refill appointment is on {day} at {time}.",
        STAFF: "The refill appointment is on {day} at {time}.",
    },
    "message.overdue": {
        PATIENT: "Your pump refill was due on {due}. Call {clinic} today: {phone}.",
        CAREGIVER: "{Name_s} pump refill was due on {due}. Call {clinic} today: {phone}.",
        STAFF: "{Name_s} pump refill was due on {due}. No refill is recorded. Call them today.",
    },
    "message.overdue_clinic": "{Name_s} pump refill was due on {due}, and no refill is recorded. Call them today.",
    "message.empty": {
        PATIENT: "Your pump may be empty now. Without the medicine, withdrawal can start within hours.",
        CAREGIVER: "{Name_s} pump may be empty now. Without the medicine, withdrawal can start within hours.",
        STAFF: "{Name_s} pump may be empty now.",
    },
    "message.empty_signs": (
        "Watch for: more stiffness or spasms, itching, tingling, fever, a fast heartbeat, confusion."
    ),
    "message.empty_go": {
        PATIENT: "If any of these appear, go to the emergency department now, or call {emergency}.",
        CAREGIVER: "If any of these appear, take {name} to the emergency department now, or call {emergency}.",
        STAFF: "Call them now.",
    },
    "message.call_clinic_now": "Call {clinic} now: {phone} (after hours: {after_hours}).",
    "message.date_changed": {
        PATIENT: "Your pump refill date changed. It is now {due}.",
        CAREGIVER: "{Name_s} pump refill date changed. It is now {due}.",
        STAFF: "{Name_s} pump refill date changed. It is now {due}.",
    },
    "message.eos": {
        PATIENT: "Your pump battery reaches its end of service on {end}. The pump must be replaced before then.",
        CAREGIVER: "{Name_s} pump battery reaches its end of service on {end}. The pump must be replaced before then.",
        STAFF: "{Name_s} pump battery reaches its end of service on {end}. Plan the new pump before then.",
    },
    "message.eos_plan": {
        PATIENT: "Call {clinic} at {phone} to plan it.",
        CAREGIVER: "Call {clinic} at {phone} to plan it.",
        STAFF: "Call them to book it.",
    },
    "message.clinic_line": "Clinic: {clinic}, {phone} (after hours: {after_hours}).",
    "message.ack_link": "To tell us you got this message, open: {link}",
    "message.open_patient": "Open the patient in the clinic console (log-in needed): {link}",
    "message.open_checkin": {
        PATIENT: "See the check-in: {link}",
        CAREGIVER: "See the check-in: {link}",
        STAFF: "Open the check-in (log-in needed): {link}",
    },
    "message.in_an_emergency": {
        PATIENT: "In an emergency, call {emergency}.",
        CAREGIVER: "In an emergency, call {emergency}.",
        STAFF: "",
    },
    # Check-in alerts: by who logged the check-in (SPEC §6: "X reported emergency signs at 14:05;
    # the app told them to call 911; check on them now").
    "alert.emergency.by_patient": {
        PATIENT: "You reported emergency signs at {at}.",
        CAREGIVER: "{Name} reported emergency signs at {at}; the app told them to call {emergency}; check on them now.",
        STAFF: "{Name} reported emergency signs at {at}. The app told them to call {emergency}. Check on them now.",
    },
    "alert.emergency.by_staff": {
        PATIENT: "Your clinic took a call about emergency signs at {at}.",
        CAREGIVER: "{Name_s} clinic took a call about emergency signs at {at} and told the caller to call "
        "{emergency}; check on {name} now.",
        STAFF: "A call about emergency signs for {name} was logged at {at}. The caller was told to call "
        "{emergency}. Check on them now.",
    },
    "alert.emergency.by_caregiver": {
        PATIENT: "Emergency signs were reported for you at {at}.",
        CAREGIVER: "Emergency signs were reported for {name} at {at}; the app told the person with them to call "
        "{emergency}; check on {name} now.",
        STAFF: "Emergency signs were reported for {name} at {at} by a caregiver. The app told them to call "
        "{emergency}. Check on them now.",
    },
    "alert.call_clinic.by_patient": {
        PATIENT: "You reported signs at {at} that need a call to the pump clinic now.",
        CAREGIVER: "{Name} reported signs at {at} that need a call to the pump clinic now. The app told them to "
        "call {clinic}: {phone} (after hours: {after_hours}). You may want to check on {name}.",
        STAFF: "{Name} reported signs at {at} that need a call to the pump clinic now.",
    },
    "alert.call_clinic.by_other": {
        PATIENT: "Signs that need a call to the pump clinic were reported for you at {at}.",
        CAREGIVER: "Signs were reported for {name} at {at} that need a call to the pump clinic now. The app told "
        "the person with them to call {clinic}: {phone} (after hours: {after_hours}). "
        "You may want to check on {name}.",
        STAFF: "Signs that need a call to the pump clinic were reported for {name} at {at}.",
    },
}


def _check_table() -> None:
    for key, words in SENTENCES.items():
        if not isinstance(words, str) and set(words) != set(READERS):
            raise AssertionError(f"{key}: say it to every reader ({', '.join(READERS)})")


_check_table()
