"""The one place that builds the Dramatiq broker.

With `VIRTA_REDIS_URL` set it is a RedisBroker shared by API, scheduler and worker processes;
without it (the embedded default) it is an in-process broker that `virta serve` consumes with
worker threads of its own. Either way the broker only carries wake-ups: the work itself is in
the database (outbox and timer rows).
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker

from engine.settings import Settings


def make_broker(settings: Settings) -> dramatiq.Broker:
    """Build the broker for these settings and make it Dramatiq's global broker."""
    broker: dramatiq.Broker
    if settings.redis_url:
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=settings.redis_url)
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    return broker
