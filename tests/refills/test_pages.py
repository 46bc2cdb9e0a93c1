"""The pump pages: the "next refill due" card, the staff pump profile, recording an event
with a preview, corrections, and the event history."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from patients.models import AuditEvent, Patient
from refills import services
from refills.models import PumpEvent, PumpProfile, RefillCycle
from tests.factories import CaregiverLinkFactory, PatientFactory, UserFactory
from tests.helpers import client_for

# The patient's zone is America/Chicago. 500 mcg/mL at 250 mcg/day drains 0.5 mL a day, so a
# 20 mL pump filled at T0 reaches its 2 mL alarm 36 days later: Thursday 26 November, 09:00 CST.
T0 = datetime(2026, 10, 21, 15, 0, tzinfo=UTC)  # Wednesday 21 October, 10:00 CDT
NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)  # Saturday 21 November, 09:00 CST
SIMPLE = {"concentration_mcg_per_ml": "500", "mode": "simple", "daily_dose_mcg": "250"}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def give_pump(patient, by, **values):
    return services.save_profile(
        patient=patient, by=by, values={"model": "synchromed2_20", "implant_date": date(2025, 1, 1), **values}
    )


def refill(patient, by, at=T0, **values):
    data = {"volume_ml": "20", "aspirated_ml": "1", "program": SIMPLE, **values}
    return services.record_event(patient=patient, kind="refill", values=data, occurred_at=at, by=by)


@pytest.fixture
def pumped(world):
    give_pump(world.patient, world.staff)
    return world


@pytest.fixture
def refilled(pumped):
    refill(pumped.patient, pumped.staff)
    return pumped


def body(response) -> str:
    return response.content.decode()


def text(response) -> str:
    """The page as words: tags dropped and white space squeezed, so phrases can be matched."""
    html = body(response)
    html = html[html.index("<main") : html.index("</main>")]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'")


# --- The "next refill due" card --------------------------------------------------------------


# The same card speaks to each reader: "your pump" to the patient, "Pat's pump" to a caregiver.
REASON_FOR = {
    "patient_user": "This is when your pump will start beeping because it is low. Get your refill before then.",
    "caregiver": (
        "This is when Pat's pump will start beeping because it is low. Make sure Pat gets the refill before then."
    ),
}


@pytest.mark.parametrize("who", ["patient_user", "caregiver"])
def test_home_card_shows_the_date_in_words_the_days_left_the_reason_and_the_numbers(refilled, who):
    page = text(client_for(getattr(refilled, who)).get("/"))
    assert "Next refill due" in page
    assert "Thursday 26 November" in page
    assert "in 5 days" in page
    assert REASON_FOR[who] in page
    if who == "caregiver":
        assert "your pump" not in page
    assert "Medicine in the pump now 4.5 mL" in page  # 20 − 31 days × 0.5 mL
    assert "Strength of the medicine 500 mcg/mL" in page
    assert "Daily dose 250 mcg/day" in page
    assert "Last refill Wednesday 21 October 2026" in page
    assert "No refill appointment is booked yet" in page


def test_caregiver_home_keeps_the_foundation_and_names_the_patient(refilled):
    page = text(client_for(refilled.caregiver).get("/"))
    assert "People you look after" in page and "Pat Home" in page
    assert refilled.other_patient.full_name not in page


def test_home_card_shows_the_booked_appointment(refilled):
    RefillCycle.objects.filter(patient=refilled.patient).update(
        appointment_at=datetime(2026, 11, 24, 16, 30, tzinfo=UTC)
    )
    page = text(client_for(refilled.patient_user).get("/"))
    assert "Refill appointment: Tuesday 24 November at 10:30" in page


def test_home_card_overdue_says_so_in_words(refilled, frozen):
    frozen.move_to(datetime(2026, 11, 28, 18, 0, tzinfo=UTC))
    page = text(client_for(refilled.patient_user).get("/"))
    assert "Overdue:" in page and "2 days ago — call your clinic today" in page


def test_home_card_today(refilled, frozen):
    frozen.move_to(datetime(2026, 11, 26, 14, 0, tzinfo=UTC))
    assert "Due today" in text(client_for(refilled.patient_user).get("/"))


def test_home_card_explains_a_stability_limit(pumped):
    give_pump(pumped.patient, pumped.staff, max_days_in_pump=30)
    refill(pumped.patient, pumped.staff)
    page = text(client_for(pumped.patient_user).get("/"))
    assert "The medicine can stay in the pump for 30 days at most." in page
    assert "Friday 20 November" in page and "1 day ago — call your clinic today" in page


def test_home_card_explains_a_reported_alarm(refilled):
    services.record_event(
        patient=refilled.patient,
        kind="alarm_reported",
        values={"tone": "single"},
        occurred_at=NOW - timedelta(hours=2),
        by=refilled.staff,
    )
    page = text(client_for(refilled.patient_user).get("/"))
    assert "Your pump alarm went off. Call your clinic today." in page and "Saturday 21 November" in page


def test_no_forecast_message(pumped):
    page = text(client_for(pumped.patient_user).get("/"))
    assert "There is no refill date yet" in page
    assert "Medicine in the pump now" not in page


def test_no_forecast_for_an_explanted_patient(refilled):
    Patient.objects.filter(pk=refilled.patient.pk).update(status=Patient.Status.EXPLANTED)
    page = text(client_for(refilled.caregiver).get("/"))
    assert "There is no refill date because this record is marked “Explanted”." in page


def test_the_card_is_on_the_patient_page_for_everyone_and_the_staff_links_for_staff(refilled):
    pid = refilled.patient.pk
    for person in (refilled.patient_user, refilled.caregiver, refilled.staff):
        page = body(client_for(person).get(f"/patients/{pid}/"))
        assert "Thursday 26 November" in page and f"/patients/{pid}/events/" in page
        staff_links = f"/patients/{pid}/pump/" in page and "Record a refill" in page
        assert staff_links == (person == refilled.staff)


def _caregiver_with(n):
    carer = UserFactory()
    staff = None
    for _ in range(n):
        patient = PatientFactory()
        staff = staff or UserFactory()
        give_pump(patient, staff)
        refill(patient, staff)
        CaregiverLinkFactory(caregiver=carer, patient=patient)
    return carer


def test_home_queries_do_not_grow_with_the_people_a_caregiver_looks_after(db, django_assert_max_num_queries):
    one, ten = client_for(_caregiver_with(1)), client_for(_caregiver_with(10))
    one.get("/")
    with django_assert_max_num_queries(15) as first:
        page = one.get("/")
    count = len(first)  # now: the next request resets Django's query log
    assert page.content.count(b"Next refill due") == 1
    ten.get("/")
    with django_assert_max_num_queries(count):
        page = ten.get("/")
    assert page.content.count(b"Next refill due") == 10


# --- Staff pages: who may open them ----------------------------------------------------------


@pytest.mark.parametrize("who", ["patient_user", "caregiver", "other_clinic_staff"])
def test_only_the_patients_clinic_staff_reach_the_staff_pages(refilled, who):
    client = client_for(getattr(refilled, who))
    pid = refilled.patient.pk
    event = PumpEvent.objects.get(patient=refilled.patient)
    before = PumpEvent.objects.count()
    for url in (
        f"/patients/{pid}/pump/",
        f"/patients/{pid}/events/new/",
        f"/patients/{pid}/events/new/?kind=refill",
        f"/patients/{pid}/events/new/?kind=correction&corrects={event.pk}",
    ):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"volume_ml": "20", "confirm": "1"}).status_code == 404, url
    assert PumpEvent.objects.count() == before


def test_patient_and_caregiver_see_the_history_without_staff_flags(refilled):
    refill(refilled.patient, refilled.staff, at=NOW - timedelta(days=1), aspirated_ml="1")  # expected ~5: flagged
    for person in (refilled.patient_user, refilled.caregiver):
        page = text(client_for(person).get(f"/patients/{refilled.patient.pk}/events/"))
        assert "Refill" in page and "Volume after the event (V0) 20 mL" in page
        assert "Discrepancy" not in page and "Warning:" not in page and "Correct this" not in page
    assert client_for(refilled.other_clinic_staff).get(f"/patients/{refilled.patient.pk}/events/").status_code == 404
    staff_page = text(client_for(refilled.staff).get(f"/patients/{refilled.patient.pk}/events/"))
    assert "Discrepancy" in staff_page and "Warning:" in staff_page and "Correct this" in staff_page


def test_staff_reads_are_audited(refilled):
    client = client_for(refilled.staff)
    pid = refilled.patient.pk
    for url in (f"/patients/{pid}/pump/", f"/patients/{pid}/events/", f"/patients/{pid}/events/new/?kind=refill"):
        assert client.get(url).status_code == 200
    reads = set(AuditEvent.objects.filter(action=AuditEvent.Action.READ, patient_id=pid).values_list("what", flat=True))
    assert {"pump_profile", "pump_events", "pump_event_form"} <= reads
    count = AuditEvent.objects.count()
    client_for(refilled.patient_user).get(f"/patients/{pid}/events/")
    assert AuditEvent.objects.count() == count


# --- Pump profile ----------------------------------------------------------------------------


def test_pump_profile_bad_input_shows_field_errors_and_saves_nothing(world):
    client = client_for(world.staff)
    url = f"/patients/{world.patient.pk}/pump/"
    bad = client.post(url, {"model": "other", "implant_date": "yesterday", "max_days_in_pump": "500"})
    assert bad.status_code == 200
    page = text(bad)
    assert "Please fix these problems" in page
    assert "Enter the reservoir size: this pump model has no fixed size." in page
    assert "Enter the alarm volume: this pump model has no usual volume." in page
    assert "Enter a valid date" in page
    assert "Ensure this value is less than or equal to 180" in page
    # The service's own check (alarm below capacity) comes back as a field error too.
    too_high = client.post(
        url,
        {"model": "synchromed2_20", "implant_date": "2025-01-01", "max_days_in_pump": "180", "alarm_volume_ml": "25"},
    )
    assert too_high.status_code == 200 and "Must be less than the pump's capacity." in text(too_high)
    assert not PumpProfile.objects.exists()


def test_pump_profile_saves_and_edits(world):
    client = client_for(world.staff)
    url = f"/patients/{world.patient.pk}/pump/"
    assert "no pump profile yet" in text(client.get(url))
    good = client.post(
        url,
        {
            "model": "prometra2_40",
            "implant_date": "2025-02-03",
            "eri_date": "2031-01-01",
            "max_days_in_pump": "90",
            "catheter_tip_level": "T10",
            "risk_prior_withdrawal": "on",
        },
    )
    assert good.status_code == 302 and good["Location"] == f"/patients/{world.patient.pk}/"
    profile = PumpProfile.objects.get(patient=world.patient)
    assert profile.capacity_ml == 40 and profile.alarm_volume_ml == 3  # from the catalog
    assert profile.risk_prior_withdrawal and not profile.risk_sci_t6_or_above
    page = body(client.get(url))
    assert 'value="2025-02-03"' in page and 'value="T10"' in page


# --- Recording a refill: check, then save ------------------------------------------------------


def refill_form(**changes):
    data = {
        "occurred_date": "2026-11-20",
        "occurred_time": "10:00",  # 16:00Z
        "volume_ml": "20",
        "aspirated_ml": "5",
        "concentration": "500",
        "mode": "simple",
        "daily_dose_mcg": "250",
        "rows": "4",
        "confirm": "0",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def fingerprint(response) -> str:
    return re.search(r'name="checked" value="([0-9a-f]+)"', body(response)).group(1)


def test_refill_check_shows_the_preview_and_saves_nothing_then_save_saves(refilled):
    client = client_for(refilled.staff)
    url = f"/patients/{refilled.patient.pk}/events/new/?kind=refill"
    form_page = body(client.get(url))
    assert 'value="2026-11-21"' in form_page and 'value="09:00"' in form_page  # now, on the patient's clock
    assert re.search(r'name="concentration" value="500"[^>]*checked', form_page)  # the program in force

    checked = client.post(url, refill_form())
    assert checked.status_code == 200
    page = text(checked)
    assert "Check before you save" in page and "Nothing is saved yet." in page
    # Elapsed 30 days 1 hour since T0: 20 − 15.02 = 4.98 mL expected, 5 taken out.
    assert "The app expected in the pump 4.98 mL" in page and "Within the usual range" in page
    assert "Saturday 26 December 2026 at 10:00 CST" in page  # 20 − 2 = 18 mL at 0.5 mL/day
    # Staff read about the patient, not "your pump" (the wording the patient reads).
    assert "This is when Pat Home's pump will start its low-reservoir alarm. Refill it before then." in page
    assert "your pump" not in page
    assert "Pump empty Wednesday 30 December 2026" in page
    assert "First “refill now” reminder Saturday 19 December 2026 at 09:00 CST" in page
    assert "Daily dose 250 mcg/day" in page and "Daily volume 0.5 mL/day" in page
    assert "No warnings." in page
    assert PumpEvent.objects.count() == 1
    assert 'value="20"' in body(checked) and 'value="5"' in body(checked)  # the values are kept

    saved = client.post(url, refill_form(confirm="1", checked=fingerprint(checked)))
    assert saved.status_code == 302 and saved["Location"] == f"/patients/{refilled.patient.pk}/events/"
    event = PumpEvent.objects.latest("pk")
    assert event.kind == "refill" and event.occurred_at == datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    assert event.recorded_by == refilled.staff and event.values["aspirated_ml"] == "5"
    assert "Refill saved. Next refill due: Saturday 26 December 2026" in text(client.get(saved["Location"]))

    home = text(client_for(refilled.patient_user).get("/"))
    assert "Saturday 26 December" in home and "in 35 days" in home and "Last refill Friday 20 November 2026" in home


def test_a_discrepancy_is_called_out_in_words(refilled):
    checked = client_for(refilled.staff).post(
        f"/patients/{refilled.patient.pk}/events/new/?kind=refill", refill_form(aspirated_ml="2")
    )
    page = text(checked)
    assert "Discrepancy The app expected 4.98 mL in the pump, but 2 mL was taken out." in page
    assert "Warning: Refill discrepancy" in page
    assert PumpEvent.objects.count() == 1


def test_save_without_a_matching_check_saves_nothing(refilled):
    client = client_for(refilled.staff)
    url = f"/patients/{refilled.patient.pk}/events/new/?kind=refill"
    checked = client.post(url, refill_form())
    changed = client.post(url, refill_form(aspirated_ml="2", confirm="1", checked=fingerprint(checked)))
    assert changed.status_code == 200 and "You changed something after the last check" in text(changed)
    unchecked = client.post(url, refill_form(confirm="1"))
    assert unchecked.status_code == 200 and "Check before you save" in text(unchecked)
    assert PumpEvent.objects.count() == 1


def test_first_refill_after_the_profile_has_nothing_to_compare(pumped):
    checked = client_for(pumped.staff).post(
        f"/patients/{pumped.patient.pk}/events/new/?kind=refill", refill_form(occurred_date="2026-10-21")
    )
    assert "No forecast before this refill, so there is nothing to compare." in text(checked)


def test_concentration_in_mg_per_ml_is_converted_exactly(refilled):
    client = client_for(refilled.staff)
    url = f"/patients/{refilled.patient.pk}/events/new/?kind=refill"
    data = refill_form(concentration="other", concentration_other="0.5", concentration_unit="mg")
    checked = client.post(url, data)
    assert "Daily volume 0.5 mL/day" in text(checked)
    assert client.post(url, {**data, "confirm": "1", "checked": fingerprint(checked)}).status_code == 302
    program = PumpEvent.objects.latest("pk").values["program"]
    assert program["concentration_mcg_per_ml"] == "500.0"


def test_flex_program_with_boluses_and_ptm(refilled):
    client = client_for(refilled.staff)
    url = f"/patients/{refilled.patient.pk}/events/new/?kind=refill"
    data = refill_form(
        mode="flex",
        daily_dose_mcg="",
        flex_start_0="07:00",
        flex_rate_0="12",
        flex_start_2="19:00",  # a gap between rows is fine
        flex_rate_2="8",
        bolus_time_0="12:00",
        bolus_dose_0="20",
        ptm_dose_mcg="10",
        ptm_max_per_day="2",
    )
    checked = client.post(url, data)
    # 12 × 12 + 8 × 12 = 240, + 20 bolus + 2 × 10 PTM = 280 mcg/day
    assert "Daily dose 280 mcg/day" in text(checked)
    assert client.post(url, {**data, "confirm": "1", "checked": fingerprint(checked)}).status_code == 302
    program = PumpEvent.objects.latest("pk").values["program"]
    assert program["flex_steps"] == [
        {"start": "07:00", "rate_mcg_per_hour": "12"},
        {"start": "19:00", "rate_mcg_per_hour": "8"},
    ]
    assert program["ptm"] == {"dose_mcg": "10", "max_per_day": 2}


def test_thirteen_flex_rows_on_request(refilled):
    page = body(client_for(refilled.staff).get(f"/patients/{refilled.patient.pk}/events/new/?kind=refill"))
    assert 'name="flex_start_3"' in page and 'name="flex_start_4"' not in page
    assert "rows=13" in page
    more = body(client_for(refilled.staff).get(f"/patients/{refilled.patient.pk}/events/new/?kind=refill&rows=13"))
    assert 'name="flex_start_12"' in more and 'name="flex_start_13"' not in more


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"volume_ml": ""}, "volume_ml", "This field is required."),
        ({"volume_ml": "25"}, "volume_ml", "More than the pump holds (20 mL)."),
        ({"aspirated_ml": "-1"}, "aspirated_ml", "Cannot be negative."),
        (
            {
                "mode": "flex",
                "daily_dose_mcg": "",
                "flex_start_0": "07:00",
                "flex_rate_0": "10",
                "flex_start_1": "7:5",
                "flex_rate_1": "5",
            },
            "flex_start_1",
            "Write the time as HH:MM, from 00:00 to 23:59.",
        ),
        (
            {
                "mode": "flex",
                "daily_dose_mcg": "",
                "flex_start_1": "07:00",
                "flex_rate_1": "10",
                "flex_start_3": "07:00",
                "flex_rate_3": "5",
            },
            "flex_start_3",
            "Step 1 already starts at 07:00.",
        ),
        ({"occurred_date": "2026-11-22"}, "occurred_date", "This is in the future."),
        ({"occurred_date": "2026-10-01"}, "occurred_date", "This is before the latest event."),
        ({"daily_dose_mcg": ""}, "daily_dose_mcg", "This field is required."),
        ({"daily_dose_mcg": "0"}, None, "This program delivers nothing."),
        ({"concentration": "other"}, "concentration_other", "Type the strength"),
        ({"concentration": "other", "concentration_other": "-2"}, "concentration_other", "Must be more than 0."),
        ({"occurred_time": "25:00"}, "occurred_time", "Enter a valid time."),
    ],
)
@pytest.mark.parametrize("confirm", ["0", "1"])
def test_bad_input_shows_field_errors_and_saves_nothing(refilled, changes, field, message, confirm):
    response = client_for(refilled.staff).post(
        f"/patients/{refilled.patient.pk}/events/new/?kind=refill", refill_form(confirm=confirm, **changes)
    )
    assert response.status_code == 200
    html = body(response)
    assert "Please fix these problems" in html and message in text(response)
    assert "Check before you save" not in html
    if field:
        # The summary links to the field, and the message sits next to it.
        assert f'href="#id_{field}"' in html
        assert re.search(rf"{re.escape(message)}.{{0,400}}name=\"{field}\"", html, re.S)
    assert PumpEvent.objects.count() == 1


def test_every_problem_shows_at_once(refilled):
    response = client_for(refilled.staff).post(
        f"/patients/{refilled.patient.pk}/events/new/?kind=refill",
        refill_form(
            volume_ml="", aspirated_ml="30", mode="flex", daily_dose_mcg="", flex_start_1="7:5", flex_rate_1="3"
        ),
    )
    page = text(response)
    assert "This field is required." in page  # the form's own check
    assert "More than the pump holds (20 mL)." in page  # and the service's, in the same round
    assert "Write the time as HH:MM" in page
    assert PumpEvent.objects.count() == 1


def test_garbage_post_is_a_form_error_not_a_500(refilled):
    client = client_for(refilled.staff)
    for kind in ("refill", "reprogram", "alarm_reported", "pump_replaced", "explanted"):
        response = client.post(f"/patients/{refilled.patient.pk}/events/new/?kind={kind}", {"volume_ml": "x" * 50})
        assert response.status_code == 200, kind
    assert PumpEvent.objects.count() == 1


def test_an_event_without_a_pump_profile_says_what_to_do(world):
    client = client_for(world.staff)
    url = f"/patients/{world.patient.pk}/events/new/?kind=refill"
    assert "Fill in the pump profile first" in text(client.get(url))
    response = client.post(url, refill_form())
    assert "Record the pump profile first." in text(response)
    assert not PumpEvent.objects.exists()


def test_other_kinds_record_through_the_same_flow(refilled):
    client = client_for(refilled.staff)
    base = f"/patients/{refilled.patient.pk}/events/new/"
    chooser = text(client.get(base))
    assert "Record a new dose program" in chooser and "Record a pump alarm" in chooser

    reprogram = refill_form(daily_dose_mcg="500", volume_ml="", aspirated_ml=None)
    checked = client.post(f"{base}?kind=reprogram", reprogram)
    assert "Daily dose 500 mcg/day" in text(checked)
    saved = client.post(f"{base}?kind=reprogram", {**reprogram, "confirm": "1", "checked": fingerprint(checked)})
    assert saved.status_code == 302

    stronger = client.post(f"{base}?kind=reprogram", {**reprogram, "occurred_time": "11:00", "concentration": "1000"})
    assert "A reprogram cannot change the concentration" in text(stronger)

    alarm = {"occurred_date": "2026-11-21", "occurred_time": "08:00", "tone": "two_tone", "confirm": "0"}
    checked = client.post(f"{base}?kind=alarm_reported", alarm)
    assert "Pat Home's pump alarm went off. Call Pat Home today to plan the refill." in text(checked)
    assert (
        client.post(
            f"{base}?kind=alarm_reported", {**alarm, "confirm": "1", "checked": fingerprint(checked)}
        ).status_code
        == 302
    )
    assert list(PumpEvent.objects.order_by("pk").values_list("kind", flat=True)) == [
        "refill",
        "reprogram",
        "alarm_reported",
    ]


# --- Corrections ----------------------------------------------------------------------------------


def test_correction_flow(refilled):
    second = refill(refilled.patient, refilled.staff, at=datetime(2026, 11, 20, 16, 0, tzinfo=UTC), aspirated_ml="2")
    assert second.event.discrepancy
    client = client_for(refilled.staff)
    pid = refilled.patient.pk
    history = body(client.get(f"/patients/{pid}/events/"))
    link = f"/patients/{pid}/events/new/?kind=correction&amp;corrects={second.event.pk}"
    assert link in history

    url = link.replace("&amp;", "&")
    form = body(client.get(url))
    assert "You are correcting this event: Refill, Friday 20 November 2026 at 10:00 CST" in text(client.get(url))
    assert 'name="aspirated_ml"' in form and 'value="2"' in form and 'name="occurred_date"' not in form

    data = refill_form(occurred_date=None, occurred_time=None, aspirated_ml="5", note="Typo: 5 mL was aspirated")
    missing_note = client.post(url, {**data, "note": ""})
    assert "This field is required." in text(missing_note)
    checked = client.post(url, data)
    assert "Within the usual range" in text(checked) and "No warnings." in text(checked)
    assert PumpEvent.objects.count() == 2
    saved = client.post(url, {**data, "confirm": "1", "checked": fingerprint(checked)})
    assert saved.status_code == 302

    correction = PumpEvent.objects.get(kind="correction")
    assert correction.corrects == second.event and correction.occurred_at == second.event.occurred_at
    second.event.refresh_from_db()
    assert not second.event.discrepancy
    page = text(client.get(f"/patients/{pid}/events/"))
    assert f"Corrected on Saturday 21 November 2026 by {refilled.staff.full_name}." in page
    assert "The values now in force" in page and "Volume taken out (aspirated) 5 mL" in page
    assert "Discrepancy" not in page


def test_correction_of_someone_elses_event_is_404(refilled):
    give_pump(refilled.other_patient, refilled.staff)
    elsewhere = refill(refilled.other_patient, refilled.staff).event
    alarm = services.record_event(
        patient=refilled.patient, kind="alarm_reported", values={"tone": "single"}, occurred_at=NOW, by=refilled.staff
    ).event
    client = client_for(refilled.staff)
    base = f"/patients/{refilled.patient.pk}/events/new/?kind=correction&corrects="
    for target in (elsewhere.pk, alarm.pk, "999999", "x", ""):
        assert client.get(f"{base}{target}").status_code == 404, target
        assert client.post(f"{base}{target}", refill_form()).status_code == 404, target


# --- Query counts ----------------------------------------------------------------------------------


def test_event_history_queries_do_not_grow_with_events(pumped, django_assert_max_num_queries):
    refill(pumped.patient, pumped.staff, at=datetime(2026, 6, 1, 15, 0, tzinfo=UTC))
    refill(pumped.patient, pumped.staff, at=datetime(2026, 6, 2, 15, 0, tzinfo=UTC), aspirated_ml="19.5")
    client = client_for(pumped.staff)
    url = f"/patients/{pumped.patient.pk}/events/"
    client.get(url)
    with django_assert_max_num_queries(15) as two:
        client.get(url)
    count = len(two)
    start = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
    for day in range(28):
        refill(pumped.patient, pumped.staff, at=start + timedelta(days=day), aspirated_ml="19.5")
    first = PumpEvent.objects.filter(patient=pumped.patient).earliest("occurred_at")
    services.record_event(
        patient=pumped.patient,
        kind="correction",
        values={"volume_ml": "19", "aspirated_ml": "1", "program": SIMPLE},
        occurred_at=first.occurred_at,
        corrects=first,
        by=pumped.staff,
    )
    assert PumpEvent.objects.filter(patient=pumped.patient).exclude(kind="correction").count() == 30
    with django_assert_max_num_queries(count):
        page = client.get(url)
    assert page.content.count(b'class="card event"') == 30
