"""The one platform clock.

Everything in Virta that needs "now" (timers, due dates, audit timestamps, BPMN
expressions) asks this module, never ``datetime.now()`` directly, so that tests
can move time for the whole platform at once.

The clock is real UTC time plus a process-wide offset. The offset is zero and
cannot be changed unless the test hook is enabled (settings
``VIRTA_CLOCK_TEST_HOOK=1``); it is never on in production.

Time zone rules are in PROCESSES.md §0.3: the platform's local time is
Europe/Helsinki.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

#: The platform's local time zone (PROCESSES.md §0.3).
TIMEZONE = ZoneInfo("Europe/Helsinki")

_lock = threading.Lock()
_offset = timedelta(0)
_hook_enabled = False


def now() -> datetime:
    """Return the platform time: timezone-aware UTC now plus the test offset."""
    with _lock:
        delta = _offset
    return datetime.now(UTC) + delta


def local_now() -> datetime:
    """Return the platform time as an aware datetime in Europe/Helsinki."""
    return now().astimezone(TIMEZONE)


def local_today() -> date:
    """Return today's date in Europe/Helsinki by the platform clock."""
    return local_now().date()


def enable_test_hook(enabled: bool = True) -> None:
    """Allow (or forbid again) moving the clock with ``advance``/``set_offset``.

    Turning the hook off does not clear an offset already set; call ``reset``.
    """
    global _hook_enabled
    with _lock:
        _hook_enabled = bool(enabled)


def is_test_hook_enabled() -> bool:
    """Return whether the clock test hook is enabled."""
    with _lock:
        return _hook_enabled


def offset() -> timedelta:
    """Return the current offset of the platform clock from real time."""
    with _lock:
        return _offset


def advance(delta: timedelta) -> datetime:
    """Move the platform clock by ``delta`` (may be negative) and return the new now().

    Raises RuntimeError if the test hook is disabled.
    """
    _check_timedelta(delta)
    global _offset
    with _lock:
        _require_hook()
        _offset = _offset + delta
    return now()


def set_offset(delta: timedelta) -> None:
    """Set the platform clock's offset from real time to ``delta``.

    Raises RuntimeError if the test hook is disabled.
    """
    _check_timedelta(delta)
    with _lock:
        _require_hook()
        _set(delta)


def reset() -> None:
    """Put the platform clock back to real time (offset zero).

    Allowed even when the hook is disabled: returning to real time is always safe.
    """
    with _lock:
        _set(timedelta(0))


def _apply_offset(delta: timedelta) -> None:
    """Set the offset without the hook check.

    Internal: for the database sync that shares one offset across processes.
    """
    _check_timedelta(delta)
    with _lock:
        _set(delta)


def _set(delta: timedelta) -> None:
    # Caller holds _lock.
    global _offset
    _offset = delta


def _require_hook() -> None:
    # Caller holds _lock.
    if not _hook_enabled:
        raise RuntimeError("clock test hook is disabled")


def _check_timedelta(delta: object) -> None:
    if not isinstance(delta, timedelta):
        raise TypeError(f"clock offset must be a timedelta, not {type(delta).__name__}")
