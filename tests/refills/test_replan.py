"""When who hears about a patient changes, the reminders not yet sent follow (SPEC §5: "the
patient and every linked caregiver"): a caregiver who accepts after the plan was made, a patient
who gets a log-in, a revoked caregiver, a phone checked, STOP and START. End-of-service notices
follow the patient's zone and status as the refill plan does."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from patients import services as patient_services
from patients.models import Invitation, Patient
from refills import phone
from refills import services as refill_services
from refills.models import Delivery, RefillCycle
from refills.notify import planning
from refills.notify.rows import COVERED, UNSENT
from tests.factories import PASSWORD, SIMPLE_PROGRAM, PatientFactory, pump_with_refill
from tests.refills.helpers import tick_and_send as run

# early_march (tests/conftest.py): time stands still at EARLY_MARCH
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("early_march")]

T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # the refill; due 6 April 15:00Z (see test_reminders)
STEP_14 = datetime(2026, 3, 23, 14, 0, tzinfo=UTC)
STEPS = {"step_14", "step_7", "step_3", "step_1", "overdue", "empty"}


@pytest.fixture
def cycle(world):
    pump_with_refill(world.patient, by=world.staff, at=T0)
    return RefillCycle.objects.get(patient=world.patient, ended_at__isnull=True)


def join_as_caregiver(world, email: str):
    invitation = patient_services.invite(
        by=world.staff, patient=world.patient, kind=Invitation.Kind.CAREGIVER, email=email, full_name="Late Carer"
    )
    return patient_services.accept_invitation(invitation, password=PASSWORD)


def unsent(key: str, **filters) -> set[tuple[str, str]]:
    rows = Delivery.objects.filter(recipient=key, status__in=UNSENT, **filters)
    return set(rows.values_list("kind", "channel"))


def test_a_caregiver_who_accepts_after_the_plan_gets_every_reminder_not_yet_sent(world, cycle):
    late = join_as_caregiver(world, "late@carer.example")
    assert {kind for kind, _channel in unsent(f"user:{late.pk}", cycle=cycle)} == STEPS
    assert run(STEP_14) and "late@carer.example" in {to for m in mail.outbox for to in m.to}


def test_someone_who_joins_after_a_step_went_out_gets_that_step_at_once_and_nobody_gets_it_twice(
    world, cycle, early_march
):
    sent_first = run(STEP_14)
    assert sent_first and set(sent_first) == {"sent"}
    before = len(mail.outbox)
    early_march.move_to(STEP_14 + timedelta(days=1))
    late = join_as_caregiver(world, "late@carer.example")
    statuses = run(STEP_14 + timedelta(days=1))
    new_mail = mail.outbox[before:]
    assert [m.to for m in new_mail] == [["late@carer.example"]]  # the 14-day step, to the newcomer only
    assert Delivery.objects.filter(recipient=f"user:{late.pk}", kind="step_14", status="sent").count() == 2
    assert set(statuses) == {"sent"}  # e-mail and inbox


def test_a_patient_who_gets_a_log_in_is_reminded_there_once(world):
    alone = PatientFactory(clinic=world.clinic, user=None, email="alone@home.example", time_zone="America/Chicago")
    cycle = pump_with_refill(alone, by=world.staff, at=T0)
    assert unsent(f"patient:{alone.pk}", cycle=cycle) == {(kind, "email") for kind in STEPS}
    invitation = patient_services.invite(
        by=world.staff, patient=alone, kind=Invitation.Kind.PATIENT, email="alone@home.example", full_name="Al One"
    )
    user = patient_services.accept_invitation(invitation, password=PASSWORD)
    assert unsent(f"patient:{alone.pk}", cycle=cycle) == set()
    assert unsent(f"user:{user.pk}", cycle=cycle) == {(k, c) for k in STEPS for c in ("email", "inbox")}


def test_a_revoked_caregiver_has_no_reminder_left_to_send(world, cycle):
    key = f"user:{world.caregiver.pk}"
    assert unsent(key, cycle=cycle)
    link = world.caregiver.caregiver_links.get(patient=world.patient)
    patient_services.revoke_caregiver(by=world.staff, link=link)
    assert unsent(key) == set()


def test_a_checked_phone_adds_texts_and_stop_and_start_take_them_away_and_back(world, cycle):
    carer, key, number = world.caregiver, f"user:{world.caregiver.pk}", "+15555550123"
    carer.phone, carer.notification_channels = number, ["email", "sms"]
    carer.save()
    assert not unsent(key, cycle=cycle, channel="sms")  # an unchecked number gets no texts
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    phone.mark_verified(carer, None, number, now)
    assert {kind for kind, _ in unsent(key, cycle=cycle, channel="sms")} == STEPS
    phone.opt_out(number, now)
    assert not unsent(key, channel="sms")  # and no end-of-service text either
    phone.opt_in_number(number, now)
    assert {kind for kind, _ in unsent(key, cycle=cycle, channel="sms")} == STEPS


def test_end_of_service_notices_follow_the_patients_zone_and_status(world, cycle):
    def notices() -> dict[str, datetime]:
        rows = Delivery.objects.filter(patient=world.patient, kind__startswith="eos_", status__in=UNSENT)
        return dict(rows.filter(recipient=f"clinic:{world.clinic.pk}").values_list("kind", "due_at"))

    refill_services.save_profile(patient=world.patient, by=world.staff, values={})  # plans the notices
    chicago = notices()
    assert set(chicago) == {"eos_90", "eos_30"}  # SynchroMed II from 1 Jan 2025: end of service in 2032
    patient = Patient.objects.get(pk=world.patient.pk)
    patient_services.update_patient(by=world.staff, patient=patient, changes={"time_zone": "Europe/Paris"})
    paris = notices()
    assert chicago["eos_90"] - paris["eos_90"] == timedelta(hours=7)  # the same hour on a clock 7 hours ahead
    patient_services.update_patient(by=world.staff, patient=patient, changes={"status": Patient.Status.TRANSFERRED})
    assert notices() == {}


def test_new_channel_choices_apply_to_the_reminders_not_yet_sent(world, cycle):
    from refills import preferences

    carer, key = world.caregiver, f"user:{world.caregiver.pk}"
    assert unsent(key, cycle=cycle) == {(k, c) for k in STEPS for c in ("email", "inbox")}  # the default

    def choose(channels):
        links = preferences.live_links(carer)
        assert preferences.save(
            by=carer, patient=None, links=links, channels=channels, language="en", phone="", time_zone=None,
            call_clinic={},
        )  # fmt: skip

    choose(["inbox"])
    assert unsent(key, cycle=cycle) == {(k, "inbox") for k in STEPS}
    choose(["email", "inbox"])
    assert unsent(key, cycle=cycle) == {(k, c) for k in STEPS for c in ("email", "inbox")}


def test_a_patients_own_change_of_channels_re_plans_once(world, cycle):
    """update_patient re-plans the patient (its signal); the save must not plan them again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from refills import preferences

    key = f"user:{world.patient_user.pk}"
    patient = Patient.objects.select_related("clinic", "user").get(pk=world.patient.pk)
    with CaptureQueriesContext(connection) as queries:
        assert preferences.save(
            by=world.patient_user, patient=patient, links=[], channels=["inbox"], language="en",
            phone="", time_zone=None, call_clinic={},
        )  # fmt: skip
    # plan_cycle stores the cycle's first step and overdue time once each time it plans it.
    plans = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('UPDATE "refills_refillcycle"')]
    assert len(plans) == 1, plans
    assert unsent(key, cycle=cycle) == {(k, "inbox") for k in STEPS}


