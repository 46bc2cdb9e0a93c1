"""Symptom triage, rule set 2026.1 (SPEC §6): one pure, versioned function. No Django here.

    triage(checkin, context) -> Disposition(level, reasons, rule_set_version, pump_data_checked)

The rules are a table (`RULES`), in SPEC order, each with its level, a condition that reads like
the SPEC, a plain-language reason and the source tags of `clinical-reference.md`. The most urgent
level of any firing rule wins; every firing rule gives one reason; rule 15 (routine) fires only
when nothing else does.

`context` is the snapshot taken for the check-in: the forecast at `observed_at`, the last refill,
reprogram or pump replacement, and the risk markers. `None` means there is no patient (the public
checker): the rules that need pump data (5, 6, 7, 10, 13, 14) cannot fire, and the answer says
that the pump data was not checked.

Safety stance where the SPEC leaves a gap (each errs towards the more urgent answer):
- a temperature is rounded once to 0.1 °C (ROUND_HALF_UP) before any comparison, also when a
  caller hands `triage` an unrounded Celsius value;
- with no alarm volume, rule 5 uses the 4.0 mL floor;
- any risk marker counts for rules 6 and 7;
- rule 10 also looks at `last_fill_at`, the last refill or replacement when a reprogram followed it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from patients import wording

from . import temperatures
from .catalog import BY_CODE, CODES, COMMON, DEVICE, OVERDOSE, RED_FLAGS, WITHDRAWAL, in_catalog_order

RULE_SET_VERSION = "2026.1"

EMERGENCY = "emergency"
CALL_CLINIC = "call_clinic"
ROUTINE = "routine"
LEVELS = (EMERGENCY, CALL_CLINIC, ROUTINE)  # most urgent first
_RANK = {level: i for i, level in enumerate(LEVELS)}

REFILL = "refill"
REPROGRAM = "reprogram"
PUMP_REPLACED = "pump_replaced"
CHANGE_KINDS = (REFILL, REPROGRAM, PUMP_REPLACED)
FILL_KINDS = (REFILL, PUMP_REPLACED)  # events that put new drug into a pump

HIGH_FEVER_C = Decimal("38.9")
FEVER_C = Decimal("38.0")
LOW_TEMPERATURE_C = Decimal("35.0")
MIN_TEMPERATURE_C = Decimal("25.0")
MAX_TEMPERATURE_C = Decimal("45.0")
LOW_RESERVOIR_FLOOR_ML = Decimal("4.0")  # withdrawal starts above the 2 mL alarm in ~1/4 [S25]
AFTER_FILL = timedelta(hours=24)
AFTER_CHANGE = timedelta(hours=48)
ALARM_OR_MISSED = frozenset({"pump_alarm_critical", "pump_alarm_single", "missed_refill"})
AUTONOMIC = frozenset({"racing_heart", "sweating"})


class TemperatureError(ValueError):
    """A temperature that cannot be read, or is outside 25.0–45.0 °C after rounding."""


class SymptomError(ValueError):
    """A symptom list that is not a list of distinct catalog codes."""


# --- Temperatures ------------------------------------------------------------------------------


def _exact(value: Decimal | float | str) -> Fraction:
    if isinstance(value, bool):
        raise TemperatureError("Enter the temperature as a number.")
    if isinstance(value, float):
        value = repr(value)  # the digits as typed, not the binary approximation
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        raise TemperatureError("Enter the temperature as a number, such as 37.5.") from None
    if not number.is_finite():
        raise TemperatureError("Enter the temperature as a number, such as 37.5.")
    return Fraction(number)


def to_celsius(value: Decimal | str, unit: str) -> Decimal:
    """°C = (°F − 32) × 5 / 9, computed exactly and rounded once to 0.1 (ROUND_HALF_UP).

    102 °F → 38.9, 100.4 °F → 38.0, 101.93 °F → 38.9 (38.85 exactly). A Celsius value is rounded
    the same way. Outside 25.0–45.0 °C after rounding is a `TemperatureError`.
    """
    exact = _exact(value)
    if unit == "F":
        exact = temperatures.fahrenheit_to_celsius(exact)
    elif unit != "C":
        raise TemperatureError("Choose °C or °F for the temperature.")
    celsius = temperatures.round_tenth(exact)
    if not MIN_TEMPERATURE_C <= celsius <= MAX_TEMPERATURE_C:
        raise TemperatureError("That temperature looks wrong. Check the number and whether it is °C or °F.")
    return celsius


# --- Inputs and outputs ------------------------------------------------------------------------


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware")


@dataclass(frozen=True)
class CheckIn:
    symptoms: tuple[str, ...]  # distinct catalog codes (see validate_symptoms); empty means none
    temperature_c: Decimal | None  # rounded to 0.1 by to_celsius
    observed_at: datetime
    # The temperature as typed, and its unit ("C" or "F"): only the words of a reason read them
    # ("102 °F (38.9 °C)"); without them the reason shows the °C value.
    temperature_entered: Decimal | None = None
    temperature_unit: str = ""

    def __post_init__(self) -> None:
        _require_aware("observed_at", self.observed_at)


@dataclass(frozen=True)
class Context:
    """The snapshot of a patient's pump data at `observed_at` (SPEC §6)."""

    volume_ml_at_observed: Decimal | None  # the forecast's volume at observed_at; None: no forecast
    alarm_volume_ml: Decimal | None
    refill_due_at: datetime | None
    last_change_kind: str | None  # "refill" | "reprogram" | "pump_replaced"
    last_change_at: datetime | None
    risk_markers: frozenset[str] = frozenset()
    # The last refill or pump replacement when a reprogram came after it: rule 10 must still see
    # a refill of 20 hours ago that a reprogram 2 hours ago would otherwise hide.
    last_fill_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.last_change_kind is not None and self.last_change_kind not in CHANGE_KINDS:
            raise ValueError(f"last_change_kind must be one of {CHANGE_KINDS}, not {self.last_change_kind!r}")
        for name in ("refill_due_at", "last_change_at", "last_fill_at"):
            _require_aware(name, getattr(self, name))

    @property
    def has_forecast(self) -> bool:
        return self.volume_ml_at_observed is not None and self.refill_due_at is not None


