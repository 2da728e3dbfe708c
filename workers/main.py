"""The module `virta worker` runs under Dramatiq's CLI: configures the broker and actors."""

from __future__ import annotations

from engine.db import get_database
from engine.settings import get_settings
from workers import actors
from workers.broker import make_broker

settings = get_settings()
broker = make_broker(settings)
actors.configure(get_database(), settings)
declared = actors.declare(broker)
