"""Triage reasons and guidance pages said to their reader: "You reported a seizure" to the patient,
"Sam has a danger sign: a seizure" to a caregiver or staff (SPEC §6, issue: words). No database."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import textstat

from patients import wording
from symptoms.guidance import PAGES, fill_page, page_text
from symptoms.triage import RULES, CheckIn, Context, reason_text, triage

from .test_guidance_readability import MAX_GRADE, NUMBERS, masked

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PATIENT = wording.reader(wording.PATIENT, "Sam Rivera")
CAREGIVER = wording.reader(wording.CAREGIVER, "Sam Rivera")
STAFF = wording.reader(wording.STAFF, "Sam Rivera")
OTHERS = (CAREGIVER, STAFF)
PATIENTS_OWN = re.compile(r"\b(you|your|yourself)\b", re.I)

# Every rule but 3 (too cold) and 15 (routine) fires for this one (tests/symptoms/test_triage_rules.py).
EVERYTHING = CheckIn(
    ("spasticity_increase", "sweating", "drowsy", "muscle_weakness", "pump_alarm_critical"),
    Decimal("38.9"),
    T0,
    Decimal("102"),
    "F",
)
CONTEXT = Context(
    volume_ml_at_observed=Decimal("1"),
    alarm_volume_ml=Decimal("2"),
    refill_due_at=T0,
    last_change_kind="refill",
    last_change_at=T0 - timedelta(hours=1),
    risk_markers=frozenset({"prior_withdrawal"}),
)
CASES = [
    (EVERYTHING, CONTEXT),
    (CheckIn((), Decimal("34.0"), T0, Decimal("93.2"), "F"), None),  # rule 3
    (CheckIn(("seizure", "tingling", "pump_alarm_single"), None, T0), None),  # rules 1, 4, 11
    (CheckIn((), None, T0), None),  # rule 15: nothing reported
    (CheckIn(("constipation", "dry_mouth"), None, T0), None),  # rule 15: common side effects
]


def test_the_same_reason_is_said_to_each_reader():
    checkin = CheckIn(("seizure",), None, T0)
    (reason,) = triage(checkin, None).reasons
    assert reason.text == "You reported a danger sign: a seizure."
    assert reason_text(1, checkin, None, PATIENT) == reason.text
    assert reason_text(1, checkin, None, CAREGIVER) == "Sam has a danger sign: a seizure."
    assert reason_text(1, checkin, None, STAFF) == "Sam Rivera has a danger sign: a seizure."


def test_the_clinic_is_theirs_to_a_caregiver_and_the_clinic_to_staff():
    checkin = CheckIn(("tingling",), None, T0)
    said = {who.role: reason_text(11, checkin, None, who) for who in (PATIENT, CAREGIVER, STAFF)}
    assert said == {
        "patient": "You reported a sign your clinic needs to know about now: tingling.",
        "caregiver": "Sam has a sign Sam's clinic needs to know about now: tingling.",
        "staff": "Sam Rivera has a sign the clinic needs to know about now: tingling.",
    }


def test_every_fired_rule_speaks_to_every_reader():
    fired = set()
    for checkin, context in CASES:
        for reason in triage(checkin, context).reasons:
            fired.add(reason.rule_id)
            assert reason_text(reason.rule_id, checkin, context, PATIENT) == reason.text
            for who in OTHERS:
                text = reason_text(reason.rule_id, checkin, context, who)
                assert "{" not in text and text.endswith("."), text
                assert not PATIENTS_OWN.search(text), f"rule {reason.rule_id} to a {who.role}: {text!r}"
                assert "Sam" in text or reason.rule_id == 4, text
    assert fired == {rule.id for rule in RULES}


def test_a_reason_shows_the_temperature_as_typed_with_the_other_unit():
    fever = CheckIn(("itching",), Decimal("38.9"), T0, Decimal("102"), "F")
    texts = {r.rule_id: r.text for r in triage(fever, None).reasons}
    assert texts[2] == "You have a high fever of 102 °F (38.9 °C) and a sign of too little medicine: itching."
    celsius = CheckIn(("itching",), Decimal("38.9"), T0, Decimal("38.9"), "C")
    assert "a high fever of 38.9 °C (102.0 °F)" in triage(celsius, None).reasons[0].text


@pytest.mark.parametrize("level", sorted(PAGES))
def test_a_caregiver_reads_the_guidance_about_the_patient(level):
    text = page_text(level, [], NUMBERS, who=CAREGIVER)
    assert not re.search(r"\byour (pump|clinic|refill|next)\b|I have an", text, re.I), text
    assert "{" not in text
    assert textstat.flesch_kincaid_grade(masked(text)) <= MAX_GRADE


def test_the_caregivers_emergency_page_says_what_to_say_about_the_patient():
    page = fill_page("emergency", NUMBERS, who=CAREGIVER)
    assert page.call_first and page.call_label == "Call 911 now"
    lines = page_text("emergency", [], NUMBERS, who=CAREGIVER)
    assert "Say: “Sam has an intrathecal baclofen pump.”" in lines
    assert "Bring Sam's pump card and the latest programmer printout." in lines
    assert "Sam's clinic has been told, but do not wait for them." in lines
    assert "Do not let Sam drive." in lines
    patient = page_text("emergency", [], NUMBERS)
    assert "Say: “I have an intrathecal baclofen pump.”" in patient and "Do not drive yourself." in patient


@pytest.mark.parametrize("level", sorted(PAGES))
def test_staff_read_what_the_app_told_the_patient_and_can_call_them(level):
    page = fill_page(level, {**NUMBERS, "patient_phone": "+1 555 0123"}, who=STAFF)
    text = page_text(level, [], {**NUMBERS, "patient_phone": "+1 555 0123"}, who=STAFF)
    assert "Sam Rivera" in page.title
    assert page.call_number == "+1 555 0123" and page.call_label == "Call Sam Rivera: +1 555 0123"
    assert not page.call_first
    assert "The app told them" in text
    assert not re.search(r"\byour\b|Do not drive|Say:", text), text
    assert textstat.flesch_kincaid_grade(masked(text)) <= MAX_GRADE
    no_phone = fill_page(level, NUMBERS, who=STAFF)
    assert no_phone.call_number == "" and no_phone.call_label == ""


def test_without_pump_data_each_reader_is_told_whose_data_it_was():
    assert "We could not check your pump data" in page_text("routine", [], NUMBERS, pump_data_checked=False)
    assert "We could not check Sam's pump data" in page_text(
        "routine", [], NUMBERS, pump_data_checked=False, who=CAREGIVER
    )
    staff = page_text("routine", [], NUMBERS, pump_data_checked=False, who=STAFF)
    assert "The app could not check Sam Rivera's pump data" in staff