@dataclass(frozen=True)
class Reason:
    rule_id: int
    level: str
    text: str
    source: str


@dataclass(frozen=True)
class Disposition:
    level: str
    reasons: tuple[Reason, ...]
    rule_set_version: str
    pump_data_checked: bool  # False without a patient, or a patient with no forecast


# --- What the rules read -------------------------------------------------------------------------


def _celsius(checkin: CheckIn) -> Decimal | None:
    if checkin.temperature_c is None:
        return None
    return temperatures.round_tenth(_exact(checkin.temperature_c))


def _signs(checkin: CheckIn, group: frozenset[str]) -> tuple[str, ...]:
    return in_catalog_order(set(checkin.symptoms) & group)


def red_flag(c: CheckIn) -> bool:
    return bool(_signs(c, RED_FLAGS))


def withdrawal_sign(c: CheckIn) -> bool:
    return bool(_signs(c, WITHDRAWAL))


def overdose_sign(c: CheckIn) -> bool:
    return bool(_signs(c, OVERDOSE))


def device_code(c: CheckIn) -> bool:
    return bool(_signs(c, DEVICE))


def has(c: CheckIn, code: str) -> bool:
    return code in c.symptoms


def temperature_at_least(c: CheckIn, threshold: Decimal) -> bool:
    t = _celsius(c)
    return t is not None and t >= threshold


def temperature_below(c: CheckIn, threshold: Decimal) -> bool:
    t = _celsius(c)
    return t is not None and t < threshold


def risk_marker(ctx: Context | None) -> bool:
    return ctx is not None and bool(ctx.risk_markers)


def reservoir_low(c: CheckIn, ctx: Context | None) -> bool:
    """Volume at observed_at ≤ max(alarm volume, 4.0 mL)."""
    if ctx is None or ctx.volume_ml_at_observed is None:
        return False
    limit = max(ctx.alarm_volume_ml or LOW_RESERVOIR_FLOOR_ML, LOW_RESERVOIR_FLOOR_ML)
    return Decimal(ctx.volume_ml_at_observed) <= limit


