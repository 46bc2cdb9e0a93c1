"""The words for each reader (patients/wording.py): the same fact said to the patient, a caregiver
and staff, each in their own words, from one table. No database."""

import re
import string

import pytest

from patients import wording
from patients.wording import CAREGIVER, PATIENT, READERS, SENTENCES, STAFF, Reader, fill, say

# Words that belong to the patient's own things: a caregiver or staff member reading them would
# be told about a pump, clinic or refill of their own.
PATIENTS_OWN = re.compile(r"\byour (pump|clinic|refill|body|record|pump card|next)\b|\byou (have|are|reported)\b", re.I)

SAM = {PATIENT: Reader(PATIENT, "Sam Rivera"), CAREGIVER: wording.reader(CAREGIVER, "Sam Rivera")}
SAM[STAFF] = wording.reader(STAFF, "Sam Rivera")


def facts_for(template: str) -> dict[str, str]:
    """A value for every field of a template that is not a reader's slot."""
    slots = wording.slots(SAM[PATIENT])
    names = {field for _, field, _, _ in string.Formatter().parse(template) if field}
    return {name: f"<{name}>" for name in names if name not in slots}


def said(key: str, role: str) -> str:
    template = wording.template_for(SENTENCES[key], SAM[role])
    return say(key, SAM[role], **facts_for(template))


def test_the_pump_alarm_date_is_said_to_each_reader_in_their_own_words():
    key = "refill.reason.low_reservoir_alarm"
    assert said(key, PATIENT) == (
        "This is when your pump will start beeping because it is low. Get your refill before then."
    )
    assert said(key, CAREGIVER) == (
        "This is when Sam's pump will start beeping because it is low. Make sure Sam gets the refill before then."
    )
    assert said(key, STAFF) == (
        "This is when Sam Rivera's pump will start its low-reservoir alarm. Refill it before then."
    )


def test_a_late_refill_tells_each_reader_whom_to_call():
    assert wording.days_left_words(-2, SAM[PATIENT]) == "2 days ago — call your clinic today"
    assert wording.days_left_words(-1, SAM[CAREGIVER]) == "1 day ago — call Sam's clinic today"
    assert wording.days_left_words(-3, SAM[STAFF]) == "3 days ago — call Sam Rivera today"
    for who in SAM.values():
        assert wording.days_left_words(5, who) == "in 5 days"
        assert wording.days_left_words(1, who) == "tomorrow"
        assert wording.days_left_words(0, who) == "today"


@pytest.mark.parametrize("key", sorted(SENTENCES))
def test_every_sentence_is_said_to_every_reader_and_fills_every_slot(key):
    texts = {role: said(key, role) for role in READERS}
    for role, text in texts.items():
        assert "{" not in text and "}" not in text, (key, role, text)
        if role != PATIENT:
            assert not PATIENTS_OWN.search(text), f"{key} tells a {role} about their own pump: {text!r}"


def test_a_sentence_written_per_reader_really_differs_between_readers():
    per_reader = [key for key, words in SENTENCES.items() if not isinstance(words, str)]
    assert len(per_reader) > 20
    for key in per_reader:
        assert len({said(key, role) for role in READERS}) > 1, f"{key}: one template would do"


def test_names_as_each_reader_knows_the_patient():
    assert wording.name_for(CAREGIVER, "  Sam   Rivera ") == "Sam"
    assert wording.name_for(STAFF, "Sam Rivera") == "Sam Rivera"
    assert wording.name_for(STAFF, "") == wording.name_for(CAREGIVER, " ") == "the patient"
    assert wording.reader("clinic", "Sam Rivera") == Reader(STAFF, "Sam Rivera")
    clinic = wording.clinic_reader(42)
    assert clinic == Reader(STAFF, "patient P42")
    assert fill("{Name_s} pump", clinic) == "Patient P42's pump"
    with pytest.raises(ValueError):
        Reader("visitor")


def test_a_typed_name_is_put_in_as_it_is():
    who = wording.reader(CAREGIVER, "{you} {0} <b>&")
    assert fill("Call {name_s} clinic.", who) == "Call {you}'s clinic."
    assert say("message.overdue", who, due="{due}", clinic="{x}", phone="1") == (
        "{you}'s pump refill was due on {due}. Call {x} today: 1."
    )


def test_a_fact_may_not_take_a_slots_name():
    with pytest.raises(ValueError, match="slots"):
        fill("{name}", SAM[PATIENT], name="Eve")


def test_the_reference_of_a_patient_round_trips():
    assert wording.patient_reference(42) == "P42"
    assert wording.patient_id_of_reference(" p42 ") == 42
    for text in ("", "P", "42", "P4x", "Q42", "P-42", "P" + "9" * 20):
        assert wording.patient_id_of_reference(text) is None, text


@pytest.mark.parametrize(
    ("days", "words"),
    [(14, "in 14 days"), (7, "in 7 days"), (2, "in 2 days"), (1, "tomorrow"), (0, "today"), (-1, "1 day ago")],
)
def test_when_words(days, words):
    assert wording.when_words(days) == words
