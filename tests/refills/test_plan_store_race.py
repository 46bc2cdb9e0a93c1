"""Reminder rows are stored in one bulk insert; a row's key is one message to one person on
one channel. When another transaction stores one of the same keys between the look-up and the
insert (two re-plans of one cycle at once), the insert falls back to one row at a time: every
key is stored once and the rows the other transaction made are not made again."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from refills.models import Delivery
from refills.notify import recipients
from refills.notify.rows import build_rows, store_rows

pytestmark = pytest.mark.django_db(transaction=True)

DUE = datetime(2026, 4, 1, 14, 0, tzinfo=UTC)


def rows_for(world, occasion):
    return build_rows(
        patient=world.patient,
        cycle=None,
        kind="test",
        occasion=occasion,
        recipient=recipients.people(world.patient)[0],
        due_at=DUE,
        scope=f"p{world.patient.pk}:race",
    )


def test_a_key_stored_meanwhile_by_another_transaction_is_kept_once(world):
    first, second = rows_for(world, "one"), rows_for(world, "two")
    assert first and second
    holding = threading.Event()

    def other_transaction():
        try:
            with transaction.atomic():
                store_rows(rows_for(world, "one"))
                holding.set()
                # Commit only after the main thread has looked the keys up and is inserting.
                threading.Event().wait(1.0)
        finally:
            connection.close()

    other = threading.Thread(target=other_transaction)
    other.start()
    assert holding.wait(10)
    with transaction.atomic():
        saved = store_rows(first + second)
    other.join(10)

    assert sorted(row.key for row in saved) == sorted(row.key for row in second)
    for row in first + second:
        assert Delivery.objects.filter(key=row.key).count() == 1


def test_a_key_planned_twice_in_one_plan_is_stored_once(world):
    rows = rows_for(world, "one")
    saved = store_rows(rows + rows_for(world, "one"))
    assert len(saved) == len(rows)
    assert Delivery.objects.filter(key__in=[row.key for row in rows]).count() == len(rows)
    assert store_rows(rows_for(world, "one")) == []