# --- An acknowledged step is never sent again (issue 10) ------------------------------------

NUMBER = "+15555550123"


def _step_7(cycle) -> datetime:
    return Delivery.objects.filter(cycle=cycle, kind="step_7").values_list("due_at", flat=True).first()


def _add_a_channel(world):
    from refills import preferences

    carer = world.caregiver
    assert preferences.save(
        by=carer, patient=None, links=preferences.live_links(carer), channels=["email", "inbox"], language="en",
        phone="", time_zone=None, call_clinic={},
    )  # fmt: skip
    return f"user:{carer.pk}", "inbox"


def _verify_the_patients_phone(world):
    Patient.objects.filter(pk=world.patient.pk).update(phone=NUMBER, notification_channels=["email", "sms"])
    phone.mark_verified(world.patient_user, Patient.objects.get(pk=world.patient.pk), NUMBER, timezone_now())
    return f"user:{world.patient_user.pk}", "sms"


def _a_caregiver_accepts(world):
    late = join_as_caregiver(world, "late@carer.example")
    return f"user:{late.pk}", "email"


def _start_by_sms(world):
    phone.handle_inbound(NUMBER, "START", timezone_now())
    return f"user:{world.caregiver.pk}", "sms"


def timezone_now():
    from django.utils import timezone

    return timezone.now()


