"""Celery worker bootsteps (registered in celery.py).

`SchedulerWatch` is the workers' half of the dead man's switch: a thread of each worker's main
process that calls patients.scheduler_watch.check every SCHEDULER_WATCH_INTERVAL_SECONDS. It is a
thread rather than a callback on the worker's own timer (`worker.timer.call_repeatedly`): with a
Redis broker that timer is run by the worker's event loop, which does not run while the worker is
reconnecting to a broker that went away (a likely reason for beat to stop too), and a slow SMTP
server would hold up the taking of tasks. Nothing here imports Django at module level: this file
is imported before Django is set up.
"""

from __future__ import annotations

import logging
import threading

from celery import bootsteps

log = logging.getLogger(__name__)


class SchedulerWatch(bootsteps.StartStopStep):
    label = "Scheduler watch"
    # Started after the pool, so the pool's first processes are forked before the thread exists.
    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.hostname = getattr(worker, "hostname", "") or ""

    def start(self, worker):
        from django.conf import settings

        if not settings.OPERATIONS_EMAIL:
            log.info("Scheduler watch off: OPERATIONS_EMAIL is empty")
            return
        self.stopping.clear()
        self.thread = threading.Thread(
            target=self.run,
            args=(float(settings.SCHEDULER_WATCH_INTERVAL_SECONDS),),
            name="scheduler-watch",
            daemon=True,
        )
        self.thread.start()

    def stop(self, worker):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None

    terminate = stop  # a cold shutdown

    def run(self, interval: float) -> None:
        from django.db import connections

        from patients import scheduler_watch

        while not self.stopping.is_set():
            try:
                scheduler_watch.check(noticed_by=self.hostname)
            except Exception as exc:  # never let the watch die: log, and try again next time
                log.warning("Scheduler watch: check failed (%s); trying again in %s s", type(exc).__name__, interval)
            finally:
                # This thread's connection is not kept between checks: a pool process forked while
                # one is open would inherit its socket.
                connections.close_all()
            self.stopping.wait(interval)
