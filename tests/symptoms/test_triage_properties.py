"""Properties of rule set 2026.1 that must hold for every check-in: never under-triage."""

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from hypothesis import assume, given
from hypothesis import strategies as st

from symptoms.catalog import CODES, OVERDOSE, RED_FLAGS, WITHDRAWAL
from symptoms.triage import CONTEXT_RULES, CheckIn, Context, to_celsius, triage

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
RANK = {"emergency": 0, "call_clinic": 1, "routine": 2}
MARKERS = ("sci_t6_or_above", "communication_difficulty", "prior_withdrawal")

symptom_lists = st.lists(st.sampled_from(CODES), unique=True, max_size=8)
temperatures = st.none() | st.decimals(min_value=Decimal("25.0"), max_value=Decimal("45.0"), places=1)
observed = st.integers(min_value=-3 * 86_400, max_value=3 * 86_400).map(lambda s: T0 + timedelta(seconds=s))


@st.composite
def contexts(draw):
    has_forecast = draw(st.booleans())
    kind = draw(st.sampled_from([None, "refill", "reprogram", "pump_replaced"]))
    hours = st.integers(min_value=-72 * 3600, max_value=30 * 86_400)
    return Context(
        volume_ml_at_observed=draw(st.decimals(min_value=0, max_value=40, places=2)) if has_forecast else None,
        alarm_volume_ml=draw(st.sampled_from([None, Decimal("2.0"), Decimal("3.0"), Decimal("4.5")])),
        refill_due_at=T0 + timedelta(seconds=draw(hours)) if has_forecast else None,
        last_change_kind=kind,
        last_change_at=None if kind is None else T0 - timedelta(seconds=draw(hours)),
        risk_markers=frozenset(draw(st.lists(st.sampled_from(MARKERS), unique=True))),
    )


context_or_none = st.none() | contexts()


def level(symptoms, temp, context, at=T0):
    return triage(CheckIn(tuple(symptoms), temp, at), context).level


@given(symptom_lists, st.sampled_from(CODES), temperatures, context_or_none, observed)
def test_adding_a_symptom_never_lowers_the_level(symptoms, extra, temp, context, at):
    assume(extra not in symptoms)
    before = level(symptoms, temp, context, at)
    after = level([*symptoms, extra], temp, context, at)
    assert RANK[after] <= RANK[before]


@given(symptom_lists, st.sampled_from(sorted(RED_FLAGS)), temperatures, context_or_none, observed)
def test_any_red_flag_is_always_an_emergency(symptoms, flag, temp, context, at):
    assert level({*symptoms, flag}, temp, context, at) == "emergency"


@given(symptom_lists, st.sampled_from(sorted(WITHDRAWAL | OVERDOSE)), temperatures, context_or_none, observed)
def test_any_withdrawal_or_overdose_sign_is_never_routine(symptoms, sign, temp, context, at):
    assert level({*symptoms, sign}, temp, context, at) != "routine"


shuffled_lists = st.lists(st.sampled_from(CODES), unique=True, min_size=1).flatmap(
    lambda s: st.tuples(st.just(s), st.permutations(s))
)


@given(shuffled_lists, temperatures, context_or_none)
def test_order_of_symptoms_does_not_matter(pair, temp, context):
    original, shuffled = pair
    a = triage(CheckIn(tuple(original), temp, T0), context)
    b = triage(CheckIn(tuple(shuffled), temp, T0), context)
    assert a == b


@given(symptom_lists, temperatures, contexts(), observed)
def test_triage_is_deterministic(symptoms, temp, context, at):
    checkin = CheckIn(tuple(symptoms), temp, at)
    assert triage(checkin, context) == triage(checkin, context)


@given(symptom_lists, temperatures)
def test_without_a_patient_the_context_rules_never_fire(symptoms, temp):
    disposition = triage(CheckIn(tuple(symptoms), temp, T0), None)
    assert not {r.rule_id for r in disposition.reasons} & CONTEXT_RULES
    assert disposition.pump_data_checked is False


@given(
    st.integers(min_value=0, max_value=24 * 3600),  # seconds since the refill
    st.decimals(min_value=0, max_value=Decimal("4.0"), places=2),
    st.sampled_from(MARKERS),
    st.sampled_from(["refill", "pump_replaced"]),
)
def test_control_a_context_that_fires_every_context_rule(since_fill, volume, marker, kind):
    checkin = CheckIn(("itching", "drowsy", "pump_alarm_critical"), Decimal("38.0"), T0)
    context = Context(
        volume_ml_at_observed=volume,
        alarm_volume_ml=Decimal("2.0"),
        refill_due_at=T0,
        last_change_kind=kind,
        last_change_at=T0 - timedelta(seconds=since_fill),
        risk_markers=frozenset({marker}),
    )
    with_patient = triage(checkin, context)
    assert CONTEXT_RULES <= {r.rule_id for r in with_patient.reasons}
    assert with_patient.pump_data_checked is True
    without = triage(checkin, None)
    assert not {r.rule_id for r in without.reasons} & CONTEXT_RULES
    assert without.level == "emergency"  # rule 4 still holds: an alarm with a withdrawal sign


fahrenheit = st.decimals(min_value=Decimal("77"), max_value=Decimal("113"), places=2)


@given(fahrenheit, fahrenheit)
def test_fahrenheit_to_celsius_is_monotone(a, b):
    low, high = sorted((a, b))
    assert to_celsius(low, "F") <= to_celsius(high, "F")


@given(fahrenheit)
def test_fahrenheit_to_celsius_matches_a_high_precision_oracle(f):
    with localcontext() as c:
        c.prec = 60
        expected = ((f - 32) * 5 / 9).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    assert to_celsius(f, "F") == expected
    assert to_celsius(str(f), "F") == expected


not_cold = st.decimals(min_value=Decimal("95"), max_value=Decimal("113"), places=2)  # 35.0–45.0 °C


@given(symptom_lists, not_cold, not_cold, context_or_none)
def test_a_hotter_temperature_never_lowers_the_level(symptoms, a, b, context):
    # From 35.0 °C up (below it, rule 3 makes cold an emergency of its own).
    low, high = sorted((to_celsius(a, "F"), to_celsius(b, "F")))
    assert RANK[level(symptoms, high, context)] <= RANK[level(symptoms, low, context)]


@given(symptom_lists, temperatures, contexts())
def test_adding_a_risk_marker_never_lowers_the_level(symptoms, temp, context):
    marked = Context(**{**context.__dict__, "risk_markers": context.risk_markers | {"prior_withdrawal"}})
    assert RANK[level(symptoms, temp, marked)] <= RANK[level(symptoms, temp, context)]


@given(symptom_lists, temperatures, contexts())
def test_pump_data_never_lowers_the_level(symptoms, temp, context):
    # The public checker (no patient) may only ever be as urgent as, or less urgent than, the full answer.
    assert RANK[level(symptoms, temp, context)] <= RANK[level(symptoms, temp, None)]
