"""The embedded default: an in-process broker, worker threads and scheduler for `virta serve`."""

from __future__ import annotations

from collections.abc import Callable

import dramatiq

from engine.db import Database
from engine.settings import Settings
from workers import actors
from workers.broker import make_broker
from workers.scheduler import Scheduler

#: Worker threads of the embedded default.
WORKER_THREADS = 4


def start_embedded(db: Database, settings: Settings) -> Callable[[], None]:
    """Start the in-process worker and scheduler; returns a function that stops both."""
    broker = make_broker(settings)
    actors.configure(db, settings)
    declared = actors.declare(broker)
    worker = dramatiq.Worker(broker, worker_threads=WORKER_THREADS, worker_timeout=100)
    worker.start()
    scheduler = Scheduler(db, settings, declared)
    thread = scheduler.start_thread()

    def stop() -> None:
        scheduler.stop()
        thread.join(5)
        worker.stop()
        broker.close()

    return stop
