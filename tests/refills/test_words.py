"""refills.words.date_in_words, the one "date in words": pages say it in the reader's language,
messages (translated=False) always in English, as they did when messages had their own copy."""

from datetime import UTC, date, datetime

from django.utils import translation

from refills.words import date_in_words

MONDAY = datetime(2024, 1, 1, 7, 0, tzinfo=UTC)


def test_pages_say_the_date_in_the_readers_language():
    with translation.override("es"):
        assert date_in_words(MONDAY, "Europe/Madrid", year=False) == "lunes 1 enero"


def test_messages_say_the_date_in_english_whatever_the_language():
    for language in ("en", "es", "fr"):
        with translation.override(language):
            assert date_in_words(MONDAY, "Europe/Madrid", year=False, translated=False) == "Monday 1 January"


def test_the_date_is_on_the_patients_clock_and_the_year_shows_when_it_is_not_this_year():
    late = datetime(2024, 1, 1, 3, 0, tzinfo=UTC)  # still 31 December in Chicago
    noon = datetime(2024, 1, 1, 18, 0, tzinfo=UTC)  # 1 January in Chicago too
    assert date_in_words(late, "America/Chicago", now=noon) == "Sunday 31 December 2023"
    assert date_in_words(late, "UTC", now=noon) == "Monday 1 January"
    assert date_in_words(date(2026, 3, 2), "UTC", year=True) == "Monday 2 March 2026"
