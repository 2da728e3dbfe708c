"""Which processes a person may start by hand, and with which start form.

A process is started by hand through its plain (none) start event. When that event lies in a
lane, staff start it only if they are in the lane's team; process owners and admins start any.
Processes that only messages or timers start are not offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from sqlalchemy.orm import Session

from engine import accounts
from engine.authorization import ADMIN, PROCESS_OWNER, STAFF, Principal
from engine.deploy import get_version, latest_versions, load_bundle
from engine.errors import NotAllowed, NotFound
from engine.forms import FormDefinition
from engine.models import ProcessVersion


@dataclass(frozen=True)
class StartOption:
    """A process that can be started by hand."""

    process_id: str
    version: int
    name: str
    team: str | None
    form: FormDefinition | None
    documentation: str | None


def _plain_start(spec: Any) -> Any:
    for ts in spec.task_specs.values():
        if isinstance(ts, StartEvent) and isinstance(ts.event_definition, NoneEventDefinition):
            return ts
    return None


def _option(session: Session, pv: ProcessVersion) -> StartOption | None:
    bundle = load_bundle(session, pv)
    start = _plain_start(bundle.spec)
    if start is None:
        return None
    lane = getattr(start, "lane", None)
    team = accounts.team_id_for(session, lane) if lane else None
    return StartOption(process_id=pv.process_id, version=pv.version,
                       name=pv.name or pv.process_id, team=team or lane,
                       form=bundle.start_form(),
                       documentation=getattr(bundle.spec, "documentation", None))


def may_start(principal: Principal, option: StartOption) -> bool:
    """Whether `principal` may start the process by hand."""
    if principal.roles & {ADMIN, PROCESS_OWNER}:
        return True
    return STAFF in principal.roles and (option.team is None or option.team in principal.teams)


def startable(session: Session, principal: Principal) -> list[StartOption]:
    """The processes `principal` may start by hand, by name."""
    options = (_option(session, pv) for pv in latest_versions(session))
    return sorted((o for o in options if o is not None and may_start(principal, o)),
                  key=lambda o: o.name.lower())


def start_option(session: Session, principal: Principal, process_id: str) -> StartOption:
    """One process `principal` may start by hand; `NotFound` otherwise."""
    for option in startable(session, principal):
        if option.process_id == process_id:
            return option
    raise NotFound(f"no process {process_id!r} that you may start")


def require_manual_start(session: Session, principal: Principal, process_id: str,
                         version: int | None = None) -> None:
    """Raise `NotAllowed` unless `principal` may start this version by hand (the REST API's
    start follows the same rule as the start page)."""
    if principal.roles & {ADMIN, PROCESS_OWNER}:
        return  # they start any process (`may_start`); the start itself finds the version
    option = _option(session, get_version(session, process_id, version))
    if option is not None and not may_start(principal, option):
        raise NotAllowed(f"only team {option.team!r} starts {process_id!r} by hand")