def refill_due(c: CheckIn, ctx: Context | None) -> bool:
    """observed_at ≥ refill_due_at."""
    return ctx is not None and ctx.refill_due_at is not None and c.observed_at >= ctx.refill_due_at


def _within(c: CheckIn, since: datetime | None, window: timedelta) -> bool:
    return since is not None and timedelta(0) <= c.observed_at - since <= window


def within_24h_after_fill(c: CheckIn, ctx: Context | None) -> bool:
    """0 ≤ observed_at − (last refill or pump replacement) ≤ 24 h; a reprogram is not a fill."""
    if ctx is None:
        return False
    fills = [ctx.last_fill_at]
    if ctx.last_change_kind in FILL_KINDS:
        fills.append(ctx.last_change_at)
    return any(_within(c, at, AFTER_FILL) for at in fills)


def within_48h_after_change(c: CheckIn, ctx: Context | None) -> bool:
    """0 ≤ observed_at − (last refill, reprogram or replacement) ≤ 48 h."""
    if ctx is None:
        return False
    return _within(c, ctx.last_change_at, AFTER_CHANGE) or _within(c, ctx.last_fill_at, AFTER_CHANGE)


def any_symptom(c: CheckIn) -> bool:
    return bool(c.symptoms)


# --- The rule set ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    id: int
    level: str
    condition: Callable[[CheckIn, Context | None], bool]
    reason: str  # a template over _facts() and the reader's slots (patients/wording.py)
    source: str  # tags in clinical-reference.md (§4 unless told)
    needs_context: bool = False


RULES: tuple[Rule, ...] = (
    Rule(1, EMERGENCY,
         lambda c, x: red_flag(c),
         "{You_reported} {danger_signs}.",
         "[S3][S19][S20][S46][S47]"),
    Rule(2, EMERGENCY,
         lambda c, x: temperature_at_least(c, HIGH_FEVER_C) and withdrawal_sign(c),
         "{You} {have} a high fever of {temperature} and {low_dose_signs}.",
         "[S1][S20][S46]"),  # 38.9 °C: a JUDGMENT (clinical-reference §10.5)
    Rule(3, EMERGENCY,
         lambda c, x: temperature_below(c, LOW_TEMPERATURE_C),
         "{Your} body is too cold: {temperature}. This can be a sign of too much medicine.",
         "[S20][S62]"),
    Rule(4, EMERGENCY,
         lambda c, x: bool(_signs(c, ALARM_OR_MISSED)) and (withdrawal_sign(c) or overdose_sign(c)),
         "The pump may not be working right. {You_reported} {alarm_signs}, and {dose_signs}.",
         "[S3][S12][S15]"),
    Rule(5, EMERGENCY,
         lambda c, x: withdrawal_sign(c) and (reservoir_low(c, x) or refill_due(c, x)),
         "{pump_state}, and {you_reported} {low_dose_signs}.",
         "[S25]",
         needs_context=True),
    Rule(6, EMERGENCY,
         lambda c, x: risk_marker(x) and withdrawal_sign(c) and temperature_at_least(c, FEVER_C),
         "{Your_clinic} noted that {you} {are} at higher risk. {You} {have} a fever of {temperature} and "
         "{low_dose_signs}.",
         "[S1][S2]",
         needs_context=True),
    Rule(7, EMERGENCY,
         lambda c, x: has(c, "pump_alarm_critical") and risk_marker(x),
         "{Your} pump made a two-tone alarm, and {your_clinic} noted that {you} {are} at higher risk.",
         "[S12][S1]",
         needs_context=True),
    Rule(8, EMERGENCY,
         lambda c, x: has(c, "spasticity_increase")
         and (bool(_signs(c, AUTONOMIC)) or temperature_at_least(c, FEVER_C)),
         "{You_reported} stiffer muscles with {strain_signs}.",
         "[S23]"),
    Rule(9, EMERGENCY,
         lambda c, x: has(c, "drowsy") and has(c, "muscle_weakness"),
         "{You_reported} sleepiness with new weakness. This can be a sign of too much medicine.",
         "[S23]"),
    Rule(10, EMERGENCY,
         lambda c, x: overdose_sign(c) and within_24h_after_fill(c, x),
         "In the first day after {fill}, {you_reported} {high_dose_signs}.",
         "[S44][S45][S11]",
         needs_context=True),
    Rule(11, CALL_CLINIC,
         lambda c, x: withdrawal_sign(c) or overdose_sign(c) or device_code(c),
         "{You_reported} {clinic_signs}.",
         "[S3][S12][S19][S20]"),
    Rule(12, CALL_CLINIC,
         lambda c, x: temperature_at_least(c, FEVER_C),
         "{You} {have} a fever of {temperature}.",
         "[S15]"),
    Rule(13, CALL_CLINIC,
         lambda c, x: any_symptom(c) and within_48h_after_change(c, x),
         "{You} {have} symptoms within 2 days after {change}.",
         "[S11][S44]",
         needs_context=True),
    Rule(14, CALL_CLINIC,
         lambda c, x: any_symptom(c) and refill_due(c, x),
         "{You} {have} symptoms, and {your} refill date has passed.",
         "[S3][S16]",
         needs_context=True),
    Rule(15, ROUTINE,
         lambda c, x: True,  # "Otherwise": triage() applies it only when no other rule fired
         "{routine_text}",
         "SPEC §6"),
)  # fmt: skip