CHANGES = {
    "a new channel": _add_a_channel,
    "a checked phone": _verify_the_patients_phone,
    "a caregiver accepts": _a_caregiver_accepts,
    "START by text": _start_by_sms,
}


@pytest.fixture
def acknowledged_step_7(world, early_march):
    """The patient (e-mail) and the caregiver (e-mail; a checked number that said STOP) got the
    7-day step; the patient acknowledged it an hour later."""
    Patient.objects.filter(pk=world.patient.pk).update(notification_channels=["email"])
    carer = world.caregiver
    carer.phone, carer.phone_verified_at, carer.notification_channels = NUMBER, T0, ["email", "sms"]
    carer.sms_opted_out_at = T0
    carer.save()
    pump_with_refill(Patient.objects.get(pk=world.patient.pk), by=world.staff, at=T0)
    cycle = RefillCycle.objects.get(patient=world.patient, ended_at__isnull=True)
    step_7 = _step_7(cycle)
    early_march.move_to(step_7)
    assert set(run(step_7)) == {"sent"}
    sent = set(Delivery.objects.filter(kind="step_7", status="sent").values_list("recipient", "channel"))
    assert sent == {(f"user:{world.patient_user.pk}", "email"), (f"user:{carer.pk}", "email")}
    early_march.move_to(step_7 + timedelta(hours=1))
    planning.acknowledge(cycle, f"user:{world.patient_user.pk}", now=step_7 + timedelta(hours=1))
    early_march.move_to(step_7 + timedelta(hours=2))
    return cycle


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_step_someone_acknowledged_is_not_sent_again_after_a_change_of_recipients(world, acknowledged_step_7, change):
    cycle, step_7 = acknowledged_step_7, _step_7(acknowledged_step_7)
    sent_before, outbox_before = Delivery.objects.filter(status="sent").count(), len(mail.outbox)
    key, channel = CHANGES[change](world)
    # The change reached the plan: the new recipient or channel gets the steps still ahead.
    assert ("step_1", channel) in unsent(key, cycle=cycle)
    # But not the acknowledged 7-day step, on any channel, now or at any later tick before step 1.
    assert not Delivery.objects.filter(cycle=cycle, kind="step_7", status__in=UNSENT).exists()
    covered = Delivery.objects.get(cycle=cycle, kind="step_7", recipient=key, channel=channel)
    assert (covered.status, covered.last_error) == ("skipped", COVERED)
    later = step_7 + timedelta(hours=3)
    assert run(later) == []
    assert Delivery.objects.filter(status="sent").count() == sent_before and len(mail.outbox) == outbox_before


