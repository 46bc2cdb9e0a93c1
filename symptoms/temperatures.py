"""Temperatures in words (SPEC §6). Pure: no Django here.

A temperature is shown the way the person typed it, then the other unit in brackets, that one
with one decimal: "102 °F (38.9 °C)", "38.9 °C (102.0 °F)". °F → °C is the triage's conversion
(symptoms/triage.py: exact, then rounded once to 0.1 half up), so the °C a page shows is the
value the rules compared; °C → °F is °C × 9 / 5 + 32, rounded the same way.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction

CELSIUS = "C"
FAHRENHEIT = "F"


def round_tenth(value: Fraction) -> Decimal:
    """Round an exact value once to 0.1, halves away from zero (ROUND_HALF_UP)."""
    tenths = abs(value) * 10
    whole = int(tenths)  # floor, the value being non-negative
    if tenths - whole >= Fraction(1, 2):
        whole += 1
    sign = -1 if value < 0 else 1
    return (Decimal(sign * whole) / 10).quantize(Decimal("0.1"))


def fahrenheit_to_celsius(value: Fraction) -> Fraction:
    return (value - 32) * 5 / 9


def celsius_to_fahrenheit(value: Fraction) -> Fraction:
    return value * 9 / 5 + 32


def _as_typed(value: Decimal) -> str:
    """The number as typed, without the zeros a stored column adds: 102.00 → "102", 38.50 → "38.5"."""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "") else text


def shown(value: Decimal | int | str | None, unit: str | None, *, as_typed: bool = True) -> str:
    """ "102 °F (38.9 °C)" for 102 typed in °F, "38.9 °C (102.0 °F)" for 38.9 typed in °C.

    `unit` is "C" or "F"; an empty unit (a row saved before the unit was kept) is read as °C.
    The first number is shown as typed (102.00 → "102"); with `as_typed=False` (a value the app
    computed, such as the rounded °C) with one decimal, like the one in brackets. No temperature,
    or one that cannot be read as a number, shows as "" (a page never fails on a stored value)."""
    if value is None or value == "":
        return ""
    text = str(value).strip()
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")  # 38,5: a decimal comma, as the check-in form accepts it
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return ""
    if not number.is_finite():
        return ""
    unit = (unit or CELSIUS).strip().upper() or CELSIUS
    exact = Fraction(number)
    first = _as_typed(number) if as_typed else str(round_tenth(exact))
    if unit == FAHRENHEIT:
        return f"{first} °F ({round_tenth(fahrenheit_to_celsius(exact))} °C)"
    return f"{first} °C ({round_tenth(celsius_to_fahrenheit(exact))} °F)"
