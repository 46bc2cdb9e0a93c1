"""A worker keeps its database connection between tasks.

Celery's Django fixup closes every database connection before and after each task, whatever
CONN_MAX_AGE says (celery/fixups/django.py, unless CELERY_DB_REUSE_MAX is set), so each send
task opened a new PostgreSQL connection: the connection itself, and a new server process whose
catalog caches are cold for the first query, were over a third of a send's time (docs/performance.md).

So, in a worker only (worker_process_init: each prefork pool process, and a solo worker's own;
worker_init: the worker's main process, for pools that send no worker_process_init, such as
threads; the web processes, beat and eager tasks in the test suite are left as they are):

- the fixup closes the connections only every CELERY_DB_REUSE_MAX tasks (settings/base.py);
- before and after each task Django's own rule for a request runs instead
  (`close_old_connections`): a connection older than CONN_MAX_AGE is closed, so is one that
  saw an error and no longer answers, or one left outside autocommit; the next query opens a
  new one;
- CONN_MAX_AGE 0 (always a new connection; the test settings) becomes WORKER_CONN_MAX_AGE, and
  CONN_HEALTH_CHECKS is on: the first query of each task checks the kept connection first
  (one `SELECT 1`), so a database that restarted between tasks costs a reconnection, not a
  failed task.

Nothing here imports Django at module level: this file is imported before Django is set up.
"""

from __future__ import annotations

from celery import signals

_in_worker = False


@signals.worker_init.connect(weak=False)
@signals.worker_process_init.connect(weak=False)
def keep_connections(**kwargs) -> None:
    global _in_worker
    from django.conf import settings
    from django.db import connections

    for alias in connections:
        db = connections.settings[alias]
        if db.get("CONN_MAX_AGE", 0) == 0:  # None is "never close": kept as it is
            db["CONN_MAX_AGE"] = settings.WORKER_CONN_MAX_AGE
        db["CONN_HEALTH_CHECKS"] = True
    _in_worker = True


@signals.task_prerun.connect(weak=False)
@signals.task_postrun.connect(weak=False)
def close_old_connections(sender=None, **kwargs) -> None:
    if not _in_worker or getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections as close_old

    close_old()