def test_a_caregivers_acknowledgement_covers_the_step_for_the_patient_too(world, acknowledged_step_7):
    cycle = acknowledged_step_7
    cycle.acknowledgements.all().delete()
    planning.acknowledge(cycle, f"user:{world.caregiver.pk}", now=_step_7(cycle) + timedelta(hours=1))
    key, channel = _verify_the_patients_phone(world)
    assert ("step_1", channel) in unsent(key, cycle=cycle)
    assert not Delivery.objects.filter(cycle=cycle, kind="step_7", status__in=UNSENT).exists()


def test_the_same_link_used_again_for_a_later_step_covers_that_step(world, early_march):
    """Acknowledged at the 14-day step, and again at the 7-day step: the second one counts."""
    Patient.objects.filter(pk=world.patient.pk).update(notification_channels=["email"])
    cycle = pump_with_refill(Patient.objects.get(pk=world.patient.pk), by=world.staff, at=T0)
    early_march.move_to(STEP_14)
    run(STEP_14)
    patient_key = f"user:{world.patient_user.pk}"
    assert planning.acknowledge(cycle, patient_key, now=STEP_14 + timedelta(hours=1))
    step_7 = _step_7(cycle)
    early_march.move_to(step_7)
    assert "sent" in run(step_7)
    assert not planning.acknowledge(cycle, patient_key, now=step_7 + timedelta(hours=1))  # not a new one
    assert planning.latest_acknowledgement(cycle) == step_7 + timedelta(hours=1)
    early_march.move_to(step_7 + timedelta(hours=2))
    late = join_as_caregiver(world, "late@carer.example")
    assert not unsent(f"user:{late.pk}", cycle=cycle, kind="step_7")
    assert unsent(f"user:{late.pk}", cycle=cycle, kind="step_1")


def test_a_step_due_after_the_acknowledgement_still_reaches_a_newcomer(world, cycle, early_march):
    """What an acknowledgement covers: the steps due by then; not a later one."""
    run(STEP_14)
    planning.acknowledge(cycle, f"user:{world.patient_user.pk}", now=STEP_14 + timedelta(hours=1))
    step_7 = _step_7(cycle)
    early_march.move_to(step_7)
    run(step_7)
    early_march.move_to(step_7 + timedelta(hours=1))
    late = join_as_caregiver(world, "late@carer.example")
    assert ("step_7", "email") in unsent(f"user:{late.pk}", cycle=cycle)  # nobody acknowledged this one
    assert not unsent(f"user:{late.pk}", cycle=cycle, kind="step_14")


def test_a_clinics_own_steps_end_with_their_cycle_and_are_replaced_on_a_replan(world):
    """A clinic may choose its own steps (here 21, 5 and 1 days). Their unsent rows follow the
    plan like the default steps do: a re-plan replaces them, and a new refill ends them, so
    nobody is told a refill is due after it was done."""
    world.clinic.reminder_steps = [21, 5, 1]
    world.clinic.save()
    old = pump_with_refill(world.patient, by=world.staff, at=T0)
    own = Delivery.objects.filter(cycle=old, kind__in=["step_21", "step_5"])
    assert set(own.values_list("kind", "status")) == {("step_21", "pending"), ("step_5", "pending")}
    first_keys = set(own.values_list("pk", flat=True))

    planning.plan_cycle(old, world.patient, T0 + timedelta(hours=1))  # a re-plan
    assert set(own.values_list("kind", "status")) == {("step_21", "pending"), ("step_5", "pending")}
    assert not first_keys & set(own.values_list("pk", flat=True)), "a re-plan replaces the unsent rows"

    refill_services.record_event(
        patient=world.patient,
        kind="refill",
        by=world.staff,
        occurred_at=T0 + timedelta(days=2),
        now=T0 + timedelta(days=2, minutes=5),
        values={"volume_ml": "20", "aspirated_ml": "19", "program": SIMPLE_PROGRAM},
    )
    old.refresh_from_db()
    assert old.ended_at is not None
    assert set(own.values_list("kind", "status", "last_error")) == {
        ("step_21", "skipped", "plan ended"),
        ("step_5", "skipped", "plan ended"),
    }
