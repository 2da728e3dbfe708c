"""Message routing: `POST /api/messages` and messages thrown by one case to another.

Waiting cases are found through `message_subscriptions` (name + the case's correlation values),
never by loading cases. A message that nobody waits for starts the processes whose message start
event catches it; failing that it is kept as an `unmatched_message` incident, so nothing is lost.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit, clock, runner
from engine.authorization import SYSTEM, Principal, require_case_change
from engine.deploy import latest_versions, load_bundle
from engine.errors import InputInvalid
from engine.models import Incident, MessageSubscription
from engine.specs import event_definitions
from engine.state import to_jsonable


def correlation_matches(known: dict[str, Any], given: dict[str, Any]) -> bool:
    """A case matches when every correlation value it already has equals the message's.

    A case that has no values yet takes the first message (SpiffWorkflow's rule); a message
    with correlation values never goes to a case that knows different ones.
    """
    return all(known[k] == v for k, v in given.items() if k in known)


def deliver(
    session: Session, *, name: str, correlation: dict[str, Any] | None = None,
    instance_id: int | None = None, payload: Any = None, principal: Principal, hops: int = 0,
    keep_unmatched: bool = True,
) -> list[int]:
    """Deliver a message to every waiting case whose name and correlation match.

    Returns the ids of the cases that caught it (a started case included). When none did, the
    message is kept as an unmatched-message incident (unless `keep_unmatched` is false).
    """
    require_case_change(principal)
    if not isinstance(name, str) or not name:
        raise InputInvalid([{"field": "name", "message": "is required"}])
    correlation = to_jsonable(correlation or {})
    if not isinstance(correlation, dict):
        raise InputInvalid([{"field": "correlation", "message": "must be an object"}])
    query = select(MessageSubscription).where(MessageSubscription.message_name == name)
    if instance_id is not None:
        query = query.where(MessageSubscription.instance_id == instance_id)
    delivered: list[int] = []
    candidates = sorted({s.instance_id for s in session.scalars(query)
                         if correlation_matches(s.correlation, correlation)})
    for case_id in candidates:
        if deliver_to_case(session, instance_id=case_id, event_name=name, payload=payload,
                                  correlation=correlation, actor=principal.username, hops=hops):
            delivered.append(case_id)
    if not delivered and instance_id is None:
        delivered.extend(_start_by_message(session, name, correlation, payload, principal,
                                           hops))
    if not delivered and keep_unmatched:
        session.add(Incident(
            instance_id=instance_id, kind="unmatched_message", element_id=None,
            message=f"no case is waiting for message {name!r} with this correlation",
            details={"name": name, "correlation": correlation, "instance_id": instance_id,
                     "payload": to_jsonable(payload)},
            status="open", created_at=clock.now()))
        audit.record(session, type="message_unmatched", actor=principal.username,
                     data={"name": name, "correlation": correlation})
    return delivered


def _start_by_message(session: Session, name: str, correlation: dict[str, Any], payload: Any,
                      principal: Principal, hops: int) -> list[int]:
    started = []
    for pv in latest_versions(session):
        if name not in (pv.start_messages or []):
            continue
        bundle = load_bundle(session, pv)
        for ts in bundle.spec.task_specs.values():
            edef = getattr(ts, "event_definition", None)
            if isinstance(edef, MessageEventDefinition) and edef.name == name:
                event = message_event(edef, payload, correlation)
                row = runner.start_case(session, process_id=pv.process_id, version=pv.version,
                                        principal=principal, start_event=event, hops=hops)
                started.append(row.id)
                break
    return started


def route_thrown(session: Session, events: list[Any], *, source_id: int, actor: str,
                 hops: int) -> None:
    """Deliver messages that a case threw and did not catch itself to the other cases."""
    principal = Principal(None, actor, SYSTEM.roles, frozenset())
    for event in events:
        edef = event.event_definition
        if not isinstance(edef, MessageEventDefinition):
            continue
        flat: dict[str, Any] = {}
        for values in (event.correlations or {}).values():
            flat.update(values)
        deliver(session, name=edef.name, correlation=flat, payload=event.payload,
                principal=principal, hops=hops)


def redeliver(session: Session, *, incident: Incident, principal: Principal) -> Incident:
    """Try an unmatched message again; the incident is resolved when some case takes it."""
    details = incident.details or {}
    delivered = deliver(session, name=details.get("name", ""),
                        correlation=details.get("correlation"),
                        instance_id=details.get("instance_id"), payload=details.get("payload"),
                        principal=principal, keep_unmatched=False)
    if delivered:
        incident.status = "resolved"
        incident.resolved_at = clock.now()
        incident.resolved_by = principal.username
        audit.record(session, type=audit.INCIDENT_RESOLVED, actor=principal.username,
                     data={"incident": incident.id, "delivered_to": delivered})
    return incident


def deliver_to_case(session: Session, *, instance_id: int, event_name: str, payload: Any,
                    correlation: dict[str, Any], actor: str, hops: int = 0) -> bool:
    """Give a message to one waiting case; return whether the case caught it."""
    case = runner.open_case(session, instance_id, actor)
    if case.row.status in runner.FINAL:
        return False
    for task in case.wf.get_tasks(state=TaskState.WAITING):
        waiting_for = getattr(task.task_spec, "event_definition", None)
        edef = next((d for d in event_definitions(waiting_for)
                     if isinstance(d, MessageEventDefinition) and d.name == event_name), None)
        if edef is None:
            continue
        event = message_event(edef, payload, correlation)
        if not waiting_for.catches(task, event):
            continue
        case.wf.catch(event)  # the catch event's completion is recorded as `message_received`
        runner.advance(case, hops=hops)
        return True
    return False


def message_event(edef: MessageEventDefinition, payload: Any, correlation: dict[str, Any]
                  ) -> Any:
    """A Spiff message event for `edef` with the flat correlation `{property id: value}`.

    Spiff reads the correlation again from the payload when a task catches the message (the
    property's retrieval expression, evaluated over the payload). A message whose payload does
    not repeat its correlation values would fail there with a NameError, so the payload gets
    the correlation values it lacks, under their property ids.
    """

    nested: dict[str, dict[str, Any]] = {}
    body = payload if payload is not None else {}
    if isinstance(body, dict):
        body = dict(body)
    for prop in edef.correlation_properties:
        if prop.name in correlation:
            for key in prop.correlation_keys:
                nested.setdefault(key, {})[prop.name] = correlation[prop.name]
            if isinstance(body, dict):
                body.setdefault(prop.name, correlation[prop.name])
    return BpmnEvent(edef, body, nested)
