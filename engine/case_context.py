"""The case whose code is running, for the script functions that need it.

SpiffWorkflow's script engine is shared by every case, so functions such as `parameter()` and
`new_case_key()` find their case here. The runner binds the case before it runs any of its code.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from engine.case_rows import CaseRecord


@dataclass
class CaseContext:
    """What the running case's script functions may use."""

    session: Session
    instance: CaseRecord
    parameters: dict[str, Any] = field(default_factory=dict)
    #: Who is acting: a username, or "system..." for timers and workers.
    actor: str | None = None


_current: ContextVar[CaseContext | None] = ContextVar("virta_case", default=None)


def bind(context: CaseContext) -> None:
    """Make `context` the running case of this thread or task."""
    _current.set(context)


def current() -> CaseContext:
    """The running case; raises `RuntimeError` outside one (e.g. at deploy)."""
    context = _current.get()
    if context is None:
        raise RuntimeError("this function is only available while a case runs")
    return context
