"""The numbers typed for a pump: which are believable, and how a message shows one. Pure: no
Django here.

A volume, dose, rate or strength of a billion or more, or with more than six digits after the
point, is a typo (or an attack), not a reading. Refusing them also keeps the exact arithmetic
of the forecast small: 1e-999999999 would become a fraction with a billion-digit denominator.
"""

from __future__ import annotations

from decimal import Decimal

LARGEST = Decimal("1e9")  # no volume (mL), dose (mcg), rate or strength comes near it
MOST_PLACES = 6
TOO_LARGE = "That number is too large. Check it."
TOO_PRECISE = f"Use at most {MOST_PLACES} digits after the point."


def places(number: Decimal) -> int:
    """Digits after the point, trailing zeros not counted (computed without the decimal context,
    which could overflow)."""
    _sign, digits, exponent = number.as_tuple()
    kept = len(digits)
    while kept and digits[kept - 1] == 0:
        kept -= 1
    if not kept:
        return 0
    if not isinstance(exponent, int):  # "n", "N" or "F": a NaN with a payload (callers pass finite numbers)
        raise TypeError("places of a number that is not finite")
    return max(0, -(exponent + len(digits) - kept))


def problem(number: Decimal) -> str | None:
    """Why a finite number cannot be a pump reading, or None."""
    if number.copy_abs() >= LARGEST:
        return TOO_LARGE
    if places(number) > MOST_PLACES:
        return TOO_PRECISE
    return None


def shown(value: Decimal) -> str:
    """A number for a message: plain digits, at most six after the point, never thousands long."""
    if not value.is_finite() or value.copy_abs() >= LARGEST:
        return "a very large number"
    rounded = value.quantize(Decimal(1).scaleb(-MOST_PLACES)).normalize()
    return f"{rounded:f}"
