"""Sharing the test clock's offset between processes through the database.

Only with the test hook on (`VIRTA_CLOCK_TEST_HOOK`): a test moves the clock in one process (the
API), and the scheduler and workers pick the same offset up from `system_settings`.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from engine import clock
from engine.models import SystemSetting

_KEY = "clock_offset_seconds"


def save_offset(session: Session, offset: timedelta) -> None:
    """Store the offset for the other processes (the caller applies it locally)."""
    row = session.get(SystemSetting, _KEY)
    value = repr(offset.total_seconds())
    if row is None:
        session.add(SystemSetting(key=_KEY, value=value))
    else:
        row.value = value


def load_offset(session: Session) -> timedelta:
    """Read the stored offset and apply it to this process's clock."""
    row = session.get(SystemSetting, _KEY)
    offset = timedelta(seconds=float(row.value)) if row is not None else timedelta(0)
    clock._apply_offset(offset)
    return offset
