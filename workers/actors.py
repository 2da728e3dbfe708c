"""Dramatiq actors: thin wrappers that hand an id to one engine function.

Actors are declared on a broker with `declare`; the same functions serve the Redis broker of
`virta worker` and the in-process broker of the embedded default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import dramatiq

from engine import clock_sync, work
from engine.db import Database
from engine.errors import VirtaError
from engine.plugins import load_plugins
from engine.settings import Settings
from workers.mail import SmtpMailer, make_mailer

#: Retries for infrastructure failures (database or broker down); model failures are retried
#: by the outbox instead, and Virta's own errors are not retried at all.
MAX_RETRIES = 10
MIN_BACKOFF_MS = 200
MAX_BACKOFF_MS = 30_000


@dataclass
class _Context:
    db: Database
    settings: Settings
    mailer: SmtpMailer | None


_context: _Context | None = None


def configure(db: Database, settings: Settings) -> None:
    """Give the actors of this process their database, settings and plugins."""
    global _context
    load_plugins(settings)
    _context = _Context(db, settings, make_mailer(settings.smtp_url))


def _ctx() -> _Context:
    if _context is None:
        raise RuntimeError("workers.actors.configure() was not called")
    if _context.settings.clock_test_hook:
        _context.db.unit_of_work(clock_sync.load_offset)
    return _context


def fire_timer(timer_id: int) -> None:
    """Fire one due timer."""
    work.fire_one(_ctx().db, timer_id)


def fire_timers(timer_ids: list[int]) -> None:
    """Fire a batch of due timers in one transaction (one by one if that fails)."""
    ctx = _ctx()
    work.fire_timer_batch(ctx.db, timer_ids)


def handle_outbox(outbox_id: int) -> None:
    """Do the work of one outbox row."""
    ctx = _ctx()
    work.handle_outbox(ctx.db, outbox_id, mailer=ctx.mailer,
                       lease=timedelta(seconds=ctx.settings.lease_seconds))


@dataclass(frozen=True)
class Actors:
    """The actors declared on one broker."""

    fire_timer: dramatiq.Actor
    fire_timers: dramatiq.Actor
    handle_outbox: dramatiq.Actor


def declare(broker: dramatiq.Broker) -> Actors:
    """Declare Virta's actors on a broker."""
    options = dict(broker=broker, max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS,
                   max_backoff=MAX_BACKOFF_MS, throws=(VirtaError,))
    return Actors(
        fire_timer=dramatiq.actor(fire_timer, actor_name="fire_timer", **options),
        fire_timers=dramatiq.actor(fire_timers, actor_name="fire_timers", **options),
        handle_outbox=dramatiq.actor(handle_outbox, actor_name="handle_outbox", **options),
    )