CONTEXT_RULES = frozenset(r.id for r in RULES if r.needs_context)  # {5, 6, 7, 10, 13, 14}
BY_RULE = {rule.id: rule for rule in RULES}
_OTHERWISE = RULES[-1]


# --- Plain words for the reasons -----------------------------------------------------------------


def _join(phrases: Iterable[str]) -> str:
    items = list(phrases)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _counted(one: str, many: str, codes: tuple[str, ...]) -> str:
    words = _join(BY_CODE[code].phrase for code in codes)
    return f"{one if len(codes) == 1 else many}: {words}"


_PATIENT = wording.Reader(wording.PATIENT)  # a disposition's own reasons speak to the patient
_CHANGE_WORDS: dict[str | None, str] = {REFILL: "a refill", REPROGRAM: "a dose change", PUMP_REPLACED: "a new pump"}


_ROUTINE_WORDS: dict[str, wording.Words] = {
    "nothing": {
        wording.PATIENT: "You did not report any warning signs.",
        wording.CAREGIVER: "No warning signs were reported for {name}.",
        wording.STAFF: "No warning signs were reported for {name}.",
    },
    "nothing_urgent": {
        wording.PATIENT: "You did not report any sign that needs care now.",
        wording.CAREGIVER: "No sign that needs care now was reported for {name}.",
        wording.STAFF: "No sign that needs care now was reported for {name}.",
    },
}
# "You reported" to the patient; "Sam has" to a caregiver or staff, whoever logged the check-in.
_REPORTED: wording.Words = {
    wording.PATIENT: "you reported",
    wording.CAREGIVER: "{name} has",
    wording.STAFF: "{name} has",
}


def temperature_words(c: CheckIn) -> str:
    """The check-in's temperature as typed, the other unit in brackets ("102 °F (38.9 °C)")."""
    if c.temperature_entered is not None and c.temperature_unit:
        return temperatures.shown(c.temperature_entered, c.temperature_unit)
    t = _celsius(c)
    return temperatures.shown(t, temperatures.CELSIUS, as_typed=False) if t is not None else ""


