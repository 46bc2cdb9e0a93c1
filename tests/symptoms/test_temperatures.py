"""Temperatures in words (symptoms/temperatures.py): the unit the person typed first, the other in
brackets with one decimal. No database."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from symptoms.temperatures import shown
from symptoms.triage import to_celsius


@pytest.mark.parametrize(
    ("value", "unit", "words"),
    [
        (Decimal("102"), "F", "102 °F (38.9 °C)"),
        (Decimal("38.9"), "C", "38.9 °C (102.0 °F)"),
        (Decimal("102.00"), "F", "102 °F (38.9 °C)"),  # as the column stores it: shown as typed
        (Decimal("38.90"), "C", "38.9 °C (102.0 °F)"),
        (Decimal("100.4"), "F", "100.4 °F (38.0 °C)"),  # SPEC §6: the fever line
        (Decimal("101.93"), "F", "101.93 °F (38.9 °C)"),  # 38.85 exactly: half up
        (Decimal("101.92"), "F", "101.92 °F (38.8 °C)"),
        (Decimal("37"), "C", "37 °C (98.6 °F)"),
        (Decimal("35.0"), "C", "35 °C (95.0 °F)"),
        (Decimal("25.0"), "C", "25 °C (77.0 °F)"),  # the lowest a check-in takes
        (Decimal("45"), "C", "45 °C (113.0 °F)"),  # and the highest
        (Decimal("77"), "F", "77 °F (25.0 °C)"),
        (Decimal("113"), "F", "113 °F (45.0 °C)"),
        (Decimal("36.95"), "C", "36.95 °C (98.5 °F)"),  # 98.51 → 98.5
        (Decimal("-0"), "C", "0 °C (32.0 °F)"),
        (Decimal("1E+2"), "F", "100 °F (37.8 °C)"),
        ("38,5", "C", "38.5 °C (101.3 °F)"),  # a decimal comma, as the form takes it
        ("98.6", "f", "98.6 °F (37.0 °C)"),
        (38, "C", "38 °C (100.4 °F)"),
    ],
)
def test_the_typed_unit_first_and_the_other_in_brackets(value, unit, words):
    assert shown(value, unit) == words


def test_a_row_without_a_unit_is_shown_in_celsius():
    assert shown(Decimal("38.9"), "") == "38.9 °C (102.0 °F)"
    assert shown(Decimal("38.9"), None) == "38.9 °C (102.0 °F)"


def test_a_computed_celsius_value_keeps_its_decimal():
    assert shown(Decimal("39.0"), "C", as_typed=False) == "39.0 °C (102.2 °F)"
    assert shown(Decimal("39.0"), "C") == "39 °C (102.2 °F)"


@pytest.mark.parametrize("value", [None, "", "warm", "NaN", "Infinity", Decimal("sNaN")])
def test_nothing_readable_shows_nothing(value):
    assert shown(value, "C") == ""


@given(st.decimals(min_value=Decimal("77"), max_value=Decimal("113"), places=2))
def test_the_celsius_in_brackets_is_the_value_the_rules_compared(fahrenheit):
    assert shown(fahrenheit, "F").endswith(f" °F ({to_celsius(fahrenheit, 'F')} °C)")
