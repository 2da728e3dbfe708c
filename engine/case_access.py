"""Who may see a case, and what the case page shows of its path.

Admins, auditors and process owners see every case. Staff see the cases they started and those
with a task (open or done) of their teams (its primary or another candidate team), assigned to
them or done by them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from engine import audit
from engine.authorization import Principal
from engine.bpmn_xml import parse_xml
from engine.errors import NotFound
from engine.models import (
    Event,
    HumanTask,
    MessageSubscription,
    ProcessInstance,
    TaskCandidate,
    Timer,
)

_BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
_STEP_EVENTS = (audit.STEP_COMPLETED, audit.TIMER_FIRED, audit.MESSAGE_RECEIVED,
                audit.MESSAGE_SENT, audit.TASK_COMPLETED)


def visible(principal: Principal) -> Any:
    """A filter on `ProcessInstance` for the cases `principal` may see."""
    if principal.reads_everything:
        return ProcessInstance.id.is_not(None)
    touched = exists().where(
        HumanTask.instance_id == ProcessInstance.id,
        or_(HumanTask.team.in_(principal.teams), HumanTask.assignee == principal.username,
            HumanTask.completed_by == principal.username,
            HumanTask.id.in_(select(TaskCandidate.task_id)
                             .where(TaskCandidate.team.in_(principal.teams)))))
    return or_(ProcessInstance.started_by == principal.username, touched)


def get_visible(session: Session, principal: Principal, instance_id: int) -> ProcessInstance:
    """A case `principal` may see; `NotFound` otherwise, so that its existence does not leak."""
    row = session.scalar(select(ProcessInstance).where(
        ProcessInstance.id == instance_id, visible(principal)))
    if row is None:
        raise NotFound(f"case {instance_id} not found")
    return row


def path_taken(session: Session, row: ProcessInstance, bpmn_xml: str) -> dict[str, list[str]]:
    """The case's path for the diagram: `done` elements and taken `flows`, and the `active`
    elements (ready tasks, waiting timers and messages)."""
    done = set(session.scalars(select(Event.element_id).where(
        Event.instance_id == row.id, Event.type.in_(_STEP_EVENTS),
        Event.element_id.is_not(None))))
    active = set(session.scalars(select(HumanTask.element_id).where(
        HumanTask.instance_id == row.id, HumanTask.status == "ready")))
    active |= set(session.scalars(select(Timer.element_id).where(Timer.instance_id == row.id)))
    active |= {e for e in session.scalars(select(MessageSubscription.element_id).where(
        MessageSubscription.instance_id == row.id)) if e}
    root = parse_xml(bpmn_xml.encode())
    reached = done | active
    flows = [flow.get("id") for flow in root.iter(f"{_BPMN}sequenceFlow")
             if flow.get("sourceRef") in done and flow.get("targetRef") in reached]
    return {"done": sorted(done - active), "active": sorted(active), "flows": sorted(flows)}
