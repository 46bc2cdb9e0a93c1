"""The log watch itself: it must catch a name written to a log, or it proves nothing."""

import logging

import pytest

from tests.factories import PatientFactory


@pytest.mark.django_db
def test_the_watch_catches_a_patients_name_in_a_log_line(no_personal_data_in_logs):
    patient = PatientFactory(full_name="Quentin Example", phone="+1 555 0142")
    logging.getLogger("ibt_companion.test").warning("about %s", patient.full_name)
    logging.getLogger("ibt_companion.test").error("number %s", patient.phone)
    assert len(no_personal_data_in_logs.leaks) == 2
    no_personal_data_in_logs.leaks.clear()  # caught: this test wrote them on purpose


@pytest.mark.django_db
def test_ids_and_paths_are_not_personal_data(no_personal_data_in_logs):
    patient = PatientFactory(full_name="Quentin Example")
    logging.getLogger("django.request").warning("Not Found: /patients/%s/", patient.pk)
    assert no_personal_data_in_logs.leaks == []