def _facts(c: CheckIn, ctx: Context | None, who: wording.Reader) -> dict[str, str]:
    def say(words: wording.Words) -> str:
        return wording.fill(words, who)

    temperature = temperature_words(c)
    strain = [BY_CODE[code].phrase for code in _signs(c, AUTONOMIC)]
    if temperature_at_least(c, FEVER_C):
        strain.append(f"a fever of {temperature}")
    pump_state = []
    if reservoir_low(c, ctx):
        pump_state.append(say("{Your} pump may be low on medicine"))
    if refill_due(c, ctx):
        pump_state.append(say("{your} refill date has passed" if pump_state else "{Your} refill date has passed"))
    fill_words: dict[str | None, str] = {REFILL: "a refill", PUMP_REPLACED: "a new pump"}
    fill = fill_words.get(ctx.last_change_kind if ctx else None, "a refill or a new pump")
    change = _CHANGE_WORDS.get(ctx.last_change_kind if ctx else None, "a refill or dose change")
    common = _signs(c, COMMON)
    reported = say(_REPORTED)
    if not c.symptoms:
        routine_text = say(_ROUTINE_WORDS["nothing"])
    elif set(c.symptoms) <= COMMON:
        routine_text = f"{_capital(reported)} {_counted('a common side effect', 'common side effects', common)}."
    else:  # not reachable under rule set 2026.1 (rule 11 covers every other code); kept truthful
        routine_text = say(_ROUTINE_WORDS["nothing_urgent"])
    return {
        "you_reported": reported,
        "You_reported": _capital(reported),
        "danger_signs": _counted("a danger sign", "danger signs", _signs(c, RED_FLAGS)),
        "low_dose_signs": _counted(
            "a sign of too little medicine", "signs of too little medicine", _signs(c, WITHDRAWAL)
        ),
        "high_dose_signs": _counted("a sign of too much medicine", "signs of too much medicine", _signs(c, OVERDOSE)),
        "dose_signs": _counted(
            "a sign the dose may be wrong", "signs the dose may be wrong", _signs(c, WITHDRAWAL | OVERDOSE)
        ),
        "clinic_signs": _counted(
            say("a sign {your_clinic} needs to know about now"),
            say("signs {your_clinic} needs to know about now"),
            _signs(c, WITHDRAWAL | OVERDOSE | DEVICE),
        ),
        "alarm_signs": _join(BY_CODE[code].phrase for code in _signs(c, ALARM_OR_MISSED)),
        "strain_signs": _join(strain),
        "temperature": temperature,
        "pump_state": " and ".join(pump_state),
        "fill": fill,
        "change": change,
        "routine_text": routine_text,
    }


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def reason_text(rule_id: int, checkin: CheckIn, context: Context | None, who: wording.Reader) -> str:
    """Why rule `rule_id` fired, said to `who` (the patient, a caregiver or staff)."""
    return wording.fill(BY_RULE[rule_id].reason, who, **_facts(checkin, context, who))


# --- The function ------------------------------------------------------------------------------


def triage(checkin: CheckIn, context: Context | None) -> Disposition:
    """The disposition of one check-in under rule set 2026.1. Deterministic, no side effects."""
    unknown = [code for code in checkin.symptoms if code not in BY_CODE]
    if unknown:
        raise SymptomError(f"Unknown symptom codes: {', '.join(sorted(map(str, unknown)))}")
    fired = [
        rule for rule in RULES[:-1] if not (rule.needs_context and context is None) and rule.condition(checkin, context)
    ]
    if not fired:
        fired = [_OTHERWISE]
    facts = _facts(checkin, context, _PATIENT)
    reasons = tuple(
        Reason(rule.id, rule.level, wording.fill(rule.reason, _PATIENT, **facts), rule.source)
        for rule in sorted(fired, key=lambda r: (_RANK[r.level], r.id))
    )
    return Disposition(
        level=reasons[0].level,
        reasons=reasons,
        rule_set_version=RULE_SET_VERSION,
        pump_data_checked=context is not None and context.has_forecast,
    )


def validate_symptoms(codes: object) -> tuple[str, ...]:
    """A list of distinct catalog codes, returned in catalog order; else `SymptomError`."""
    if not isinstance(codes, list | tuple):
        raise SymptomError("Send the symptoms as a list of codes.")
    if len(codes) > len(CODES):
        raise SymptomError(f"Send at most {len(CODES)} symptom codes.")
    unknown = [code for code in codes if not isinstance(code, str) or code not in BY_CODE]
    if unknown:
        raise SymptomError(f"Unknown symptom codes: {', '.join(sorted(map(str, unknown)))}")
    if len(set(codes)) != len(codes):
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        raise SymptomError(f"Each symptom may be sent once; repeated: {', '.join(repeated)}")
    return in_catalog_order(codes)
