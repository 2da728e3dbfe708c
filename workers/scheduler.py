"""The scheduler: hands due timers and outbox rows to the workers, sends due reminders, and
now and then purges finished cases whose retention period ran out (`engine.retention`).

Several schedulers may run at once: each claim takes rows with SKIP LOCKED (PostgreSQL) or the
write lock (SQLite) plus a lease, so nothing is handed out twice while a worker has it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from engine import clock_sync, retention, work
from engine.db import Database
from engine.settings import Settings
from workers.actors import Actors

log = logging.getLogger(__name__)


class Scheduler:
    """A loop of `engine.work.scheduler_round`, every `settings.scheduler_interval` seconds."""

    def __init__(self, db: Database, settings: Settings, actors: Actors) -> None:
        self.db = db
        self.settings = settings
        self.actors = actors
        self._stop = threading.Event()
        self._next_purge = 0.0

    def purge_if_due(self) -> int:
        """Every `settings.retention_interval` seconds, one batch of the retention purge."""
        if time.monotonic() < self._next_purge:
            return 0
        self._next_purge = time.monotonic() + self.settings.retention_interval
        return self.db.unit_of_work(lambda s: retention.purge_due(s))

    def run_round(self) -> int:
        """One round; returns how many items it moved."""
        if self.settings.clock_test_hook:
            self.db.unit_of_work(clock_sync.load_offset)
        return work.scheduler_round(
            self.db, send_timer=self.actors.fire_timer.send,
            send_timers=self.actors.fire_timers.send, timer_batch=self.settings.timer_batch,
            send_outbox=self.actors.handle_outbox.send,
            reminder_lead=timedelta(hours=self.settings.reminder_lead_hours),
            lease=timedelta(seconds=self.settings.lease_seconds))

    def run_forever(self) -> None:
        """Run rounds until `stop` is called; errors are logged and the loop goes on.

        Rounds are `settings.scheduler_interval` apart, unless one found a backlog.
        """
        while not self._stop.is_set():
            try:
                moved = self.run_round()
                self.purge_if_due()
            except Exception:  # the database may be restarting: try again next round
                log.exception("scheduler round failed")
                moved = 0
            if moved < work.BACKLOG:
                self._stop.wait(self.settings.scheduler_interval)

    def stop(self) -> None:
        """Ask the loop to end after its current round."""
        self._stop.set()

    def start_thread(self) -> threading.Thread:
        """Run the loop in a daemon thread (the embedded default)."""
        thread = threading.Thread(target=self.run_forever, name="virta-scheduler", daemon=True)
        thread.start()
        return thread


