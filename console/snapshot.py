"""The queue's rows, kept a few seconds for each state of the queue (the queue page and its API).

Every open console screen reloads the queue every 30 seconds, so the queue is read far more
often than it changes. The page and the API keep what costs most to make (the rows, with the
patients' statuses) in the cache, under a key made of the state of the clinics' queues. That
state is read on every request, in the one query that also checks access: for each clinic, how
many items are open and how many of them acknowledged, and the sums of their ids.

- A new, acknowledged or resolved item changes that state, so it shows on the very next request,
  in every worker process (the key comes from the database, not from a message between them).
- What else a row shows (the patient's statuses, names) may be up to QUEUE_SNAPSHOT_SECONDS (5)
  old: well inside the page's 30-second refresh.
- What depends on the moment or the request is filled in on every request: each item's age,
  the "New" mark, and the CSRF token.

A cache that fails is skipped: the rows are then made for the request, as without a cache.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import get_language

from patients.models import Clinic, ClinicMembership, QueueItem

if TYPE_CHECKING:
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations

    class QueueState(TypedDict):
        """The columns `_clinics_sql` adds to each clinic."""

        open_count: int
        open_id_sum: int
        acknowledged_count: int
        acknowledged_id_sum: int

    QueueClinic = WithAnnotations[Clinic, QueueState]

T = TypeVar("T")
log = logging.getLogger(__name__)


def _clinics_sql() -> str:
    clinic, membership, item = Clinic._meta.db_table, ClinicMembership._meta.db_table, QueueItem._meta.db_table
    return f"""
        SELECT c.*,
               count(q.id) AS open_count,
               coalesce(sum(q.id), 0) AS open_id_sum,
               count(q.acknowledged_at) AS acknowledged_count,
               coalesce(sum(q.id) FILTER (WHERE q.acknowledged_at IS NOT NULL), 0) AS acknowledged_id_sum
          FROM {clinic} c
          LEFT JOIN {item} q ON q.clinic_id = c.id AND q.resolved_at IS NULL
         WHERE c.id IN (SELECT clinic_id FROM {membership} WHERE user_id = %s)
         GROUP BY c.id
         ORDER BY c.name, c.id
    """  # noqa: S608 - table names from the models; the user is a parameter


def queue_clinics(user) -> list[QueueClinic]:
    """The clinics whose queue this user works (as patients.access.staff_clinics), each with
    `open_count` and the state of its queue. One query, in plain SQL: every queue request runs
    it, and composing it with the ORM cost twice as much as running it."""
    if not getattr(user, "is_authenticated", False):
        return []
    return cast("list[QueueClinic]", list(Clinic.objects.raw(_clinics_sql(), [user.pk])))


def key(kind: str, clinics: list[QueueClinic], *parts) -> str:
    """A cache key for these clinics' queues as they stand now, in the active language."""
    state = ";".join(
        f"{c.pk}:{c.open_count}:{c.open_id_sum}:{c.acknowledged_count}:{c.acknowledged_id_sum}" for c in clinics
    )
    digest = hashlib.blake2b(state.encode(), digest_size=16).hexdigest()
    return ":".join(["queue", kind, get_language() or "", digest, *map(str, parts)])


def kept(cache_key: str, make: Callable[[], T]) -> T:
    """The value kept under this key, or a new one from `make`, kept for QUEUE_SNAPSHOT_SECONDS."""
    seconds = settings.QUEUE_SNAPSHOT_SECONDS
    if seconds <= 0:
        return make()
    try:
        value = cache.get(cache_key)
    except Exception:  # a cache that fails must not take the queue down with it
        log.warning("queue snapshot: cache read failed", exc_info=True)
        return make()
    if value is None:
        value = make()
        try:
            cache.set(cache_key, value, seconds)
        except Exception:
            log.warning("queue snapshot: cache write failed", exc_info=True)
    return value
