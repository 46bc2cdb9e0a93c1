"""Guidance pages when no clinic is known (the public checker, a check-in posted after the session
ended): no clinic number to dial, the clinic not told, the same plain words. No database."""

import re

import pytest
import textstat

from symptoms.guidance import NO_CLINIC_NUMBER_HINT, fill_page, fill_page_no_clinic, tel_href

from .test_guidance_readability import MAX_GRADE, masked

LEVELS = ["emergency", "call_clinic", "routine"]


def all_text(page) -> str:
    parts = [page.title, page.call_label, *page.lead, page.reasons_heading, page.staff_script]
    for section in page.sections:
        parts += [section.heading, *section.paragraphs]
    return "\n".join(parts)


@pytest.mark.parametrize("level", LEVELS)
def test_no_placeholder_or_broken_sentence_is_left(level):
    text = all_text(fill_page_no_clinic(level, "911"))
    assert "\x00" not in text and "{" not in text and "  " not in text
    assert not re.search(r"\bat (if|now)\b", text)


def test_the_emergency_page_still_dials_the_emergency_number():
    page = fill_page_no_clinic("emergency", "112")
    assert page.call_first and page.call_label == "Call 112 now" and page.call_number == "112"
    assert tel_href(page.call_number) == "tel:112"
    assert "This check-in was not saved, so your clinic has not been told. Do not wait." in all_text(page)


def test_the_call_clinic_page_has_no_number_to_dial_and_says_where_it_is():
    page = fill_page_no_clinic("call_clinic", "911")
    assert page.call_number == "" and page.call_label == "Call your pump clinic now"
    assert page.lead[0] == NO_CLINIC_NUMBER_HINT
    assert "The app does not call you. You need to call them." in page.lead
    assert "Your clinic can see this check-in" not in all_text(page)  # nothing was saved


def test_the_routine_page_names_no_number():
    page = fill_page_no_clinic("routine", "911")
    assert page.call_number == "" and page.call_label == "Your clinic’s number is on your pump card"
    assert "Call your clinic if anything changes, gets worse, or new signs appear." in all_text(page)


@pytest.mark.parametrize("level", LEVELS)
def test_the_pump_data_caveat_is_there(level):
    assert "We could not check your pump data" in all_text(fill_page_no_clinic(level, "911"))


@pytest.mark.parametrize("level", LEVELS)
def test_reads_at_grade_7_or_lower(level):
    text = all_text(fill_page_no_clinic(level, "911"))
    grade = textstat.flesch_kincaid_grade(masked(text))
    assert grade <= MAX_GRADE, f"{level}: grade {grade}\n{text}"


@pytest.mark.parametrize("level", LEVELS)
def test_only_the_clinic_words_differ_from_the_unsaved_page(level):
    known = fill_page(level, {"emergency_number": "911", "phone": "+1 555 0100"}, clinic_told=False)
    unknown = fill_page_no_clinic(level, "911", pump_data_checked=True)
    assert [s.heading for s in known.sections] == [s.heading for s in unknown.sections]
    assert known.reasons_heading == unknown.reasons_heading and known.call_first == unknown.call_first
